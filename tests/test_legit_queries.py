"""Legitimate analytics SQL (``data/legit_queries.yaml``) passes the guard unchanged and runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from text2sql_tune import ChDBExecutor, SQLGuard

QUERIES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "legit_queries.yaml").read_text(encoding="utf-8")
)["queries"]


def test_the_table_is_big_enough() -> None:
    assert len(QUERIES) >= 60


@pytest.mark.parametrize("case", QUERIES, ids=[c["sql"][:60] for c in QUERIES])
def test_legitimate_sql_passes_the_guard_and_runs(
    case: dict[str, Any], demo_executor: ChDBExecutor
) -> None:
    sql = case["sql"]
    assert SQLGuard(allowed_databases={"ecommerce"}).check(sql) == case.get("expect", sql)
    result = demo_executor.execute(sql)
    assert result.columns
