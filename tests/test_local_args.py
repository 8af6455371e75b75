"""Local tuning settings, job records, recall counting and the compact prompt: no torch needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from text2sql_tune import FunctionModel, QAPair
from text2sql_tune._sync import run_sync
from text2sql_tune.errors import ConfigurationError, DataError, MissingExtraError
from text2sql_tune.reporting.loss_curve import loss_curve_svg, training_rows
from text2sql_tune.tuners import MEMORY_TUNING_ARGS, LocalFinetuneArgs, LocalLoRATuner
from text2sql_tune.tuners.local.job import read_job_record
from text2sql_tune.tuners.local.recall import recall_summary, sample_pairs
from text2sql_tune.tuners.local.runtime import import_local

PAIRS = [QAPair(question=f"How many users in {c}?", sql=f"SELECT {n}") for n, c in enumerate("ab")]


def test_unknown_or_invalid_arguments_are_named() -> None:
    with pytest.raises(ConfigurationError, match=r"max_step.*known keys: max_steps"):
        LocalFinetuneArgs.parse({"max_step": 10})
    with pytest.raises(ConfigurationError, match="learning_rate"):
        LocalFinetuneArgs.parse({"learning_rate": -1})
    with pytest.raises(ConfigurationError, match="unknown recipe"):
        LocalFinetuneArgs.parse({}, recipe="fast")


def test_lamini_names_and_the_memory_recipe() -> None:
    assert LocalFinetuneArgs.parse({"r_value": 32}).r == 32
    memory = LocalFinetuneArgs.parse({"learning_rate": 1e-3}, recipe="memory")
    assert memory.r == MEMORY_TUNING_ARGS["r"] and memory.lora_dropout == 0.0
    assert memory.target_loss is not None and memory.recall_pairs > 0
    assert memory.learning_rate == 1e-3  # the user's value wins over the recipe


def test_the_job_id_follows_the_data_model_and_settings(tmp_path: Path) -> None:
    def job_id(base: str, pairs: list[QAPair], **args: object) -> str:
        tuner = LocalLoRATuner("SQL.", base_model=base, output_dir=tmp_path, finetune_args=args)
        return tuner.job_id(pairs)

    first = job_id("m", PAIRS)
    assert first == job_id("m", list(PAIRS)) and first.startswith("local-")
    assert first != job_id("other", PAIRS)
    assert first != job_id("m", PAIRS[:1])
    assert first != job_id("m", PAIRS, max_steps=3)


def test_start_refuses_an_empty_dataset(tmp_path: Path) -> None:
    tuner = LocalLoRATuner("SQL.", base_model="m", output_dir=tmp_path)
    rejected = QAPair(question="", sql="", rejected="no SQL in the answer")
    with pytest.raises(DataError, match="no usable training pairs"):
        tuner.start([rejected])
    assert not any(tmp_path.iterdir())


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"text2sql-tune\[local\]"):
        import_local()


def test_reading_a_job_that_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no local tuning job"):
        read_job_record(tmp_path)
    (tmp_path / "job.json").write_text('{"job_id": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="not a local tuning job record"):
        read_job_record(tmp_path)


def test_recall_counts_exact_and_normalised_answers() -> None:
    expected = [("q1", "SELECT count() FROM t"), ("q2", "select a FROM t"), ("q3", "SELECT 1")]
    summary = recall_summary(expected, ["SELECT count() FROM t;", "SELECT a from t", None])
    assert (summary.exact, summary.normalized, summary.total) == (1, 2, 3)
    assert summary.misses == [{"question": "q3", "expected": "SELECT 1", "predicted": ""}]
    with pytest.raises(ValueError):
        recall_summary(expected, [])
    many = [QAPair(question=f"q{i}", sql=f"SELECT {i}") for i in range(10)]
    sample = sample_pairs(many, 4, seed=1)
    assert len(sample) == 4 and sample == sample_pairs(many, 4, seed=1)
    assert [p.question for p in sample] == sorted(
        (p.question for p in sample), key=lambda q: int(q[1:])
    )


def test_the_loss_curve_and_training_rows() -> None:
    svg = loss_curve_svg([[1, 2.0], [2, 1.0], [3, 0.5]])
    assert svg.startswith("<svg") and svg.count(",") >= 3 and "step 3" in svg
    assert loss_curve_svg([]) == ""
    rows = dict(
        training_rows(
            {
                "job_id": "local-x",
                "losses": [[1, 2.0], [3, 0.5]],
                "wall_time_s": 1.5,
                "recall": {
                    **{"exact": 9, "normalized": 10, "total": 10, "exact_rate": 0.9},
                    **{"correct": 10, "correct_rate": 1.0, "judge": "execution"},
                },
            }
        )
    )
    assert rows["Training loss"] == "2.0000 → 0.5000 over 3 steps"
    assert rows["Training recall (exact SQL)"].startswith("9/10 (90.0%)")
    assert rows["Training recall (same result)"] == "10/10 (100.0%), judge: execution"


def test_the_compact_schema_prompt_is_shorter_and_keeps_what_matters() -> None:
    from text2sql_tune.demo import demo_schema
    from text2sql_tune.prompts import answering_system_prompt

    schema = demo_schema()
    full = answering_system_prompt(schema)
    compact = answering_system_prompt(schema, style="compact")
    assert len(compact) < 0.75 * len(full)
    lines = compact.splitlines()
    for table in schema.tables:
        assert any(line.startswith(table.full_name) for line in lines)
        for column in table.columns:
            assert any(line.startswith(f"  {column.name} {column.type}") for line in lines)
    # Example values only where their spelling decides a filter: strings, not numbers or dates.
    assert "'United Kingdom'" in compact and "'Chrome'" in compact
    assert "1000004" not in compact and "2021-01-03" not in compact
    assert compact.endswith("Answer with the SQL query only.")


@pytest.mark.parametrize(
    ("question", "tables"),
    [
        ("What is the average age of active customers per country?", ["users"]),
        ("How many sessions lasted longer than 10 minutes?", ["sessions"]),
        ("Revenue from customers in Germany on Android", ["users", "sessions"]),
        ("How many rows are there?", ["users", "sessions"]),  # unsure: everything
    ],
)
def test_schema_pruning_keeps_the_tables_a_question_names(question: str, tables: list[str]) -> None:
    from text2sql_tune.demo import demo_schema
    from text2sql_tune.prompts import schema_for_question

    assert [t.name for t in schema_for_question(demo_schema(), question).tables] == tables


def test_recall_is_judged_by_results(demo_executor: object) -> None:
    from text2sql_tune.evaluate.judges import ExecutionMatchJudge
    from text2sql_tune.tuners.local.recall import atraining_recall

    pairs = [
        QAPair(question="How many users?", sql="SELECT count() FROM ecommerce.users"),
        QAPair(question="How many sessions?", sql="SELECT count() FROM ecommerce.sessions"),
        QAPair(question="Max age?", sql="SELECT max(age) FROM ecommerce.users"),
    ]
    answers = {
        "How many users?": "SELECT COUNT(*) AS n FROM ecommerce.users",  # same result
        "How many sessions?": "SELECT count() FROM ecommerce.sessions",  # same text
        "Max age?": "SELECT min(age) FROM ecommerce.users",  # wrong
    }
    model = FunctionModel(lambda question: answers[question])
    judge = ExecutionMatchJudge(demo_executor)  # type: ignore[arg-type]
    summary = run_sync(atraining_recall(model, pairs, judge=judge))
    assert (summary.exact, summary.normalized, summary.correct) == (1, 1, 2)
    assert summary.correct_rate == pytest.approx(2 / 3) and summary.judge == "execution"
    assert [m["question"] for m in summary.misses] == ["How many users?", "Max age?"]
    assert [m["correct"] for m in summary.misses] == [True, False]
    plain = run_sync(atraining_recall(model, pairs))
    assert plain.correct is None and plain.judge is None
