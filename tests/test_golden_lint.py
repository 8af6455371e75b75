"""Golden-set lint on the demo database, in Python and on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_tune import EvalCase, GoldenSetError, LLMJudge, OpenAIChatClient, lint_golden
from text2sql_tune.cli import app, exit_code_for
from text2sql_tune.evaluate.golden_lint import Severity, alint_golden, judge_row_limit
from text2sql_tune.evaluate.judges import CascadeJudge, ExecutionMatchJudge, MatchRules
from text2sql_tune.executors import ChDBExecutor

runner = CliRunner()

SESSIONS = "ecommerce.sessions"
CLEAN = [
    EvalCase(question="How many users are there?", sql="SELECT count() FROM ecommerce.users"),
    EvalCase(
        question="Sessions per OS, most first?",
        sql=f"SELECT os, count() AS n FROM {SESSIONS} GROUP BY os ORDER BY n DESC, os",
    ),
    EvalCase(
        question="The two browsers with the most sessions?",
        sql=f"SELECT browser, count() AS n FROM {SESSIONS} GROUP BY browser "
        "ORDER BY n DESC LIMIT 2",
    ),
]


def _checks(
    cases: list[EvalCase], executor: ChDBExecutor, **options: object
) -> set[tuple[int, str]]:
    found = lint_golden(cases, executor, **options)  # type: ignore[arg-type]
    return {(f.case, f.check) for f in found.findings}


def test_a_clean_golden_set_has_no_findings(demo_executor: ChDBExecutor) -> None:
    report = lint_golden(CLEAN, demo_executor)
    assert report.findings == [] and report.ok
    assert report.summary() == "3 cases: 0 errors, 0 warnings, 0 notes"
    report.raise_for_errors()  # nothing to raise


def test_failing_refused_empty_and_too_big_references(demo_executor: ChDBExecutor) -> None:
    cases = [
        EvalCase(question="Typo", sql="SELECT count(usr_id) FROM ecommerce.users"),
        EvalCase(question="Reads a file", sql="SELECT * FROM file('/etc/passwd')"),
        EvalCase(question="Nobody", sql="SELECT user_id FROM ecommerce.users WHERE age > 200"),
        EvalCase(question="Every user", sql="SELECT user_id FROM ecommerce.users"),
    ]
    report = lint_golden(cases, demo_executor, max_rows=100)
    by_case = {f.case: f for f in report.findings}
    assert by_case[1].check == "reference_failed" and by_case[1].severity is Severity.ERROR
    assert "fails" in by_case[1].message and "usr_id" in by_case[1].message
    assert "refused by the safety guard" in by_case[2].message
    assert (by_case[3].check, by_case[3].severity) == ("empty_result", Severity.WARNING)
    assert by_case[4].check == "too_many_rows" and "more than the 100" in by_case[4].message
    assert all(f.hint for f in report.findings)
    assert [f.case for f in report.errors] == [1, 2, 4]
    with pytest.raises(GoldenSetError, match="case\\(s\\) 1, 2, 4") as raised:
        report.raise_for_errors()
    assert exit_code_for(raised.value) == 7
    assert len(raised.value.findings) == 3


def test_ties_at_the_limit_boundary(demo_executor: ChDBExecutor) -> None:
    cases = [
        # Every activity flag group ties on the constant sort key: LIMIT 1 picks one at random.
        EvalCase(
            question="Tied on a constant",
            sql="SELECT is_active, 1 AS k FROM ecommerce.users GROUP BY is_active "
            "ORDER BY k LIMIT 1",
        ),
        # The same with a positional ORDER BY and an OFFSET.
        EvalCase(
            question="Positional",
            sql="SELECT is_active, 1 AS k FROM ecommerce.users GROUP BY is_active "
            "ORDER BY 2 LIMIT 1 OFFSET 0",
        ),
        # Sorting by an expression that is not a result column: countries tie on it.
        EvalCase(
            question="Hidden key",
            sql="SELECT country FROM ecommerce.users GROUP BY country ORDER BY min(0) LIMIT 2",
        ),
        # A tie-breaker makes the boundary deterministic; WITH TIES asks for the tied rows.
        EvalCase(
            question="With a tie-breaker",
            sql="SELECT is_active, 1 AS k FROM ecommerce.users GROUP BY is_active "
            "ORDER BY k, is_active LIMIT 1",
        ),
        EvalCase(
            question="With ties",
            sql="SELECT is_active, 1 AS k FROM ecommerce.users GROUP BY is_active "
            "ORDER BY k LIMIT 1 WITH TIES",
        ),
        EvalCase(question="No order", sql="SELECT user_id FROM ecommerce.users LIMIT 3"),
    ]
    checks = _checks(cases, demo_executor)
    assert checks == {
        (1, "order_tie"),
        (2, "order_tie"),
        (3, "order_tie"),
        (6, "limit_without_order"),
    }
    tie = next(f for f in lint_golden(cases[:1], demo_executor).findings)
    assert "row 1 and row 2 tie on the ORDER BY keys (1)" in tie.message
    assert "tie-breaker" in tie.hint


def test_approximate_and_arbitrary_functions(demo_executor: ChDBExecutor) -> None:
    cases = [
        EvalCase(
            question="Median duration per OS",
            sql=f"SELECT os, median(session_duration) FROM {SESSIONS} GROUP BY os",
        ),
        EvalCase(
            question="Distinct users", sql=f"SELECT uniqIf(user_id, revenue > 0) FROM {SESSIONS}"
        ),
        EvalCase(
            question="Some age per country",
            sql="SELECT country, any(age) FROM ecommerce.users GROUP BY country",
        ),
        EvalCase(question="Exact", sql=f"SELECT medianExact(session_duration) FROM {SESSIONS}"),
    ]
    report = lint_golden(cases, demo_executor)
    assert {(f.case, f.check) for f in report.findings} >= {
        (1, "approximate_function"),
        (2, "approximate_function"),
        (3, "arbitrary_function"),
    }
    assert not any(f.case == 4 for f in report.findings)
    assert "uniqIf" in next(f.message for f in report.findings if f.case == 2)
    assert "calls any" in next(f.message for f in report.findings if f.case == 3)
    assert report.ok  # warnings only


def test_duplicate_questions_exact_and_normalised(demo_executor: ChDBExecutor) -> None:
    users = "SELECT count() FROM ecommerce.users"
    cases = [
        EvalCase(question="How many users are there?", sql=users),
        EvalCase(question="How many users are there?", sql=users),
        EvalCase(question="  how many USERS are there ", sql=users + " WHERE is_active = 1"),
        EvalCase(question="Count the users", sql=users),
    ]
    findings = lint_golden(cases, demo_executor, rerun=False).findings
    assert [(f.case, f.check, f.severity.value) for f in findings] == [
        (2, "duplicate_question", "error"),
        (3, "duplicate_question", "error"),
        (4, "duplicate_sql", "info"),
    ]
    assert findings[0].message == "the same question as case 1, exactly"
    assert "after normalisation" in findings[1].message
    assert "with a different reference SQL" in findings[1].message


async def test_async_twin_and_judge_row_limits(demo_executor: ChDBExecutor) -> None:
    report = await alint_golden(CLEAN, demo_executor, max_rows=2)
    assert [(f.case, f.check) for f in report.findings] == [(2, "too_many_rows")]
    assert report.judge_max_rows == 2
    assert judge_row_limit(None) == MatchRules().max_rows
    assert judge_row_limit(ExecutionMatchJudge(rules=MatchRules(max_rows=7))) == 7
    llm = LLMJudge(client=OpenAIChatClient("m", base_url="http://127.0.0.1:9/v1"), max_rows=20)
    assert judge_row_limit(llm) == 20
    assert judge_row_limit(CascadeJudge([ExecutionMatchJudge(), llm])) == MatchRules().max_rows


def _golden(tmp_path: Path, cases: list[EvalCase]) -> Path:
    path = tmp_path / "golden.jsonl"
    path.write_text("".join(c.model_dump_json() + "\n" for c in cases), encoding="utf-8")
    return path


def test_lint_golden_command(tmp_path: Path, demo_db_url: str) -> None:
    clean = runner.invoke(
        app, ["lint-golden", "-g", str(_golden(tmp_path, CLEAN)), "-d", demo_db_url]
    )
    assert clean.exit_code == 0, clean.output
    assert "golden set OK: 3 cases: 0 errors" in clean.output

    bad = [*CLEAN, EvalCase(question="Typo", sql="SELECT nope FROM ecommerce.users")]
    args = ["lint-golden", "-g", str(_golden(tmp_path, bad)), "-d", demo_db_url]
    shown = runner.invoke(app, args)
    assert isinstance(shown.exception, GoldenSetError)
    assert exit_code_for(shown.exception) == 7
    assert "reference_failed" in shown.stdout

    as_json = runner.invoke(app, [*args, "--json", "--max-rows", "2"])
    data = json.loads(as_json.stdout)
    assert (data["cases"], data["errors"], data["judge_max_rows"]) == (4, 2, 2)
    assert [(f["case"], f["check"]) for f in data["findings"]] == [
        (2, "too_many_rows"),
        (4, "reference_failed"),
    ]
    assert isinstance(as_json.exception, GoldenSetError)


def test_an_engine_failure_is_a_failed_reference_and_the_others_go_on() -> None:
    from text2sql_tune import FunctionExecutor, QueryResult

    def run(sql: str) -> QueryResult:
        if "broken_engine" in sql:
            raise RuntimeError("the connection dropped")
        return QueryResult(sql=sql, columns=["n"], rows=[[1]])

    cases = [
        EvalCase(question="Breaks the engine", sql="SELECT count() AS broken_engine FROM t"),
        EvalCase(question="Fine", sql="SELECT count() FROM t"),
    ]
    report = lint_golden(cases, FunctionExecutor(run))
    assert [(f.case, f.check, f.severity) for f in report.findings] == [
        (1, "reference_failed", Severity.ERROR)
    ]
    assert "the connection dropped" in report.findings[0].message


def test_a_case_the_lint_cannot_read_does_not_stop_the_others() -> None:
    from text2sql_tune import FunctionExecutor, QueryResult
    from text2sql_tune.records import ExecutionOutcome

    class BrokenOnOne(FunctionExecutor):
        async def atry_execute(
            self, sql: str, *, min_rows: int = 1, max_rows: int | None = None
        ) -> ExecutionOutcome:
            if "broken_lint" in sql:
                raise RuntimeError("a bug below the lint")
            return await super().atry_execute(sql, min_rows=min_rows, max_rows=max_rows)

    executor = BrokenOnOne(lambda sql: QueryResult(sql=sql, columns=["n"], rows=[[1]]))
    cases = [
        EvalCase(question="Breaks the lint", sql="SELECT count() AS broken_lint FROM t"),
        EvalCase(question="Fine", sql="SELECT count() FROM t"),
    ]
    report = lint_golden(cases, executor)
    assert [(f.case, f.check, f.severity) for f in report.findings] == [
        (1, "lint_failed", Severity.WARNING)
    ]
    assert "RuntimeError: a bug below the lint" in report.findings[0].message
