r"""What a query looks like, read from sqlglot's ClickHouse token stream (no full parse).

:func:`profile_sql` lexes a statement once with sqlglot's ClickHouse tokenizer and returns a
:class:`SQLProfile`: a canonical text (the key used to find the same query written differently)
and the lexical facts dataset statistics need (tables, columns, functions, clause features).

Why tokens and not a parse tree: with the compiled tokenizer (``sqlglotc``) a profile costs about
56 µs per demo golden query, a sqlglot parse alone about 88 µs and parse + generate about 190 µs
(pure-Python sqlglot: about 130 µs, 0.4 ms and 0.6 ms). The structure (tables after FROM / JOIN,
``WITH TOTALS``) comes from the shared :class:`~text2sql_tune.sql.walk.TokenWalk`. Profiles are
cached per SQL text (the last 131,072 distinct statements), so the filters and the statistics
lex each statement once.

The canonical text:

- drops comments, the trailing ``;`` and a trailing ``FORMAT`` clause, and collapses whitespace;
- upper-cases keywords (``select`` -> ``SELECT``, ``group  by`` -> ``GROUP BY``) but not data
  type names (ClickHouse type names are case-sensitive);
- lower-cases the functions ClickHouse treats case-insensitively (``COUNT(`` -> ``count(``);
  other function names and all identifiers keep their case (ClickHouse is case-sensitive there);
- writes quoted identifiers bare when they need no quotes (`` `os` `` -> ``os``), string literals
  in one quoting style (``'it''s'`` -> ``'it\\'s'``) and ``<>`` as ``!=``; literals are kept.

Text sqlglot cannot tokenize (an unterminated string, say) falls back to the whitespace-collapsed
text with no facts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar, cast

from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import TokenType

from .dialects.clickhouse import ClickHouse as ClickHouseDialect
from .tokens import statement_tokens
from .walk import NAMES, TokenWalk

__all__ = [
    "CASE_INSENSITIVE_FUNCTIONS",
    "SQLProfile",
    "aggregate_family",
    "is_date_function",
    "profile_sql",
    "profile_tokens",
]

_CLICKHOUSE = ClickHouseDialect()
CASE_INSENSITIVE_FUNCTIONS: frozenset[str] = _CLICKHOUSE.case_insensitive_functions
"""Functions ClickHouse accepts in any case (the ClickHouse dialect's): lower-cased in the key."""

_AGGREGATE_FAMILIES: tuple[str, ...] = tuple(
    sorted(
        (
            *("count", "sum", "avg", "min", "max", "uniq", "quantile", "median", "any"),
            *("anylast", "argmin", "argmax", "grouparray", "groupuniqarray", "groupbitmap"),
            *("stddevpop", "stddevsamp", "varpop", "varsamp", "corr", "covarpop", "covarsamp"),
            *("topk", "histogram", "avgweighted", "entropy", "simplelinearregression"),
        ),
        key=len,
        reverse=True,
    )
)

_DATE_FUNCTION = re.compile(_CLICKHOUSE.date_functions)

_TYPE_TOKENS: frozenset[TokenType] = frozenset(ClickHouse.parser_class.TYPE_TOKENS)
_KEYWORDS: frozenset[str] = frozenset(
    k for k in ClickHouse.tokenizer_class.KEYWORDS if k[:1].isalpha()
)
_SIMPLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR_TEXT = {TokenType.NEQ: "!=", TokenType.EQ: "="}
_CALLABLE = NAMES | _TYPE_TOKENS
_KEYWORD_TYPES = frozenset({TokenType.ARRAY, TokenType.INTERVAL, TokenType.UNION})
_NO_SPACE_BEFORE = frozenset(
    {TokenType.COMMA, TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.DOT}
)
_NO_SPACE_AFTER = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.DOT})
_CLAUSE_FEATURES = {
    TokenType.WHERE: "where",
    TokenType.PREWHERE: "where",
    TokenType.GROUP_BY: "group_by",
    TokenType.HAVING: "having",
    TokenType.ORDER_BY: "order_by",
    TokenType.LIMIT: "limit",
    TokenType.JOIN: "join",
    TokenType.WITH: "cte",
    TokenType.OVER: "window",
    TokenType.UNION: "union",
    TokenType.EXCEPT: "union",
    TokenType.INTERSECT: "union",
    TokenType.DISTINCT: "distinct",
    TokenType.CASE: "case",
}
_FACT_TOKENS = frozenset(_CLAUSE_FEATURES) | {
    TokenType.SELECT,
    TokenType.FROM,
    TokenType.JOIN,
    TokenType.ALIAS,
}
_BEFORE_KEYWORD_LIKE = frozenset({TokenType.WITH, TokenType.NUMBER, TokenType.STRING})
_T = TypeVar("_T", tuple[str, ...], frozenset[str])
_RENDERED: dict[tuple[TokenType, str, bool], str] = {}  # memo of _render_other
_RENDERED_MAX = 50_000
_SHARED: dict[object, object] = {}  # one copy of each repeated tuple / feature set
_SHARED_MAX = 200_000
_INTERVAL_UNITS = frozenset(
    unit + plural
    for unit in ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
    for plural in ("", "s")
)


