"""The pipeline end to end on chDB: every step's files, the filter report, resuming, settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from text2sql_tune import (
    EvalCase,
    ExecutionMatchJudge,
    FunctionGenerator,
    FunctionTuner,
    Pipeline,
    QAPair,
    TuningError,
    TuningJob,
    TuningStatus,
    demo_schema,
    read_pairs,
)
from text2sql_tune.config import (
    CleanConfig,
    EvaluateConfig,
    ExportConfig,
    GenerateConfig,
    PipelineConfig,
    RunConfig,
)
from text2sql_tune.executors import ChDBExecutor
from text2sql_tune.models.retrieval import RetrievalModel

GOLDEN = [
    EvalCase(
        question="How many customers are there in each country?",
        sql="select country, count() as customers from ecommerce.users group by country",
    ),
    EvalCase(
        question="What is the average age of active customers?",
        sql="select avg(age) from ecommerce.users where is_active = 1",
    ),
]

# (question, sql) the fake generator returns in order; None means the LLM answer was unusable.
ANSWERS: list[tuple[str, str] | None] = [
    ("How many users are there?", "select count() from ecommerce.users"),
    ("How many users are there?", "select count(*) from ecommerce.users where 1 = 1"),
    None,
    ("List every session id", "select session_id from ecommerce.sessions"),  # too many rows
    ("Which users are older than 200?", "select user_id from ecommerce.users where age > 200"),
    (  # a golden question: must not reach the training data
        "How many customers are there in each country?",
        "select country, uniqExact(user_id) from ecommerce.users group by country",
    ),
    ("What is the average age of users?", "select avg(age) from ecommerce.users"),
    ("How many users per country?", "select country, count() from ecommerce.users group by 1"),
    ("Number of sessions by OS", "select os, count() from ecommerce.sessions group by os"),
    ("Show the broken query", "select nope from ecommerce.users"),
]


class Killed(BaseException):
    """Stands for the process being killed mid-run (not an error a generator would record)."""


class CountingGenerator(FunctionGenerator):
    """A fake LLM generator that counts its (paid) calls and can stop mid-run."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__(self._answer, name="fake-llm")
        self.calls = 0
        self.fail_at = fail_at
        self.offset = 0

    def resume_after(self, records: int) -> None:
        self.offset = records

    def _answer(self, index: int) -> QAPair | tuple[str, str]:
        position = self.offset + index
        if self.fail_at is not None and position >= self.fail_at:
            raise Killed
        self.calls += 1
        answer = ANSWERS[position % len(ANSWERS)]
        if answer is None:
            return QAPair(rejected="the answer had no SQL")
        return answer


def make_pipeline(
    run_dir: Path,
    executor: ChDBExecutor,
    *,
    n: int = len(ANSWERS),
    max_rows: int = 100,
    **components: Any,
) -> Pipeline:
    parts: dict[str, Any] = {
        "generator": CountingGenerator(),
        "eval_cases": GOLDEN,
        "model": lambda kept, _job: RetrievalModel(kept),
        **components,
    }
    return Pipeline(
        executor,
        demo_schema(),
        run=RunConfig(dir=run_dir),
        generate=GenerateConfig(n=n),
        clean=CleanConfig(max_rows=max_rows),
        evaluate=EvaluateConfig(html=False),
        **parts,
    )


