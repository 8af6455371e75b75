"""A lexer that splits SQL exactly where ClickHouse's own lexer does.

The guard's checks run on these tokens, so whatever ClickHouse reads as code, the guard reads as
code too: a ``file(`` hidden in what another lexer would call a comment or a string is still
seen. The rules follow ClickHouse's ``Lexer.cpp``: ``--``, ``//``, ``# `` / ``#!`` and nested
``/* */`` comments; ``'...'`` strings with backslash escapes and doubled quotes; ``"..."`` and
```...``` quoted identifiers; heredocs ``$tag$...$tag$``; ``x'..'`` / ``b'..'`` strings; numbers
with ``_`` separators, hex floats and exponents; bare words of ASCII letters, digits, ``_`` and
``$``. The test suite compares the result with ClickHouse's ``tokenizeQuery()`` on a corpus.

Everything is a single left-to-right pass (heredoc ends are found through an index of ``$``
positions), so lexing is linear in the length of the text.
"""

from __future__ import annotations

import bisect
import re
from enum import Enum
from typing import NamedTuple

__all__ = ["Kind", "LexError", "Token", "lex"]


class Kind(Enum):
    """Token kinds, as far as the guard needs to tell them apart."""

    WORD = "word"  # ClickHouse BareWord: keyword or identifier
    QUOTED = "quoted"  # "name" or `name`
    STRING = "string"  # '...', x'..', b'..'
    HEREDOC = "heredoc"  # $tag$...$tag$
    NUMBER = "number"
    PUNCT = "punct"  # operators, brackets, commas, dots, semicolons
    COMMENT = "comment"
    SPACE = "space"


class Token(NamedTuple):
    """One token: its kind and where it is in the text (``text[start:end]``)."""

    kind: Kind
    start: int
    end: int
    text: str

    @property
    def upper(self) -> str:
        """The text in upper case (for keyword comparisons)."""
        return self.text.upper()

    def name(self) -> str:
        """What the token says.

        A bare word as is; a quoted name or a ``'...'`` string without its quotes and escapes
        (escapes are only undone, not interpreted: a backslash-n stays ``n``).
        """
        if self.kind is Kind.QUOTED or (self.kind is Kind.STRING and self.text[:1] == "'"):
            return _unquote(self.text)
        return self.text


class LexError(ValueError):
    """The text does not lex as ClickHouse SQL (an unterminated string, an unknown character).

    Args:
        message: What is wrong.
        offset: Where, as a character offset into the text.
    """

    def __init__(self, message: str, offset: int) -> None:
        self.offset = offset
        super().__init__(message)


_SPACE = re.compile(r"[ \t\n\r\f\v]+")
# The common tokens in one step; everything else takes the careful path below.
_FAST = re.compile(
    r"(?P<space>[ \t\n\r\f\v]+)"
    r"|(?P<word>(?![xXbB]')[A-Za-z_][A-Za-z0-9_$]*)"
    r"|(?P<punct>[(),;*+%?^\[\]{}])"
)
_FAST_KINDS = {"space": Kind.SPACE, "word": Kind.WORD, "punct": Kind.PUNCT}
_WORD = re.compile(r"[A-Za-z0-9_$]+")
_WORD_NO_DOLLAR = re.compile(r"[A-Za-z0-9_]+")
_QUOTE_OR_BACKSLASH = {q: re.compile("[" + re.escape(q) + r"\\]") for q in "'\"`"}
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_AFTER_DOT_IS_QUALIFIER = frozenset({")", "]"})
_TWO_CHAR = ("->", "::", "<=", ">=", "<>", "!=", "==", "||", "@@")
_ONE_CHAR = frozenset("()[]{},;+*%=<>?^:|@")
_QUOTE_NAMES = {"'": "string", '"': "quoted identifier", "`": "quoted identifier"}


