"""Database schema: tables, columns, descriptions and example values, rendered for prompts.

A :class:`DatabaseSchema` comes from introspection (``SQLExecutor.aget_schema``, which asks the
executor's dialect), from Python or
from a YAML/TOML file, and is annotated with descriptions and example values so that the generation
and answering prompts read like the article's::

    Table: ecommerce.users
    Description: customers of the online shop
    Fields:
    - user_id (integer) - unique identifier of customer, for example, 1000004 or 3000004
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import DataError
from .io.decode import parse_toml, read_text
from .io.validation_errors import describe_validation_error

if TYPE_CHECKING:
    from .records import QueryResult

__all__ = [
    "Column",
    "DatabaseSchema",
    "Table",
    "friendly_type",
]

# Standard SQL type names (SQLite, DuckDB, PostgreSQL...), compared in any case.
_T = TypeVar("_T")

_SQL_TYPES: list[tuple[str, str]] = [
    (r"(U|UNSIGNED\s+)?(TINY|SMALL|MEDIUM|BIG|HUGE)?INT(EGER)?\d*( UNSIGNED)?", "integer"),
    (r"REAL|DOUBLE( PRECISION)?|FLOAT\d*", "float"),
    (r"(NUMERIC|DECIMAL)(\(.*\))?", "decimal"),
    (r"(VAR)?CHAR(ACTER)?( VARYING)?(\(.*\))?|TEXT|VARCHAR|CLOB", "string"),
    (r"TIMESTAMP.*|DATETIME", "datetime"),
    (r"BOOL(EAN)?", "boolean"),
    (r".+\[\]", "array"),
]


def friendly_type(clickhouse_type: str) -> str:
    """Map an engine's type to the plain word used in prompts (``UInt64`` -> ``integer``).

    Args:
        clickhouse_type: A ClickHouse type name such as ``Nullable(Float64)``, or a standard SQL
            one (``BIGINT``, ``VARCHAR``, ``DOUBLE``) as SQLite or DuckDB report them.

    Returns:
        One of integer, float, decimal, string, date, datetime, boolean, uuid, array, map, tuple,
        or the lower-cased type when unknown.
    """
    inner = clickhouse_type.strip()
    # Wrappers nest in any order, e.g. LowCardinality(Nullable(String)).
    wrapped = r"(?:Nullable|LowCardinality)\((.*)\)|SimpleAggregateFunction\([^,]+,(.*)\)"
    while match := re.fullmatch(wrapped, inner):
        inner = (match.group(1) or match.group(2)).strip()
    checks: list[tuple[str, str]] = [
        (r"U?Int\d+", "integer"),
        (r"Float\d+|BFloat16", "float"),
        (r"Decimal.*", "decimal"),
        (r"(Fixed)?String.*|Enum.*", "string"),
        (r"Date32|Date", "date"),
        (r"DateTime.*", "datetime"),
        (r"Bool", "boolean"),
        (r"UUID", "uuid"),
        (r"Array\(.*", "array"),
        (r"Map\(.*", "map"),
        (r"Tuple\(.*", "tuple"),
    ]
    for pattern, word in checks:
        if re.fullmatch(pattern, inner):
            return word
    for pattern, word in _SQL_TYPES:
        if re.fullmatch(pattern, inner, re.IGNORECASE):
            return word
    return inner.lower()


class Column(BaseModel):
    """A column and what a model should know about it.

    Attributes:
        name: Column name.
        type: ClickHouse type (e.g. ``UInt64``); rendered as a plain word in prompts.
        description: What the column means.
        examples: Example values shown as "for example, A or B".
        comment: The column comment stored in the database (used when there is no description).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    type: str = "String"
    description: str | None = None
    examples: list[Any] = Field(default_factory=list)
    comment: str | None = None

    def to_prompt(self) -> str:
        """Render the column as one prompt line."""
        line = f"- {self.name} ({friendly_type(self.type)})"
        text = self.description or self.comment
        if text:
            line += f" - {text}"
        if self.examples:
            shown = " or ".join(_example_text(v) for v in self.examples[:3])
            line += f"{',' if text else ' -'} for example, {shown}"
        return line


def _first(found: Iterator[_T], missing: str) -> _T:
    """The first item ``found``; ``KeyError(missing)`` when there is none."""
    for item in found:
        return item
    raise KeyError(missing)


