"""Local LoRA tuning for real, on a tiny random Llama built here (no download): training,
checkpoints, a resume after a real kill, a stop request, the memory recipe's recall, generation,
export, and the CLI / pipeline paths."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

from typer.testing import CliRunner  # noqa: E402

from conftest import LOCAL_SYSTEM  # noqa: E402
from text2sql_tune import QAPair, read_pairs  # noqa: E402
from text2sql_tune.cli import app  # noqa: E402
from text2sql_tune.demo import demo_schema, load_golden_set  # noqa: E402
from text2sql_tune.errors import ConfigurationError, ResourceBusyError  # noqa: E402
from text2sql_tune.models import LocalModel, model_from_spec  # noqa: E402
from text2sql_tune.prompts import answering_system_prompt, llama3_prompt  # noqa: E402
from text2sql_tune.records import TuningStatus  # noqa: E402
from text2sql_tune.tuners import LocalLoRATuner, training_recall  # noqa: E402
from text2sql_tune.tuners.local.job import JobLock, read_job_record  # noqa: E402
from text2sql_tune.tuners.local.runtime import ChatFormat, load_tokenizer  # noqa: E402

DATA = Path(__file__).parent / "data"
SYSTEM = LOCAL_SYSTEM
PAIRS = read_pairs(DATA / "local_pairs.jsonl")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
# Small, fast settings: the tiny model sees 20 short examples per step.
FAST = {"batch_size": 20, "learning_rate": 3e-3, "save_steps": 0, "logging_steps": 5}


def tuner_for(tiny: Path, out: Path, **options: Any) -> LocalLoRATuner:
    options.setdefault("device", "cpu")
    return LocalLoRATuner(SYSTEM, base_model=tiny, output_dir=out, **options)


def test_the_chat_template_is_the_models_own_and_the_loss_is_on_the_answer(tiny: Path) -> None:
    tokenizer = load_tokenizer(tiny)
    fmt = ChatFormat(tokenizer, SYSTEM)
    question, sql = PAIRS[0].question, PAIRS[0].sql
    assert fmt.prompt(question) == llama3_prompt(question, SYSTEM)
    ids, labels = fmt.encode(question, sql)
    answer = [token for token, label in zip(ids, labels, strict=True) if label != -100]
    prompt = ids[: len(ids) - len(answer)]
    assert tokenizer.decode(prompt) == llama3_prompt(question, SYSTEM)
    assert tokenizer.decode(answer) == sql + "<|eot_id|>"
    assert labels[: len(prompt)] == [-100] * len(prompt)
    assert tokenizer.convert_tokens_to_ids("<|eot_id|>") in fmt.stop_token_ids()


def test_memory_recipe_recalls_the_training_sql(tiny: Path, tmp_path: Path) -> None:
    tuner = tuner_for(
        tiny, tmp_path / "runs", recipe="memory", finetune_args={**FAST, "epochs": 150}
    )
    started = time.monotonic()
    job = tuner.start(PAIRS)
    assert job.status is TuningStatus.COMPLETED, job.message
    record = read_job_record(tmp_path / "runs" / job.job_id)
    assert record.recall is not None
    assert record.recall.total == len(PAIRS)
    assert record.recall.exact_rate >= 0.9, record.recall.misses
    # Trained to the recipe's target: stopped early, near-zero loss, a falling curve.
    assert record.losses[-1].loss <= 0.01 < record.losses[0].loss
    assert record.step < record.max_steps and "target loss" in (record.message or "")
    assert record.args["r"] == 64 and record.recipe == "memory"
    # The job file has what the issue asks for.
    assert record.base_model == str(tiny)
    assert (Path(record.adapter_path or "") / "adapter_config.json").is_file()
    assert len(record.data_hash) == 16 and record.wall_time_s > 0 and record.tokens_seen > 0
    assert job.raw["losses"][0]["step"] == FAST["logging_steps"]

    # The same data and settings are the same job: it is returned, not trained again.
    before = (tmp_path / "runs" / job.job_id / "job.json").read_text(encoding="utf-8")
    again = tuner.start(PAIRS)
    assert again.job_id == job.job_id and again.status is TuningStatus.COMPLETED
    assert (tmp_path / "runs" / job.job_id / "job.json").read_text(encoding="utf-8") == before
    assert time.monotonic() - started < 120

    # The tuned model, asked through the Text2SQLModel interface, batching concurrent questions.
    model = tuner.model_for(job, batch_size=8)
    recall = training_recall(model, PAIRS)
    assert recall.exact_rate >= 0.9
    assert model.training is not None and model.training["recall"]["total"] == len(PAIRS)
    prediction = model.predict(PAIRS[0].question)
    assert prediction.sql == PAIRS[0].sql
    assert prediction.usage is not None and prediction.usage.completion_tokens > 0


def test_an_untrained_model_recalls_nothing(tiny: Path) -> None:
    model = LocalModel(tiny, SYSTEM, device="cpu", max_new_tokens=24)
    recall = training_recall(model, PAIRS[:4])
    assert recall.exact == 0 and len(recall.misses) == 4


_KILLED_RUN = """
import os, signal, sys, torch
torch.set_num_threads(1)
from text2sql_tune import read_pairs
from text2sql_tune.tuners import LocalLoRATuner

