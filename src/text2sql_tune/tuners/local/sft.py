"""The LoRA training loop of the local tuner: accelerate for devices and processes, peft for LoRA.

One call of :func:`train_job` trains (or resumes) one job folder to its end:

- examples are the model's own chat template around the answering prompt, with the loss on the
  answer tokens only (the prompt's labels are ``-100``), and logits computed only there
  (:mod:`~text2sql_tune.tuners.local.loss`);
- the data order of every epoch is a permutation seeded by ``seed + epoch``, grouped by length
  or packed (:mod:`~text2sql_tune.tuners.local.batches`), so a resumed run sees exactly the
  batches an uninterrupted one would have;
- a checkpoint (adapter weights, optimizer, scheduler, RNG states, the step) is written every
  ``save_steps`` steps to a temporary folder and renamed into place, so a kill at any moment
  leaves the previous checkpoint intact; a new call resumes from the newest one;
- ``accelerate`` places the model, mixes precision (bf16 autocast on GPUs and on CPUs with bf16
  in hardware) and shards batches across processes (``accelerate launch``); only the main
  process writes files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import random
import resource
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import DataError, MissingExtraError, TuningError
from ...records import TuningStatus
from .batches import EpochOrder, Example, collate
from .job import LocalFinetuneArgs, LocalJobRecord, LossPoint
from .loss import IGNORE, causal_lm_loss
from .runtime import (
    ChatFormat,
    import_local,
    import_peft,
    load_base_model,
    load_tokenizer,
    release_free_memory,
    resolve_device,
    resolve_dtype,
    set_training_threads,
)

__all__ = ["CANCEL_FILE", "TrainingProgress", "latest_checkpoint", "train_job"]

logger = logging.getLogger("text2sql_tune")

CANCEL_FILE = "cancel"
_CHECKPOINTS = "checkpoints"
_RECORD_EVERY_S = 10.0


@dataclass(frozen=True)
class TrainingProgress:
    """One progress report of a training run (for progress bars).

    Attributes:
        job_id: The job.
        phase: ``loading``, ``training``, ``checkpoint``, ``recall`` or ``done``.
        step: Optimizer steps done.
        max_steps: Optimizer steps planned.
        loss: The latest logged mean training loss.
        learning_rate: The current learning rate.
        epoch: Fractional epochs done.
        tokens_per_s: Training throughput since this run (re)started (prompt and answer).
        trained_tokens_per_s: Of those, the answer tokens (the ones that carry the loss).
        elapsed_s: Seconds this run has trained.
        eta_s: Seconds left at this run's pace (``None`` before the first step).
    """

    job_id: str
    phase: str
    step: int
    max_steps: int
    loss: float | None = None
    learning_rate: float = 0.0
    epoch: float = 0.0
    tokens_per_s: float = 0.0
    trained_tokens_per_s: float = 0.0
    elapsed_s: float = 0.0
    eta_s: float | None = None


ProgressCallback = Callable[[TrainingProgress], None]
RecallCheck = Callable[[Any, Any, LocalJobRecord, list[tuple[str, str]]], None]


def latest_checkpoint(job_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a job, or ``None``."""
    folder = job_dir / _CHECKPOINTS
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if (p / "state.json").is_file()]
    return max(done, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def _lr_factor(args: LocalFinetuneArgs, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if args.warmup_steps and step < args.warmup_steps:
            return (step + 1) / (args.warmup_steps + 1)
        progress = (step - args.warmup_steps) / max(1, total - args.warmup_steps)
        if args.lr_scheduler == "linear":
            return max(0.0, 1.0 - progress)
        if args.lr_scheduler == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor


def _encode(
    fmt: ChatFormat, pairs: Sequence[tuple[str, str]], max_length: int
) -> tuple[list[Example], list[int]]:
    """The examples that fit ``max_length``, and the index of the pair each one came from."""
    examples, kept = [], []
    for index, (question, sql) in enumerate(pairs):
        ids, labels = fmt.encode(question, sql)
        if len(ids) <= max_length:
            examples.append((ids, labels))
            kept.append(index)
    return examples, kept


def _peak_memory(torch: Any, device: Any) -> int:
    if getattr(device, "type", "") == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _rng_state(torch: Any) -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(torch: Any, state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _Run:
    """One (re)started training run of a job; holds the live objects."""

    def __init__(
        self,
        record: LocalJobRecord,
        args: LocalFinetuneArgs,
        on_progress: ProgressCallback | None,
        stop: threading.Event,
    ) -> None:
        self.record = record
        self.args = args
        self.on_progress = on_progress
        self.stop = stop
        self.torch, self.transformers = import_local()
        self.peft = import_peft()
        try:
            import accelerate
        except ImportError as exc:
            raise MissingExtraError("accelerate", "local") from exc
        self.accelerate = accelerate

    def report(self, phase: str, **fields: Any) -> None:
        if self.on_progress is not None and self.accelerator.is_main_process:
            self.on_progress(
                TrainingProgress(
                    job_id=self.record.job_id,
                    phase=phase,
                    step=self.record.step,
                    max_steps=self.record.max_steps,
                    **fields,
                )
            )

    def setup(
        self, train: Sequence[tuple[str, str]], validation: Sequence[tuple[str, str]], device: str
    ) -> None:
        args, record, torch = self.args, self.record, self.torch
        kind = resolve_device(device)
        dtype = resolve_dtype(args.precision, kind)
        mixed = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "no")
        if kind == "mps" or (kind == "cpu" and mixed == "fp16"):
            mixed = "no"  # no fp16 autocast there: the weights alone are in the dtype
        if kind == "cpu":
            record.threads = set_training_threads(args.threads)
        # The accelerator's state is one per process and refuses a second mixed precision: a
        # process that trains jobs of different precisions starts each from a fresh state (the
        # distributed part, set up by ``accelerate launch``, is kept).
        self.accelerate.state.AcceleratorState._reset_state()
        self.accelerator = self.accelerate.Accelerator(
            cpu=kind == "cpu",
            mixed_precision=mixed,
            gradient_accumulation_steps=args.gradient_accumulation_steps,
        )
        self.report("loading")
        self.accelerate.utils.set_seed(args.seed)
        self.tokenizer = load_tokenizer(record.base_model)
        fmt = ChatFormat(self.tokenizer, record.system_prompt)
        self.pairs = list(train)
        self.examples, self.kept = _encode(fmt, train, args.max_length)
        self.validation, _ = _encode(fmt, validation, args.max_length)
        skipped = len(train) - len(self.examples)
        if not self.examples:
            raise DataError(
                f"every training pair is longer than max_length={args.max_length} tokens; "
                "raise max_length"
            )
        record.examples, record.skipped_too_long = len(self.examples), skipped
        record.validation_examples = len(self.validation)
        if skipped:
            logger.warning("%d pairs longer than %d tokens skipped", skipped, args.max_length)

        model = load_base_model(
            record.base_model,
            dtype=dtype,
            device=str(self.accelerator.device),
            quantization=args.quantization,
        )
        model.config.use_cache = False
        if args.quantization:
            model = self.peft.prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=args.gradient_checkpointing
            )
        elif args.gradient_checkpointing:
            # transformers 5 renamed it; older releases only have the first name.
            enable = getattr(model, "activation_checkpointing_enable", None)
            (enable or model.gradient_checkpointing_enable)()
            model.enable_input_require_grads()
        lora = self.peft.LoraConfig(
            r=args.r,
            lora_alpha=args.alpha,
            lora_dropout=args.lora_dropout,
            target_modules=args.target_modules,
            bias="none",
            task_type="CAUSAL_LM",
        )
        model = self.peft.get_peft_model(model, lora)
        trainable = [p for p in model.parameters() if p.requires_grad]
        record.trainable_parameters = sum(p.numel() for p in trainable)
        record.total_parameters = sum(p.numel() for p in model.parameters())
        record.device, record.precision = kind, str(dtype).removeprefix("torch.")
        record.world_size = self.accelerator.num_processes

        optimizer = torch.optim.AdamW(
            trainable, lr=args.learning_rate, weight_decay=args.weight_decay
        )
        self.order = EpochOrder(
            [len(ids) for ids, _ in self.examples],
            args.seed,
            batch_size=args.batch_size,
            group_by_length=args.group_by_length,
        )
        loader = torch.utils.data.DataLoader(
            self.examples,
            batch_size=args.batch_size,
            sampler=self.order,
            collate_fn=collate(self.tokenizer.pad_token_id, packing=args.packing),
            # Each new iterator draws a seed from this generator; from the global one it would
            # shift the dropout masks of a resumed run away from an uninterrupted one.
            generator=torch.Generator().manual_seed(args.seed),
        )
        micro = math.ceil(len(self.examples) / (args.batch_size * self.accelerator.num_processes))
        self.steps_per_epoch = math.ceil(micro / args.gradient_accumulation_steps)
        record.max_steps = args.max_steps or math.ceil(args.epochs * self.steps_per_epoch)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _lr_factor(args, record.max_steps)
        )
        checkpoint = latest_checkpoint(record.folder)
        if checkpoint is not None:
            self._load_checkpoint(checkpoint, model, optimizer)
        self.model, self.optimizer, self.loader = self.accelerator.prepare(model, optimizer, loader)

    def _load_checkpoint(self, checkpoint: Path, model: Any, optimizer: Any) -> None:
        from safetensors.torch import load_file

        torch, record = self.torch, self.record
        weights = load_file(str(checkpoint / "adapter" / "adapter_model.safetensors"))
        result = self.peft.set_peft_model_state_dict(model, weights)
        if getattr(result, "unexpected_keys", None):
            raise TuningError(
                f"{checkpoint} does not fit this model (unexpected {result.unexpected_keys[:3]})",
                record.job_id,
            )
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
        self.scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
        state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
        rng = torch.load(checkpoint / "rng.pt", weights_only=False)
        _restore_rng(torch, rng)
        record.step = int(state["step"])
        record.losses = [p for p in record.losses if p.step <= record.step]
        record.validation_losses = [p for p in record.validation_losses if p.step <= record.step]
        record.tokens_seen = int(state.get("tokens_seen", record.tokens_seen))
        record.trained_tokens_seen = int(state.get("trained_tokens_seen", 0))
        record.resumed += 1
        logger.info("resuming %s from %s (step %d)", record.job_id, checkpoint, record.step)

    def save_checkpoint(self) -> None:
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            record, torch = self.record, self.torch
            root = record.folder / _CHECKPOINTS
            final = root / f"checkpoint-{record.step:06d}"
            tmp = root / f".tmp-{final.name}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            self.accelerator.unwrap_model(self.model).save_pretrained(tmp / "adapter")
            torch.save(self.optimizer.optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            torch.save(_rng_state(torch), tmp / "rng.pt")
            state = {
                "step": record.step,
                "tokens_seen": record.tokens_seen,
                "trained_tokens_seen": record.trained_tokens_seen,
            }
            (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            record.last_checkpoint = str(final)
            kept = sorted(root.glob("checkpoint-*"), key=lambda p: p.name)
            for old in kept[: -self.args.save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
            if self.validation:
                loss = self.validation_loss()
                record.validation_losses.append(LossPoint(step=record.step, loss=loss))
            record.save()
            self.report("checkpoint", loss=record.losses[-1].loss if record.losses else None)
        self.accelerator.wait_for_everyone()

    def validation_loss(self) -> float:
        torch = self.torch
        model = self.accelerator.unwrap_model(self.model)
        pad = collate(self.tokenizer.pad_token_id)
        total, count = 0.0, 0
        model.eval()
        with torch.no_grad(), self.accelerator.autocast():
            for start in range(0, len(self.validation), self.args.batch_size):
                batch = pad(self.validation[start : start + self.args.batch_size])
                batch = {k: v.to(self.accelerator.device) for k, v in batch.items()}
                loss = causal_lm_loss(model, batch, answer_only=self.args.answer_logits_only)
                total += float(loss) * len(batch["input_ids"])
                count += len(batch["input_ids"])
        model.train()
        return total / max(1, count)

    def trained_pairs(self) -> list[tuple[str, str]]:
        """The training pairs the steps done so far have seen (all of them after an epoch)."""
        args, world = self.args, self.accelerator.num_processes
        seen = self.record.step * args.gradient_accumulation_steps * args.batch_size * world
        if seen >= len(self.examples):
            indices = list(range(len(self.examples)))
        else:
            first = EpochOrder(
                self.order.lengths,
                args.seed,
                batch_size=args.batch_size,
                group_by_length=args.group_by_length,
            )
            indices = sorted(first.order()[:seen])
        return [self.pairs[self.kept[i]] for i in indices]

    def stop_reason(self) -> str | None:
        if self.stop.is_set():
            return "interrupted"
        if (self.record.folder / CANCEL_FILE).exists():
            return "cancelled"
        return None

    def loop(self) -> str:
        """Train until ``max_steps``, the target loss, a stop request or a cancel; say which."""
        args, record, torch, accelerator = self.args, self.record, self.torch, self.accelerator
        self.model.train()
        started = time.monotonic()
        first_step = record.step
        run_tokens, run_trained, window_loss, window_steps = 0, 0, 0.0, 0
        last_saved = time.monotonic()
        epoch, done_in_epoch = divmod(record.step, self.steps_per_epoch)
        micro_loss = torch.zeros((), device=accelerator.device)
        micro_count = 0
        self.report("training")
        while record.step < record.max_steps:
            self.order.epoch = epoch
            skip = done_in_epoch * args.gradient_accumulation_steps
            batches = accelerator.skip_first_batches(self.loader, skip) if skip else self.loader
            for batch in batches:
                with accelerator.accumulate(self.model):
                    loss = causal_lm_loss(self.model, batch, answer_only=args.answer_logits_only)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and args.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(self.model.parameters(), args.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad()
                micro_loss += loss.detach()
                micro_count += 1
                ids, mask = batch["input_ids"], batch.get("attention_mask")
                every = mask.sum() if mask is not None else ids.new_tensor(ids.numel())
                counts = torch.stack([every, (batch["labels"] != IGNORE).sum()])
                tokens, trained = accelerator.gather(counts).view(-1, 2).sum(0).tolist()
                run_tokens += int(tokens)
                run_trained += int(trained)
                if not accelerator.sync_gradients:
                    continue
                if accelerator.device.type == "cpu":
                    release_free_memory()
                self.scheduler.step()
                record.step += 1
                step_loss = float(accelerator.gather(micro_loss / micro_count).mean())
                micro_loss.zero_()
                micro_count = 0
                window_loss += step_loss
                window_steps += 1
                elapsed = time.monotonic() - started
                fraction = epoch + min(1.0, (done_in_epoch + 1) / self.steps_per_epoch)
                done_in_epoch += 1
                learning_rate = float(self.scheduler.get_last_lr()[0])
                if record.step % args.logging_steps == 0 or record.step >= record.max_steps:
                    mean = window_loss / window_steps
                    record.losses.append(
                        LossPoint(
                            step=record.step,
                            loss=mean,
                            learning_rate=learning_rate,
                            epoch=round(fraction, 4),
                            tokens=record.tokens_seen + run_tokens,
                        )
                    )
                    window_loss, window_steps = 0.0, 0
                    pace = elapsed / max(1, record.step - first_step)
                    self.report(
                        "training",
                        loss=mean,
                        learning_rate=learning_rate,
                        epoch=fraction,
                        tokens_per_s=run_tokens / elapsed if elapsed > 0 else 0.0,
                        trained_tokens_per_s=run_trained / elapsed if elapsed > 0 else 0.0,
                        elapsed_s=elapsed,
                        eta_s=pace * (record.max_steps - record.step),
                    )
                    if args.target_loss is not None and mean <= args.target_loss:
                        self._end_run(run_tokens, run_trained, started)
                        return "target_loss"
                finished = record.step >= record.max_steps
                reason = None if finished else self.stop_reason()
                if (args.save_steps and record.step % args.save_steps == 0) or reason:
                    self._end_run(run_tokens, run_trained, started)
                    run_tokens, run_trained, started = 0, 0, time.monotonic()
                    first_step = record.step
                    if not finished:  # the final adapter is saved by finish()
                        self.save_checkpoint()
                    last_saved = time.monotonic()
                elif time.monotonic() - last_saved > _RECORD_EVERY_S:
                    if accelerator.is_main_process:
                        record.save()
                    last_saved = time.monotonic()
                if reason:
                    return reason
                if finished:
                    break
            epoch, done_in_epoch = epoch + 1, 0
        self._end_run(run_tokens, run_trained, started)
        return "max_steps"

    def _end_run(self, run_tokens: int, run_trained: int, started: float) -> None:
        self.record.tokens_seen += run_tokens
        self.record.trained_tokens_seen += run_trained
        self.record.wall_time_s += time.monotonic() - started
        self.record.peak_memory_bytes = _peak_memory(self.torch, self.accelerator.device)

    def finish(self) -> Any:
        """Save the final adapter (main process); return the model for the recall check."""
        self.accelerator.wait_for_everyone()
        model = self.accelerator.unwrap_model(self.model)
        if self.accelerator.is_main_process:
            adapter = self.record.folder / "adapter"
            tmp = self.record.folder / f".tmp-adapter-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            shutil.rmtree(adapter, ignore_errors=True)
            os.replace(tmp, adapter)
            self.record.adapter_path = str(adapter)
        return model


def train_job(
    record: LocalJobRecord,
    args: LocalFinetuneArgs,
    train: Sequence[tuple[str, str]],
    validation: Sequence[tuple[str, str]] = (),
    *,
    device: str = "auto",
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    recall_check: RecallCheck | None = None,
) -> LocalJobRecord:
    """Train (or resume) a job in its folder until it ends; the record is updated and saved.

    Args:
        record: The job record (its folder exists; the caller holds its lock).
        args: The finetune arguments.
        train: ``(question, sql)`` training pairs.
        validation: Held-out pairs whose loss is recorded at each checkpoint.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        on_progress: Called with progress reports (main process only).
        stop: When set, training stops at the next step boundary after a checkpoint (an
            interrupted job resumes from there).
        recall_check: Called with ``(model, tokenizer, record, pairs)`` after training to fill
            ``record.recall``; ``pairs`` are the training pairs the run actually trained on.

    Returns:
        The record in its final state (``completed``, ``cancelled``, or still ``running`` with
        phase ``interrupted`` after a stop request).
    """
    run = _Run(record, args, on_progress, stop or threading.Event())
    record.status, record.phase, record.message = TuningStatus.RUNNING, "training", None
    run.setup(train, validation, device)
    if run.accelerator.is_main_process:
        record.save()
    # Under autocast the adapter's float32 weights meet bf16 activations in a bf16 matmul
    # anyway; peft's cast of every adapter input to float32 would only add a float32 copy of
    # the activations per adapted layer (memory and time). Inference after training casts again.
    mixed = run.accelerator.mixed_precision != "no"
    with run.peft.helpers.disable_input_dtype_casting(run.model, active=mixed):
        reason = run.loop()
    main = run.accelerator.is_main_process
    if reason == "interrupted":
        record.phase = "interrupted"
        record.message = (
            f"stopped at step {record.step} of {record.max_steps}; tune again with the same "
            "data and settings (or 'tune wait JOB') to resume"
        )
    elif reason == "cancelled":
        record.status, record.phase = TuningStatus.CANCELLED, "cancelled"
        record.message = f"cancelled at step {record.step}"
        record.finished_at = dt.datetime.now(dt.timezone.utc)
    else:
        model = run.finish()
        if recall_check is not None and main and args.recall_pairs:
            record.phase = "recall"
            record.save()
            run.report("recall")
            recall_check(model, run.tokenizer, record, run.trained_pairs())
        record.status, record.phase = TuningStatus.COMPLETED, "completed"
        reached = "the target loss" if reason == "target_loss" else "max_steps"
        record.message = f"finished at step {record.step} ({reached})"
        record.finished_at = dt.datetime.now(dt.timezone.utc)
        run.report("done", loss=record.losses[-1].loss if record.losses else None)
    if main:
        record.save()
    with contextlib.suppress(Exception):
        run.accelerator.end_training()
    return record
