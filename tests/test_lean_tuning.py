"""The lean training step on a tiny random Llama (CPU, seconds): answer-only logits, packing
masks, length grouping, bf16 autocast selection, determinism, recall on the pairs trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch, transformers = (pytest.importorskip(m) for m in ("torch", "transformers"))
pytest.importorskip("peft"), pytest.importorskip("accelerate")

from conftest import LOCAL_PAIRS_FILE  # noqa: E402
from conftest import LOCAL_SYSTEM as SYSTEM  # noqa: E402
from text2sql_tune import FunctionJudge, read_pairs  # noqa: E402
from text2sql_tune.records import TuningStatus  # noqa: E402
from text2sql_tune.tuners import LocalLoRATuner  # noqa: E402
from text2sql_tune.tuners.local import runtime  # noqa: E402
from text2sql_tune.tuners.local.batches import EpochOrder, collate  # noqa: E402
from text2sql_tune.tuners.local.loss import answer_positions, causal_lm_loss  # noqa: E402
from text2sql_tune.tuners.local.runtime import ChatFormat, load_tokenizer  # noqa: E402

PAIRS = read_pairs(LOCAL_PAIRS_FILE)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_and_examples(tiny: Path) -> tuple[Any, list[tuple[list[int], list[int]]], int]:
    tokenizer = load_tokenizer(tiny)
    fmt = ChatFormat(tokenizer, SYSTEM)
    examples = [fmt.encode(p.question, p.sql) for p in PAIRS[:5]]
    model = transformers.AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.float32)
    return model, examples, tokenizer.pad_token_id


def test_answer_only_logits_give_the_full_logits_loss_and_gradients(
    model_and_examples: tuple[Any, list[Any], int],
) -> None:
    model, examples, pad = model_and_examples
    batch = collate(pad)(examples)
    losses, grads = [], []
    for answer_only in (False, True):
        model.zero_grad()
        loss = causal_lm_loss(model, batch, answer_only=answer_only)
        loss.backward()
        losses.append(loss.detach())
        grads.append(model.model.layers[0].self_attn.q_proj.weight.grad.clone())
    assert losses[1] == pytest.approx(float(losses[0]), rel=1e-5)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)
    # Only the answer positions were projected: one logit row per answer token.
    keep, targets = answer_positions(batch["labels"])
    answers = sum(sum(label != -100 for label in labels) for _, labels in examples)
    assert int(keep.sum()) == len(targets) == answers
    assert answers < batch["input_ids"].numel() / 2


def test_packing_keeps_every_example_to_itself(
    model_and_examples: tuple[Any, list[Any], int],
) -> None:
    model, examples, pad = model_and_examples
    packed = collate(pad, packing=True)(examples[:3])
    lengths = [len(ids) for ids, _ in examples[:3]]
    assert packed["input_ids"].shape == (1, sum(lengths)) and "attention_mask" not in packed
    starts = [0, lengths[0], lengths[0] + lengths[1]]
    positions = packed["position_ids"][0].tolist()
    assert [positions[s] for s in starts] == [0, 0, 0]
    assert positions[starts[1] - 1] == lengths[0] - 1
    # No token learns to predict the first token of the next example.
    assert all(packed["labels"][0, s] == -100 for s in starts)
    # transformers reads the restarting position ids as separate sequences (its block mask).
    from transformers.masking_utils import find_packed_sequence_indices

    ids = find_packed_sequence_indices(packed["position_ids"])[0].tolist()
    assert ids == [n for n, length in enumerate(lengths) for _ in range(length)]
    # The mask really isolates them: each example's logits in the pack equal its logits alone.
    with torch.no_grad():
        together = model(
            input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False
        ).logits[0]
        for start, (example_ids, _) in zip(starts, examples[:3], strict=True):
            alone = model(input_ids=torch.tensor([example_ids])).logits[0]
            inside = together[start : start + len(example_ids)]
            assert torch.allclose(inside, alone, atol=1e-4), start
    # And the packed loss is the padded batch's loss.
    padded = collate(pad)(examples[:3])
    with torch.no_grad():
        packed_loss, padded_loss = (float(causal_lm_loss(model, b)) for b in (packed, padded))
    assert packed_loss == pytest.approx(padded_loss, rel=1e-4)


def test_length_grouping_is_a_seeded_permutation_of_similar_lengths() -> None:
    lengths = [10 + (n * 37) % 200 for n in range(100)]
    order = EpochOrder(lengths, seed=3, batch_size=4, group_by_length=True)
    first = order.order()
    assert sorted(first) == list(range(100)) and first == order.order()
    order.epoch = 1
    assert order.order() != first
    plain = EpochOrder(lengths, seed=3, batch_size=4, group_by_length=False).order()

    def padding(indices: list[int]) -> int:
        batches = [indices[i : i + 4] for i in range(0, len(indices), 4)]
        return sum(
            max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches
        )

    assert padding(first) < padding(plain) / 4
    uneven = EpochOrder(list(range(10)), seed=0, batch_size=4, group_by_length=True).order()
    assert sorted(uneven) == list(range(10)) and len({*uneven[-2:]}) == 2


def test_auto_precision_is_bf16_on_cpus_with_bf16_in_hardware(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True}, raising=False)
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "avx512f"})
    assert not runtime.cpu_has_native_bf16()
    assert runtime.resolve_dtype("auto", "cpu") == torch.float32
    monkeypatch.setattr(runtime, "_cpu_flags", lambda: {"avx2", "avx512_bf16", "amx_bf16"})
    assert runtime.cpu_has_native_bf16()
    assert runtime.resolve_dtype("auto", "cpu") == torch.bfloat16
    assert runtime.resolve_dtype("auto", "mps") == torch.float32
    assert runtime.resolve_dtype("fp32", "cpu") == torch.float32
    monkeypatch.setattr(runtime, "_cpu_flags", set)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True}, raising=False)
    assert runtime.cpu_has_native_bf16()
    if capabilities is None:
        monkeypatch.delattr(torch.cpu, "get_capabilities")


@pytest.mark.parametrize("native", [True, False])
def test_training_autocasts_in_bf16_only_where_the_cpu_has_it(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    seen: list[Any] = []
    original = causal_lm_loss

    def spy(model: Any, batch: dict[str, Any], *, answer_only: bool = True) -> Any:
        # The adapter's weights stay float32: its output is bf16 only under bf16 autocast.
        lora = next(m for n, m in model.named_modules() if n.endswith("lora_A.default"))
        hook = lora.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
        try:
            return original(model, batch, answer_only=answer_only)
        finally:
            hook.remove()

    monkeypatch.setattr("text2sql_tune.tuners.local.sft.causal_lm_loss", spy)
    tuner = LocalLoRATuner(
        SYSTEM, base_model=tiny, output_dir=tmp_path, device="cpu",
        finetune_args={"max_steps": 2, "batch_size": 4},
    )  # fmt: skip
    job = tuner.start(PAIRS)
    assert job.raw["precision"] == ("bfloat16" if native else "float32")
    assert seen == [torch.bfloat16 if native else torch.float32] * 2
    assert job.raw["trained_tokens_seen"] < job.raw["tokens_seen"]


def test_packed_training_is_deterministic(tiny: Path, tmp_path: Path) -> None:
    args = {"max_steps": 6, "batch_size": 5, "packing": True, "learning_rate": 3e-3}
    curves = []
    for run in ("a", "b"):
        tuner = LocalLoRATuner(
            SYSTEM, base_model=tiny, output_dir=tmp_path / run, device="cpu", finetune_args=args
        )
        job = tuner.start(PAIRS)
        assert job.status is TuningStatus.COMPLETED
        curves.append([p["loss"] for p in job.raw["losses"]])
    assert curves[0] == curves[1] and len(curves[0]) == 6
    assert curves[0][-1] < curves[0][0]


def test_recall_asks_only_pairs_trained_on_and_judges_results(tiny: Path, tmp_path: Path) -> None:
    def same_table(case: Any) -> bool:  # a stand-in for the execution judge
        return case.predicted_sql.split("from")[-1:] == case.reference_sql.split("from")[-1:]

    tuner = LocalLoRATuner(
        SYSTEM, base_model=tiny, output_dir=tmp_path, device="cpu",
        finetune_args={"max_steps": 2, "batch_size": 3, "recall_pairs": 100, "max_new_tokens": 8},
        recall_judge=FunctionJudge(same_table, name="tables"),
    )  # fmt: skip
    job = tuner.start(PAIRS)
    recall = job.raw["recall"]
    assert recall["total"] == 6  # two steps of three pairs, of 20
    assert recall["judge"] == "tables" and recall["correct"] is not None
    asked = {m["question"] for m in recall["misses"]}
    trained = {p.question for p in PAIRS}
    assert asked <= trained and len(asked) <= 6
    assert all("correct" in m for m in recall["misses"] if m["predicted"])


FAKE_CONVERTER = """
import json, pathlib, sys
args = sys.argv[1:]
out = pathlib.Path(args[args.index("--outfile") + 1])
out.write_bytes(b"GGUF" + json.dumps(args).encode())
"""


def test_tune_logs_lines_outside_a_terminal_and_exports_gguf(tiny: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from text2sql_tune.cli import app
    from text2sql_tune.demo import load_golden_set

    runner = CliRunner()
    job_file = tmp_path / "job.json"
    tuned = runner.invoke(
        app,
        [
            *("tune", "--tuner", "local", "--base-model", str(tiny)),
            *("--data", str(LOCAL_PAIRS_FILE), "--output-dir", str(tmp_path / "runs")),
            *("--max-steps", "3", "--device", "cpu", "--job-file", str(job_file)),
        ],
    )
    assert tuned.exit_code == 0, tuned.output
    lines = [line for line in tuned.output.splitlines() if " training step " in line]
    assert lines and "step 3/3 (100%)" in lines[-1] and "tok/s" in lines[-1]
    assert "ETA" in lines[0] and "loss" in lines[0]

    converter = tmp_path / "convert_hf_to_gguf.py"
    converter.write_text(FAKE_CONVERTER, encoding="utf-8")
    out = tmp_path / "export"
    exported = runner.invoke(
        app,
        [*("tune", "export", str(job_file), "-o", str(out), "--format", "gguf"),
         *("--outtype", "f16", "--converter", str(converter), "--json")],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    result = json.loads(exported.stdout)
    written = Path(result["gguf"]).read_bytes()
    assert written.startswith(b"GGUF") and json.loads(written[4:])[0] == str(out)
    assert (out / "config.json").is_file() and result["gguf"].endswith("model-f16.gguf")
    missing = runner.invoke(
        app,
        ["tune", "export", str(job_file), "-o", str(tmp_path / "plain"), "--format", "gguf"],
        env={"PATH": "/nonexistent", "LLAMA_CPP_DIR": ""},
    )
    assert missing.exit_code == 0, missing.output
    assert "pip download --no-deps --no-binary :all: llama-cpp-python" in missing.stdout
    assert (tmp_path / "plain" / "config.json").is_file()

    golden = tmp_path / "golden.jsonl"
    golden.write_text(json.dumps(load_golden_set()[0].model_dump()) + "\n", encoding="utf-8")
    wrong = runner.invoke(
        app, ["evaluate", "--golden", str(golden), "--model", "retrieval", "--precision", "bf16"]
    )
    assert "--precision apply to --model local:... only" in str(wrong.exception)


def test_gradient_checkpointing_trains_the_same_curve(tiny: Path, tmp_path: Path) -> None:
    curves = []
    for checkpointing in (False, True):
        tuner = LocalLoRATuner(
            SYSTEM, base_model=tiny, output_dir=tmp_path / str(checkpointing), device="cpu",
            finetune_args={"max_steps": 3, "batch_size": 4, "precision": "fp32",
                           "gradient_checkpointing": checkpointing},
        )  # fmt: skip
        curves.append([p["loss"] for p in tuner.start(PAIRS).raw["losses"]])
    assert curves[1] == pytest.approx(curves[0], rel=1e-5)


def test_training_threads_never_exceed_the_cpus_the_process_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(runtime, "available_cpus", lambda: 1)
        assert runtime.set_training_threads() == 1 == torch.get_num_threads()
        assert runtime.set_training_threads(2) == 2
        monkeypatch.setattr(runtime, "available_cpus", lambda: 64)
        assert runtime.set_training_threads() == 2  # torch's own choice is kept
    finally:
        torch.set_num_threads(before)
    assert runtime.available_cpus() >= 1
