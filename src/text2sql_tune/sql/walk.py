"""The structure of one tokenized statement: brackets, calls, tables, queries and their clauses.

:class:`TokenWalk` is the one reader of token structure the SQL readers share
(:mod:`~text2sql_tune.sql.profile`, :mod:`~text2sql_tune.sql.concepts`, the exact-function
rewrite of the judges): for every token its parenthesis depth, the matching parenthesis and the
innermost function call around it; the ``[db.]table`` after ``FROM`` / ``JOIN``; and the
statement's SELECTs (subqueries and CTE bodies included) with the clause each token belongs to.
Each part is computed on first use, so a reader pays only for what it asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from sqlglot.tokenizer_core import TokenType

__all__ = ["CLAUSES", "NAMES", "Query", "TokenWalk"]

NAMES = frozenset({TokenType.VAR, TokenType.IDENTIFIER})
"""Token types of names: bare words that are no keyword, and quoted names."""

CLAUSES = {
    TokenType.SELECT: "select",
    TokenType.FROM: "from",
    TokenType.JOIN: "from",
    TokenType.ON: "on",
    TokenType.USING: "on",
    TokenType.WHERE: "where",
    TokenType.PREWHERE: "where",
    TokenType.GROUP_BY: "group",
    TokenType.HAVING: "having",
    TokenType.ORDER_BY: "order",
    TokenType.LIMIT: "limit",
    TokenType.SETTINGS: "settings",
    TokenType.UNION: "union",
}
"""Keywords that open a clause, and the clause's name."""

_WITH_MODIFIERS = frozenset({"totals", "rollup", "cube", "fill", "ties"})
_GROUP_MODIFIERS = frozenset({"totals", "rollup", "cube"})
# Functions sqlglot's ClickHouse tokenizer reads as keywords: calls all the same.
_KEYWORD_CALLS = frozenset({TokenType.LEFT, TokenType.RIGHT, TokenType.REPLACE})


