"""One statement as ClickHouse tokens: its trailing ``;``, ``FORMAT`` and ``SETTINGS`` clauses.

ClickHouse reads ``SELECT ... [FORMAT name] [SETTINGS k = v, ...]`` (and ``SETTINGS`` before
``FORMAT`` too). The executor chooses the output format itself, so the ``FORMAT`` clause is cut
out wherever it stands in that tail; the ``SETTINGS`` clause is parsed so that an executor can
apply the allowed ones to its session before locking it (a read-only session refuses them in the
query). Everything here works on tokens from :mod:`._lexer`, so comments and strings never
confuse it, and it is linear in the length of the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._lexer import Kind, LexError, Token, lex

__all__ = [
    "RefusalError",
    "Statement",
    "SyntaxRefusalError",
    "UnknownFunctionRefusalError",
    "parse_statement",
    "split_settings_clause",
    "strip_format_clause",
]


class RefusalError(Exception):
    """The statement is unsafe; ``reason`` says why (becomes ``UnsafeSQLError``)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SyntaxRefusalError(RefusalError):
    """The statement is not valid SQL (becomes ``SQLSyntaxError``)."""


class UnknownFunctionRefusalError(RefusalError):
    """A function the engine does not know at all (becomes ``UnknownFunctionError``)."""

    def __init__(self, reason: str, function: str) -> None:
        self.function = function
        super().__init__(reason)


NAMES = (Kind.WORD, Kind.QUOTED)
LITERALS = (Kind.NUMBER, Kind.STRING, Kind.HEREDOC)

# Words after which ``format`` / ``settings`` is a column name, not a clause.
_NOT_A_CLAUSE_AFTER = frozenset(
    {
        "BY", "AS", "SELECT", "DISTINCT", "AND", "OR", "NOT", "WHERE", "PREWHERE", "ON",
        "HAVING", "QUALIFY", "WHEN", "THEN", "ELSE", "CASE", "IN", "IS", "LIKE", "ILIKE",
        "BETWEEN", "USING", "FROM", "JOIN", "WITH", "LIMIT", "OFFSET", "INTERVAL",
        "ANY", "UNION", "EXCEPT", "INTERSECT", "ARRAY", "SETTINGS", "FORMAT", "EXPLAIN",
    }
)  # fmt: skip
_NOT_A_FORMAT_NAME = frozenset({"ASC", "DESC", "NULLS", "FIRST", "LAST", "FROM", "SETTINGS"})
_EXPLAIN_KINDS = frozenset({"AST", "SYNTAX", "PLAN", "PIPELINE", "ESTIMATE"})


@dataclass
class Statement:
    """The significant tokens of one statement and what the tail parse found.

    Attributes:
        text: The original text.
        tokens: Every token (comments and whitespace included).
        code: The significant tokens, trailing semicolons removed.
        depth: For each significant token, how many brackets are open before it.
        nesting: The deepest bracket nesting.
        format_at: Index in ``code`` of the trailing ``FORMAT`` keyword, or ``None``.
        settings: The trailing ``SETTINGS`` pairs as (name, value text), in order.
        settings_at: Index in ``code`` of the first trailing ``SETTINGS`` keyword, or ``None``.
        nested_settings: The pairs of ``SETTINGS`` clauses that end subqueries (the engine
            ignores them, measured on chDB 4.4; the guard checks them like the others).
        explain_end: Index in ``code`` where the query after an ``EXPLAIN`` prefix starts (0
            when there is no prefix).
        explain: Whether the statement starts with ``EXPLAIN``.
    """

    text: str
    tokens: list[Token]
    code: list[Token]
    depth: list[int]
    nesting: int = 0
    format_at: int | None = None
    settings: list[tuple[str, str]] = field(default_factory=list)
    settings_at: int | None = None
    nested_settings: list[tuple[str, str]] = field(default_factory=list)
    explain_end: int = 0
    explain: bool = False

    def body(self) -> list[Token]:
        """The query's significant tokens: no EXPLAIN prefix, no FORMAT clause."""
        if self.format_at is None:
            return self.code[self.explain_end :]
        return self.code[self.explain_end : self.format_at] + self.code[self.format_at + 2 :]

    def checked_text(self) -> str:
        """The statement to run: no FORMAT clause, no trailing ``;`` or comment."""
        return _join(self.text, self.code, self.format_at)


