r"""Extract one SQL statement from a model's answer.

Models wrap their SQL in many ways: a Markdown code fence, a sentence before it ("Here is the
query:"), an explanation after it, chat-template tokens, a trailing ``FORMAT`` clause, or a JSON
object with a ``sql`` key. :func:`extract_sql` returns just the statement.

Example:
    >>> extract_sql("Sure! Here it is:\n```sql\nSELECT 1;\n```\nThis returns one.")
    'SELECT 1'
"""

from __future__ import annotations

import json
import re

from ..safety import strip_format_clause
from .dialects import Dialect

__all__ = ["extract_sql"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_LINE_START = re.compile(r"^[ \t>]*(WITH|SELECT)(?![\w.])", re.IGNORECASE | re.MULTILINE)
_UPPER_START = re.compile(r"(?<![\w.])(WITH|SELECT)(?![\w.])")
_ANY_START = re.compile(r"(?<![\w.])(WITH|SELECT)(?![\w.])", re.IGNORECASE)
_SPECIAL_TOKENS = re.compile(r"<\|[a-z_]+\|>|</s>|<s>|\[/?INST\]")
_JSON_KEYS = ("sql", "sql_query", "query")

_PROSE_AFTER_WITH = frozenset(
    [
        "this",
        "that",
        "these",
        "those",
        "the",
        "a",
        "an",
        "my",
        "your",
        "our",
        "its",
        "it",
        "which",
        "respect",
        "regard",
        "help",
    ]
)

# Words a line of SQL (or its continuation) may start with; a line after a blank line that starts
# with anything else is taken for prose.
_SQL_LINE_START = frozenset(
    [
        "select",
        "with",
        "from",
        "where",
        "group",
        "order",
        "having",
        "limit",
        "union",
        "intersect",
        "except",
        "join",
        "inner",
        "left",
        "right",
        "full",
        "cross",
        "any",
        "all",
        "array",
        "on",
        "using",
        "and",
        "or",
        "not",
        "as",
        "case",
        "when",
        "then",
        "else",
        "end",
        "by",
        "asc",
        "desc",
        "prewhere",
        "qualify",
        "window",
        "over",
        "partition",
        "settings",
        "format",
        "offset",
        "fetch",
        "into",
        "values",
        "distinct",
        "top",
        "interval",
    ]
)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def _from_json(text: str) -> str | None:
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict):
        for key in _JSON_KEYS:
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return None


def _cut_at_semicolon(sql: str) -> str:
    """Cut at the first ``;`` outside string literals, quoted names and comments."""
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            if newline == -1:
                break
            i = newline
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end == -1:
                break
            i = end + 1
        elif ch == ";":
            return sql[:i]
        i += 1
    return sql


def _looks_like_sql_line(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return True
    if line[:1].isspace() or stripped[0] in "(),*-/'\"`0123456789":
        return True
    first = re.split(r"[\s(,]", stripped, maxsplit=1)[0].lower()
    return first in _SQL_LINE_START


def _drop_trailing_prose(sql: str) -> str:
    """Stop at the first blank line that is followed by a line of prose."""
    lines = sql.split("\n")
    kept: list[str] = []
    after_blank = False
    for line in lines:
        if not line.strip():
            after_blank = True
            kept.append(line)
            continue
        if after_blank and not _looks_like_sql_line(line):
            break
        after_blank = False
        kept.append(line)
    return "\n".join(kept)


def _is_prose_with(text: str, match: re.Match[str]) -> bool:
    """True for a sentence opening with "With" ("With this query ...") rather than a CTE."""
    if match.group(1).upper() != "WITH":
        return False
    following = text[match.end(1) :].split(None, 1)
    return bool(following) and following[0].lower().strip(",") in _PROSE_AFTER_WITH


def _from_prose(text: str) -> str | None:
    # A keyword opening a line beats an upper-case one inside a sentence, which beats a
    # lower-case "select" in prose ("we select the users ...").
    match = None
    for pattern in (_LINE_START, _UPPER_START, _ANY_START):
        match = next((m for m in pattern.finditer(text) if not _is_prose_with(text, m)), None)
        if match is not None:
            break
    if match is None:
        return None
    sql = _cut_at_semicolon(text[match.start(1) :])
    return _drop_trailing_prose(sql)


def extract_sql(
    answer: str | None, *, keep_format: bool = False, dialect: Dialect | str = "clickhouse"
) -> str:
    """Return the SQL statement in a model's answer, or ``""`` when there is none.

    The answer may be bare SQL, SQL in a Markdown code fence (a fence labelled ``sql`` or with
    the dialect's name is preferred), SQL after a leading sentence, SQL followed by an
    explanation, or a JSON object with a ``sql`` / ``sql_query`` / ``query`` key. Chat-template
    tokens (``<|eot_id|>``) are removed, the statement is cut at its first ``;`` (outside strings
    and comments), and a trailing ``FORMAT TabSeparatedWithNames`` clause is dropped unless
    ``keep_format``.

    Args:
        answer: The model's raw answer.
        keep_format: Keep a trailing ``FORMAT <name>`` clause.
        dialect: The SQL's dialect (its
            :attr:`~text2sql_tune.sql.dialects.Dialect.fence_languages` label SQL fences).

    Returns:
        The statement, stripped, without a trailing semicolon; ``""`` when no ``SELECT`` or
        ``WITH`` statement was found.
    """
    if not answer:
        return ""
    text = _SPECIAL_TOKENS.sub("", answer).strip()
    candidate = _from_json(text)
    if candidate is None:
        blocks = _fenced_blocks(text)
        languages = Dialect.get(dialect).fence_languages
        sql_blocks = [body for lang, body in blocks if lang in languages]
        other_blocks = [body for lang, body in blocks if lang not in languages]
        for body in [*sql_blocks, *other_blocks]:
            candidate = _from_prose(body)
            if candidate is not None:
                break
        else:
            candidate = _from_prose(text)
    else:
        candidate = _from_prose(candidate)
    if candidate is None:
        return ""
    candidate = candidate.strip()
    if keep_format:
        return candidate.rstrip().rstrip(";").rstrip()
    return strip_format_clause(candidate)
