"""The SQL guard: refuse anything but one read-only query of allowed functions and databases."""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..errors import SQLSyntaxError, UnknownFunctionError, UnsafeSQLError
from ._functions import FunctionPolicy, check_tokens
from ._lexer import Kind, LexError, Token
from ._names import Databases
from ._render import render_for_parser
from ._statement import (
    RefusalError,
    SyntaxRefusalError,
    UnknownFunctionRefusalError,
    parse_statement,
)
from ._tree import check_tree
from .catalog import load_catalog

if TYPE_CHECKING:
    from ..sql.dialects import Dialect

__all__ = [
    "ALLOWED_FUNCTIONS",
    "DEFAULT_ALLOWED_SETTINGS",
    "DEFAULT_ALLOWED_TABLE_FUNCTIONS",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_SETTING_BOUNDS",
    "DENIED_FUNCTIONS",
    "SYSTEM_DATABASES",
    "SQLGuard",
]

logger = logging.getLogger("text2sql_tune")

_CATALOG = load_catalog()

ALLOWED_FUNCTIONS: frozenset[str] = _CATALOG.allowed
"""Functions a query may call or pass by name: the pure ones of the bundled engine (aggregate
combinators such as ``sumIf`` come on top). Generated data, see :mod:`text2sql_tune.safety.catalog`.
"""

DENIED_FUNCTIONS: frozenset[str] = frozenset(_CATALOG.denied) | frozenset(
    name for name in _CATALOG.table_functions_denied if name not in _CATALOG.allowed
)
"""Functions refused anywhere, even if an allow-list names them: the engine's impure functions
(``file``, ``sleep``, ``hostName``, ``getSetting``...) and the table functions that reach outside
the query (``url``, ``s3``, ``remote``...) and are not also pure ordinary functions (``format``
is one: ``format('{}', x)`` is fine, ``FROM format(...)`` is not a table the guard allows)."""

DEFAULT_ALLOWED_TABLE_FUNCTIONS: frozenset[str] = _CATALOG.table_functions_allowed
"""Table functions that only produce data in memory (compared case-insensitively).

These are also the ones a ``readonly=1`` ClickHouse session still runs (``zeros`` is not).
"""

DEFAULT_ALLOWED_SETTINGS: frozenset[str] = _CATALOG.settings_allowed
"""Settings a query may set in its own ``SETTINGS`` clause: they change results or the plan,
never a limit, a permission or storage (generated with the function catalog from the engine's
``system.settings`` by the review policy in :mod:`text2sql_tune.safety.catalog`)."""

DEFAULT_SETTING_BOUNDS: Mapping[str, int] = MappingProxyType(
    {"max_block_size": 65_536, "max_threads": 16}
)
"""Settings a query may lower but not raise past a bound: a positive integer up to the value."""

SYSTEM_DATABASES: frozenset[str] = frozenset({"system", "information_schema"})
"""Databases refused unless listed in ``allowed_databases`` (compared case-insensitively)."""

DEFAULT_MAX_DEPTH = 24
"""Deepest bracket nesting accepted by default (sqlglot's parser recurses per level)."""