def _mapping(value: Any, problem: str) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else ``DataError(problem)``."""
    if not isinstance(value, Mapping):
        raise DataError(problem)
    return value


def _example_text(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class Table(BaseModel):
    """A table with its columns.

    Attributes:
        database: Database name (``ecommerce``).
        name: Table name (``users``).
        description: What a row is.
        columns: Columns in table order.
    """

    model_config = ConfigDict(extra="forbid")

    database: str
    name: str
    description: str | None = None
    columns: list[Column] = Field(default_factory=list)

    @property
    def full_name(self) -> str:
        """``database.table``."""
        return f"{self.database}.{self.name}"

    def column(self, name: str) -> Column:
        """Return the column called ``name`` (``KeyError`` when absent)."""
        found = (c for c in self.columns if c.name == name)
        return _first(found, f"{self.full_name} has no column {name!r}")

    def to_prompt(self) -> str:
        """Render the table in the article's prompt style."""
        lines = [f"Table: {self.full_name}"]
        if self.description:
            lines.append(f"Description: {self.description}")
        lines.append("Fields:")
        lines += [column.to_prompt() for column in self.columns]
        return "\n".join(lines)


class DatabaseSchema(BaseModel):
    """All tables a model may query.

    Attributes:
        tables: The tables, in prompt order.
    """

    model_config = ConfigDict(extra="forbid")

    tables: list[Table] = Field(default_factory=list)

    @property
    def databases(self) -> list[str]:
        """Distinct database names, in table order."""
        return list(dict.fromkeys(t.database for t in self.tables))

    def table(self, full_name: str) -> Table:
        """Return a table by ``database.table`` name (``KeyError`` when absent)."""
        found = (t for t in self.tables if t.full_name == full_name)
        return _first(found, f"no table {full_name!r} in the schema")

    def to_prompt(self) -> str:
        """Render every table, separated by blank lines."""
        return "\n\n".join(table.to_prompt() for table in self.tables)

    def annotate(self, annotations: Mapping[str, Any]) -> DatabaseSchema:
        """Return a copy with descriptions and example values merged in.

        Args:
            annotations: ``{"db.table": {"description": ..., "columns": {"col": {"description":
                ..., "examples": [...]}}}}``; a column value may also be a plain description
                string. Unknown tables or columns raise ``DataError`` (likely typos).

        Returns:
            The annotated schema (this one is unchanged).
        """
        schema = self.model_copy(deep=True)
        for full_name, table_notes in annotations.items():
            try:
                table = schema.table(full_name)
            except KeyError as exc:
                raise DataError(f"annotations name an unknown table {full_name!r}") from exc
            table_notes = _mapping(table_notes, f"annotations for {full_name!r} must be a mapping")
            if table_notes.get("description") is not None:
                table.description = str(table_notes["description"])
            column_notes = _mapping(
                table_notes.get("columns") or {},
                f"annotations for {full_name!r}: 'columns' must be a mapping",
            )
            for column_name, notes in column_notes.items():
                try:
                    column = table.column(column_name)
                except KeyError as exc:
                    raise DataError(
                        f"annotations name an unknown column {full_name}.{column_name}"
                    ) from exc
                if isinstance(notes, str):
                    column.description = notes
                    continue
                notes = _mapping(
                    notes,
                    f"annotations for {full_name}.{column_name} must be a description "
                    "or a mapping with 'description' / 'examples'",
                )
                if notes.get("description") is not None:
                    column.description = str(notes["description"])
                examples = notes.get("examples")
                if examples is not None:
                    column.examples = list(examples) if isinstance(examples, list) else [examples]
        return schema

    def annotate_from_file(self, path: str | Path) -> DatabaseSchema:
        """Like :meth:`annotate`, reading the annotations from a YAML, TOML or JSON file."""
        return self.annotate(_load_mapping(Path(path)))

    @classmethod
    def from_file(cls, path: str | Path) -> DatabaseSchema:
        """Read a whole schema (``{"tables": [...]}``) from a YAML, TOML or JSON file.

        Raises:
            DataError: The file is missing, unreadable or not a valid schema.
        """
        data = _load_mapping(Path(path))
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise DataError(
                f"{path}: not a valid schema: {describe_validation_error(exc)}"
            ) from None


def _load_mapping(path: Path) -> dict[str, Any]:
    text = read_text(path)  # DataError naming the line for a file that is not UTF-8
    try:
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = parse_toml(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise DataError(f"{path}: cannot parse: {exc}") from exc
    return dict(_mapping(data, f"{path}: expected a mapping at the top level"))


async def _introspect_clickhouse(
    run: Callable[[str], Awaitable[QueryResult]], databases: Sequence[str] | None = None
) -> DatabaseSchema:
    """Deprecated: ``Dialect.get("clickhouse").aintrospect(run, databases)``."""
    from .sql.dialects import Dialect

    return await Dialect.get("clickhouse").aintrospect(run, databases)


def __getattr__(name: str) -> Any:
    if name == "introspect_clickhouse":  # moved to the ClickHouse dialect in 0.2
        warnings.warn(
            "text2sql_tune.schema.introspect_clickhouse is deprecated: use "
            'Dialect.get("clickhouse").aintrospect(run, databases) from text2sql_tune.sql.dialects '
            "(or SQLExecutor.aget_schema); it goes in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return _introspect_clickhouse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
