"""The bundled function catalog against the installed engine's own system tables."""

from __future__ import annotations

from typing import Any

import pytest

from text2sql_tune import ChDBExecutor, SQLGuard, UnsafeSQLError
from text2sql_tune.safety import ALLOWED_FUNCTIONS, DENIED_FUNCTIONS, load_catalog
from text2sql_tune.safety._functions import STRUCTURAL_WORDS
from text2sql_tune.safety.catalog import (
    DENIED_NAMES,
    NOT_REVIEWED,
    EngineRows,
    build_catalog,
    engine_rows,
)


@pytest.fixture(scope="module")
def rows(chdb_executor: ChDBExecutor) -> EngineRows:
    return engine_rows(lambda sql: chdb_executor.execute_admin(sql).rows)


def test_every_function_of_the_installed_engine_is_classified(rows: EngineRows) -> None:
    """Fails after a chDB upgrade that adds functions: run python -m text2sql_tune.safety.catalog,
    review what it lists as new, and commit the regenerated data file."""
    catalog = load_catalog()
    builtin = {str(f["name"]) for f in rows.functions if f["origin"] == "System"}
    unclassified = sorted(builtin - catalog.known)
    assert unclassified == [], f"not in the catalog, review them: {unclassified}"
    tables = set(rows.table_functions)
    unclassified_tables = (
        tables - catalog.table_functions_allowed - set(catalog.table_functions_denied)
    )
    assert unclassified_tables == set()


def test_the_data_file_is_what_the_policy_generates(rows: EngineRows) -> None:
    catalog = load_catalog()
    regenerated = build_catalog(rows, previous=catalog)
    assert regenerated.to_json() == catalog.to_json()
    assert catalog.engine == rows.version


def test_new_functions_are_denied_until_reviewed(rows: EngineRows) -> None:
    catalog = load_catalog()
    newer: list[dict[str, Any]] = [
        *rows.functions,
        {
            "name": "readEverything",
            "is_aggregate": 0,
            "case_insensitive": 0,
            "alias_to": "",
            "categories": "Other",
            "higher_order": 0,
            "origin": "System",
        },
    ]
    future = EngineRows(
        rows.version, newer, rows.table_functions, rows.combinators, rows.data_types
    )
    assert build_catalog(future, previous=catalog).denied["readEverything"] == NOT_REVIEWED
    accepted = build_catalog(future, previous=catalog, accept=["readEverything"])
    assert "readEverything" in accepted.allowed


def test_the_lists_do_not_overlap() -> None:
    catalog = load_catalog()
    assert not catalog.allowed & set(catalog.denied)
    denied_lower = {name.lower() for name in DENIED_FUNCTIONS}
    # A word the guard treats as syntax before "(" or a type name must never be a denied function.
    assert not {w.lower() for w in STRUCTURAL_WORDS} & denied_lower
    # The one type named like a denied (internal) function: a Nested(...) cast is refused.
    assert {t for t in catalog.data_types if t.lower() in denied_lower} == {"Nested"}
    assert {"file", "sleep", "hostName", "getSetting", "url", "s3", "remote"} <= DENIED_FUNCTIONS
    assert {"count", "uniqExact", "toStartOfMonth", "arrayMap", "if"} <= ALLOWED_FUNCTIONS


def test_every_denied_name_exists_in_the_engine(rows: EngineRows) -> None:
    names = {str(f["name"]) for f in rows.functions}
    assert set(DENIED_NAMES) <= names


@pytest.mark.parametrize(
    "call",
    [
        "sumIf(number, 1)",
        "uniqExactIf(number, 1)",
        "avgOrNullIf(number, 1)",
        "sumArray([number])",
        "groupArrayResample(0, 10, 2)(number, number)",
        "countDistinctIf(number, 1)",
        "quantilesTimingArrayIf(0.5)([number], 1)",
        "SUM(number)",
        "Count()",
    ],
)
def test_aggregate_combinators_are_allowed_and_run(call: str, chdb_executor: ChDBExecutor) -> None:
    sql = f"SELECT {call} FROM numbers(10)"
    assert SQLGuard().check(sql) == sql
    assert chdb_executor.execute(sql).row_count == 1


@pytest.mark.parametrize("call", ["fileIf('x', 1)", "sleepState(1)", "hostNameArray([1])"])
def test_combinators_do_not_launder_other_functions(call: str) -> None:
    with pytest.raises(UnsafeSQLError):
        SQLGuard().check(f"SELECT {call}")