def progress(update):
    if update.phase == "training" and update.step >= 6:
        os.kill(os.getpid(), signal.SIGKILL)  # a real kill: no cleanup, no final save

tuner = LocalLoRATuner(sys.argv[1], base_model=sys.argv[2], output_dir=sys.argv[3],
                       finetune_args=eval(sys.argv[4]), device="cpu", on_progress=progress)
tuner.start(read_pairs(sys.argv[5]))
"""

RESUMABLE = {"max_steps": 12, "batch_size": 4, "save_steps": 4, "logging_steps": 1}


def test_a_killed_run_resumes_from_its_checkpoint_exactly(tiny: Path, tmp_path: Path) -> None:
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLED_RUN,
            SYSTEM,
            str(tiny),
            str(tmp_path / "killed"),
            repr(RESUMABLE),
            str(DATA / "local_pairs.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "RANK": "0"},
        check=False,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    tuner = tuner_for(tiny, tmp_path / "killed", finetune_args=RESUMABLE)
    job_id = tuner.job_id(PAIRS)
    status = tuner.status(job_id)
    assert status.status is TuningStatus.RUNNING and status.provider_status == "interrupted"
    assert [p.name for p in (tmp_path / "killed" / job_id / "checkpoints").iterdir()] == [
        "checkpoint-000004"
    ]

    resumed = tuner.start(PAIRS)
    assert resumed.status is TuningStatus.COMPLETED
    reference = tuner_for(tiny, tmp_path / "straight", finetune_args=RESUMABLE).start(PAIRS)
    assert reference.job_id == resumed.job_id
    assert resumed.raw["resumed"] == 1 and reference.raw["resumed"] == 0
    steps = [p["step"] for p in resumed.raw["losses"]]
    assert steps == list(range(1, 13))
    # Same data order, optimizer state, scheduler and dropout RNG: the same curve and weights.
    for a, b in zip(resumed.raw["losses"], reference.raw["losses"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
    from safetensors.torch import load_file

    mine = load_file(str(Path(resumed.model_name or "") / "adapter_model.safetensors"))
    theirs = load_file(str(Path(reference.model_name or "") / "adapter_model.safetensors"))
    assert mine.keys() == theirs.keys()
    for key, tensor in mine.items():
        assert torch.allclose(tensor, theirs[key], atol=1e-5), key


async def test_a_cancelled_start_stops_at_a_step_then_resumes(tiny: Path, tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    reached = asyncio.Event()

    def progress(update: Any) -> None:
        if update.phase == "training" and update.step >= 3:
            loop.call_soon_threadsafe(reached.set)

    args = {"max_steps": 25, "batch_size": 4, "save_steps": 0, "logging_steps": 1}
    tuner = tuner_for(tiny, tmp_path, finetune_args=args, on_progress=progress)
    task = asyncio.create_task(tuner.astart(PAIRS))
    await asyncio.wait_for(reached.wait(), 120)
    task.cancel()  # what Ctrl-C does to a sync start()
    with pytest.raises(asyncio.CancelledError):
        await task
    folder = tmp_path / tuner.job_id(PAIRS)
    deadline = time.monotonic() + 60
    while JobLock(folder).held_elsewhere() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    record = tuner.record(str(folder))
    assert record.phase == "interrupted" and 3 <= record.step < 25
    assert record.last_checkpoint and record.last_checkpoint.endswith(f"{record.step:06d}")

    tuner.on_progress = None
    done = await tuner.await_until_done(str(folder))
    assert done.status is TuningStatus.COMPLETED and done.raw["step"] == 25
    assert done.raw["resumed"] == 1


def test_a_job_another_process_trains_is_not_touched(tiny: Path, tmp_path: Path) -> None:
    tuner = tuner_for(tiny, tmp_path, finetune_args={"max_steps": 2})
    job = tuner.start(PAIRS[:4])
    folder = tmp_path / job.job_id
    record = read_job_record(folder)
    record.status = TuningStatus.RUNNING
    record.save()
    other = JobLock(folder)
    other.acquire()  # another trainer holds the folder
    try:
        assert tuner.status(job.job_id).provider_status == "completed"
        assert tuner.start(PAIRS[:4]).status is TuningStatus.RUNNING
        with pytest.raises(ResourceBusyError, match="another process"):
            JobLock(folder).acquire()
        cancelled = tuner.cancel(job.job_id)
        assert "cancel requested" in (cancelled.message or "")
        assert (folder / "cancel").exists()
    finally:
        other.release()
    assert tuner.cancel(job.job_id).status is TuningStatus.CANCELLED


def test_export_merged_and_adapter_and_load_every_kind_of_path(tiny: Path, tmp_path: Path) -> None:
    tuner = tuner_for(tiny, tmp_path / "runs", finetune_args={**FAST, "max_steps": 5})
    job = tuner.start(PAIRS)
    # float32: merged weights equal base + adapter exactly only without bf16 rounding.
    exact = {"device": "cpu", "precision": "fp32"}
    tuned = tuner.model_for(job, precision="fp32")
    expected = [a.text for a in tuned.generate([p.question for p in PAIRS[:3]])]

    merged = tuned.export(tmp_path / "merged")
    weights = json.loads((merged / "config.json").read_text())
    assert weights["architectures"] == ["LlamaForCausalLM"]
    assert not (merged / "adapter_config.json").exists()
    adapter = tuned.export(tmp_path / "adapter", merge=False)
    assert (adapter / "adapter_config.json").is_file()

    for source in (
        LocalModel.from_path(merged, SYSTEM, **exact),
        LocalModel.from_path(adapter, SYSTEM, **exact),
        LocalModel.from_path(tmp_path / "runs" / job.job_id, **exact),
        model_from_spec(
            f"local:{tmp_path / 'runs' / job.job_id}", demo_schema(), model_options=exact
        ),
    ):
        assert isinstance(source, LocalModel)
        answers = [a.text for a in source.generate([p.question for p in PAIRS[:3]])]
        assert answers == expected, source.name
    # A job is asked with the prompt it was trained with, whatever schema the caller has.
    assert LocalModel.from_path(tmp_path / "runs" / job.job_id).system_prompt == SYSTEM


def test_cli_tune_status_evaluate_and_export(tiny: Path, tmp_path: Path, demo_db_url: str) -> None:
    runner = CliRunner()
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text((DATA / "local_pairs.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    job_file = tmp_path / "job.json"
    tuned = runner.invoke(
        app,
        [
            *("tune", "--tuner", "local", "--base-model", str(tiny), "--data", str(pairs)),
            *("--output-dir", str(tmp_path / "runs"), "--max-steps", "3", "--device", "cpu"),
            *("--arg", "batch_size=8", "--job-file", str(job_file), "--json"),
        ],
    )
    assert tuned.exit_code == 0, tuned.output
    saved = json.loads(job_file.read_text(encoding="utf-8"))
    assert saved["provider"] == "local" and saved["status"] == "completed"
    assert saved["raw"]["args"]["batch_size"] == 8 and saved["raw"]["step"] == 3
    assert saved["system_prompt"] == answering_system_prompt(demo_schema())

    status = runner.invoke(app, ["tune", "status", str(job_file), "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["status"] == "completed"
    shown = runner.invoke(app, ["tune", "status", saved["raw"]["job_dir"]])
    assert "local tuning job" in shown.stdout and "3 / 3" in shown.stdout

    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        "".join(json.dumps(c.model_dump()) + "\n" for c in load_golden_set()[:2]), encoding="utf-8"
    )
    report = tmp_path / "report.json"
    evaluated = runner.invoke(
        app,
        [
            *("evaluate", "--golden", str(golden), "--model", f"local:{job_file}"),
            *("--database", demo_db_url, "--output", str(report), "--json"),
            *("--max-new-tokens", "6", "--batch-size", "2", "--precision", "fp32"),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["summary"]["total"] == 2
    assert all((r.get("usage") or {}).get("completion_tokens", 0) <= 6 for r in data["results"])
    assert data["metadata"]["training"]["job_id"] == saved["job_id"]
    assert len(data["metadata"]["training"]["losses"]) == 3

    exported = runner.invoke(
        app, ["tune", "export", str(job_file), "--output", str(tmp_path / "out"), "--json"]
    )
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "out" / "config.json").is_file()

    missing = runner.invoke(app, ["tune", "--tuner", "local", "--data", str(pairs)])
    assert isinstance(missing.exception, ConfigurationError)
    assert "--base-model" in str(missing.exception)


def test_demo_with_the_local_tuner_reports_the_loss_curve(
    tiny: Path, tmp_path: Path, demo_db_url: str
) -> None:
    run_dir = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            *("demo", "--database", demo_db_url, "--n", "10", "--run-dir", str(run_dir)),
            *("--tuner", "local", "--base-model", str(tiny), "--max-steps", "2", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["tuning_job"]["provider"] == "local"
    assert summary["tuning_job"]["status"] == "completed"
    assert summary["evaluation"]["total"] == len(load_golden_set())
    report = json.loads((run_dir / "eval" / "report.json").read_text(encoding="utf-8"))
    assert report["model"].startswith("local:local-")
    assert len(report["metadata"]["training"]["losses"]) == 2
    html = (run_dir / "eval" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Training loss</h2>" in html and "<polyline" in html
    assert (run_dir / "tuning" / summary["tuning_job"]["job_id"] / "adapter").is_dir()


def test_pairs_longer_than_max_length_are_skipped_and_counted(tiny: Path, tmp_path: Path) -> None:
    long = QAPair(question="x " * 400, sql="SELECT 1")
    tuner = tuner_for(tiny, tmp_path, finetune_args={"max_steps": 1, "max_length": 256})
    job = tuner.start([*PAIRS[:3], long])
    assert job.raw["examples"] == 3 and job.raw["skipped_too_long"] == 1


def test_dequantize_without_the_gguf_reader_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from text2sql_tune.errors import MissingExtraError
    from text2sql_tune.models.local_export import dequantize_gguf

    model_file = tmp_path / "model.gguf"
    model_file.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(MissingExtraError, match=r"text2sql-tune\[local\]"):
        dequantize_gguf(model_file, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigurationError, match="no such GGUF file"):
        dequantize_gguf(tmp_path / "missing.gguf", tmp_path / "out")
