"""Honest scores: the test set is scored and never read by anything that shapes training data.

The acceptance test is a canary: a test case with a question and a query nothing else uses. A
two-iteration run with the LLM generator (a fake OpenAI server records every request) and a
targeted next iteration must never send it to the generator nor write it into a training file.
A control run with the canary in dev shows the check would see it if it leaked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_main import Outcome, run_main
from text2sql_tune import (
    FunctionGenerator,
    Pipeline,
    demo_schema,
    load_golden_set,
    load_seed_examples,
)
from text2sql_tune.config import GenerateConfig, RunConfig
from text2sql_tune.errors import HeldOutSetError
from text2sql_tune.executors import ChDBExecutor
from text2sql_tune.models import RetrievalModel
from text2sql_tune.testing import FakeOpenAIServer

CANARY = {
    "id": "canary",
    "question": "Canary7f3a: what is the population standard deviation of session revenue?",
    "sql": "select stddevPop(revenue) as canary7f3a from ecommerce.sessions",
}
MARKS = ("canary7f3a", "stddevpop")  # what reading the canary would leave behind (lower case)

Cli = Callable[[list[str]], Outcome]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``text2sql-tune ARGS`` run in ``tmp_path`` with a (fake) OpenAI key."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.chdir(tmp_path)
    return lambda args: run_main(args, monkeypatch, capsys)


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def golden_files(tmp_path: Path, *, canary_in: str) -> None:
    dev = [c.model_dump(exclude_defaults=True) for c in load_golden_set("dev")]
    test = [c.model_dump(exclude_defaults=True) for c in load_golden_set("test")[:3]]
    (dev if canary_in == "dev" else test).append(CANARY)
    write_jsonl(tmp_path / "dev.jsonl", dev)
    write_jsonl(tmp_path / "test.jsonl", test)


def pipeline_toml(tmp_path: Path, demo_db_url: str, server: FakeOpenAIServer) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f'[run]\ndir = "iter1"\ndatabase = "{demo_db_url}"\n'
        f'[generate]\ngenerator = "openai"\nn = 6\nbase_url = "{server.url}"\n'
        'model = "gpt-4o-mini"\n[next]\nn = 8\n'
        '[evaluate]\ndev = "dev.jsonl"\ntest = "test.jsonl"\nhtml = false\n',
        encoding="utf-8",
    )
    return path


def run_two_iterations(
    tmp_path: Path, demo_db_url: str, cli: Cli, canary_in: str
) -> tuple[str, str]:
    """Both iterations with the LLM generator: (every request body, every training file)."""
    golden_files(tmp_path, canary_in=canary_in)
    with FakeOpenAIServer() as server:
        config = pipeline_toml(tmp_path, demo_db_url, server)
        first = cli(["run", str(config), "--json"])
        assert first.code == 0, first.err
        second = cli(["run", "--next-from", "iter1", "--json"])
        assert second.code == 0, second.err
        requests = "\n".join(r.raw.decode("utf-8") for r in server.requests)
        targeted = sum("must teach it" in r.raw.decode("utf-8") for r in server.requests)
    assert targeted > 0  # the second iteration did ask for targeted pairs
    training = ""
    for run in (tmp_path / "iter1", tmp_path / "iter2"):
        for name in ("raw.jsonl", "validated.jsonl", "clean.jsonl", "analysis.json"):
            if (run / name).exists():
                training += (run / name).read_text(encoding="utf-8")
        for export in (run / "export").glob("*.jsonl"):
            training += export.read_text(encoding="utf-8")
    return requests.lower(), training.lower()


def test_a_test_canary_never_reaches_the_generator_or_the_training_files(
    tmp_path: Path, demo_db_url: str, cli: Cli
) -> None:
    requests, training = run_two_iterations(tmp_path, demo_db_url, cli, "test")
    for mark in MARKS:
        assert mark not in requests
        assert mark not in training
    # ... and yet it is scored, in the test report
    test_report = json.loads((tmp_path / "iter2" / "eval" / "test" / "report.json").read_text())
    assert CANARY["question"] in [r["question"] for r in test_report["results"]]
    split = json.loads((tmp_path / "iter2" / "golden_split.json").read_text())
    assert (split["method"], split["dev_cases"], split["test_cases"]) == ("files", 10, 4)
    assert split["test_hash"].startswith("sha256:")


def test_control_the_same_canary_in_dev_is_read_by_the_targeting(
    tmp_path: Path, demo_db_url: str, cli: Cli
) -> None:
    requests, _ = run_two_iterations(tmp_path, demo_db_url, cli, "dev")
    assert "stddevpop" in requests  # the analysis of dev targets its function: the check sees it


def test_seed_examples_holding_a_test_case_are_refused_before_any_call(
    tmp_path: Path, demo_db_url: str, cli: Cli
) -> None:
    golden_files(tmp_path, canary_in="test")
    examples = [p.model_dump(include={"question", "sql"}) for p in load_seed_examples()[:5]]
    seeds = write_jsonl(tmp_path / "seeds.jsonl", [*examples, CANARY])
    with FakeOpenAIServer() as server:
        config = pipeline_toml(tmp_path, demo_db_url, server)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("[next]", f'seed_examples = "{seeds}"\n[next]'))
        outcome = cli(["run", str(config)])
        assert server.requests == []
    assert outcome.code == 7
    assert "the seed examples" in outcome.error_line and "Canary7f3a" in outcome.error_line
    assert not (tmp_path / "iter1" / "raw.jsonl").exists()


def test_a_next_iteration_refuses_to_target_its_parents_test_cases(
    tmp_path: Path, demo_db_url: str, cli: Cli
) -> None:
    golden_files(tmp_path, canary_in="test")
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[run]\ndir = "iter1"\ndatabase = "{demo_db_url}"\n[generate]\nn = 20\n'
        '[evaluate]\ndev = "dev.jsonl"\ntest = "test.jsonl"\nhtml = false\n',
        encoding="utf-8",
    )
    assert cli(["run", str(config), "--json"]).code == 0
    # The next iteration is given the test file as its dev set: its analysis would read it.
    outcome = cli(["run", "--next-from", "iter1", "--dev", "test.jsonl", "--test", "dev.jsonl"])
    assert outcome.code == 7
    assert "next iteration" in outcome.error_line and "test-set case" in outcome.error_line
    assert not (tmp_path / "iter2" / "analysis.json").exists()
    # analyze refuses the run's test cases too; its dev set is the default
    analyze = cli(["analyze", "--run", "iter1", "--golden", "test.jsonl", "--json"])
    assert analyze.code == 7 and "analyze" in analyze.error_line
    fine = cli(["analyze", "--run", "iter1", "--json"])
    assert fine.code == 0 and json.loads(fine.out)["summary"]["golden_cases"] == 10


def test_the_error_is_an_evaluation_error() -> None:
    from text2sql_tune.errors import EvaluationError

    assert issubclass(HeldOutSetError, EvaluationError)


def test_the_test_set_stays_out_of_training_even_with_another_eval_set(
    tmp_path: Path, demo_executor: ChDBExecutor
) -> None:
    test_case = load_golden_set("test")[1]  # t02: select sum(revenue) as revenue from ...
    respelled = test_case.sql.replace(" as revenue", " AS total_revenue")
    dev = load_golden_set("dev")
    pipeline = Pipeline(
        demo_executor,
        demo_schema(),
        run=RunConfig(dir=tmp_path / "run"),
        generate=GenerateConfig(n=1),
        generator=FunctionGenerator(lambda _: ("What did October 2024 bring in?", respelled)),
        leakage_cases=dev[:2],  # as [clean] eval_set would: the test set is added all the same
        eval_cases=dev,
        test_cases=[test_case],
        model=Pipeline.fixed_model(RetrievalModel(load_seed_examples())),
    )
    result = pipeline.run()
    assert result.filter_report is not None
    assert result.filter_report.by_reason.get("leaks_eval_sql_equivalent") == 1
    assert result.test_report is not None and result.test_report.summary.total == 1


def test_a_pipeline_continuing_a_run_refuses_its_test_cases_before_writing(
    tmp_path: Path, demo_executor: ChDBExecutor
) -> None:
    dev, test = load_golden_set("dev"), load_golden_set("test")[:2]
    retrieval = Pipeline.fixed_model(RetrievalModel(load_seed_examples()))
    parent = Pipeline(
        demo_executor,
        demo_schema(),
        run=RunConfig(dir=tmp_path / "iter1"),
        seed_pairs=load_seed_examples(),
        eval_cases=dev,
        test_cases=test,
        model=retrieval,
    ).run()
    assert parent.golden is not None and parent.golden.test_cases == 2
    child = Pipeline(
        demo_executor,
        demo_schema(),
        run=RunConfig(dir=tmp_path / "iter2", parent=tmp_path / "iter1"),
        eval_cases=[*dev, test[0]],  # the parent's test case, now read as dev
        model=retrieval,
    )
    with pytest.raises(HeldOutSetError, match="the dev set of this iteration"):
        child.run()
    assert not (tmp_path / "iter2" / "iteration.json").exists()
