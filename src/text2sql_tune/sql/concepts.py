"""The concepts one SQL statement uses, read from its ClickHouse tokens (no full parse).

:func:`sql_concepts` starts from the statement's :class:`~text2sql_tune.sql.profile.SQLProfile`
(tables, columns, functions, clause features, aggregate families) and adds what a profile does not
say: the filters (``revenue > 0``, ``country = ?``), the period a query looks at (a month, a year,
"yesterday"), its group keys (``os``, ``month``), and what its measures compute, reduced to a
*definition* that two queries share when they compute the same thing whatever their literals
(``countIf(is_fraud = 1) / count()`` over sessions is not ``uniqExactIf(user_id, is_fraud = 1) /
uniqExact(user_id)``).

Literals are abstracted: a comparison with 0 or 1 keeps its value (``revenue > 0``,
``is_active = 1`` say what is counted); other numbers and strings become ``?`` (``age < ?``,
``os = ?``: the values a question names). Lexing follows the profile's rules, so this costs about
as much as :func:`~text2sql_tune.sql.profile.profile_sql` and is cached per statement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import TokenType

from ..text.terms import stem
from .profile import aggregate_family, profile_tokens
from .tokens import statement_tokens
from .walk import NAMES, Query, TokenWalk

__all__ = ["SQLConcepts", "sql_concepts"]

_COMPARISONS = {
    TokenType.EQ: "=",
    TokenType.NEQ: "!=",
    TokenType.LT: "<",
    TokenType.GT: ">",
    TokenType.LTE: "<=",
    TokenType.GTE: ">=",
}

_FLIPPED = {"=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_GRAINS = {
    **dict.fromkeys(("tostartofyear", "toyear"), "year"),
    **dict.fromkeys(("tostartofquarter", "toquarter"), "quarter"),
    **dict.fromkeys(("tostartofmonth", "tomonth", "toyyyymm"), "month"),
    **dict.fromkeys(("tostartofweek", "tomonday", "toweek", "toisoweek", "toyearweek"), "week"),
    **dict.fromkeys(("todate", "tostartofday", "toyyyymmdd", "todayofmonth"), "day"),
    **dict.fromkeys(("todayofweek",), "weekday"),
    **dict.fromkeys(("tohour", "tostartofhour"), "hour"),
}
_RELATIVE = frozenset({"today", "yesterday", "now"})
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}(-\d{2})?")
_GRAIN_UNITS = {"year", "quarter", "month", "week", "day", "hour"}


@dataclass(frozen=True)
class SQLConcepts:
    """What one statement uses, as concept keys ``kind:value`` and a computation definition.

    Attributes:
        concepts: Every concept key, e.g. ``table:ecommerce.sessions``, ``column:revenue``,
            ``function:uniqExactIf``, ``aggregate:uniq``, ``filter:revenue > 0``,
            ``period:month``, ``group:os``, ``feature:join``, ``measure:uniq(user_id | revenue >
            0)`` (one per measure, see ``measures``).
        tables: Tables read.
        columns: Columns referenced.
        functions: Functions called, as written.
        filters: Filter conditions with abstracted literals (``country = ?``, ``is_fraud = 1``),
            from WHERE / HAVING and from ``-If`` aggregate conditions.
        periods: Periods filtered on: ``year``, ``quarter``, ``month``, ``week``, ``day``,
            ``range``, ``relative_day`` (``= today() - 1``), ``relative_range``
            (``>= today() - 7``) or ``relative_<grain>``.
        groups: Group keys: columns, or date grains such as ``month``.
        features: Clause features (see :class:`~text2sql_tune.sql.profile.SQLProfile`) plus
            ``with_totals``, ``top_n`` (ORDER BY with LIMIT) and ``ratio`` (a measure divides
            one aggregate by another).
        measures: Aggregate descriptors of the outermost SELECT, e.g. ``count(rows of
            ecommerce.sessions | is_fraud = 1)`` or ``uniq(user_id)``; conditions that apply to
            every row (WHERE ``revenue > 0``) are folded into each descriptor.
        measure_text: The outermost measure expressions as written, qualifiers dropped and
            values abstracted: ``100 * countIf(is_fraud = 1) / count()``,
            ``uniqExactIf(user_id, browser = ?)``.
        conditions: Value-free WHERE / HAVING conditions (``revenue > 0``, ``is_active = 1``):
            they change what is computed, unlike the values a question names.
        values: The string literals (the values a question names: ``Germany``, ``iOS``).
        parsed: False when the SQL could not be tokenized (then only ``concepts`` from the
            profile's fallback, i.e. nothing, is known).
    """

    concepts: frozenset[str] = frozenset()
    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    periods: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    features: frozenset[str] = frozenset()
    measures: tuple[str, ...] = ()
    measure_text: str = ""
    conditions: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    parsed: bool = True

    @property
    def definition(self) -> str:
        """What the statement computes, independent of its literals and group keys.

        Two statements with the same definition compute the same measure under the same
        value-free conditions (``revenue > 0``, ``is_active = 1``); they may still differ in the
        values they filter on, the period and the grouping.
        """
        return " ; ".join(self.measures)

    @property
    def measure_display(self) -> str:
        """``measure_text`` with the value-free conditions: ``sum(revenue) where revenue > 0``."""
        if not self.conditions:
            return self.measure_text
        return f"{self.measure_text} where {' and '.join(self.conditions)}"


@dataclass(frozen=True)
class _Comparison:
    column: str | None
    op: str
    function: str | None  # applied to the column: toStartOfMonth(action_date) = ...
    value_kind: str  # number, string, relative, column, expression
    value: str
    clause: str
    in_call: str | None  # innermost enclosing function (countIf, multiIf, ...)


class _Extractor:
    def __init__(self, kinds: Sequence[TokenType], texts: Sequence[str]) -> None:
        self.kinds = kinds
        self.texts = texts
        self.walk = TokenWalk(kinds, texts)
        self.profile = profile_tokens(kinds, texts)

    # -- operands ---------------------------------------------------------------------------

    def _column_at(self, index: int) -> str | None:
        """The column named at ``index`` (a name not called and not a qualifier)."""
        if self.kinds[index] not in NAMES or self.walk.is_call(index):
            return None
        if self.walk.kind(index + 1) is TokenType.DOT:
            return None
        return self.texts[index]

    def _first_column(self, start: int, end: int) -> str | None:
        for i in range(start, end):
            column = self._column_at(i)
            if column is not None:
                return column
        return None

    def _left(self, index: int) -> tuple[str | None, str | None, str | None]:
        """``(column, function, literal kind)`` of the operand ending before ``index``."""
        before = index - 1
        kind = self.walk.kind(before)
        if kind in NAMES:
            return self._column_at(before), None, None
        if kind is TokenType.R_PAREN:
            opener = self.walk.match[before]
            if opener > 0 and self.walk.is_call(opener - 1):
                function = self.texts[opener - 1]
                if aggregate_family(function) is not None:  # HAVING countIf(x > 0) > 0
                    text = _render(self.kinds, self.texts, opener - 1, index, abstract=True)
                    return text, None, None
                if function.lower() in ("datetrunc", "date_trunc"):
                    units = [self.texts[j].lower() for j in range(opener + 1, before)]
                    unit = next((u for u in units if u in _GRAIN_UNITS), None)
                    function = f"toStartOf{unit.capitalize()}" if unit else function
                return self._first_column(opener + 1, before), function, None
            return None, None, "expression"
        if kind is TokenType.NUMBER:
            return None, None, "number:" + self.texts[before]
        if kind is TokenType.STRING:
            return None, None, "string:" + self.texts[before]
        return None, None, None

    def _right(self, index: int) -> tuple[str, str]:
        """``(kind, value)`` of the operand starting after ``index``."""
        after = index + 1
        kind = self.walk.kind(after)
        if kind is TokenType.DASH and self.walk.kind(after + 1) is TokenType.NUMBER:
            return "number", "-" + self.texts[after + 1]
        if kind is TokenType.NUMBER:
            return "number", self.texts[after]
        if kind is TokenType.STRING:
            return "string", self.texts[after]
        if kind is not None and self.walk.is_call(after):
            name = self.texts[after].lower()
            close = self.walk.match[after + 1]
            inner = range(after + 2, close)
            if name in _RELATIVE or any(self.texts[j].lower() in _RELATIVE for j in inner):
                return "relative", name
            strings = [self.texts[j] for j in inner if self.kinds[j] is TokenType.STRING]
            if strings and _DATE_TEXT.match(strings[0]):
                return "string", strings[0]
            return "expression", name
        if kind in NAMES:
            return "column", self.texts[after]
        return "expression", ""

    # -- conditions -------------------------------------------------------------------------

    def comparisons(self) -> list[_Comparison]:
        found = []
        for i, kind in enumerate(self.kinds):
            op = _COMPARISONS.get(kind)
            if op is None:
                continue
            column, function, left_literal = self._left(i)
            value_kind, value = self._right(i)
            if left_literal is not None and value_kind == "column":
                # 0 < revenue: read it as revenue > 0
                column, op = value, _FLIPPED[op]
                value_kind, value = left_literal.split(":", 1)
                value_kind = "number" if value_kind == "number" else "string"
            clause = self.walk.clause_of.get(i, "select")
            found.append(
                _Comparison(column, op, function, value_kind, value, clause, self.walk.call_of[i])
            )
        for i, kind in enumerate(self.kinds):
            if kind is TokenType.BETWEEN:
                column, function, _ = self._left(i)
                value_kind, value = self._right(i)
                clause = self.walk.clause_of.get(i, "select")
                found.append(
                    _Comparison(
                        column, "between", function, value_kind, value, clause,
                        self.walk.call_of[i],
                    )
                )  # fmt: skip
            elif kind is TokenType.IN and self.walk.kind(i + 1) is TokenType.L_PAREN:
                column, function, _ = self._left(i)
                subquery = self.walk.kind(i + 2) is TokenType.SELECT
                clause = self.walk.clause_of.get(i, "select")
                found.append(
                    _Comparison(
                        column, "in", function, "subquery" if subquery else "list", "", clause,
                        self.walk.call_of[i],
                    )
                )  # fmt: skip
        return found

    @staticmethod
    def _period(c: _Comparison) -> str | None:
        grain = _GRAINS.get((c.function or "").lower())
        if c.value_kind == "relative":
            if grain and grain != "day":
                return f"relative_{grain}"
            return "relative_day" if c.op == "=" else "relative_range"
        if grain and c.value_kind in ("string", "number"):
            return grain if c.op in ("=", "in") else "range"
        if c.value_kind == "string" and _DATE_TEXT.match(c.value) and c.function is None:
            return "day" if c.op == "=" else "range"
        return None

    @staticmethod
    def _filter_text(c: _Comparison) -> str | None:
        if c.column is None or c.value_kind in ("column", "expression"):
            return None
        target = f"{c.function}({c.column})" if c.function else c.column
        if c.op == "in":
            return f"{target} in (subquery)" if c.value_kind == "subquery" else f"{target} in ?"
        if c.op == "between":
            return f"{target} between ? and ?"
        value = "?"
        if c.value_kind == "number" and c.value in ("0", "1", "0.0", "1.0"):
            value = c.value.split(".")[0]
        return f"{target} {c.op} {value}"

    # -- measures and groups ----------------------------------------------------------------

    def _alias_map(self, query: Query) -> dict[str, tuple[int, int]]:
        aliases = {}
        for start, end in query.select:
            if end - start >= 3 and self.kinds[end - 2] is TokenType.ALIAS:
                aliases[self.texts[end - 1]] = (start, end - 2)
            elif end - start == 1 or self._column_at(end - 1) is not None:
                aliases[self.texts[end - 1]] = (start, end)
        return aliases

    def _expression_group(self, start: int, end: int) -> str:
        for i in range(start, end):
            if self.walk.is_call(i):
                grain = _GRAINS.get(self.texts[i].lower())
                if grain:
                    return grain
                if self.texts[i].lower() in ("datetrunc", "date_trunc"):
                    units = [self.texts[j].lower() for j in range(i, end)]
                    return next((u for u in units if u in _GRAIN_UNITS), "expression")
        column = self._first_column(start, end) if end - start <= 3 else None
        return column or "expression"

    def groups(self) -> list[str]:
        keys: list[str] = []
        for query in self.walk.queries:
            aliases = self._alias_map(query)
            for start, end in query.group:
                if end - start == 1 and self.kinds[start] is TokenType.NUMBER:
                    position = int(self.texts[start]) - 1
                    if 0 <= position < len(query.select):
                        start, end = query.select[position]
                        if end - start >= 3 and self.kinds[end - 2] is TokenType.ALIAS:
                            end -= 2
                elif end - start == 1 and self.texts[start] in aliases:
                    start, end = aliases[self.texts[start]]
                keys.append(self._expression_group(start, end))
        return list(dict.fromkeys(keys))

    def _aggregate_calls(self, start: int, end: int) -> list[int]:
        return [
            i
            for i in range(start, end)
            if self.walk.is_call(i)
            and aggregate_family(self.texts[i]) is not None
            and not (i > 0 and self.kinds[i - 1] is TokenType.R_PAREN)
        ]

    def _descriptor(self, call: int, rows_of: str, where: list[str]) -> str:
        name = self.texts[call]
        family = aggregate_family(name) or name.lower()
        close = self.walk.match[call + 1]
        args_start, args_end = call + 2, close
        if self.walk.kind(close + 1) is TokenType.L_PAREN:  # quantile(0.9)(x)
            args_start, args_end = close + 2, self.walk.match[close + 1]
        conditional = name.lower().endswith("if") or "if" in name.lower()[len(family) :]
        value_end = args_end
        conditions: list[str] = []
        if conditional:
            depth = self.walk.depth[call + 2]
            commas = [
                j
                for j in range(args_start, args_end)
                if self.kinds[j] is TokenType.COMMA and self.walk.depth[j] == depth
            ]
            if family == "count" and not commas:
                value_end = args_start  # countIf(condition)
                conditions.append(self._condition_text(args_start, args_end))
            elif commas:
                value_end = commas[-1]
                conditions.append(self._condition_text(commas[-1] + 1, args_end))
        columns = [
            c for c in (self._column_at(j) for j in range(args_start, value_end)) if c is not None
        ]
        if family == "count" and not columns:
            subject = f"rows of {rows_of}"
        elif family == "uniq" and len(columns) == 1 and _names_table(columns[0], rows_of):
            family, subject = "count", f"rows of {rows_of}"
        else:
            subject = ", ".join(dict.fromkeys(columns)) or "expression"
        conditions = sorted({*conditions, *where})
        suffix = " | " + ", ".join(conditions) if conditions else ""
        return f"{family}({subject}{suffix})"

    def _condition_text(self, start: int, end: int) -> str:
        return _render(self.kinds, self.texts, start, end, abstract=True)

    def measures(self, semantic_where: list[str]) -> tuple[list[str], str, bool]:
        """Descriptors, display text and the ratio flag of the outermost SELECT."""
        if not self.walk.queries:
            return [], "", False
        outer = min(self.walk.queries, key=lambda q: q.depth)  # the main SELECT, after CTEs
        rows_of = "subquery" if outer.subquery_source else (outer.tables or ["?"])[0]
        descriptors: list[str] = []
        texts: list[str] = []
        ratio = False
        for start, end in outer.select:
            aliased = end - start >= 3 and self.kinds[end - 2] is TokenType.ALIAS
            value_end = end - 2 if aliased else end
            calls = self._aggregate_calls(start, value_end)
            if not calls:
                continue
            parts = [self._descriptor(c, rows_of, semantic_where) for c in calls]
            slash = any(
                self.kinds[j] is TokenType.SLASH and self.walk.depth[j] == self.walk.depth[start]
                for j in range(start, value_end)
            )
            divides = slash and len(calls) >= 2
            ratio = ratio or divides
            descriptors.append(" / ".join(parts) if divides else " , ".join(parts))
            texts.append(_render(self.kinds, self.texts, start, value_end, abstract=True))
        return descriptors, ", ".join(texts), ratio

    # -- all together -----------------------------------------------------------------------

    def concepts(self) -> SQLConcepts:
        profile = self.profile
        filters: list[str] = []
        periods: list[str] = []
        semantic_where: list[str] = []
        for c in self.comparisons():
            period = self._period(c)
            if period is not None:
                periods.append(period)
                continue
            text = self._filter_text(c)
            if text is None:
                continue
            filters.append(text)
            value_free = not text.endswith("?") and "(subquery)" not in text
            if c.clause in ("where", "having") and value_free and c.in_call is None:
                semantic_where.append(text)
        groups = self.groups()
        measures, measure_text, ratio = self.measures(sorted(set(semantic_where)))
        features = set(profile.features)
        if any(
            k is TokenType.WITH and self.walk.group_modifier(i) for i, k in enumerate(self.kinds)
        ):
            features.add("with_totals")
        if "order_by" in features and "limit" in features:
            features.add("top_n")
        if ratio:
            features.add("ratio")
        if any(p.startswith("relative") for p in periods):
            features.add("relative_date")
        filters = list(dict.fromkeys(filters))
        periods = list(dict.fromkeys(periods))
        keys = {
            *(f"table:{t}" for t in profile.tables),
            *(f"column:{c}" for c in profile.columns),
            *(f"function:{f}" for f in profile.functions),
            *(f"aggregate:{a}" for a in profile.aggregates),
            *(f"filter:{f}" for f in filters),
            *(f"period:{p}" for p in periods),
            *(f"group:{g}" for g in groups),
            *(f"feature:{f}" for f in features),
            *(f"measure:{m}" for m in measures),
        }
        return SQLConcepts(
            concepts=frozenset(keys),
            tables=profile.tables,
            columns=profile.columns,
            functions=profile.functions,
            filters=tuple(filters),
            periods=tuple(periods),
            groups=tuple(groups),
            features=frozenset(features),
            measures=tuple(measures),
            measure_text=measure_text,
            conditions=tuple(sorted(set(semantic_where))),
            values=tuple(
                dict.fromkeys(
                    t for k, t in zip(self.kinds, self.texts, strict=True) if k is TokenType.STRING
                )
            ),
        )


def _names_table(column: str, table: str) -> bool:
    """``user_id`` names ``ecommerce.users``: counting distinct keys of a table counts its rows."""
    lowered = column.lower()
    if not lowered.endswith("_id"):
        return False
    return stem(lowered[: -len("_id")]) == stem(table.rsplit(".", 1)[-1].lower())


@lru_cache(maxsize=1 << 15)
def sql_concepts(sql: str) -> SQLConcepts:
    """The concepts of one statement (cached per SQL text).

    Args:
        sql: One statement; a trailing ``;`` or ``FORMAT`` clause is ignored.

    Returns:
        The concepts; ``parsed`` is False (and nothing is known) when it cannot be tokenized.
    """
    try:
        tokens = statement_tokens(sql)
    except SqlglotError:
        return SQLConcepts(parsed=False)
    if not tokens.kinds:
        return SQLConcepts(parsed=False)
    return _Extractor(tokens.kinds, tokens.texts).concepts()


def _render(
    kinds: Sequence[TokenType],
    texts: Sequence[str],
    start: int,
    end: int,
    *,
    abstract: bool = False,
) -> str:
    """Tokens as compact text, qualifiers dropped (``s.revenue`` -> ``revenue``).

    With ``abstract``, strings and the numbers compared with (other than 0 and 1) are written
    ``?``: ``countIf(os = 'iOS')`` -> ``countIf(os = ?)``, ``revenue > 1000`` -> ``revenue > ?``.
    """
    out: list[str] = []
    previous: TokenType | None = None
    for i in range(start, end):
        kind = kinds[i]
        if kind in NAMES and i + 1 < end and kinds[i + 1] is TokenType.DOT:
            continue  # a qualifier
        if kind is TokenType.DOT:
            continue
        text = "'" + texts[i].replace("'", "\\'") + "'" if kind is TokenType.STRING else texts[i]
        compared = previous in _COMPARISONS or previous is TokenType.DASH
        value = kind is TokenType.NUMBER and compared and text not in ("0", "1")
        if abstract and (kind is TokenType.STRING or value):
            text = "?"
        if kind in _COMPARISONS:
            text = _COMPARISONS[kind]
        tight = kind in (TokenType.R_PAREN, TokenType.COMMA) or previous is TokenType.L_PAREN
        tight = tight or (kind is TokenType.L_PAREN and previous in NAMES | {TokenType.R_PAREN})
        if out and not tight:
            out.append(" ")
        out.append(text)
        previous = kind
    return "".join(out)
