"""Local tuning settings, job records and recall counting: no torch needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from text2sql_tune import QAPair
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
                "recall": {"exact": 9, "normalized": 10, "total": 10, "exact_rate": 0.9},
            }
        )
    )
    assert rows["Training loss"] == "2.0000 → 0.5000 over 3 steps"
    assert rows["Training recall (exact SQL)"].startswith("9/10 (90.0%)")
