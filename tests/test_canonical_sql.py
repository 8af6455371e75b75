"""Canonical SQL: the same query in other spelling reads the same, another query does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from text2sql_tune.sql.canonical import canonical_sql, string_literals

CASES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "canonical_sql.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("group", CASES["equivalent"], ids=lambda g: g["name"])
def test_equivalent_queries_share_one_canonical_text(group: dict[str, Any]) -> None:
    forms = [canonical_sql(sql) for sql in group["queries"]]
    assert None not in forms
    assert len(set(forms)) == 1, forms


@pytest.mark.parametrize("group", CASES["different"], ids=lambda g: g["name"])
def test_different_queries_keep_different_canonical_texts(group: dict[str, Any]) -> None:
    forms = [canonical_sql(sql) for sql in group["queries"]]
    assert None not in forms
    assert len(set(forms)) == len(forms), forms


def test_the_canonical_text_drops_aliases_and_sorts_operands() -> None:
    assert canonical_sql(
        "select s.os as o, count() as n from ecommerce.sessions as s "
        "where (revenue > 0) and (os = 'iOS') group by o order by n desc"
    ) == (
        "SELECT os, count(*) FROM ecommerce.sessions WHERE 'iOS' = os AND revenue > 0 "
        "GROUP BY os ORDER BY count(*) DESC"
    )


def test_unreadable_or_oversized_sql_has_no_canonical_form() -> None:
    assert canonical_sql("select from where (") is None
    assert canonical_sql("select 1 " + " " * 2_000_000) is None
    assert string_literals("select 'unterminated") is None


def test_string_literals_are_read_from_tokens() -> None:
    sql = "select count() from t where os = 'iOS' and d = toDate('2024-03-01') and x > 5"
    assert string_literals(sql) == frozenset({"iOS", "2024-03-01"})


def test_another_dialect_is_parsed_with_its_own_rules() -> None:
    a = canonical_sql('select "name", count(*) from "t" group by "name"', "sqlite")
    b = canonical_sql("select name, count(1) from t group by 1", "sqlite")
    assert a is not None and a == b
