"""The one token walker: brackets, calls, tables after FROM / JOIN, queries and clauses."""

from __future__ import annotations

import pytest

from text2sql_tune.evaluate.judges.rewrite import rewrite_exact
from text2sql_tune.sql.profile import profile_sql
from text2sql_tune.sql.tokens import statement_tokens
from text2sql_tune.sql.walk import TokenWalk


def walk(sql: str) -> TokenWalk:
    tokens = statement_tokens(sql)
    return TokenWalk(tokens.kinds, tokens.texts)


def test_brackets_depths_matches_and_enclosing_calls() -> None:
    w = walk("SELECT countIf(x IN (1, 2)), quantile(0.9)(y) FROM t")
    texts = list(w.texts)
    first = texts.index("(")
    inner = texts.index("(", first + 1)
    assert (w.match[inner], w.match[first]) == (inner + 4, inner + 5)
    assert w.match[inner + 5] == first
    assert w.depth[texts.index("1")] == 2 and w.depth[texts.index("FROM")] == 0
    assert w.call_of[texts.index("1")] == "countIf"
    assert w.call_of[texts.index("y")] == "quantile"  # the parametric call's arguments
    assert w.is_call(texts.index("countIf")) and not w.is_call(texts.index("x"))


def test_unbalanced_brackets_have_no_match() -> None:
    w = walk("SELECT (1")
    assert w.match == [-1, -1, -1]


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT 1 FROM db.t AS a JOIN u b ON a.id = b.id", ["db.t", "u"]),
        ("SELECT x FROM t ARRAY JOIN arr AS x", ["t"]),
        ("SELECT * FROM numbers(10)", []),
        ("SELECT * FROM (SELECT 1 FROM inner_t)", ["inner_t"]),
        ("SELECT * FROM `my db`.`t`", ["my db.t"]),
    ],
)
def test_tables_after_from_and_join(sql: str, tables: list[str]) -> None:
    assert walk(sql).tables() == tables
    assert list(profile_sql(sql).tables) == tables


def test_queries_split_into_clauses() -> None:
    w = walk(
        "WITH c AS (SELECT a, b FROM t WHERE a > 0) "
        "SELECT a, count() FROM c GROUP BY a WITH TOTALS ORDER BY a LIMIT 3"
    )
    inner, outer = w.queries
    assert (inner.depth, outer.depth) == (1, 0)
    assert inner.tables == ["t"] and outer.tables == ["c"]
    assert [" ".join(w.texts[s:e]) for s, e in outer.select] == ["a", "count ( )"]
    assert [" ".join(w.texts[s:e]) for s, e in outer.group] == ["a"]
    where = w.texts.index("WHERE")
    assert w.clause_of[where + 1] == "where"
    assert w.clause_of[w.texts.index("TOTALS") - 1] == "modifier"


def test_a_cte_named_like_a_modifier_is_a_cte() -> None:
    w = walk("WITH totals AS (SELECT 1) SELECT * FROM totals")
    assert w.with_modifier(0) is None
    modifier = walk("SELECT a FROM t GROUP BY a WITH ROLLUP")
    assert modifier.with_modifier(modifier.texts.index("WITH")) == "rollup"
    fill = walk("SELECT a FROM t ORDER BY a WITH FILL")
    at = fill.texts.index("WITH")
    assert fill.with_modifier(at) == "fill" and not fill.group_modifier(at)


def test_the_exact_rewrite_finds_the_parameters_through_the_walker() -> None:
    rewrite = rewrite_exact("SELECT uniqCombined(12)(user_id), quantile(0.9)(x) FROM t")
    assert rewrite.sql == "SELECT uniqExact(user_id), quantileExact(0.9)(x) FROM t"