@dataclass(frozen=True)
class SQLProfile:
    """The canonical text and lexical facts of one statement.

    Attributes:
        normalized: Canonical text: equal for the same query written with different whitespace,
            comments, keyword case or quoting (see the module docstring).
        tables: Tables read, as written (``db.table`` or ``table``), in order of appearance.
        columns: Column names referenced (aliases, tables and qualifiers excluded; best effort).
        functions: Function names called, as written.
        features: Clause features: ``where``, ``group_by``, ``having``, ``order_by``, ``limit``,
            ``join``, ``cte``, ``subquery``, ``window``, ``union``, ``distinct``, ``case``,
            ``aggregate``, ``date_function``.
        aggregates: Aggregate families used (``count``, ``sum``, ``uniq``, ``quantile``, ...).
        parsed: False when sqlglot could not tokenize the text (then only ``normalized`` is set).
    """

    normalized: str
    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    features: frozenset[str] = frozenset()
    aggregates: tuple[str, ...] = ()
    parsed: bool = True


@lru_cache(maxsize=4096)
def aggregate_family(function: str) -> str | None:
    """The aggregate family of a function name, or ``None`` for a non-aggregate.

    Combinator suffixes are ignored: ``countIf`` -> ``count``, ``uniqExact`` -> ``uniq``,
    ``quantilesTDigest`` -> ``quantile``.
    """
    lowered = function.lower()
    for family in _AGGREGATE_FAMILIES:
        if lowered.startswith(family):
            return family
    return None


@lru_cache(maxsize=4096)
def is_date_function(function: str) -> bool:
    """True for ClickHouse date and time functions (``toStartOfMonth``, ``today``, ``dateDiff``)."""
    return _DATE_FUNCTION.match(function.lower()) is not None


@lru_cache(maxsize=1 << 17)
def profile_sql(sql: str) -> SQLProfile:
    """Lex ``sql`` once and return its canonical text and lexical facts (cached per text).

    Args:
        sql: One statement (a trailing ``;`` or ``FORMAT`` clause is ignored).

    Returns:
        The profile; ``parsed`` is False when sqlglot could not tokenize the text.
    """
    try:
        tokens = statement_tokens(sql)
    except SqlglotError:
        return SQLProfile(normalized=" ".join(sql.split()), parsed=False)
    return _Profiler(TokenWalk(tokens.kinds, tokens.texts)).profile()


def profile_tokens(kinds: Sequence[TokenType], texts: Sequence[str]) -> SQLProfile:
    """The profile of an already tokenized statement (no trailing ``;`` or ``FORMAT`` clause).

    For callers that lex the statement themselves (the concept reader); not cached.
    """
    return _Profiler(TokenWalk(kinds, texts)).profile()


def _shared(value: _T) -> _T:
    """One shared copy of an immutable value that many profiles repeat (saves memory)."""
    found = _SHARED.get(value)
    if found is not None:
        return cast(_T, found)
    if len(_SHARED) < _SHARED_MAX:
        _SHARED[value] = value
    return value


def _quote_identifier(text: str) -> str:
    if _SIMPLE_NAME.fullmatch(text) and text.upper() not in _KEYWORDS:
        return text
    return "`" + text.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _render_other(kind: TokenType, text: str, calls: bool) -> str:
    """Canonical text of a token that is not a name, number or string."""
    if calls and text.lower() in CASE_INSENSITIVE_FUNCTIONS:
        return text.lower()
    operator = _OPERATOR_TEXT.get(kind)
    if operator is not None:
        return operator
    if kind in _TYPE_TOKENS and (calls or kind not in _KEYWORD_TYPES):
        return text
    if text[:1].isalpha():
        return " ".join(text.upper().split())
    return text