def test_a_run_writes_every_step_and_cleans_the_article_cases(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    events: list[str] = []
    pipeline = make_pipeline(tmp_path, demo_executor, on_event=lambda e: events.append(e.step))
    result = pipeline.run()

    assert result.generated == 10 and result.rejected == 1
    kept = read_pairs(tmp_path / "clean.jsonl")
    questions = [p.question for p in kept]
    # One answer per duplicate question; too many rows, no rows, broken SQL and a golden question
    # are gone; the rest stays.
    assert questions.count("How many users are there?") == 1
    assert "List every session id" not in questions
    assert "Which users are older than 200?" not in questions
    assert "Show the broken query" not in questions
    assert "How many customers are there in each country?" not in questions
    assert "Number of sessions by OS" in questions
    assert result.kept == len(kept)
    assert all(p.validation is not None and p.validation.status.value == "ok" for p in kept)

    dropped = [json.loads(line) for line in (tmp_path / "dropped.jsonl").read_text().splitlines()]
    assert len(dropped) == result.generated - result.kept
    report = json.loads((tmp_path / "filter_report.json").read_text())
    assert report["kept_count"] == result.kept

    lamini = (tmp_path / "export" / "lamini.jsonl").read_text().splitlines()
    openai = (tmp_path / "export" / "openai.jsonl").read_text().splitlines()
    assert len(lamini) == len(openai) == result.kept
    assert json.loads(lamini[0])["input"].startswith("<|begin_of_text|>")

    assert result.report is not None and result.report.summary.total == len(GOLDEN)
    assert result.report.summary.valid == len(GOLDEN)  # retrieval answers with validated SQL
    saved = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert saved["summary"]["total"] == len(GOLDEN)
    # The run's report shows, per case, the kept pairs the retrieval answer came from.
    markdown = (tmp_path / "eval" / "report.md").read_text()
    assert markdown.count("Nearest training pairs by question:") == len(GOLDEN)
    assert "(the model answered with this SQL)" in markdown
    assert {"generate", "validate", "clean", "export", "evaluate"} <= set(events)


def test_a_stopped_generation_resumes_without_paying_twice(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    first = CountingGenerator(fail_at=4)
    with pytest.raises(Killed):
        make_pipeline(tmp_path, demo_executor, generator=first).run()
    assert first.calls == 4
    assert len((tmp_path / "raw.jsonl").read_text().splitlines()) == 4

    second = CountingGenerator()
    result = make_pipeline(tmp_path, demo_executor, generator=second).run()
    assert second.calls == len(ANSWERS) - 4  # only what was missing
    assert result.generated == len(ANSWERS)
    raw = read_pairs(tmp_path / "raw.jsonl")
    assert [p.question for p in raw if p.ok] == [a[0] for a in ANSWERS if a is not None]


class SpyExecutor(ChDBExecutor):
    """Counts the queries that reach the engine."""

    queries = 0

    async def _aexecute_checked(self, sql: str):  # type: ignore[no-untyped-def]
        type(self).queries += 1
        return await super()._aexecute_checked(sql)


def test_a_finished_run_is_not_redone_but_changed_settings_are(
    chdb_path: Path, demo_db_url: str, tmp_path: Path
) -> None:
    spy = SpyExecutor(chdb_path)
    make_pipeline(tmp_path, spy, model=None).run()
    assert SpyExecutor.queries > 0

    SpyExecutor.queries = 0
    again = make_pipeline(tmp_path, spy, model=None).run()
    assert SpyExecutor.queries == 0  # validation is up to date, nothing runs again
    assert again.kept > 0

    more = make_pipeline(tmp_path, spy, model=None, n=len(ANSWERS) + 4).run()
    assert more.generated == len(ANSWERS) + 4
    # The four new pairs repeat queries validated before with the same bounds: none runs again.
    assert SpyExecutor.queries == 0
    assert len(read_pairs(tmp_path / "validated.jsonl")) == len(ANSWERS) + 4

    stricter = make_pipeline(tmp_path, spy, model=None, max_rows=1).run()
    assert SpyExecutor.queries > 0  # new bounds: validated again
    kept = read_pairs(tmp_path / "clean.jsonl")
    assert stricter.kept == len(kept)
    assert all((p.validation.row_count or 0) <= 1 for p in kept if p.validation)
    assert "Number of sessions by OS" not in {p.question for p in kept}  # 3 rows > max_rows=1


def test_a_tuning_job_is_started_once_and_followed_afterwards(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    started: list[int] = []
    polls: list[str] = []

    def start(train: list[QAPair], validation: list[QAPair] | None) -> TuningJob:
        started.append(len(train))
        return TuningJob(job_id="job-1", provider="fake", status=TuningStatus.QUEUED)

    def status(job_id: str) -> TuningJob:
        polls.append(job_id)
        return TuningJob(
            job_id=job_id, provider="fake", status=TuningStatus.COMPLETED, model_name="tuned-1"
        )

    tuned_answers = {c.question: c.sql for c in GOLDEN}

    def model(kept: object, job: TuningJob | None) -> object:
        if job is None or job.status is not TuningStatus.COMPLETED:
            return None
        from text2sql_tune import FunctionModel

        return FunctionModel(lambda q: tuned_answers[q], name=job.model_name or "")

    tuner = FunctionTuner(start, status)
    first = make_pipeline(tmp_path, demo_executor, tuner=tuner, model=model).run()
    assert first.tuning_job is not None and first.tuning_job.status is TuningStatus.COMPLETED
    saved = json.loads((tmp_path / "tuning_job.json").read_text())
    assert saved["job_id"] == "job-1" and saved["status"] == "completed"
    assert first.report is not None and first.report.summary.correct == len(GOLDEN)

    make_pipeline(tmp_path, demo_executor, tuner=tuner, model=model).run()
    assert len(started) == 1  # never started twice
    assert started[0] == first.kept


def test_a_resumed_run_does_not_ask_the_model_again(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    from text2sql_tune import FunctionModel

    asked: list[str] = []

    def answer(question: str) -> str:
        asked.append(question)  # stands for a paid LLM call
        return "select count() from ecommerce.users"

    def model(kept: object, job: object) -> FunctionModel:
        return FunctionModel(answer, name="paid-model")

    first = make_pipeline(tmp_path, demo_executor, model=model).run()
    assert len(asked) == len(GOLDEN)
    again = make_pipeline(tmp_path, demo_executor, model=model).run()
    assert len(asked) == len(GOLDEN)  # the saved report is reused
    assert again.report is not None and first.report is not None
    assert again.report.summary == first.report.summary
    assert set(again.report_files) == {"json", "markdown"}

    renamed = lambda kept, job: FunctionModel(answer, name="another-model")  # noqa: E731
    make_pipeline(tmp_path, demo_executor, model=renamed).run()
    assert len(asked) == 2 * len(GOLDEN)  # a different model is evaluated


def test_user_filters_and_judge_plug_in(demo_executor: ChDBExecutor, tmp_path: Path) -> None:
    from text2sql_tune import FunctionFilter

    only_sessions = FunctionFilter(lambda p: "sessions" in p.sql or "no_sessions", name="topic")
    result = make_pipeline(
        tmp_path,
        demo_executor,
        filters=[only_sessions],
        judge=ExecutionMatchJudge(demo_executor),
    ).run()
    kept = read_pairs(tmp_path / "clean.jsonl")
    assert kept and all("sessions" in p.sql for p in kept)
    assert result.filter_report is not None
    report = json.loads((tmp_path / "filter_report.json").read_text())
    assert "no_sessions" in json.dumps(report)


def test_evaluation_is_skipped_until_the_tuned_model_exists(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    tuner = FunctionTuner(
        lambda train, validation: TuningJob(job_id="j", provider="f", status=TuningStatus.RUNNING),
        lambda job_id: TuningJob(job_id=job_id, provider="f", status=TuningStatus.RUNNING),
    )
    events: list[str] = []
    result = make_pipeline(
        tmp_path,
        demo_executor,
        tuner=tuner,
        model=lambda kept, job: None,
        on_event=lambda e: events.append(e.message),
    ).run()
    assert result.report is None
    assert not (tmp_path / "eval").exists()
    assert any("no model to evaluate" in m for m in events)


def test_the_clean_section_extends_the_default_chain(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    from text2sql_tune import FunctionFilter, registry

    def short_questions(*, max_words: int = 20, max_rows: int = 0) -> FunctionFilter:
        assert max_rows == 100  # a shared setting the factory names
        return FunctionFilter(lambda p: len(p.question.split()) <= max_words, name="short")

    registry.register("filter", "short", short_questions)
    try:
        clean = CleanConfig(
            filters=["short"],
            without=["near_duplicate"],
            filter_options={"short": {"max_words": 5}},
        )
        no_selects = FunctionFilter(lambda p: "sessions" not in p.sql, name="no_sessions")
        pipeline = make_pipeline(tmp_path, demo_executor, model=None, extra_filters=[no_selects])
        pipeline.config.clean = clean
        result = pipeline.run()
    finally:
        registry.default_registry.unregister("filter", "short")
    assert result.filter_report is not None
    steps = [step.name for step in result.filter_report.steps]
    assert steps[-2:] == ["short", "no_sessions"] and "near_duplicate" not in steps
    kept = read_pairs(tmp_path / "clean.jsonl")
    assert kept and all(len(p.question.split()) <= 5 and "sessions" not in p.sql for p in kept)


def test_from_config_takes_the_sections_and_the_0_1_keywords_still_work(
    demo_executor: ChDBExecutor, tmp_path: Path
) -> None:
    config = PipelineConfig(
        run=RunConfig(dir=tmp_path / "sections", concurrency=2),
        generate=GenerateConfig(n=3),
        export=ExportConfig(formats=["jsonl"]),
        evaluate=EvaluateConfig(html=False),
    )
    pipeline = Pipeline.from_config(
        config, demo_executor, demo_schema(), generator=CountingGenerator()
    )
    result = pipeline.run()
    assert (result.generated, list(result.exports)) == (3, ["jsonl"])
    assert pipeline.config.run.concurrency == 2 and pipeline.run_dir == tmp_path / "sections"

    with pytest.warns(DeprecationWarning, match=r"n -> generate\.n, export_formats"):
        old = Pipeline(  # type: ignore[call-arg]
            run_dir=tmp_path / "keywords",
            executor=demo_executor,
            schema=demo_schema(),
            generator=CountingGenerator(),
            n=3,
            export_formats=("jsonl",),
            html_report=False,
        )
    assert old.config.generate.n == 3 and old.config.export.formats == ("jsonl",)
    assert old.run().generated == 3
    with pytest.warns(DeprecationWarning):  # 0.1's default: no generation without n
        assert (
            Pipeline(
                executor=demo_executor, schema=demo_schema(), run_dir=tmp_path
            ).config.generate.n
            == 0
        )  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword arguments: min_row"):
        Pipeline(demo_executor, demo_schema(), min_row=3)


def test_a_tuner_without_model_for_says_so() -> None:
    tuner = FunctionTuner(lambda train, validation: None, lambda job_id: None)
    job = TuningJob(job_id="j-1", provider="fake", status=TuningStatus.COMPLETED)
    with pytest.raises(TuningError, match="FunctionTuner cannot build the tuned model") as info:
        tuner.model_for(job)
    assert info.value.job_id == "j-1"
