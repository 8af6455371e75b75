"""The SQL safety guard: refuse anything but one read-only query before it reaches the engine.

Model-written SQL is untrusted input. :class:`SQLGuard` is the first of two fences (the second is
the executor's locked-down session, see ``docs/safety.md``): it lexes and parses the text with
sqlglot's ClickHouse dialect and refuses, with a clear reason, everything that is not exactly one
``SELECT`` / ``WITH ... SELECT`` / set operation of selects, or that reaches outside the database
(table functions such as ``file``, ``url``, ``s3``, ``remote``), writes a file (``INTO OUTFILE``),
loosens limits (``SETTINGS readonly=0``, ``max_*``) or reads the ``system`` database.

The check is a pure function of the text: no engine round trip, well under a millisecond for
typical queries.

Example:
    >>> from text2sql_tune import SQLGuard
    >>> SQLGuard().check("SELECT count() FROM ecommerce.users FORMAT TabSeparatedWithNames;")
    'SELECT count() FROM ecommerce.users'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from .errors import UnsafeSQLError

__all__ = [
    "DEFAULT_ALLOWED_SETTINGS",
    "DEFAULT_ALLOWED_TABLE_FUNCTIONS",
    "DENIED_FUNCTIONS",
    "SYSTEM_DATABASES",
    "SQLGuard",
    "strip_format_clause",
]

DEFAULT_ALLOWED_TABLE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "numbers",
        "numbers_mt",
        "generate_series",
        "generateseries",
        "values",
        "null",
    }
)
"""Table functions that only produce data in memory (names compared case-insensitively).