def _unquote(text: str) -> str:
    quote, body = text[0], text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
        elif ch == quote and i + 1 < len(body) and body[i + 1] == quote:
            out.append(quote)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _HeredocIndex:
    """Finds heredoc ends in O(log n): every ``$...$`` pair of consecutive dollars, by its text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.dollars = [m.start() for m in re.finditer(r"\$", text)]
        self.pairs: dict[str, list[int]] = {}
        for first, second in zip(self.dollars, self.dollars[1:], strict=False):
            self.pairs.setdefault(text[first : second + 1], []).append(first)

    def end_of(self, start: int) -> int | None:
        """End offset of the heredoc opening at ``start``, or ``None`` when it does not close."""
        index = bisect.bisect_right(self.dollars, start)
        if index >= len(self.dollars):
            return None
        tag_end = self.dollars[index] + 1  # one past the tag's closing dollar
        tag = self.text[start:tag_end]
        starts = self.pairs.get(tag, [])
        found = bisect.bisect_left(starts, tag_end)
        if found >= len(starts):
            return None
        return starts[found] + len(tag)


def lex(text: str) -> list[Token]:
    """Split ``text`` into ClickHouse tokens, comments and whitespace included.

    Args:
        text: The SQL.

    Returns:
        Every token in order; ``text`` is the concatenation of their texts.

    Raises:
        LexError: An unterminated string, quoted identifier, heredoc-looking dollar or comment,
            or a character ClickHouse does not accept outside strings.
    """
    tokens: list[Token] = []
    heredocs: _HeredocIndex | None = None
    prev = ""  # text of the previous significant token
    prev_kind: Kind | None = None
    pos, n = 0, len(text)
    kind: Kind
    fast = _FAST.match
    while pos < n:
        start = pos
        match = fast(text, pos)
        if match is not None:
            pos = match.end()
            kind = _FAST_KINDS[match.lastgroup or ""]
            token = Token(kind, start, pos, text[start:pos])
            tokens.append(token)
            if kind is not Kind.SPACE:
                prev, prev_kind = token.text, kind
            continue
        ch = text[pos]
        if ch in " \t\n\r\f\v":
            match = _SPACE.match(text, pos)
            assert match is not None
            pos, kind = match.end(), Kind.SPACE
        elif ch in _DIGITS:
            pos, kind = _number(text, pos, after_dot=prev == "." and prev_kind is Kind.PUNCT)
        elif ch in "'\"`":
            pos = _quoted(text, pos, ch)
            kind = Kind.STRING if ch == "'" else Kind.QUOTED
        elif ch == "." and _dot_is_punct(text, pos, prev, prev_kind):
            pos, kind = pos + 1, Kind.PUNCT
        elif ch == ".":
            pos, kind = _fraction(text, pos + 1), Kind.NUMBER
        elif text.startswith(("--", "//"), pos):
            end = text.find("\n", pos)
            pos, kind = (n if end < 0 else end), Kind.COMMENT
        elif ch == "#":
            if pos + 1 < n and text[pos + 1] in " !":
                end = text.find("\n", pos)
                pos, kind = (n if end < 0 else end), Kind.COMMENT
            else:
                raise LexError(f"unexpected '#' at offset {pos} (a comment needs '# ')", pos)
        elif text.startswith("/*", pos):
            pos, kind = _block_comment(text, pos), Kind.COMMENT
        elif ch == "$":
            if heredocs is None:
                heredocs = _HeredocIndex(text)
            closed = heredocs.end_of(pos)
            if closed is not None:
                pos, kind = closed, Kind.HEREDOC
            elif pos + 1 >= n or text[pos + 1] not in _WORD_CHARS:
                pos, kind = pos + 1, Kind.PUNCT
            else:
                pos, kind = _word(text, pos), Kind.WORD
        elif ch in "xXbB" and pos + 2 < n and text[pos + 1] == "'":
            pos, kind = _hex_or_binary_string(text, pos), Kind.STRING
        elif ch in _WORD_CHARS:
            pos, kind = _word(text, pos), Kind.WORD
        elif text.startswith(_TWO_CHAR, pos) or text.startswith("<=>", pos):
            size = 3 if text.startswith("<=>", pos) else 2
            pos, kind = pos + size, Kind.PUNCT
        elif ch in _ONE_CHAR or ch in "-/":
            pos, kind = pos + 1, Kind.PUNCT
        elif ch == "\\" and text.startswith("\\G", pos):
            pos, kind = pos + 2, Kind.PUNCT
        elif ch == "!":
            raise LexError(f"unexpected '!' at offset {pos} (only '!=' is an operator)", pos)
        else:
            raise LexError(f"unexpected character {_show(ch)} at offset {pos}", pos)
        token = Token(kind, start, pos, text[start:pos])
        tokens.append(token)
        if kind not in (Kind.SPACE, Kind.COMMENT):
            prev, prev_kind = token.text, kind
    return tokens


def _show(ch: str) -> str:
    return repr(ch) if ch.isascii() and ch.isprintable() else f"U+{ord(ch):04X}"


def _dot_is_punct(text: str, pos: int, prev: str, prev_kind: Kind | None) -> bool:
    if pos == 0:
        return False
    if not (pos + 1 < len(text) and text[pos + 1] in _DIGITS):
        return True
    return prev_kind in (Kind.WORD, Kind.QUOTED, Kind.NUMBER) or prev in _AFTER_DOT_IS_QUALIFIER


def _quoted(text: str, pos: int, quote: str) -> int:
    finder = _QUOTE_OR_BACKSLASH[quote]
    i, n = pos + 1, len(text)
    while True:
        match = finder.search(text, i)
        if match is None:
            raise LexError(f"unterminated {_QUOTE_NAMES[quote]} starting at offset {pos}", pos)
        i = match.start()
        if text[i] == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        if i + 1 >= n:  # a backslash as the last character escapes nothing
            raise LexError(f"unterminated {_QUOTE_NAMES[quote]} starting at offset {pos}", pos)
        i += 2


def _block_comment(text: str, pos: int) -> int:
    depth, i, n = 1, pos + 2, len(text)
    while i + 1 < n:
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            next_mark = _next_comment_mark(text, i)
            i = next_mark if next_mark > i else i + 1
    raise LexError(f"unterminated comment starting at offset {pos}", pos)


_COMMENT_MARK = re.compile(r"/\*|\*/")


def _next_comment_mark(text: str, i: int) -> int:
    match = _COMMENT_MARK.search(text, i)
    return len(text) if match is None else match.start()


def _hex_or_binary_string(text: str, pos: int) -> int:
    allowed = _HEX if text[pos] in "xX" else frozenset("01")
    i, n = pos + 2, len(text)
    while i < n and text[i] in allowed:
        i += 1
    if i >= n or text[i] != "'":
        raise LexError(f"unterminated string starting at offset {pos}", pos)
    return i + 1


def _word(text: str, pos: int) -> int:
    match = _WORD.match(text, pos)
    assert match is not None
    return match.end()


def _digits(text: str, i: int, allowed: frozenset[str], block_start: bool) -> int:
    """Skip digits with ClickHouse's ``_`` separators (never first, always before a digit)."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in allowed:
            block_start = False
        elif ch == "_" and not block_start and i + 1 < n and text[i + 1] in allowed:
            pass
        else:
            break
        i += 1
    return i