def _join(text: str, code: list[Token], cut: int | None) -> str:
    if not code:
        return ""
    if cut is None:
        return text[code[0].start : code[-1].end]
    head = text[code[0].start : code[cut - 1].end] if cut > 0 else ""
    if cut + 2 >= len(code):
        return head
    tail = text[code[cut + 1].end : code[-1].end]
    return head + (tail if tail[:1].isspace() else " " + tail)


def significant(tokens: list[Token]) -> list[Token]:
    """The tokens that are neither whitespace nor comments."""
    return [t for t in tokens if t.kind not in (Kind.SPACE, Kind.COMMENT)]


def bracket_depths(code: list[Token]) -> tuple[list[int], int]:
    """Open brackets before each token, and the deepest nesting.

    Raises:
        SyntaxRefusalError: The brackets do not match.
    """
    depths: list[int] = []
    stack: list[str] = []
    deepest = 0
    pairs = {")": "(", "]": "[", "}": "{"}
    for token in code:
        if token.kind is Kind.PUNCT and token.text in pairs:
            if not stack or stack[-1] != pairs[token.text]:
                raise SyntaxRefusalError(f"unbalanced {token.text!r} at offset {token.start}")
            stack.pop()
            depths.append(len(stack))
            continue
        depths.append(len(stack))
        if token.kind is Kind.PUNCT and token.text in "([{":
            stack.append(token.text)
            deepest = max(deepest, len(stack))
    if stack:
        raise SyntaxRefusalError(f"{len(stack)} bracket(s) opened but never closed")
    return depths, deepest


def _is_word(token: Token, word: str) -> bool:
    return token.kind is Kind.WORD and token.upper == word


def _clause_position(code: list[Token], i: int) -> bool:
    """Whether the word at ``i`` stands where a clause keyword can, not where a column can."""
    if i == 0:
        return False
    before = code[i - 1]
    if before.kind is Kind.PUNCT:
        return before.text in (")", "]", "*")
    return not (before.kind is Kind.WORD and before.upper in _NOT_A_CLAUSE_AFTER)


def _settings_list(code: list[Token], i: int, stop: int) -> list[tuple[str, str]] | None:
    """Parse ``name = literal, ...`` from ``i`` up to ``stop``; ``None`` if that is not all."""
    pairs: list[tuple[str, str]] = []
    while True:
        if i + 2 >= stop or code[i].kind not in NAMES or code[i + 1].text != "=":
            return None
        name = code[i].name()
        value, i = _literal(code, i + 2, stop)
        if value is None:
            return None
        pairs.append((name, value))
        if i == stop:
            return pairs
        if code[i].text != ",":
            return None
        i += 1


def _literal(code: list[Token], i: int, stop: int) -> tuple[str | None, int]:
    if i >= stop:
        return None, i
    token = code[i]
    if token.kind is Kind.PUNCT and token.text in "+-" and i + 1 < stop:
        number = code[i + 1]
        if number.kind is Kind.NUMBER:
            return token.text + number.text, i + 2
        return None, i
    if token.kind in (Kind.NUMBER, Kind.STRING) or token.kind is Kind.WORD:
        return token.text, i + 1
    return None, i


def _parse_tail(statement: Statement) -> None:
    code, depth = statement.code, statement.depth
    end = len(code)
    formats = [
        i
        for i in range(statement.explain_end, end)
        if depth[i] == 0 and _is_word(code[i], "FORMAT") and _clause_position(code, i)
    ]
    tail_format = None
    for i in formats:
        named = i + 1 < end and code[i + 1].kind in NAMES
        if not named or code[i + 1].upper in _NOT_A_FORMAT_NAME:
            continue
        at_tail = i + 2 == end or _is_word(code[i + 2], "SETTINGS")
        if not at_tail:
            raise RefusalError("FORMAT is only allowed at the end of the query")
        if tail_format is not None:
            raise RefusalError("more than one FORMAT clause")
        tail_format = i
    statement.format_at = tail_format
    keywords = [
        i
        for i in range(statement.explain_end, end)
        if _is_word(code[i], "SETTINGS")
        and _clause_position(code, i)
        and i + 2 < end
        and code[i + 1].kind in NAMES
        and code[i + 2].text == "="
    ]
    for i in keywords:
        if depth[i] != 0:  # a subquery's own clause, up to its closing bracket
            stop = next(j for j in range(i + 1, end) if depth[j] < depth[i])
            nested = _settings_list(code, i + 1, stop)
            if nested is None:
                raise RefusalError("SETTINGS in a subquery must end it, as name = literal pairs")
            statement.nested_settings.extend(nested)
            continue
        stop = tail_format if tail_format is not None and tail_format > i else end
        pairs = _settings_list(code, i + 1, stop)
        if pairs is None:
            raise RefusalError(
                "SETTINGS is only allowed at the end of the query, as name = literal pairs"
            )
        statement.settings.extend(pairs)
        if statement.settings_at is None:
            statement.settings_at = i