These are also the ones a ``readonly=1`` ClickHouse session still runs (``zeros`` is not).
"""

DENIED_FUNCTIONS: frozenset[str] = frozenset(
    name.lower()
    for name in (
        # files, object stores and URLs
        "file",
        "fileCluster",
        "url",
        "urlCluster",
        "s3",
        "s3Cluster",
        "gcs",
        "oss",
        "cosn",
        "hdfs",
        "hdfsCluster",
        "azureBlobStorage",
        "azureBlobStorageCluster",
        "iceberg",
        "icebergS3",
        "icebergAzure",
        "icebergHDFS",
        "icebergLocal",
        "deltaLake",
        "deltaLakeLocal",
        "hudi",
        "paimon",
        # other servers and databases
        "remote",
        "remoteSecure",
        "cluster",
        "clusterAllReplicas",
        "mysql",
        "postgresql",
        "jdbc",
        "odbc",
        "sqlite",
        "mongodb",
        "redis",
        "ytsaurus",
        "arrowFlight",
        "hasColumnInTable",
        # programs, stdin and host introspection
        "executable",
        "input",
        "catboostEvaluate",
        "showCertificate",
        "addressToLine",
        "addressToLineWithInlines",
        "addressToSymbol",
        "demangle",
        # stalls that only tie up a worker
        "sleep",
        "sleepEachRow",
    )
)
"""Functions refused anywhere in a query, as table functions or in expressions."""

DEFAULT_ALLOWED_SETTINGS: frozenset[str] = frozenset(
    {
        "join_use_nulls",
        "aggregate_functions_null_for_empty",
        "prefer_column_name_to_alias",
        "joined_subquery_requires_alias",
        "cast_keep_nullable",
    }
)
"""Settings a query may set in its own ``SETTINGS`` clause: they change results, never limits."""

SYSTEM_DATABASES: frozenset[str] = frozenset({"system", "information_schema"})
"""Databases refused unless listed in ``allowed_databases`` (compared case-insensitively)."""

_EXPLAIN_PREFIX = re.compile(
    r"\s*explain(?:\s+(?:ast|syntax|query\s+tree|plan|pipeline|estimate))?\s+", re.IGNORECASE
)
_FORMAT_TAIL = re.compile(r"(?<![\w.])format\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
_WORD_BEFORE = re.compile(r"(\w+)\s*$")
_INTO_OUTFILE = re.compile(r"\binto\s+outfile\b", re.IGNORECASE)
_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z_]+)")
_NOT_FORMAT_NAMES = {"asc", "desc", "nulls", "first", "last"}
_NO_FORMAT_AFTER = {"by", "as", "select", "distinct", "and", "or", "not", "where", "on"}


_Refuse = Callable[[str], UnsafeSQLError]


class _UnterminatedError(ValueError):
    """A string, quoted identifier or block comment that never ends."""


def _mask(sql: str) -> str:
    """Return ``sql`` with comments blanked and literal contents replaced, keeping every offset.

    String literals and quoted identifiers keep their quotes but their contents become ``_``, so
    keywords and semicolons inside them cannot fool the text checks. Comments (``--``, ``#``,
    nested ``/* */`` like ClickHouse's lexer) become spaces.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while True:
                if j >= n:
                    raise _UnterminatedError(f"unterminated quote {ch} starting at offset {i}")
                if sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote inside the literal
                        j += 2
                        continue
                    break
                j += 1
            out.append(ch + "_" * (j - i - 1) + ch)
            i = j + 1
        elif sql.startswith("--", i) or ch == "#":
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while depth:
                if j >= n:
                    raise _UnterminatedError(f"unterminated comment starting at offset {i}")
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(" " * (j - i))
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _format_cut(sql: str, masked: str) -> int | None:
    """Offset where a trailing ``FORMAT <name>`` clause starts, or ``None``."""
    match = _FORMAT_TAIL.search(masked)
    if match is None or match.group(1).lower() in _NOT_FORMAT_NAMES:
        return None
    before = _WORD_BEFORE.search(masked[: match.start()])
    if before is not None and before.group(1).lower() in _NO_FORMAT_AFTER:
        return None
    if not masked[: match.start()].strip():
        return None
    return match.start()


def strip_format_clause(sql: str) -> str:
    """Remove a trailing ``FORMAT <name>`` clause and trailing semicolons from a query.

    The article's SQL ends with ``format TabSeparatedWithNames``; executors pick their own output
    format, so the clause is dropped. Comments and string literals are respected: a ``FORMAT``
    inside a string or after ``ORDER BY`` (a column named ``format``) is left alone.

    Args:
        sql: One SQL statement.

    Returns:
        The statement without the clause, stripped of surrounding whitespace.
    """
    text = sql.strip()
    try:
        masked = _mask(text)
    except _UnterminatedError:
        return text.rstrip(";").rstrip()
    cut = _format_cut(text, masked)
    if cut is not None:
        text, masked = text[:cut], masked[:cut]
    code = masked.rstrip()
    while code.endswith(";"):
        code = code[:-1].rstrip()
    # Keep a trailing comment out of the statement: cut at the end of the last code character.
    return text[: len(code)].rstrip()


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    if isinstance(node, exp.Func):
        return node.sql_name()
    return type(node).__name__


class SQLGuard:
    """Refuses unsafe SQL before it reaches the engine; see ``docs/safety.md`` for the rules.

    Args:
        dialect: sqlglot dialect used to parse (``"clickhouse"``).
        allowed_table_functions: Table functions a query may read from (case-insensitive); any
            other table function is refused. A name also in ``denied_functions`` stays refused.
        allowed_databases: Databases a query may name; ``None`` allows every database except
            ``system`` and ``INFORMATION_SCHEMA``. Listing ``"system"`` here allows it.
        max_sql_length: Longest accepted statement, in characters.
        allowed_settings: Settings a query's ``SETTINGS`` clause may change.
        allow_explain: Accept ``EXPLAIN [AST|SYNTAX|QUERY TREE|PLAN|PIPELINE|ESTIMATE] <query>``.
        denied_functions: Functions refused anywhere in the query (case-insensitive).
    """

    def __init__(
        self,
        *,
        dialect: str = "clickhouse",
        allowed_table_functions: Collection[str] = DEFAULT_ALLOWED_TABLE_FUNCTIONS,
        allowed_databases: Collection[str] | None = None,
        max_sql_length: int = 100_000,
        allowed_settings: Collection[str] = DEFAULT_ALLOWED_SETTINGS,
        allow_explain: bool = False,
        denied_functions: Collection[str] = DENIED_FUNCTIONS,
    ) -> None:
        self.dialect = dialect
        self.allowed_table_functions = frozenset(f.lower() for f in allowed_table_functions)
        self.allowed_databases = None if allowed_databases is None else frozenset(allowed_databases)
        self.max_sql_length = max_sql_length
        self.allowed_settings = frozenset(s.lower() for s in allowed_settings)
        self.allow_explain = allow_explain
        self.denied_functions = frozenset(f.lower() for f in denied_functions)

    def __repr__(self) -> str:
        return (
            f"SQLGuard(dialect={self.dialect!r}, "
            f"allowed_databases={sorted(self.allowed_databases or []) or None!r})"
        )

    def check(self, sql: str) -> str:
        """Return the statement to run, or raise :class:`~text2sql_tune.UnsafeSQLError`.

        Args:
            sql: The untrusted statement (a trailing ``FORMAT`` clause and ``;`` are allowed).

        Returns:
            The statement without the trailing ``FORMAT`` clause and semicolon.

        Raises:
            UnsafeSQLError: With ``reason`` saying which rule refused it.
        """

        def refuse(reason: str) -> UnsafeSQLError:
            return UnsafeSQLError(sql, reason)

        if len(sql) > self.max_sql_length:
            raise refuse(f"statement is longer than {self.max_sql_length} characters")
        try:
            masked = _mask(sql)
        except _UnterminatedError as exc:
            raise refuse(str(exc)) from None
        _check_characters(sql, masked, refuse)
        statement = strip_format_clause(sql)
        masked = masked[len(sql) - len(sql.lstrip()) :][: len(statement)]
        if not statement:
            raise refuse("empty statement")
        if ";" in masked:
            raise refuse("multiple statements are not allowed (';' inside the query)")
        if _INTO_OUTFILE.search(masked):
            raise refuse("INTO OUTFILE is not allowed")
        explain = _EXPLAIN_PREFIX.match(masked)
        body = statement
        if explain is not None:
            if not self.allow_explain:
                raise refuse("EXPLAIN is not allowed")
            body = statement[explain.end() :]
            masked = masked[explain.end() :]
        first = _FIRST_WORD.match(masked)
        keyword = first.group(1).upper() if first else ""
        if keyword not in ("SELECT", "WITH"):
            shown = keyword or (masked.strip()[:20] or "nothing")
            raise refuse(f"only SELECT queries are allowed, got {shown}")
        self._check_tree(body, refuse)
        return statement

    def _check_tree(self, body: str, refuse: _Refuse) -> None:
        try:
            trees = [t for t in sqlglot.parse(body, read=self.dialect) if t is not None]
        except SqlglotError as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise refuse(f"could not parse the query as {self.dialect} SQL: {first_line}") from None
        if len(trees) != 1:
            raise refuse("multiple statements are not allowed")
        tree = trees[0]
        while isinstance(tree, exp.Subquery):
            tree = tree.this
        if not isinstance(tree, exp.Select | exp.SetOperation):
            raise refuse(f"only SELECT queries are allowed, got {type(tree).__name__.upper()}")
        for node in tree.walk():
            if isinstance(node, exp.DML | exp.DDL | exp.Command | exp.Set | exp.Into):
                raise refuse(f"{type(node).__name__.upper()} is not allowed inside a query")
            if isinstance(node, exp.Table):
                self._check_table(node, refuse)
            elif isinstance(node, exp.Func):
                name = _function_name(node)
                if name.lower() in self.denied_functions:
                    raise refuse(f"function {name!r} is not allowed")
            elif isinstance(node, exp.In) and isinstance(node.args.get("field"), exp.Column):
                self._check_database(node.args["field"].table, refuse)
            if isinstance(node, exp.Query):
                self._check_settings(node, refuse)

    def _check_table(self, table: exp.Table, refuse: _Refuse) -> None:
        source = table.this
        if isinstance(source, exp.Func):
            name = _function_name(source)
            if name.lower() in self.denied_functions:
                raise refuse(f"table function {name!r} is not allowed")
            if name.lower() not in self.allowed_table_functions:
                raise refuse(f"table function {name!r} is not on the allow-list")
            return
        for part in (table.args.get("catalog"), table.args.get("db")):
            if part is not None:
                self._check_database(str(part.name), refuse)

    def _check_database(self, database: str, refuse: _Refuse) -> None:
        if not database:
            return
        if self.allowed_databases is not None:
            if database not in self.allowed_databases:
                allowed = ", ".join(sorted(self.allowed_databases)) or "none"
                raise refuse(f"database {database!r} is not allowed (allowed: {allowed})")
        elif database.lower() in SYSTEM_DATABASES:
            raise refuse(f"database {database!r} is not allowed")

    def _check_settings(self, query: exp.Expr, refuse: _Refuse) -> None:
        for setting in query.args.get("settings") or []:
            target = setting.this if isinstance(setting, exp.EQ) else setting
            name = target.name if isinstance(target, exp.Expr) else str(target)
            if name.lower() not in self.allowed_settings:
                raise refuse(f"SETTINGS {name} is not allowed (it may loosen limits)")


def _check_characters(sql: str, masked: str, refuse: _Refuse) -> None:
    for index, ch in enumerate(sql):
        if ch in "\t\n\r" or (ch.isascii() and ch.isprintable()):
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise refuse(f"invisible or control character U+{ord(ch):04X} at offset {index}")
        if category in ("Zs", "Zl", "Zp") and masked[index] == ch:
            raise refuse(f"unicode space U+{ord(ch):04X} outside a string at offset {index}")