@dataclass
class Query:
    """One SELECT: the token ranges of its clauses (at the SELECT's own depth).

    Attributes:
        depth: Parenthesis depth of the SELECT keyword.
        start: Index of the SELECT keyword.
        select: ``[start, end)`` ranges of the selected expressions.
        group: ``[start, end)`` ranges of the GROUP BY keys.
        clauses: Token index -> clause name (see :data:`CLAUSES`; ``modifier`` for ``WITH
            TOTALS``).
        tables: Tables named after FROM / JOIN between the SELECT and its end.
        subquery_source: True when it reads ``FROM (SELECT ...)``.
    """

    depth: int
    start: int
    select: list[tuple[int, int]] = field(default_factory=list)
    group: list[tuple[int, int]] = field(default_factory=list)
    clauses: dict[int, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    subquery_source: bool = False


class TokenWalk:
    """Token-level structure of one statement.

    Args:
        kinds: Token types (see :func:`~text2sql_tune.sql.tokens.statement_tokens`).
        texts: Token texts, side by side with ``kinds``.
    """

    def __init__(self, kinds: Sequence[TokenType], texts: Sequence[str]) -> None:
        self.kinds = kinds
        self.texts = texts

    def kind(self, index: int) -> TokenType | None:
        """The token type at ``index``, ``None`` outside the statement."""
        return self.kinds[index] if 0 <= index < len(self.kinds) else None

    def is_call(self, index: int) -> bool:
        """True when the token at ``index`` is a function name followed by ``(``."""
        if self.kind(index + 1) is not TokenType.L_PAREN:
            return False
        kind = self.kinds[index]
        return kind in NAMES or kind in _KEYWORD_CALLS

    def with_modifier(self, index: int) -> str | None:
        """``totals`` for ``WITH TOTALS`` at ``index`` (also rollup, cube, fill, ties), or ``None``.

        ``WITH totals AS (...)`` names a CTE, not a modifier.
        """
        following = index + 1
        if self.kind(following) is None or self.kind(following + 1) is TokenType.ALIAS:
            return None
        word = self.texts[following].lower()  # ROLLUP and CUBE are keywords, TOTALS a name
        return word if word in _WITH_MODIFIERS else None

    def group_modifier(self, index: int) -> bool:
        """True for ``WITH TOTALS`` / ``ROLLUP`` / ``CUBE`` at ``index``."""
        return self.with_modifier(index) in _GROUP_MODIFIERS

    def array_join(self, index: int) -> bool:
        """True when the JOIN at ``index`` is an ``ARRAY JOIN`` (it reads no table)."""
        return self.kind(index - 1) is TokenType.ARRAY

    def table_at(self, index: int) -> tuple[int, int] | None:
        """Token range ``[start, end]`` of the ``[db.]table`` after the FROM / JOIN at ``index``.

        ``None`` for a subquery, a table function or an ARRAY JOIN.
        """
        if self.array_join(index):
            return None
        start = end = index + 1
        kind = self.kind
        while kind(end) in NAMES and kind(end + 1) is TokenType.DOT and kind(end + 2) in NAMES:
            end += 2
        if kind(end) not in NAMES or kind(end + 1) is TokenType.L_PAREN:
            return None
        return start, end

    def tables(self, start: int = 0, end: int | None = None) -> list[str]:
        """``[db.]table`` names after FROM / JOIN between ``start`` and ``end``, in order."""
        found = []
        for i in range(start, len(self.kinds) if end is None else end):
            if self.kinds[i] is TokenType.FROM or self.kinds[i] is TokenType.JOIN:
                span = self.table_at(i)
                if span is not None:
                    found.append(".".join(self.texts[j] for j in range(span[0], span[1] + 1, 2)))
        return found

    # -- brackets ----------------------------------------------------------------------------

    @cached_property
    def _brackets(self) -> tuple[list[int], list[int], list[str | None]]:
        n = len(self.kinds)
        depth, match = [0] * n, [-1] * n
        call_of: list[str | None] = [None] * n
        stack: list[tuple[int, str | None]] = []
        for i, kind in enumerate(self.kinds):
            if kind is TokenType.R_PAREN and stack:
                opened, _ = stack.pop()
                match[opened], match[i] = i, opened
            depth[i] = len(stack)
            call_of[i] = next((name for _, name in reversed(stack) if name), None)
            if kind is TokenType.L_PAREN:
                name: str | None = None
                if i > 0 and self.is_call(i - 1):
                    name = self.texts[i - 1]
                elif self.kind(i - 1) is TokenType.R_PAREN and match[i - 1] > 0:
                    opener = match[i - 1] - 1  # quantile(0.9)(x): the parametric call
                    if self.is_call(opener):
                        name = self.texts[opener]
                stack.append((i, name))
        return depth, match, call_of

    @property
    def depth(self) -> list[int]:
        """Parenthesis depth of every token (a parenthesis has the depth outside it)."""
        return self._brackets[0]

    @property
    def match(self) -> list[int]:
        """Index of the matching parenthesis of every parenthesis (-1: none, or no parenthesis)."""
        return self._brackets[1]

    @property
    def call_of(self) -> list[str | None]:
        """The innermost function call around every token (``countIf`` in ``countIf(x = 1)``)."""
        return self._brackets[2]

    # -- queries and clauses -------------------------------------------------------------------

    @cached_property
    def queries(self) -> list[Query]:
        """Every SELECT, outer ones before the ones they contain."""
        return [self._query(i) for i, k in enumerate(self.kinds) if k is TokenType.SELECT]

    @cached_property
    def clause_of(self) -> dict[int, str]:
        """Token index -> the clause of the innermost query it belongs to."""
        found: dict[int, str] = {}
        for query in self.queries:  # inner queries come later: their labels win
            found.update(query.clauses)
        return found

    def _query(self, start: int) -> Query:
        depth, match = self.depth, self.match
        query = Query(depth=depth[start], start=start)
        end = len(self.kinds)
        if query.depth > 0:  # the query ends where its parenthesis closes
            openers = [
                j for j in range(start) if self.kinds[j] is TokenType.L_PAREN and match[j] > start
            ]
            if openers:
                end = match[max(openers)]
        clause = "select"
        piece_start = start + 1
        for i in range(start + 1, end):
            kind = self.kinds[i]
            if depth[i] != query.depth:
                query.clauses.setdefault(i, clause)
                continue
            found = CLAUSES.get(kind)
            if kind is TokenType.WITH and self.group_modifier(i):
                query.clauses[i] = found = "modifier"
            if kind is TokenType.SELECT or found == "union":
                end = i
                break
            if found is not None:
                self._close_piece(query, clause, piece_start, i)
                clause, piece_start = found, i + 1
                if kind is TokenType.FROM and self.kind(i + 1) is TokenType.L_PAREN:
                    query.subquery_source = True
            elif kind is TokenType.COMMA and clause in ("select", "group"):
                self._close_piece(query, clause, piece_start, i)
                piece_start = i + 1
            query.clauses[i] = clause
        self._close_piece(query, clause, piece_start, end)
        query.tables = self.tables(start, end)
        return query

    @staticmethod
    def _close_piece(query: Query, clause: str, start: int, end: int) -> None:
        if end <= start:
            return
        if clause == "select":
            query.select.append((start, end))
        elif clause == "group":
            query.group.append((start, end))
