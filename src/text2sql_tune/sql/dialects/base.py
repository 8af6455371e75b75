"""The :class:`Dialect` base: what the library knows about one SQL engine, as data.

A dialect is a subclass with class attributes; defining it registers it under its ``name``, so
``Dialect.get("duckdb")`` finds it (the way sqlglot's dialect classes register themselves). The
executor carries one (``SQLExecutor.dialect``) and everything engine-specific reads it from there:
the guard's parser and function catalog, schema introspection, which errors mean what, the
approximate functions a judge rewrites, the names in prompts and the code-fence languages.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import ConfigurationError, ErrorCategory

if TYPE_CHECKING:
    from ...records import QueryResult
    from ...safety.catalog import FunctionCatalog
    from ...schema import DatabaseSchema

__all__ = ["Dialect", "Runner"]

Runner = Callable[[str], Awaitable["QueryResult"]]
"""Runs one trusted statement (the executor's own, not the guard's) and returns its result."""

_REGISTRY: dict[str, type[Dialect]] = {}
_INSTANCES: dict[type[Dialect], Dialect] = {}


class Dialect:
    """One SQL engine's differences, declared as class attributes.

    Subclass it, set the attributes that differ from generic SQL and override
    :meth:`aintrospect` when the engine has no ``information_schema``. The base class is
    generic SQL: no approximate functions, errors filed by their messages only, an open guard.

    Attributes:
        name: The registry key (``Dialect.get(name)``, any case); default the class name in
            lower case.
        display_name: How prompts name the SQL ("Write a query in ClickHouse SQL").
        sqlglot_dialect: sqlglot's name for the engine, used to parse (``""``: generic SQL).
        identifiers_case_sensitive: Whether ``Users`` and ``users`` name different columns.
        functions_case_sensitive: Whether ``MEDIAN(x)`` and ``median(x)`` may differ.
        case_insensitive_functions: With case-sensitive functions, the lower-case names the
            engine accepts in any case anyway (lower-cased in normalised SQL keys).
        date_functions: A regex matching (lower-cased) date and time function names, for SQL
            profiles and concept analysis.
        fence_languages: Code-fence labels (```` ```sql ````) that mark SQL in a model's answer.
        approximate_to_exact: Approximate aggregate function -> its exact variant, used by the
            execution judge to rewrite both queries before comparing.
        approximate_without_exact: Approximate functions with no drop-in exact variant (their
            results are compared with tolerance).
        exact_drops_parameters: Approximate functions whose parameters mean nothing to the exact
            variant (``uniqCombined(12)(x)`` -> ``uniqExact(x)``).
        aggregate_combinators: Suffixes an aggregate function name may carry (ClickHouse's
            ``If``, ``Array``...): ``uniqIf`` is rewritten to ``uniqExactIf``.
        arbitrary_functions: Functions whose values the engine picks (``any``, ``rand``) ->
            a deterministic alternative, for the golden-set lint.
        error_names: The engine's error name -> category.
        error_codes: The engine's error code -> category.
        error_messages: ``(regex, category)`` tried in order on the message of an error whose
            name and code said nothing.
        error_name_in_message: A regex whose first group finds an error name inside a message
            (for errors recorded as text only).
        unknown_function_code: The engine's code for an unknown function, recorded on outcomes
            of calls the guard refuses as unknown (``None``: the engine has none).
        system_schemas: Schemas :meth:`aintrospect` leaves out unless asked for.
    """

    name: ClassVar[str] = "sql"
    display_name: ClassVar[str] = "SQL"
    sqlglot_dialect: ClassVar[str] = ""
    identifiers_case_sensitive: ClassVar[bool] = False
    functions_case_sensitive: ClassVar[bool] = False
    case_insensitive_functions: ClassVar[frozenset[str]] = frozenset()
    date_functions: ClassVar[str] = (
        r"^(current_(date|time|timestamp)|now|date(_?(diff|trunc|add|sub|part))?|extract|"
        r"strftime|to_(date|timestamp|char))"
    )
    fence_languages: ClassVar[frozenset[str]] = frozenset({"sql"})
    approximate_to_exact: ClassVar[Mapping[str, str]] = {}
    approximate_without_exact: ClassVar[frozenset[str]] = frozenset()
    exact_drops_parameters: ClassVar[frozenset[str]] = frozenset()
    aggregate_combinators: ClassVar[tuple[str, ...]] = ()
    arbitrary_functions: ClassVar[Mapping[str, str]] = {}
    error_names: ClassVar[Mapping[str, ErrorCategory]] = {}
    error_codes: ClassVar[Mapping[int, ErrorCategory]] = {}
    error_messages: ClassVar[Sequence[tuple[str, ErrorCategory]]] = ()
    error_name_in_message: ClassVar[str | None] = None
    unknown_function_code: ClassVar[int | None] = None
    system_schemas: ClassVar[tuple[str, ...]] = ("information_schema", "pg_catalog")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()
        _REGISTRY[cls.name.lower()] = cls  # a later definition under a name replaces the earlier

    @classmethod
    def get(cls, dialect: Dialect | str) -> Dialect:
        """The dialect registered under a name (or ``dialect`` itself when it is one).

        A name no dialect registered but sqlglot knows (``"postgres"``) gets a generic dialect
        that parses with sqlglot's.

        Raises:
            ConfigurationError: Neither this library nor sqlglot knows the name.
        """
        if isinstance(dialect, Dialect):
            return dialect
        key = dialect.lower()
        found = _REGISTRY.get(key) or _generic(key)
        instance = _INSTANCES.get(found)
        if instance is None:
            instance = _INSTANCES[found] = found()
        return instance

    def __repr__(self) -> str:
        return f"Dialect.get({self.name!r})"

    def string_literal(self, value: str) -> str:
        """``value`` as a SQL string literal (standard SQL: a quote is doubled)."""
        return "'" + value.replace("'", "''") + "'"

    # -- errors -------------------------------------------------------------------------------

    def categorize(self, code: int | None, name: str | None, message: str) -> ErrorCategory:
        """File an engine error under an engine-neutral category.

        Args:
            code: The engine's error code, if any.
            name: The engine's error name, if any.
            message: The engine's message.

        Returns:
            The category from the error's name, else its code, else its message;
            ``execution_error`` when none of them is known.
        """
        if name and name in self.error_names:
            return self.error_names[name]
        if code is not None and code in self.error_codes:
            return self.error_codes[code]
        if self.error_name_in_message is not None:
            found = re.search(self.error_name_in_message, message)
            if found and found.group(1) in self.error_names:
                return self.error_names[found.group(1)]
        for pattern, category in self.error_messages:
            if re.search(pattern, message, re.IGNORECASE):
                return category
        return "execution_error"

    # -- the guard ----------------------------------------------------------------------------

    def function_catalog(self) -> FunctionCatalog | None:
        """The closed allow-list of functions the guard enforces (``None``: an open guard).

        With ``None`` the guard refuses only the functions on its deny-list; put the engine's
        own fences behind it (a read-only connection, no file access).
        """
        return None

    # -- schema introspection -----------------------------------------------------------------

    async def aintrospect(
        self, run: Runner, databases: Sequence[str] | None = None
    ) -> DatabaseSchema:
        """Read tables, columns and types from the standard ``information_schema``.

        Args:
            run: Runs one trusted statement (an executor's internal runner).
            databases: Schemas to include; default all but :attr:`system_schemas`.

        Returns:
            The schema, tables ordered by schema and name, columns by position.
        """
        from ...schema import Column, DatabaseSchema, Table

        listed = ", ".join(map(self.string_literal, databases or self.system_schemas))
        where = f"table_schema {'IN' if databases else 'NOT IN'} ({listed})"
        columns = await run(
            "SELECT table_schema, table_name, column_name, data_type "
            f"FROM information_schema.columns WHERE {where} "
            "ORDER BY table_schema, table_name, ordinal_position"
        )
        tables: dict[tuple[str, str], Table] = {}
        for schema, table, column, type_ in columns.rows:
            entry = tables.setdefault((schema, table), Table(database=schema, name=table))
            entry.columns.append(Column(name=column, type=str(type_)))
        return DatabaseSchema(tables=list(tables.values()))


def _generic(name: str) -> type[Dialect]:
    """A generic dialect parsing with sqlglot's ``name`` dialect (registered on creation)."""
    from sqlglot.dialects.dialect import Dialect as SqlglotDialect

    try:
        parser = type(SqlglotDialect.get_or_raise(name))
    except ValueError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigurationError(
            f"unknown SQL dialect {name!r}: define a Dialect subclass for it (known: {known}, "
            "or any dialect sqlglot knows)"
        ) from None
    attributes = {"name": name, "display_name": parser.__name__, "sqlglot_dialect": name}
    return type(parser.__name__, (Dialect,), attributes)