_STATEMENTS = frozenset(
    {
        "INSERT", "CREATE", "ALTER", "DROP", "DETACH", "ATTACH", "RENAME", "TRUNCATE",
        "OPTIMIZE", "SYSTEM", "KILL", "GRANT", "REVOKE", "SET", "USE", "SHOW", "DESCRIBE",
        "DESC", "EXPLAIN", "EXISTS", "CHECK", "DELETE", "UPDATE", "BACKUP", "RESTORE", "WATCH",
        "MOVE", "UNDROP", "EXCHANGE", "BEGIN", "COMMIT", "ROLLBACK", "REPLACE", "UPSERT",
        "FROM", "VALUES", "TABLE", "EXECUTE", "CALL", "MERGE", "COPY", "LOAD", "PARALLEL",
    }
)  # fmt: skip
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F))
_TYPOGRAPHIC = frozenset("\u2018\u2019\u201c\u201d\u2212")
_OUTFILE = frozenset({"OUTFILE", "DUMPFILE"})
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SQLGuard:
    """Refuses unsafe SQL before it reaches the engine; see ``docs/safety.md`` for the rules.

    The guard is closed: every function a query calls or passes by name must be on the
    allow-list, every table must be in an allowed database, and anything it cannot read
    with certainty is refused. The function allow-list is the dialect's
    (:meth:`~text2sql_tune.sql.dialects.Dialect.function_catalog`, ClickHouse's); a dialect without
    one gets an open guard that refuses only ``denied_functions`` by name (add that engine's own
    fences, as ``examples/sqlite_executor.py`` does).

    Args:
        dialect: The :class:`~text2sql_tune.sql.dialects.Dialect` (or its name) whose sqlglot
            parser reads the query and whose function catalog closes the guard.
        allowed_table_functions: Table functions a query may read from (case-insensitive).
        allowed_databases: Databases a query may name; ``None`` allows every database except
            ``system`` and ``INFORMATION_SCHEMA``. Listing ``"system"`` here allows it.
        max_sql_length: Longest accepted statement, in characters (checked before anything).
        allowed_settings: Settings a query's trailing ``SETTINGS`` clause may change.
        allow_explain: Accept ``EXPLAIN [AST|SYNTAX|QUERY TREE|PLAN|PIPELINE|ESTIMATE] <query>``.
        denied_functions: Functions refused anywhere, even when an allow-list names them.
        allowed_functions: Functions a query may call; default :data:`ALLOWED_FUNCTIONS`. Add
            your own (a SQL UDF, say) with ``{*ALLOWED_FUNCTIONS, "myUdf"}``.
        max_depth: Deepest bracket nesting accepted.
        default_database: The connection's default database. With ``allowed_databases`` set and
            this database not in it, a table or dictionary named without a database (after
            ``FROM``, after ``IN``, in ``notIn(x, t)``, ``dictGet('d', ...)``,
            ``joinGet('t', ...)``), other than a name the query defines, is refused; ``None``
            leaves unqualified names to the engine.
        setting_bounds: Settings a query's ``SETTINGS`` may set to a positive integer up to the
            bound (``max_threads = 1`` lowers a limit; ``max_threads = 1000`` is refused).
    """

    def __init__(
        self,
        *,
        dialect: Dialect | str = "clickhouse",
        allowed_table_functions: Collection[str] = DEFAULT_ALLOWED_TABLE_FUNCTIONS,
        allowed_databases: Collection[str] | None = None,
        max_sql_length: int = 100_000,
        allowed_settings: Collection[str] = DEFAULT_ALLOWED_SETTINGS,
        allow_explain: bool = False,
        denied_functions: Collection[str] = DENIED_FUNCTIONS,
        allowed_functions: Collection[str] | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
        default_database: str | None = None,
        setting_bounds: Mapping[str, int] = DEFAULT_SETTING_BOUNDS,
    ) -> None:
        from ..sql.dialects import Dialect  # here: the sql package imports this one

        if max_depth < 1:
            raise ValueError("max_depth must be >= 1")
        self.dialect = Dialect.get(dialect)
        self.allowed_table_functions = frozenset(f.lower() for f in allowed_table_functions)
        self.allowed_databases = None if allowed_databases is None else frozenset(allowed_databases)
        self.max_sql_length = max_sql_length
        self.allowed_settings = frozenset(s.lower() for s in allowed_settings)
        self.allow_explain = allow_explain
        self.denied_functions = frozenset(denied_functions)
        self.allowed_functions = (
            ALLOWED_FUNCTIONS if allowed_functions is None else frozenset(allowed_functions)
        )
        self.max_depth = max_depth
        self.default_database = default_database
        self.setting_bounds = {k.lower(): int(v) for k, v in setting_bounds.items()}
        own = self.dialect.function_catalog()
        catalog = own or _CATALOG  # an open guard still says why a denied function is refused
        tables = self.allowed_table_functions
        self._policy = FunctionPolicy(
            catalog,
            self.allowed_functions,
            frozenset(f for f in self.denied_functions if f.lower() not in tables),
            tables,
            closed=own is not None,
        )
        self._table_reasons = {n.lower(): (n, r) for n, r in catalog.table_functions_denied.items()}
        self._system_allowed = frozenset(
            d.lower() for d in (self.allowed_databases or ()) if d.lower() in SYSTEM_DATABASES
        )

    def __repr__(self) -> str:
        return (
            f"SQLGuard(dialect={self.dialect.name!r}, "
            f"allowed_databases={sorted(self.allowed_databases or []) or None!r})"
        )

    def check(self, sql: str) -> str:
        """Return the statement to run, or raise why it may not run.

        Args:
            sql: The untrusted statement (a trailing ``FORMAT`` clause and ``;`` are allowed).

        Returns:
            The statement without the ``FORMAT`` clause, trailing semicolons and comments.

        Raises:
            UnsafeSQLError: A rule refused it (``reason`` says which); the subclass
                ``UnknownFunctionError`` when it calls a function no catalog knows (a typo, or
                another database's function), which evaluation files as ``unknown_function``.
            SQLSyntaxError: It is not valid SQL (``reason`` says where).
        """
        if len(sql) > self.max_sql_length:
            raise UnsafeSQLError(sql, f"statement is longer than {self.max_sql_length} characters")
        try:
            return self._check(sql)
        except SyntaxRefusalError as exc:
            raise SQLSyntaxError(sql, exc.reason) from None
        except UnknownFunctionRefusalError as exc:
            raise UnknownFunctionError(sql, exc.reason, exc.function) from None
        except RefusalError as exc:
            raise UnsafeSQLError(sql, exc.reason) from None
        except RecursionError:
            raise UnsafeSQLError(sql, "the query is nested too deeply to check") from None
        except (UnsafeSQLError, SQLSyntaxError):
            raise
        except Exception as exc:  # fail closed: a guard that cannot decide refuses
            logger.debug("the SQL guard failed on a query", exc_info=True)
            raise UnsafeSQLError(
                sql, f"the guard could not check this query ({type(exc).__name__})"
            ) from None

    def _check(self, sql: str) -> str:
        try:
            statement = parse_statement(sql)
        except LexError as exc:
            raise _lex_refusal(sql, exc) from None
        _check_characters(statement.tokens)
        if not statement.code:
            raise RefusalError("empty statement")
        if statement.nesting > self.max_depth:
            raise RefusalError(
                f"the query nests brackets {statement.nesting} levels deep; "
                f"the limit is {self.max_depth}"
            )
        _check_into_outfile(statement.code)
        if statement.explain and not self.allow_explain:
            raise RefusalError("EXPLAIN is not allowed")
        body = statement.body()
        _check_statement_kind(body)
        for name, value in [*statement.settings, *statement.nested_settings]:
            self._check_setting(name, value)
        databases = Databases(self._check_database, self._default_database_allowed())
        check_tokens(body, self._policy, databases, self._system_allowed)
        rendered = render_for_parser(sql, statement.tokens, body)
        check_tree(
            rendered,
            dialect=self.dialect.sqlglot_dialect,
            check_database=self._check_database,
            policy=self._policy,
            table_function_reasons=self._table_reasons,
            allowed_settings=self.allowed_settings | frozenset(self.setting_bounds),
            default_database_allowed=self._default_database_allowed(),
        )
        return statement.checked_text()

    def _check_setting(self, name: str, value: str) -> None:
        lowered = name.lower()
        bound = self.setting_bounds.get(lowered)
        if bound is not None:
            if not value.isdigit() or not 0 < int(value) <= bound:
                raise RefusalError(f"SETTINGS {name} may only be set to 1..{bound}, not {value}")
        elif lowered not in self.allowed_settings:
            raise RefusalError(f"SETTINGS {name} is not allowed (it may loosen limits)")

    def _default_database_allowed(self) -> bool:
        if self.allowed_databases is None or self.default_database is None:
            return True
        return self.default_database in self.allowed_databases

    def _check_database(self, database: str) -> None:
        if not database:
            return
        if self.allowed_databases is not None:
            if database not in self.allowed_databases:
                allowed = ", ".join(sorted(self.allowed_databases)) or "none"
                raise RefusalError(f"database {database!r} is not allowed (allowed: {allowed})")
        elif database.lower() in SYSTEM_DATABASES:
            raise RefusalError(f"database {database!r} is not allowed")


