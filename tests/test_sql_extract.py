from __future__ import annotations

import pytest

from text2sql_tune.sql.extract import extract_sql

CASES = [
    ("bare", "SELECT count() FROM ecommerce.users", "SELECT count() FROM ecommerce.users"),
    ("semicolon", "SELECT 1;", "SELECT 1"),
    (
        "fence with prose around",
        "Sure! Here is the query:\n```sql\nSELECT os, count()\nFROM ecommerce.sessions\n"
        "GROUP BY os;\n```\nThis counts sessions per OS.",
        "SELECT os, count()\nFROM ecommerce.sessions\nGROUP BY os",
    ),
    ("unlabelled fence", "```\nSELECT 2\n```", "SELECT 2"),
    (
        "sql fence preferred over another fence",
        "Output:\n```text\nos  n\n```\n```sql\nSELECT os FROM t\n```",
        "SELECT os FROM t",
    ),
    (
        "leading prose, trailing explanation after blank line",
        "The answer is:\nSELECT a\nFROM t\n\nThis query returns a.",
        "SELECT a\nFROM t",
    ),
    (
        "blank line inside the query",
        "SELECT a\nFROM t\n\nORDER BY a\n\nNote: sorted.",
        "SELECT a\nFROM t\n\nORDER BY a",
    ),
    (
        "format clause dropped",
        "select uniqExact(user_id) as users from ecommerce.sessions format TabSeparatedWithNames",
        "select uniqExact(user_id) as users from ecommerce.sessions",
    ),
    (
        "semicolon inside a string is not the end",
        "SELECT count() FROM t WHERE os = 'a;b'; -- done",
        "SELECT count() FROM t WHERE os = 'a;b'",
    ),
    (
        "CTE after a sentence starting with With",
        "With this query you get it:\nWITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
    ),
    ("llama end token", "SELECT 3<|eot_id|>", "SELECT 3"),
    ("json answer", '{"sql_query": "SELECT 4 format TabSeparatedWithNames"}', "SELECT 4"),
    ("lower-case select in prose loses to the query", "we select rows: SELECT 5", "SELECT 5"),
]


@pytest.mark.parametrize(("answer", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_extract_sql(answer: str, expected: str) -> None:
    assert extract_sql(answer) == expected


@pytest.mark.parametrize("answer", ["", None, "I cannot answer this question.", "```\n\n```"])
def test_no_sql_gives_empty_string(answer: str | None) -> None:
    assert extract_sql(answer) == ""


def test_keep_format() -> None:
    answer = "```sql\nSELECT 1 format TabSeparatedWithNames;\n```"
    assert extract_sql(answer, keep_format=True) == "SELECT 1 format TabSeparatedWithNames"