def _fraction(text: str, i: int) -> int:
    """A number that starts with its decimal point (``.5``, ``.5e3``); ``i`` is after the dot."""
    i = _digits(text, i, _DIGITS, True)
    return _exponent(text, i, "eE")


def _exponent(text: str, i: int, marks: str) -> int:
    n = len(text)
    if i + 1 < n and text[i] in marks:
        i += 1
        if i + 1 < n and text[i] in "+-":
            i += 1
        i = _digits(text, i, _DIGITS, True)
    return i


def _number(text: str, pos: int, *, after_dot: bool) -> tuple[int, Kind]:
    n = len(text)
    if after_dot:  # x.1.2: only a plain integer, for chained tuple access
        i = _digits(text, pos + 1, _DIGITS, False)
    else:
        allowed, block_start, i = _DIGITS, False, pos
        if pos + 2 < n and text[pos] == "0" and text[pos + 1] in "xXbB":
            if text[pos + 1] in "xX" and text[pos + 2] in _HEX:
                allowed, block_start, i = _HEX, True, pos + 2
            elif text[pos + 1] in "bB" and text[pos + 2] in "01":
                block_start, i = True, pos + 2
            else:
                i = pos + 1
        else:
            i = pos + 1
        i = _digits(text, i, allowed, block_start)
        if i < n and text[i] == ".":
            i = _digits(text, i + 1, allowed, True)
        i = _exponent(text, i, "pP" if allowed is _HEX else "eE")
    if i < n and text[i] in _WORD_CHARS:
        match = _WORD_NO_DOLLAR.match(text, i)
        assert match is not None
        end = match.end()
        if all(c in _WORD_CHARS or c == "$" for c in text[pos:end]):
            return end, Kind.WORD
        raise LexError(f"malformed number {text[pos:end]!r} at offset {pos}", pos)
    return i, Kind.NUMBER
