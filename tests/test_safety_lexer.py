"""The guard's lexer splits SQL exactly where ClickHouse's own lexer does (``tokenizeQuery``)."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
import yaml

from text2sql_tune import ChDBExecutor
from text2sql_tune.safety._lexer import Kind, LexError, lex

DATA = Path(__file__).parent / "data"

TRICKY = [
    "SELECT $$a'b$$, 'x\\'y', \"q\"\"r\", `b``t` -- c\n",
    "SELECT x.1.2, .5, 1.5e-3, 0x1F, 0b101, 1_000_000, 0x1p4, 1e5x, 1abc, a$b, $ , x'41', b'01'",
    "SELECT /* a /* b */ c */ 1 // d\n # e\n#!f\n2",
    "SELECT 1::Int8, a->b, a <=> b, a != b, a <> b, a || b, @@x, ?, ^, {p:UInt8}",
    "SELECT t.`x`.y, (1).1, [1][1], 'a'.5",
    "SELECT $a$x$b$y$a$ , $x$ unterminated",
    "SELECT $$",
    "SELECT 1e",
    "SELECT 1e+",
    "SELECT 0x",
    "SELECT 0xg",
    "SELECT 1.",
    "SELECT .e5",
    "SELECT 1__0",
    "SELECT 1_",
    "SELECT _1",
    "SELECT 'a\\\\' , 1 , 'b'",
    'SELECT "a\\" , 1 , "',
    "SELECT $t$ $$ $t$, $$ $t$ $$",
    "SELECT 'caf\u00e9', `\u00fcml\u00e4ut`, $$\u2603$$",
]


def corpus() -> list[str]:
    texts = list(TRICKY)
    for name in ("unsafe_queries.yaml", "legit_queries.yaml"):
        data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
        for cases in data.values():
            texts.extend(str(c["sql"]) for c in cases if "{repeat" not in str(c["sql"]))
    rng = random.Random(7)
    pieces = ["SELECT", " ", "'", '"', "`", "$$", "$a$", "--", "/*", "*/", "\n", "x", "1", ".",
              "(", ")", "e", "_", "\\", ",", "#", " #", "//", "0x", ";"]  # fmt: skip
    texts.extend("".join(rng.choice(pieces) for _ in range(rng.randint(2, 14))) for _ in range(300))
    return texts


def clickhouse_tokens(executor: ChDBExecutor, sql: str) -> list[str] | None:
    """Significant token texts from tokenizeQuery, or None when ClickHouse reports an error."""
    literal = "'" + sql.replace("\\", "\\\\").replace("'", "\\'") + "'"
    rows = executor.execute_admin(f"SELECT tokenizeQuery({literal}) FORMAT JSONCompact").rows
    data = sql.encode("utf-8")
    out: list[str] = []
    for token in rows[0][0]:
        kind = token["type"]
        if kind.startswith("Error"):
            return None
        if kind in ("Whitespace", "Comment", "EndOfStream"):
            continue
        out.append(data[token["begin"] : token["end"]].decode("utf-8"))
    return out


def test_the_lexer_agrees_with_clickhouse(chdb_executor: ChDBExecutor) -> None:
    compared = 0
    for sql in corpus():
        theirs = clickhouse_tokens(chdb_executor, sql)
        try:
            mine = [t.text for t in lex(sql) if t.kind not in (Kind.SPACE, Kind.COMMENT)]
        except LexError:
            mine = None
        if theirs is None or mine is None:
            if not any(ord(c) >= 0x80 for c in sql):  # non-ASCII outside strings: refused anyway
                assert theirs is None and mine is None, sql
            continue
        assert mine == theirs, sql
        compared += 1
    assert compared >= 200


def test_tokens_cover_the_text_exactly() -> None:
    for sql in corpus():
        try:
            tokens = lex(sql)
        except LexError:
            continue
        assert "".join(t.text for t in tokens) == sql
        assert all(a.end == b.start for a, b in itertools.pairwise(tokens))


@pytest.mark.parametrize(
    ("sql", "offset", "message"),
    [
        ("SELECT 'abc", 7, "unterminated string"),
        ("SELECT `abc", 7, "unterminated quoted identifier"),
        ("SELECT /* /* */", 7, "unterminated comment"),
        ("SELECT 1 #x", 9, "unexpected '#'"),
        ("SELECT 1 ! 2", 9, "only '!=' is an operator"),
        ("SELECT x'1g'", 7, "unterminated string"),
    ],
)
def test_lex_errors_say_where(sql: str, offset: int, message: str) -> None:
    with pytest.raises(LexError, match=message) as info:
        lex(sql)
    assert info.value.offset == offset


def test_heredoc_ends_are_found_without_rescanning() -> None:
    # Many dollar tags that never close: each lookup is an index search, not a scan.
    sql = "SELECT " + " ".join(f"$t{i}$x" for i in range(20000))
    tokens = lex(sql)
    assert sum(1 for t in tokens if t.kind is Kind.HEREDOC) == 0
    closed = lex("SELECT $a$ 1 $b$ 2 $a$")
    assert [t.kind for t in closed if t.kind is not Kind.SPACE][1] is Kind.HEREDOC
    assert json.dumps([t.text for t in closed if t.kind is Kind.HEREDOC]) == '["$a$ 1 $b$ 2 $a$"]'