def _lex_refusal(sql: str, exc: LexError) -> RefusalError:
    offset = exc.offset
    ch = sql[offset] if 0 <= offset < len(sql) else ""
    if ch and _invisible(ch):
        return RefusalError(f"invisible or control character U+{ord(ch):04X} at offset {offset}")
    if ch and unicodedata.category(ch) in ("Zs", "Zl", "Zp"):
        return RefusalError(f"unicode space U+{ord(ch):04X} outside a string at offset {offset}")
    if ch in _TYPOGRAPHIC:
        return RefusalError(
            f"typographic quote or minus U+{ord(ch):04X} at offset {offset}; use ' \" or -"
        )
    return SyntaxRefusalError(str(exc))


def _invisible(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") or ch in _BIDI


def _check_characters(tokens: list[Token]) -> None:
    """Refuse controls and bidirectional overrides anywhere, invisible characters outside data.

    Inside string literals and heredocs a zero-width space (say) is data, not a trick.
    """
    for token in tokens:
        text = token.text
        if text.isascii():
            match = _ASCII_CONTROL.search(text)
            if match is not None:
                offset = token.start + match.start()
                raise RefusalError(
                    f"invisible or control character U+{ord(match.group()):04X} at offset {offset}"
                )
            continue
        in_data = token.kind in (Kind.STRING, Kind.HEREDOC)
        for offset, ch in enumerate(text, token.start):
            if ch.isascii():
                bad = _ASCII_CONTROL.match(ch) is not None
            else:
                bad = ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs")
                bad = bad or (not in_data and _invisible(ch))
            if bad:
                raise RefusalError(
                    f"invisible or control character U+{ord(ch):04X} at offset {offset}"
                )


def _check_into_outfile(code: list[Token]) -> None:
    for first, second in itertools.pairwise(code):
        if first.kind is Kind.WORD and first.upper == "INTO" and second.upper in _OUTFILE:
            raise RefusalError("INTO OUTFILE is not allowed")


def _check_statement_kind(body: list[Token]) -> None:
    first = next((t for t in body if t.text != "("), None)
    if first is None:
        raise RefusalError("empty statement")
    word = first.upper if first.kind is Kind.WORD else ""
    if word in ("SELECT", "WITH"):
        return
    if word in _STATEMENTS:
        raise RefusalError(f"only SELECT queries are allowed, got {word}")
    shown = first.text[:20]
    raise SyntaxRefusalError(f"expected SELECT or WITH at offset {first.start}, got {shown!r}")
