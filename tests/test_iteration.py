"""Next iterations: a run that continues another, in Python, from TOML and from the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from text2sql_tune import (
    ChDBExecutor,
    ConfigurationError,
    Pipeline,
    demo_schema,
    load_golden_set,
    load_seed_examples,
    read_pairs,
)
from text2sql_tune.analysis import Analysis, analyze
from text2sql_tune.cli import app
from text2sql_tune.config import EvaluateConfig, GenerateConfig, RunConfig
from text2sql_tune.generators import TemplateQAGenerator
from text2sql_tune.models.retrieval import RetrievalModel
from text2sql_tune.reporting import load_report
from text2sql_tune.run import PipelineEvent
from text2sql_tune.run.iteration import lineage, next_run_dir, read_iteration
from text2sql_tune.sql.normalize import normalize_sql


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(app, args)


def pipeline(
    run_dir: Path,
    executor: ChDBExecutor,
    *,
    parent: Path | None = None,
    n: int = 0,
    **components: Any,
) -> Pipeline:
    parts: dict[str, Any] = {
        "eval_cases": load_golden_set(),
        "model": lambda kept, _job: RetrievalModel(kept),
        **components,
    }
    return Pipeline(
        executor,
        demo_schema(),
        run=RunConfig(dir=run_dir, parent=parent),
        generate=GenerateConfig(n=n),
        evaluate=EvaluateConfig(html=False),
        **parts,
    )


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, demo_executor: ChDBExecutor) -> Path:
    run_dir = tmp_path_factory.mktemp("iterations") / "iter1"
    generator = TemplateQAGenerator(demo_schema(), seed=0)
    pipeline(
        run_dir, demo_executor, generator=generator, n=40, seed_pairs=load_seed_examples()
    ).run()
    return run_dir


def queries_run(events: list[PipelineEvent]) -> int:
    (message,) = [e.message for e in events if e.step == "validate" and "running" in e.message]
    match = re.search(r"running (\d+) queries", message)
    assert match is not None
    return int(match[1])


def test_a_next_iteration_continues_its_parent(
    first_run: Path, demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    golden = load_golden_set()
    parent_kept = read_pairs(first_run / "clean.jsonl")
    parent_report = load_report(first_run / "eval" / "report.json")
    analysis = analyze(golden, parent_kept, report=parent_report)

    def second_iteration(events: list[PipelineEvent]) -> Pipeline:
        return pipeline(
            tmp_path / "iter2",
            demo_executor,
            parent=first_run,
            generator=TemplateQAGenerator(demo_schema(), seed=0).targeted(analysis.targets),
            n=30,
            on_event=events.append,
            iteration_notes={"targets": len(analysis.targets)},
        )

    events: list[PipelineEvent] = []
    result = second_iteration(events).run()
    assert (result.iteration, result.parent, result.parent_pairs) == (
        2,
        first_run,
        len(parent_kept),
    )
    assert result.parent_report is not None
    assert result.parent_report.summary == parent_report.summary
    assert result.generated == 30 and result.seed_pairs == 0
    # the parent's pairs come first and stay; only the new queries run
    kept = read_pairs(tmp_path / "iter2" / "clean.jsonl")
    assert [p.question for p in kept[: len(parent_kept)]] == [p.question for p in parent_kept]
    assert queries_run(events) <= 30
    # the leakage filter runs on the new pairs too
    golden_sql = {normalize_sql(c.sql) for c in golden}
    golden_questions = {c.question.lower() for c in golden}
    assert not {normalize_sql(p.sql) for p in kept} & golden_sql
    assert not {p.question.lower() for p in kept} & golden_questions
    record = read_iteration(tmp_path / "iter2")
    assert record is not None
    assert (record.parent, record.iteration, record.parent_kept) == (
        first_run.resolve(),
        2,
        len(parent_kept),
    )
    assert record.parent_evaluation == parent_report.summary
    assert record.notes == {"targets": len(analysis.targets)}
    assert result.report is not None
    assert result.report.metadata["parent"] == str(first_run.resolve())
    # the targeted pairs cover what the parent lacked
    after = analyze(golden, kept, report=result.report)
    assert after.summary.covered > analysis.summary.covered
    assert after.summary.missing < analysis.summary.missing

    again: list[PipelineEvent] = []
    resumed = second_iteration(again).run()
    assert resumed.kept == result.kept
    messages = [e.message for e in again]
    assert "validation is up to date" in messages
    assert any("evaluation of retrieval is up to date" in m for m in messages)
    second = read_iteration(tmp_path / "iter2")
    assert second is not None and second.created_at == record.created_at

    third = pipeline(tmp_path / "iter3", demo_executor, parent=tmp_path / "iter2").run()
    assert third.iteration == 3 and third.kept == result.kept
    assert lineage(tmp_path / "iter3") == [
        first_run.resolve(),
        tmp_path / "iter2",
        tmp_path / "iter3",
    ]


def test_a_next_iteration_refuses_what_cannot_be_continued(
    first_run: Path, demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="its own run directory"):
        pipeline(first_run, demo_executor, parent=first_run)
    with pytest.raises(ConfigurationError, match=r"no clean\.jsonl"):
        pipeline(tmp_path / "child", demo_executor, parent=tmp_path / "nothing").run()
    pipeline(tmp_path / "child", demo_executor, parent=first_run, eval_cases=()).run()
    other = tmp_path / "other"
    (other).mkdir()
    (other / "clean.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="continues"):
        pipeline(tmp_path / "child", demo_executor, parent=other).run()


def test_next_run_dir_names_a_sibling(tmp_path: Path) -> None:
    assert next_run_dir(tmp_path / "iter1") == tmp_path / "iter2"
    assert next_run_dir(tmp_path / "shop") == tmp_path / "shop-2"
    assert next_run_dir(tmp_path / "shop-9") == tmp_path / "shop-10"
    assert lineage(tmp_path / "shop") == [tmp_path / "shop"]


# -- configuration and command line ---------------------------------------------------------------


def write_first_config(tmp_path: Path, demo_db_url: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f'[run]\ndir = "first"\ndatabase = "{demo_db_url}"\n'
        "[generate]\nn = 30\n[evaluate]\nhtml = false\n",
        encoding="utf-8",
    )
    return path


def test_run_next_from_reuses_the_parent_configuration(tmp_path: Path, demo_db_url: str) -> None:
    config = write_first_config(tmp_path, demo_db_url)
    assert invoke(["run", str(config), "--json"]).exit_code == 0
    first = tmp_path / "first"
    result = invoke(["run", "--next-from", str(first), "--next-n", "20", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    child = tmp_path / "first-2"
    assert summary["run_dir"] == str(child)
    assert (summary["iteration"], summary["generated"]) == (2, 20)
    assert summary["parent_evaluation"]["total"] == len(load_golden_set())
    analysis = Analysis.load(child / "analysis.json")
    assert analysis.summary.training_pairs == len(read_pairs(first / "clean.jsonl"))
    assert analysis.summary.evaluated  # weighted by the parent's report
    saved = json.loads((child / "config.json").read_text(encoding="utf-8"))
    assert saved["run"]["parent"] == str(first.resolve()) and saved["next"]["n"] == 20
    sources = {p.source for p in read_pairs(child / "raw.jsonl")}
    assert sources == {"template:targeted"}
    # running the child's own snapshot resumes it
    again = invoke(["run", str(child / "config.json"), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["kept"] == summary["kept"]


def test_a_toml_next_section_and_run_parent(tmp_path: Path, demo_db_url: str) -> None:
    config = write_first_config(tmp_path, demo_db_url)
    assert invoke(["run", str(config)]).exit_code == 0
    second = tmp_path / "second.toml"
    second.write_text(
        f'[run]\ndir = "second"\nparent = "first"\ndatabase = "{demo_db_url}"\n'
        '[next]\nn = 12\ngenerator = "template"\nmin_examples = 5\nmax_targets = 2\n'
        "[evaluate]\nhtml = false\n",
        encoding="utf-8",
    )
    result = invoke(["run", str(second), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["generated"] == 12
    analysis = Analysis.load(tmp_path / "second" / "analysis.json")
    assert analysis.min_examples == 5 and len(analysis.targets) == 2
    record = read_iteration(tmp_path / "second")
    assert record is not None and record.notes["targets"] == 2
    table = invoke(["run", str(second)])
    assert "continuing" in table.stdout and "before" in table.stdout
    # --next-from with a file: the file's own run directory, unless it is the parent's
    third = tmp_path / "third.toml"
    third.write_text(
        f'[run]\ndir = "third"\ndatabase = "{demo_db_url}"\n[evaluate]\nhtml = false\n',
        encoding="utf-8",
    )
    result = invoke(["run", str(third), "--next-from", str(tmp_path / "first"), "--next-n", "5"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "third" / "iteration.json").exists()
    result = invoke(["run", str(config), "--next-from", str(tmp_path / "first"), "--next-n", "5"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "first-2" / "iteration.json").exists()


def test_run_explains_what_it_needs(tmp_path: Path) -> None:
    result = invoke(["run"])
    assert isinstance(result.exception, ConfigurationError)
    assert "--next-from" in str(result.exception)
    result = invoke(["run", "--next-from", str(tmp_path)])
    assert isinstance(result.exception, ConfigurationError)
    assert "no clean.jsonl" in str(result.exception)
    (tmp_path / "clean.jsonl").write_text("", encoding="utf-8")
    result = invoke(["run", "--next-from", str(tmp_path), "--run-dir", str(tmp_path)])
    assert isinstance(result.exception, ConfigurationError)
    result = invoke(["run", "--next-from", str(tmp_path), "--run-dir", str(tmp_path / "x")])
    assert isinstance(result.exception, ConfigurationError)
    assert "config.json" in str(result.exception)


def test_analyze_command(first_run: Path, tmp_path: Path) -> None:
    result = invoke(
        ["analyze", "--run", str(first_run), "--json", "--output", str(tmp_path / "a.json")]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["evaluated"] and data["summary"]["golden_cases"] == 10
    assert Analysis.load(tmp_path / "a.json").model_dump(mode="json") == data
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        json.dumps(
            {
                "question": "What is the median age?",
                "sql": "select median(age) from ecommerce.users",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    shown = invoke(
        ["analyze", "--golden", str(golden), "--training", str(first_run / "clean.jsonl"),
         "--min-examples", "1000"]
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "Concept coverage" in shown.stdout and "function median" in shown.stdout
    missing = invoke(["analyze", "--golden", str(golden)])
    assert isinstance(missing.exception, ConfigurationError)
    assert "--training" in str(missing.exception)
