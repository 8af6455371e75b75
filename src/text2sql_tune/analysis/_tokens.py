"""The structure of one tokenized statement: parentheses, calls, queries and their clauses.

:class:`Walker` records, for every token, its parenthesis depth, the matching parenthesis and the
innermost function call around it, and splits the statement into its SELECTs (subqueries and
CTE bodies included) with the clause each token belongs to. :func:`render` writes a token range
back as compact SQL, optionally with its values abstracted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot.tokenizer_core import TokenType

from ..sql.profile import CASE_INSENSITIVE_FUNCTIONS

__all__ = ["CLAUSES", "COMPARISONS", "NAMES", "Query", "Walker", "render"]

NAMES = frozenset({TokenType.VAR, TokenType.IDENTIFIER})
COMPARISONS = {
    TokenType.EQ: "=",
    TokenType.NEQ: "!=",
    TokenType.LT: "<",
    TokenType.GT: ">",
    TokenType.LTE: "<=",
    TokenType.GTE: ">=",
}
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


@dataclass
class Query:
    """One SELECT: the token ranges of its clauses (at the SELECT's own depth)."""

    depth: int
    start: int
    select: list[tuple[int, int]] = field(default_factory=list)
    group: list[tuple[int, int]] = field(default_factory=list)
    clauses: dict[int, str] = field(default_factory=dict)  # token index -> clause
    tables: list[str] = field(default_factory=list)
    subquery_source: bool = False  # FROM (SELECT ...)


class Walker:
    """Token-level structure of one statement: parenthesis matches, calls, queries, clauses."""

    def __init__(self, kinds: list[TokenType], texts: list[str]) -> None:
        self.kinds = kinds
        self.texts = texts
        n = len(kinds)
        self.depth = [0] * n
        self.match = [-1] * n
        self.call_of: list[str | None] = [None] * n
        self.queries: list[Query] = []
        self.clause_of: dict[int, str] = {}
        self._scan()
        self._split_queries()

    def kind(self, index: int) -> TokenType | None:
        return self.kinds[index] if 0 <= index < len(self.kinds) else None

    def is_call(self, index: int) -> bool:
        """True when the token at ``index`` is a function name followed by ``(``."""
        if self.kind(index + 1) is not TokenType.L_PAREN:
            return False
        kind = self.kinds[index]
        text = self.texts[index]
        return kind in NAMES or (text[:1].isalpha() and text.lower() in CASE_INSENSITIVE_FUNCTIONS)

    def _scan(self) -> None:
        stack: list[tuple[int, str | None]] = []
        for i, kind in enumerate(self.kinds):
            if kind is TokenType.R_PAREN and stack:
                opened, _ = stack.pop()
                self.match[opened], self.match[i] = i, opened
            self.depth[i] = len(stack)
            self.call_of[i] = next((name for _, name in reversed(stack) if name), None)
            if kind is TokenType.L_PAREN:
                name: str | None = None
                if i > 0 and self.is_call(i - 1):
                    name = self.texts[i - 1]
                elif self.kind(i - 1) is TokenType.R_PAREN and self.match[i - 1] > 0:
                    opener = self.match[i - 1] - 1  # quantile(0.9)(x): the parametric call
                    if self.is_call(opener):
                        name = self.texts[opener]
                stack.append((i, name))

    def _split_queries(self) -> None:
        for start, kind in enumerate(self.kinds):
            if kind is not TokenType.SELECT:
                continue
            depth = self.depth[start]
            query = Query(depth=depth, start=start)
            end = len(self.kinds)
            if depth > 0:  # the query ends where its parenthesis closes
                openers = [
                    j
                    for j in range(start)
                    if self.kinds[j] is TokenType.L_PAREN and self.match[j] > start
                ]
                if openers:
                    end = self.match[max(openers)]
            clause = "select"
            piece_start = start + 1
            for i in range(start + 1, end):
                if self.depth[i] != depth:
                    query.clauses.setdefault(i, clause)
                    continue
                found = CLAUSES.get(self.kinds[i])
                if self.kinds[i] is TokenType.WITH and self.totals(i):
                    query.clauses[i] = "modifier"
                    found = "modifier"
                if self.kinds[i] is TokenType.SELECT or found == "union":
                    end = i
                    break
                if found is not None:
                    self._close_piece(query, clause, piece_start, i)
                    clause, piece_start = found, i + 1
                    if self.kinds[i] is TokenType.FROM and self.kind(i + 1) is TokenType.L_PAREN:
                        query.subquery_source = True
                elif self.kinds[i] is TokenType.COMMA and clause in ("select", "group"):
                    self._close_piece(query, clause, piece_start, i)
                    piece_start = i + 1
                query.clauses[i] = clause
            self._close_piece(query, clause, piece_start, end)
            query.tables = [
                t for t in _tables_between(self.kinds, self.texts, start, end, depth) if t
            ]
            self.queries.append(query)
        # inner queries were appended after outer ones; inner clause labels win
        for query in self.queries:
            self.clause_of.update(query.clauses)

    def totals(self, index: int) -> bool:
        """True for ``WITH TOTALS`` / ``ROLLUP`` / ``CUBE`` at ``index`` (not a CTE)."""
        following = index + 1
        return self.kind(following) in NAMES and self.texts[following].lower() in (
            "totals",
            "rollup",
            "cube",
        )

    @staticmethod
    def _close_piece(query: Query, clause: str, start: int, end: int) -> None:
        if end <= start:
            return
        if clause == "select":
            query.select.append((start, end))
        elif clause == "group":
            query.group.append((start, end))


def _tables_between(
    kinds: list[TokenType], texts: list[str], start: int, end: int, depth: int
) -> list[str]:
    """``[db.]table`` names after FROM / JOIN at ``depth`` between ``start`` and ``end``."""
    tables = []
    for i in range(start, end):
        if kinds[i] not in (TokenType.FROM, TokenType.JOIN):
            continue
        j = i + 1
        parts: list[str] = []
        while j < end and kinds[j] in NAMES:
            parts.append(texts[j])
            if j + 2 < end and kinds[j + 1] is TokenType.DOT and kinds[j + 2] in NAMES:
                j += 2
            else:
                break
        if parts and not (j + 1 < len(kinds) and kinds[j + 1] is TokenType.L_PAREN):
            tables.append(".".join(parts))
    return tables


def render(
    kinds: list[TokenType], texts: list[str], start: int, end: int, *, abstract: bool = False
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
        compared = previous in COMPARISONS or previous is TokenType.DASH
        value = kind is TokenType.NUMBER and compared and text not in ("0", "1")
        if abstract and (kind is TokenType.STRING or value):
            text = "?"
        if kind in COMPARISONS:
            text = COMPARISONS[kind]
        tight = kind in (TokenType.R_PAREN, TokenType.COMMA) or previous is TokenType.L_PAREN
        tight = tight or (kind is TokenType.L_PAREN and previous in NAMES | {TokenType.R_PAREN})
        if out and not tight:
            out.append(" ")
        out.append(text)
        previous = kind
    return "".join(out)
