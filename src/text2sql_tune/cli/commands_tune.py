"""Tuning commands: ``tune`` (start a job), ``tune status``, ``tune wait``, ``tune cancel``.

``tune --tuner lamini --data FILE`` uploads the data, starts a job and writes a small job file
(provider, job id, API URL, system prompt; never the key) so that ``tune status``, ``wait`` and
``cancel`` can be given either the job file or a bare job id (``ftjob-...`` ids are OpenAI's,
others Lamini's unless ``--tuner`` says otherwise).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from .. import registry
from ..errors import ConfigurationError, DataError
from ._app import (
    DatabaseOption,
    JsonOption,
    SchemaFileOption,
    SchemaNotesOption,
    app,
    console,
    name_option,
    print_json,
)

if TYPE_CHECKING:
    from ..interfaces import Tuner
    from ..records import QAPair, TuningJob

__all__ = ["tune_app"]

tune_app = typer.Typer(
    name="tune",
    help="Tune a model on your clean pairs (Lamini, OpenAI, or LoRA on your own hardware) and "
    "follow the job.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(tune_app)

_NOT_NEEDED = "(the system prompt is not needed to follow a job)"


TunerOption = Annotated[
    str | None,
    name_option("tuner", "--tuner", "-t", help="Provider; default: from the job file or job id."),
]
ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        help="Lamini API URL or OpenAI base URL (default: LAMINI_API_URL / OPENAI_BASE_URL, "
        "Lamini's config file, or the public API).",
    ),
]


def _parse_args(values: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--arg expects KEY=VALUE, got {item!r}")
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw
    return args


def _schema(database: str | None, schema_file: Path | None, annotations: Path | None) -> Any:
    from ..schema import DatabaseSchema

    if schema_file is not None:
        schema = DatabaseSchema.from_file(schema_file)
    elif database is not None:
        from ..executors import open_executor

        with open_executor(database) as executor:
            schema = executor.get_schema()
    else:
        from ..demo.database import demo_schema

        schema = demo_schema()
    if annotations is not None:
        schema = schema.annotate_from_file(annotations)
    return schema


def _read_data(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """Read ``--data``: ``("lamini" | "openai" | "pairs", records)`` by the first record's keys."""
    from ..io.records import iter_records

    records = list(iter_records(path))
    if not records:
        raise DataError(f"{path}: no records: nothing to tune on")
    first = records[0]
    if "messages" in first:
        return "openai", records
    if "input" in first or "output" in first:
        return "lamini", records
    return "pairs", records


def _make_tuner(tuner_name: str, system_prompt: str, **settings: Any) -> Tuner:
    """The registry's tuner ``tuner_name``, given ``settings`` as its ``[tune]`` section."""
    from pydantic import ValidationError

    from ..config import PipelineConfig, TuneConfig
    from ..io.validation_errors import describe_validation_error
    from ..run.components import BuildContext, build_tuner

    try:
        section = TuneConfig(tuner=tuner_name, **settings)
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None
    context = BuildContext(PipelineConfig(tune=section), system_prompt=system_prompt)
    tuner = build_tuner(context)
    assert tuner is not None
    return tuner


def _job_dict(job: TuningJob) -> dict[str, Any]:
    return job.model_dump(mode="json", exclude={"raw"})


def _show(job: TuningJob, as_json: bool) -> None:
    if as_json:
        print_json(_job_dict(job))
        return
    if job.provider == "local":
        from .commands_tune_local import local_job_table

        console.print(local_job_table(job))
        return
    table = Table(title=f"{job.provider} tuning job {job.job_id}", show_header=False)
    table.add_row("status", f"{job.status.value} ({job.provider_status})")
    table.add_row("base model", job.base_model or "-")
    table.add_row("tuned model", job.model_name or "-")
    if job.dataset_id:
        table.add_row("dataset", job.dataset_id)
    if job.message:
        table.add_row("message", job.message)
    console.print(table)


def _write_job_file(path: Path, job: TuningJob, api_url: str, system_prompt: str) -> None:
    from ..io.files import atomic_write_json

    data = {**_job_dict(job), "api_url": api_url, "system_prompt": system_prompt}
    atomic_write_json(path, data)


