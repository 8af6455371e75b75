"""The text sqlglot parses: the query's own tokens, with ClickHouse syntax sqlglot lacks rewritten.

sqlglot only has to find the query's structure (statement kind, tables, subqueries, settings);
every function, name and string was already checked on ClickHouse's tokens. So the rendering may
drop or respell what holds neither a table nor a subquery, in the forms ClickHouse accepts and
sqlglot 30 does not parse (measured on real queries, see ``tests/data/clickhouse_corpus``):

- ``x'41'`` and ``b'01'`` strings become plain strings;
- ``SELECT TOP 3`` loses ``TOP 3`` (a number only);
- ``CAST(x AS signed)`` / ``unsigned`` become ``Int64`` / ``UInt64``;
- ``LIMIT 1 BY x LIMIT 3``: the second ``LIMIT`` (numbers only) is dropped;
- ``ORDER BY f(x) AS a``: the alias is dropped; ``f(x AS a, 16)``, an alias on a call's
  argument, is put in brackets (sqlglot's own parsers for known functions such as ``unhex``
  do not take it);
- ``COLUMNS(a, b)`` (names only) becomes ``COLUMNS('_')``;
- column transformers: ``APPLY ...`` and ``EXCEPT [STRICT] (names)`` after ``*``, ``t.*`` or
  ``COLUMNS(...)`` are dropped (no subquery inside), ``REPLACE (e AS c, ...)`` becomes
  ``, e AS c, ...`` so that its expressions are still checked;
- ``(EXPLAIN [kind] [setting = value, ...] SELECT ...)`` keeps the query only;
- a lambda body holding ``c ? a : b`` is put in brackets (sqlglot 30 does not parse the
  operator in a bare lambda body);
- a parametric aggregate ``f(0.5)(x)`` loses its parameters when they are literals (sqlglot 30
  reads ``f(p)(args)`` only in some places: not inside another call, before ``OVER``, as an
  operand, or with qualified columns as arguments).

Anything else sqlglot cannot parse is refused, as before. All of it is one pass over the tokens.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._functions import STRUCTURAL_WORDS
from ._lexer import Kind, Token
from ._statement import NAMES

__all__ = ["render_for_parser"]

_QUERY_START = frozenset({"SELECT", "WITH"})
_EXPLAIN_KINDS = frozenset({"AST", "SYNTAX", "PLAN", "PIPELINE", "ESTIMATE"})
_ORDER_BY_END = frozenset(
    {"LIMIT", "OFFSET", "FETCH", "SETTINGS", "FORMAT", "UNION", "EXCEPT", "INTERSECT", "INTO"}
)
_AFTER_ORDER_ITEM = frozenset({",", "ASC", "DESC", "ASCENDING", "DESCENDING", "NULLS", "COLLATE"})
_STAR_AFTER = frozenset({"SELECT", "DISTINCT", "ALL", ",", "(", "."})
_MYSQL_TYPES = {"SIGNED": "Int64", "UNSIGNED": "UInt64"}


def render_for_parser(text: str, tokens: list[Token], body: list[Token]) -> str:
    """The text of ``body`` for sqlglot: comments blanked, heredocs as quoted strings.

    Args:
        text: The original statement.
        tokens: All its tokens (comments included).
        body: The significant tokens to render, in order (a subsequence of ``tokens``).
    """
    if not body:
        return ""
    subst, around = _rewrites(body)
    keep = {id(t) for t in body}
    first, last = body[0].start, body[-1].end
    parts: list[str] = []
    for token in tokens:
        if token.end <= first or token.start >= last:
            continue
        if token.kind is Kind.COMMENT or (token.kind is not Kind.SPACE and id(token) not in keep):
            parts.append(" ")
        elif token.start in subst:
            parts.append(subst[token.start])
        elif token.kind is Kind.HEREDOC:
            tag = token.text[: token.text.index("$", 1) + 1]
            value = token.text[len(tag) : -len(tag)]
            parts.append("'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'")
        elif token.kind is Kind.NUMBER and "_" in token.text:
            parts.append(token.text.replace("_", ""))
        else:
            parts.append(token.text)
        if token.start in around:
            before, after = around[token.start]
            parts[-1] = before + parts[-1] + after
    return "".join(parts)


class _Rewriter:
    """Collects replacements (by token start offset) for the forms listed in the module doc."""

    def __init__(self, code: list[Token]) -> None:
        self.code = code
        self.close: dict[int, int] = {}
        self.depth: list[int] = []
        stack: list[int] = []
        for i, token in enumerate(code):
            if token.kind is Kind.PUNCT and token.text in ")]}" and stack:
                self.close[stack.pop()] = i
            self.depth.append(len(stack))
            if token.kind is Kind.PUNCT and token.text in "([{":
                stack.append(i)
        self.subst: dict[int, str] = {}
        self.around: dict[int, tuple[str, str]] = {}

    def word(self, i: int) -> str:
        token = self.code[i] if 0 <= i < len(self.code) else None
        return token.upper if token is not None and token.kind is Kind.WORD else ""

    def text(self, i: int) -> str:
        return self.code[i].text if 0 <= i < len(self.code) else ""

    def blank(self, start: int, end: int) -> None:
        for j in range(start, end + 1):
            self.subst[self.code[j].start] = " "

    def put(self, i: int, text: str) -> None:
        self.subst[self.code[i].start] = text

    def only(self, start: int, end: int, kinds: tuple[Kind, ...], words: frozenset[str]) -> bool:
        """Whether tokens ``start..end`` are all of ``kinds`` or among ``words``/``,``."""
        for token in self.code[start : end + 1]:
            if token.kind in kinds or token.text == ",":
                continue
            if token.kind is Kind.WORD and token.upper in words:
                continue
            return False
        return True

    def has_query(self, start: int, end: int) -> bool:
        return any(self.word(j) in _QUERY_START for j in range(start, end + 1))


def _rewrites(code: list[Token]) -> tuple[Mapping[int, str], Mapping[int, tuple[str, str]]]:
    r = _Rewriter(code)
    matchers: set[int] = set()
    for i, token in enumerate(code):
        word = r.word(i)
        if token.kind is Kind.STRING and token.text[:1] in "xXbB":
            r.put(i, token.text[1:])
        elif word == "TOP" and r.word(i - 1) in ("SELECT", "DISTINCT", "ALL"):
            _top(r, i)
        elif word in _MYSQL_TYPES and r.word(i - 1) == "AS":
            r.put(i, _MYSQL_TYPES[word])
            if r.word(i + 1) in ("INT", "INTEGER"):
                r.blank(i + 1, i + 1)
        elif word == "BY" and r.word(i - 1) == "ORDER":
            _order_by_aliases(r, i)
        elif word == "BY" and _limit_by(r, i):
            _second_limit(r, i)
        elif word == "EXPLAIN" and r.text(i - 1) == "(":
            _nested_explain(r, i)
        elif token.text == "*" and r.text(i - 1).upper() in _STAR_AFTER | {""}:
            matchers.add(i)
        elif word == "COLUMNS" and r.text(i + 1) == "(" and i + 1 in r.close:
            _columns(r, i + 1)
            matchers.add(r.close[i + 1])
        elif token.text == "->" and token.kind is Kind.PUNCT:
            _bracket_ternary_body(r, i)
        elif token.kind in NAMES and r.text(i + 1) == "(" and i + 1 in r.close:
            _drop_literal_parameters(r, i + 1)
        elif word == "AS" and r.depth[i] > 0:
            _bracket_argument_alias(r, i)
        if i in matchers:
            _transformers(r, i)
    return r.subst, r.around


def _bracket_argument_alias(r: _Rewriter, at: int) -> None:
    """``f(expr AS name, ...)`` -> ``f((expr AS name), ...)``."""
    if at + 2 >= len(r.code) or r.code[at + 1].kind not in NAMES or r.text(at + 2) not in ",)":
        return
    depth, start = r.depth[at], at - 1
    while start > 0 and not (r.depth[start - 1] < depth or r.text(start - 1) == ","):
        start -= 1
    opener = start - 1
    if start >= at or r.text(opener) != "(" or opener < 1 or r.code[opener - 1].kind not in NAMES:
        return  # not a call's argument (a tuple, a subquery)
    if r.word(opener - 1) in STRUCTURAL_WORDS or r.word(opener - 1) == "CAST":
        return
    first, last = r.code[start].start, r.code[at + 1].start
    r.around[first] = ("(" + r.around.get(first, ("", ""))[0], r.around.get(first, ("", ""))[1])
    r.around[last] = (r.around.get(last, ("", ""))[0], r.around.get(last, ("", ""))[1] + ")")


_LITERAL_PUNCT = frozenset({"(", ")", "[", "]", ",", "-", "+"})


def _drop_literal_parameters(r: _Rewriter, open_at: int) -> None:
    end = r.close[open_at]
    if r.text(end + 1) != "(" or r.word(open_at - 1) in _QUERY_START:
        return
    for token in r.code[open_at + 1 : end]:
        literal = token.kind in (Kind.NUMBER, Kind.STRING) or token.text in _LITERAL_PUNCT
        if not (literal or (token.kind is Kind.WORD and token.upper in ("NULL", "TRUE", "FALSE"))):
            return
    r.blank(open_at, end)


def _bracket_ternary_body(r: _Rewriter, arrow: int) -> None:
    depth = r.depth[arrow]
    end = arrow + 1
    ternary = False
    while end < len(r.code) and r.depth[end] >= depth:
        if r.depth[end] == depth and r.text(end) == ",":
            break
        ternary = ternary or (r.depth[end] == depth and r.text(end) == "?")
        end += 1
    if ternary and end > arrow + 1:
        first, last = r.code[arrow + 1].start, r.code[end - 1].start
        r.around[first] = ("(" + r.around.get(first, ("", ""))[0], r.around.get(first, ("", ""))[1])
        r.around[last] = (r.around.get(last, ("", ""))[0], r.around.get(last, ("", ""))[1] + ")")


def _top(r: _Rewriter, i: int) -> None:
    if r.code[i + 1 : i + 2] and r.code[i + 1].kind is Kind.NUMBER:
        end = i + 1
        if r.word(i + 2) == "WITH" and r.word(i + 3) == "TIES":
            end = i + 3
        r.blank(i, end)


def _limit_by(r: _Rewriter, by: int) -> bool:
    """Whether ``BY`` at ``by`` ends ``LIMIT n [, m | OFFSET m]``."""
    j = by - 1
    while j >= 0 and (r.code[j].kind is Kind.NUMBER or r.text(j) == "," or r.word(j) == "OFFSET"):
        j -= 1
    return j < by - 1 and r.word(j) == "LIMIT" and r.depth[j] == r.depth[by]


def _second_limit(r: _Rewriter, by: int) -> None:
    """Drop a numbers-only ``LIMIT`` clause that follows ``LIMIT n BY ...`` in the same query."""
    depth = r.depth[by]
    for j in range(by + 1, len(r.code)):
        if r.depth[j] < depth:
            return
        if r.depth[j] > depth:
            continue
        if r.word(j) in ("UNION", "EXCEPT", "INTERSECT", "SETTINGS", "FORMAT"):
            return
        if r.word(j) == "LIMIT":
            end = j
            while end + 1 < len(r.code) and r.depth[end + 1] == depth:
                nxt = r.code[end + 1]
                if not (nxt.kind is Kind.NUMBER or nxt.text == "," or r.word(end + 1) == "OFFSET"):
                    break
                end += 1
            stop = r.word(end + 1)
            if end > j and (end + 1 == len(r.code) or stop in ("SETTINGS", "FORMAT", "")):
                r.blank(j, end)
            return


def _order_by_aliases(r: _Rewriter, by: int) -> None:
    depth = r.depth[by]
    for j in range(by + 1, len(r.code)):
        if r.depth[j] < depth or (r.depth[j] == depth and r.word(j) in _ORDER_BY_END):
            return
        if r.depth[j] != depth or r.word(j) != "AS" or j + 1 >= len(r.code):
            continue
        if r.code[j + 1].kind not in NAMES:
            continue
        after = r.text(j + 2).upper()
        ends = j + 2 >= len(r.code) or r.depth[j + 2] < depth or r.word(j + 2) in _ORDER_BY_END
        if ends or after in _AFTER_ORDER_ITEM or r.word(j + 2) == "WITH":
            r.blank(j, j + 1)


def _nested_explain(r: _Rewriter, i: int) -> None:
    j = i + 1
    if r.word(j) in _EXPLAIN_KINDS:
        j += 1
    elif r.word(j) == "QUERY" and r.word(j + 1) == "TREE":
        j += 2
    while r.code[j : j + 1] and r.code[j].kind in NAMES and r.text(j + 1) == "=":
        value = r.code[j + 2] if j + 2 < len(r.code) else None
        if value is None or value.kind not in (Kind.NUMBER, Kind.STRING, Kind.WORD):
            return
        j += 3
        if r.text(j) == ",":
            j += 1
    if r.word(j) in _QUERY_START or r.text(j) == "(":
        r.blank(i, j - 1)


def _columns(r: _Rewriter, open_at: int) -> None:
    end = r.close[open_at]
    if end - open_at > 2 and r.only(open_at + 1, end - 1, NAMES, frozenset()):
        r.put(open_at + 1, "'_'")
        r.blank(open_at + 2, end - 1)


def _transformers(r: _Rewriter, at: int) -> None:
    """Rewrite the ``APPLY`` / ``EXCEPT`` / ``REPLACE`` chain after the matcher ending at ``at``."""
    i = at + 1
    while i < len(r.code):
        word = r.word(i)
        if word not in ("APPLY", "EXCEPT", "REPLACE"):
            return
        strict = r.word(i + 1) == "STRICT"
        j = i + 2 if strict else i + 1
        opened = r.text(j) == "(" and j in r.close
        end = r.close[j] if opened else j
        if word == "APPLY" and not opened and r.text(j + 1) == "(" and j + 1 in r.close:
            end = r.close[j + 1]  # APPLY quantiles(0.5)
        if word == "REPLACE":
            if r.has_query(j, end):
                return
            r.put(i, ",")  # REPLACE (e AS c) -> , e AS c: the expressions stay in the select
            if strict:
                r.blank(i + 1, i + 1)
            if not opened:
                return
            r.blank(j, j)
            r.blank(end, end)
        elif r.has_query(j, end) or (word == "EXCEPT" and not _names_only(r, j, end)):
            return
        else:
            r.blank(i, end)
        i = end + 1


def _names_only(r: _Rewriter, start: int, end: int) -> bool:
    return r.only(start, end, (*NAMES, Kind.STRING, Kind.PUNCT), frozenset())