def _parse_explain(statement: Statement) -> None:
    code = statement.code
    if not code or not _is_word(code[0], "EXPLAIN"):
        return
    statement.explain = True
    i = 1
    if i < len(code) and code[i].kind is Kind.WORD:
        word = code[i].upper
        if word in _EXPLAIN_KINDS:
            i += 1
        elif word == "QUERY" and i + 1 < len(code) and _is_word(code[i + 1], "TREE"):
            i += 2
    while i + 2 < len(code) and code[i].kind is Kind.WORD and code[i + 1].text == "=":
        if code[i + 2].kind is not Kind.NUMBER:
            break
        i += 3
        if i < len(code) and code[i].text == ",":
            i += 1
    statement.explain_end = i


def parse_statement(text: str) -> Statement:
    """Lex ``text`` and find its tail clauses.

    Raises:
        LexError: The text does not lex.
        RefusalError: Several statements, or ``FORMAT`` / ``SETTINGS`` where they cannot be handled.
        SyntaxRefusalError: Unbalanced brackets.
    """
    tokens = lex(text)
    code = significant(tokens)
    while code and code[-1].text == ";" and code[-1].kind is Kind.PUNCT:
        code.pop()
    for token in code:
        if token.kind is Kind.PUNCT and token.text == ";":
            raise RefusalError("multiple statements are not allowed (';' inside the query)")
    depths, nesting = bracket_depths(code)
    for i in range(len(code) - 1):
        if depths[i] == 0 and _is_word(code[i], "PARALLEL") and _is_word(code[i + 1], "WITH"):
            raise RefusalError("multiple statements are not allowed (PARALLEL WITH)")
    statement = Statement(text, tokens, code, depths, nesting)
    _parse_explain(statement)
    _parse_tail(statement)
    return statement


def strip_format_clause(sql: str) -> str:
    """Remove a trailing ``FORMAT <name>`` clause and trailing semicolons from a query.

    The article's SQL ends with ``format TabSeparatedWithNames``; executors pick their own output
    format, so the clause is dropped, also when ``SETTINGS`` follows it. Comments and string
    literals are respected: a ``FORMAT`` inside a string, or after ``ORDER BY`` (a column named
    ``format``), is left alone. A trailing comment goes too.

    Args:
        sql: One SQL statement.

    Returns:
        The statement without the clause, stripped of surrounding whitespace; text that does not
        lex is returned stripped, without trailing semicolons.
    """
    try:
        return parse_statement(sql).checked_text()
    except (LexError, RefusalError):
        return sql.strip().rstrip(";").rstrip()


def split_settings_clause(sql: str) -> tuple[str, dict[str, str]]:
    """Split a trailing ``SETTINGS name = value, ...`` clause off a checked statement.

    Executors use it to apply a query's allowed settings to the session before locking it.

    Args:
        sql: A statement the guard returned.

    Returns:
        The statement without the clause, and the settings as name -> value text (a number,
        a quoted string or a word). Without a clause that parses: ``sql`` and ``{}``.
    """
    try:
        statement = parse_statement(sql)
    except (LexError, RefusalError):
        return sql, {}
    if statement.settings_at is None or statement.format_at is not None:
        return sql, {}
    head = statement.code[: statement.settings_at]
    if not head:
        return sql, {}
    return sql[head[0].start : head[-1].end], dict(statement.settings)