def _resolve_job(
    job: str, tuner: str | None, api_url: str | None
) -> tuple[str, str, str | None, str]:
    """``(job_id, provider, api_url, system_prompt)`` from a job file or a bare id."""
    path = Path(job)
    if job.endswith(".json") or path.is_file():
        if not path.is_file():
            raise DataError(f"{path}: no such job file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            job_id = str(data["job_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not a job file written by 'text2sql-tune tune'") from exc
        kind = tuner or registry.check("tuner", str(data.get("provider", "lamini")))
        return (
            job_id,
            kind,
            api_url or data.get("api_url"),
            data.get("system_prompt") or _NOT_NEEDED,
        )
    kind = tuner or ("openai" if job.startswith("ftjob-") else "lamini")
    return job, kind, api_url, _NOT_NEEDED


def _tuner_for(job: str, tuner: str | None, api_url: str | None) -> tuple[str, Tuner]:
    from .commands_tune_local import is_local_job, tuner_for_local_job

    if tuner == "local" or is_local_job(Path(job)):
        return tuner_for_local_job(Path(job))
    job_id, kind, url, system_prompt = _resolve_job(job, tuner, api_url)
    return job_id, _make_tuner(kind, system_prompt, api_url=url)


@tune_app.callback()
def tune(
    ctx: typer.Context,
    tuner: Annotated[
        str,
        name_option(
            "tuner",
            "--tuner",
            "-t",
            help="Where to tune (a plugin's tuner gets --base-model, --max-steps, "
            "--learning-rate and --arg).",
        ),
    ] = "lamini",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Clean pairs (JSONL/JSON/TSV/CSV; formatted here with the answering prompt) or "
            "a file already exported for the tuner (Lamini input/output or OpenAI messages), "
            "uploaded as is.",
        ),
    ] = None,
    base_model: Annotated[
        str | None,
        typer.Option(
            "--base-model",
            help="Model to tune (default meta-llama/Meta-Llama-3.1-8B-Instruct on Lamini, "
            "gpt-4o-mini-2024-07-18 on OpenAI). Local: a model folder (or hub id), required.",
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", help="Lamini / local: training steps (Lamini default 50)."),
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(
            "--learning-rate", help="Lamini / local: learning rate (Lamini default 1e-4)."
        ),
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            help="Lamini / local: extra finetune_args as KEY=VALUE (JSON values), e.g. "
            "--arg r_value=32 --arg index_k=2 for Memory Tuning, --arg batch_size=8 locally. "
            "Repeatable.",
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="OpenAI: n_epochs; local: epochs.")
    ] = None,
    lr_multiplier: Annotated[
        float | None,
        typer.Option("--lr-multiplier", help="OpenAI: learning_rate_multiplier."),
    ] = None,
    validation: Annotated[
        Path | None,
        typer.Option(
            "--validation", help="OpenAI: validation pairs or chat records; local: pairs."
        ),
    ] = None,
    output_dir: Annotated[
        Path,
        typer.Option("--output-dir", help="Local: where job folders (checkpoints, adapter) go."),
    ] = Path("local-tuning"),
    recipe: Annotated[
        str,
        typer.Option(
            "--recipe",
            help="Local: standard, or memory (high rank, train to near-zero loss, then measure "
            "exact recall of the training SQL).",
        ),
    ] = "standard",
    device: Annotated[
        str, typer.Option("--device", help="Local: auto, cpu, cuda or mps.")
    ] = "auto",
    name: Annotated[
        str | None,
        typer.Option("--name", help="Lamini custom model name / OpenAI model suffix."),
    ] = None,
    database: DatabaseOption = None,
    schema_file: SchemaFileOption = None,
    annotations: SchemaNotesOption = None,
    api_url: ApiUrlOption = None,
    job_file: Annotated[
        Path, typer.Option("--job-file", help="Where to write the started job's details.")
    ] = Path("tuning-job.json"),
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job ends.")] = False,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between first polls (--wait).")
    ] = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Start a tuning job: tune --tuner lamini|openai|local --data FILE [options].

    --tuner local trains a LoRA adapter here (CPU or GPU) with a live progress bar; Ctrl-C stops
    after the current step and the same command resumes from the last checkpoint.
    """
    from .._sync import run_sync

    if ctx.invoked_subcommand is not None:
        return
    if data is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from ..io.paths import refuse_overwriting

    refuse_overwriting(
        {"--job-file": job_file},
        {"--data": data, "--schema": schema_file, "--schema-notes": annotations},
    )
    lamini_only = {"--max-steps": max_steps, "--learning-rate": learning_rate, "--arg": arg}
    openai_only = {"--epochs": epochs, "--lr-multiplier": lr_multiplier, "--validation": validation}
    wrong: dict[str, Any] = lamini_only if tuner == "openai" else openai_only
    if tuner == "local":
        wrong = {"--lr-multiplier": lr_multiplier, "--name": name, "--api-url": api_url}
    misplaced = [flag for flag, value in wrong.items() if value]
    if misplaced:
        raise ConfigurationError(f"{', '.join(misplaced)} do not apply to --tuner {tuner}")

    finetune_args = _parse_args(arg or [])
    hyperparameters: dict[str, Any] = {}
    if epochs is not None:
        hyperparameters["n_epochs"] = epochs
    if lr_multiplier is not None:
        hyperparameters["learning_rate_multiplier"] = lr_multiplier

    kind, records = _read_data(data)
    if tuner == "local":
        steps = {"max_steps": max_steps, "learning_rate": learning_rate}
        finetune_args |= {key: value for key, value in steps.items() if value is not None}
        _start_local(ctx, kind, data, records, finetune_args, epochs, as_json)
        return
    if kind not in ("pairs", tuner):
        raise DataError(f"{data} is formatted for {kind}, not for --tuner {tuner}")
    if kind == "pairs":
        from ..prompts import answering_system_prompt

        system_prompt = answering_system_prompt(_schema(database, schema_file, annotations))
    else:
        system_prompt = _NOT_NEEDED
    tuning = _make_tuner(
        tuner,
        system_prompt,
        base_model=base_model,
        api_url=api_url,
        name=name,
        max_steps=max_steps,
        learning_rate=learning_rate,
        extra_args=hyperparameters if tuner == "openai" else finetune_args,
    )
    job = run_sync(_start(tuning, kind, data, records, validation))
    url = str(getattr(tuning, "api_url", None) or getattr(tuning, "base_url", ""))
    _write_job_file(job_file, job, url, system_prompt)
    if not as_json:
        console.print(f"started {job.provider} job [bold]{job.job_id}[/]; details in {job_file}")
    if wait:
        job = _wait(tuning, job.job_id, poll_interval, 300.0, None, quiet=as_json)
        _write_job_file(job_file, job, url, system_prompt)
    _show(job, as_json)


def _start_local(
    ctx: typer.Context,
    kind: str,
    data: Path,
    records: list[dict[str, Any]],
    finetune_args: dict[str, Any],
    epochs: int | None,
    as_json: bool,
) -> None:
    from ..io.records import iter_records
    from ..prompts import answering_system_prompt
    from .commands_tune_local import start_local

    options = ctx.params
    if not options.get("base_model"):
        raise ConfigurationError(
            "--tuner local needs --base-model: a model folder (or a hub id when the hub is "
            "reachable)"
        )
    if kind != "pairs":
        raise DataError(f"{data} is formatted for {kind}; --tuner local takes question/sql pairs")
    if epochs is not None:
        finetune_args["epochs"] = epochs
    validation: Path | None = options.get("validation")
    schema = _schema(
        options.get("database"), options.get("schema_file"), options.get("annotations")
    )
    start_local(
        _as_pairs(data, records),
        _as_pairs(validation, list(iter_records(validation))) if validation else None,
        system_prompt=answering_system_prompt(schema),
        base_model=str(options["base_model"]),
        output_dir=options["output_dir"],
        finetune_args=finetune_args,
        recipe=options["recipe"],
        device=options["device"],
        job_file=options["job_file"],
        as_json=as_json,
        database=options.get("database"),
    )


async def _start(
    tuner: Tuner,
    kind: str,
    data: Path,
    records: list[dict[str, Any]],
    validation: Path | None,
) -> TuningJob:
    from ..io.records import iter_records
    from ..tuners.lamini import LaminiTuner
    from ..tuners.openai import OpenAITuner

    if kind == "pairs":
        pairs = _as_pairs(data, records)
        extra = _as_pairs(validation, list(iter_records(validation))) if validation else None
        return await tuner.astart(pairs, validation=extra)
    if isinstance(tuner, LaminiTuner):
        return await tuner.astart_records(records)
    assert isinstance(tuner, OpenAITuner)
    extra_records = list(iter_records(validation)) if validation else None
    if extra_records and "messages" not in extra_records[0]:
        extra_records = tuner.records(_as_pairs(validation, extra_records))
    return await tuner.astart_records(records, extra_records)


def _as_pairs(path: Path | None, records: list[dict[str, Any]]) -> list[QAPair]:
    from pydantic import ValidationError

    from ..io.validation_errors import describe_validation_error
    from ..records import QAPair

    pairs = []
    for number, record in enumerate(records, start=1):
        try:
            pairs.append(QAPair.model_validate(record))
        except ValidationError as exc:
            raise DataError(
                f"{path}: record {number} is not a question/sql pair: "
                f"{describe_validation_error(exc)}"
            ) from None
    return pairs


def _wait(
    tuner: Tuner,
    job_id: str,
    poll_interval: float,
    max_interval: float,
    timeout: float | None,
    *,
    quiet: bool,
) -> TuningJob:
    started = time.monotonic()
    spinner = console.status(f"waiting for job {job_id} ...", spinner="dots")
    with contextlib.nullcontext() if quiet else spinner:

        def update(job: TuningJob) -> None:
            if quiet:
                return
            elapsed = int(time.monotonic() - started)
            text = (
                f"job {job.job_id}: [bold]{job.status.value}[/] ({job.provider_status}) "
                f"after {elapsed // 60:d}:{elapsed % 60:02d}"
            )
            if job.message:
                text += f" - {job.message}"
            spinner.update(text)
            console.log(text)

        return tuner.wait_until_done(
            job_id,
            poll_interval_s=poll_interval,
            max_interval_s=max_interval,
            timeout_s=timeout,
            on_update=update,
        )


JobArgument = Annotated[
    str, typer.Argument(help="The job id, or the job file written by 'tune' (tuning-job.json).")
]


def _job_command(name: str, act: Callable[[Tuner, str], TuningJob], summary: str) -> None:
    """Register ``tune <name> JOB``: ``act(tuner, job_id)``, then show the job."""

    def command(
        job: JobArgument,
        tuner: TunerOption = None,
        api_url: ApiUrlOption = None,
        as_json: JsonOption = False,
    ) -> None:
        job_id, tuning = _tuner_for(job, tuner, api_url)
        _show(act(tuning, job_id), as_json)

    command.__doc__ = summary
    tune_app.command(name)(command)


_job_command(
    "status",
    lambda tuning, job_id: tuning.status(job_id),
    "Show a tuning job's status and, once done, the tuned model's name.",
)


@tune_app.command("wait")
def tune_wait(
    job: JobArgument,
    tuner: TunerOption = None,
    api_url: ApiUrlOption = None,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="First seconds between polls (grows by half).")
    ] = 30.0,
    max_interval: Annotated[
        float, typer.Option("--max-interval", help="Longest seconds between polls.")
    ] = 300.0,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Give up after this many seconds.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Wait until a tuning job completes (exit 1 when it fails or is cancelled).

    A local job that no process is training any more (stopped, killed) resumes here.
    """
    from .commands_tune_local import follow_local, is_local_job

    if tuner == "local" or is_local_job(Path(job)):
        _show(follow_local(Path(job), "wait", as_json=as_json), as_json)
        return
    job_id, tuning = _tuner_for(job, tuner, api_url)
    _show(_wait(tuning, job_id, poll_interval, max_interval, timeout, quiet=as_json), as_json)


_job_command("cancel", lambda tuning, job_id: tuning.cancel(job_id), "Cancel a tuning job.")