class _Profiler:
    """One pass over the tokens that collects the canonical text and the facts."""

    def __init__(self, walk: TokenWalk) -> None:
        self.walk = walk
        self.kinds = walk.kinds
        self.texts = walk.texts
        self._kind = walk.kind

    def profile(self) -> SQLProfile:
        kinds, texts = self.kinds, self.texts
        last = len(kinds) - 1
        parts: list[str] = []
        features: set[str] = set()
        functions: list[str] = []
        tables: list[str] = []
        skip: set[int] = set()  # name tokens that are not columns
        aliases: set[str] = set()
        ctes: set[str] = set()
        previous: TokenType | None = None
        var, identifier, string, number = (
            TokenType.VAR,
            TokenType.IDENTIFIER,
            TokenType.STRING,
            TokenType.NUMBER,
        )
        for i, kind in enumerate(kinds):
            following = kinds[i + 1] if i < last else None
            calls = following is TokenType.L_PAREN
            text = texts[i]
            if kind is var or kind is identifier:
                if calls:
                    lowered = text.lower()
                    if lowered in CASE_INSENSITIVE_FUNCTIONS:
                        text = lowered
                    functions.append(text)
                    skip.add(i)
                elif following is TokenType.DOT or following is TokenType.ARROW:
                    skip.add(i)
                if kind is identifier:
                    text = _quote_identifier(text)
                if previous in _BEFORE_KEYWORD_LIKE and self._keyword_like(i):
                    text = text.upper()
            elif kind is string:
                text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
            elif kind is not number:
                key = (kind, text, calls)
                rendered = _RENDERED.get(key)
                if rendered is None:
                    rendered = _render_other(kind, text, calls)
                    if len(_RENDERED) < _RENDERED_MAX:
                        _RENDERED[key] = rendered
                text = rendered
                if kind in _FACT_TOKENS:
                    self._facts(i, kind, features, tables, skip, aliases, ctes)
            if (
                parts
                and kind not in _NO_SPACE_BEFORE
                and previous not in _NO_SPACE_AFTER
                and not (kind is TokenType.L_PAREN and previous in _CALLABLE)
            ):
                parts.append(" ")
            parts.append(text)
            previous = kind
        aggregates = sorted({f for f in map(aggregate_family, functions) if f is not None})
        if aggregates:
            features.add("aggregate")
        if any(is_date_function(f) for f in functions):
            features.add("date_function")
        return SQLProfile(
            normalized="".join(parts),
            tables=_shared(tuple(dict.fromkeys(t for t in tables if t not in ctes))),
            columns=_shared(tuple(dict.fromkeys(self._columns(skip, aliases)))),
            functions=_shared(tuple(dict.fromkeys(functions))),
            features=_shared(frozenset(features)),
            aggregates=_shared(tuple(aggregates)),
        )

    def _facts(
        self,
        i: int,
        kind: TokenType,
        features: set[str],
        tables: list[str],
        skip: set[int],
        aliases: set[str],
        ctes: set[str],
    ) -> None:
        """Clause features, tables and aliases around one keyword or punctuation token."""
        feature = _CLAUSE_FEATURES.get(kind)
        if kind is TokenType.WITH and self.walk.with_modifier(i) is not None:
            skip.add(i + 1)  # WITH TOTALS / ROLLUP / CUBE / FILL / TIES: not a CTE
        elif feature is not None and not (kind is TokenType.JOIN and self.walk.array_join(i)):
            features.add(feature)
        if kind is TokenType.SELECT and self._kind(i - 1) is TokenType.L_PAREN:
            features.add("subquery")
        elif kind is TokenType.FROM or kind is TokenType.JOIN:
            self._table_after(i, tables, skip, aliases)
        elif kind is TokenType.ALIAS:
            self._alias_around(i, skip, aliases, ctes)

    def _table_after(
        self, index: int, tables: list[str], skip: set[int], aliases: set[str]
    ) -> None:
        """Record ``[db.]table`` after FROM / JOIN, and an implicit alias after it."""
        span = self.walk.table_at(index)
        if span is None:
            return
        start, end = span
        tables.append(".".join(self.texts[j] for j in range(start, end + 1, 2)))
        skip.update(range(start, end + 1))
        if self._kind(end + 1) in NAMES:  # FROM db.t s
            skip.add(end + 1)
            aliases.add(self.texts[end + 1])

    def _alias_around(self, index: int, skip: set[int], aliases: set[str], ctes: set[str]) -> None:
        """``expr AS name`` names an alias; ``name AS (...)`` names a CTE."""
        if self._kind(index + 1) in NAMES:
            skip.add(index + 1)
            aliases.add(self.texts[index + 1])
        elif self._kind(index + 1) is TokenType.L_PAREN and self._kind(index - 1) in NAMES:
            skip.add(index - 1)
            aliases.add(self.texts[index - 1])
            ctes.add(self.texts[index - 1])

    def _keyword_like(self, index: int) -> bool:
        """Names ClickHouse reads case-insensitively: interval units, WITH TOTALS and friends."""
        before = self._kind(index - 1)
        if before is TokenType.WITH:
            return self.walk.with_modifier(index - 1) is not None
        if before is TokenType.NUMBER or before is TokenType.STRING:
            return (
                self._kind(index - 2) is TokenType.INTERVAL
                and self.texts[index].lower() in _INTERVAL_UNITS
            )
        return False

    def _columns(self, skip: set[int], aliases: set[str]) -> list[str]:
        columns = []
        for i, kind in enumerate(self.kinds):
            if kind not in NAMES or i in skip:
                continue
            name = self.texts[i]
            if name in aliases:
                continue
            if name.lower() in _INTERVAL_UNITS and self._is_interval_unit(i):
                continue
            if self._kind(i - 1) is TokenType.L_BRACE or self._kind(i - 1) is TokenType.SETTINGS:
                continue  # {param:Type} and SETTINGS name = value
            columns.append(name)
        return columns

    def _is_interval_unit(self, index: int) -> bool:
        literal = self._kind(index - 1) in (TokenType.NUMBER, TokenType.STRING)
        return literal and self._kind(index - 2) is TokenType.INTERVAL
