"""The ``generate`` command: make question/SQL pairs into a resumable JSONL checkpoint."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ..errors import ConfigurationError, DataError
from . import _llm_options as llm_options
from ._app import (
    DatabaseOption,
    JsonOption,
    SchemaNotesOption,
    app,
    console,
    err_console,
    name_option,
    print_json,
)

if TYPE_CHECKING:
    from ..config import LLMConfig
    from ..interfaces import QAGenerator
    from ..records import QAPair, Usage

__all__ = ["generate"]


class OutputMode(str, Enum):
    """How the OpenAI generator asks for structured answers."""

    tools = "tools"
    json_schema = "json_schema"


def _summary_table(summary: Any, usage: Usage, retries: int | None) -> Table:
    table = Table(title="Generation summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("records in file", f"{summary.total_records} / {summary.requested}")
    table.add_row("resumed from", str(summary.resumed_from))
    table.add_row(
        "generated now", f"{summary.generated} ({summary.ok} ok, {summary.rejected} rejected)"
    )
    if summary.elapsed_s > 0 and summary.generated:
        table.add_row("pairs / s", f"{summary.generated / summary.elapsed_s:.1f}")
    if retries is not None:  # an LLM generator ran
        table.add_row("LLM calls", f"{usage.calls:,}")
        tokens = f"{usage.prompt_tokens:,} / {usage.completion_tokens:,}"
        table.add_row("prompt / completion tokens", tokens)
        cost = "unknown (no price)" if usage.cost_usd is None else f"${usage.cost_usd:.4f}"
        table.add_row("estimated cost", cost)
        table.add_row("retries", f"{retries:,}")
    for reason, count in sorted(summary.rejections.items(), key=lambda kv: -kv[1])[:5]:
        table.add_row(f"rejected: {reason}", str(count))
    return table


@app.command()
@llm_options.with_llm_options
def generate(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="JSONL checkpoint; re-run to continue it.")
    ] = Path("raw.jsonl"),
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="Records the file should hold.")] = 100,
    generator_name: Annotated[
        str,
        name_option(
            "generator", "--generator", "-g", help="template: offline, from schema; openai: LLM."
        ),
    ] = "template",
    database: DatabaseOption = None,
    seed_examples: Annotated[
        Path | None,
        typer.Option(
            "--seed-examples",
            help="Few-shot examples (JSONL/JSON/TSV/CSV); default: the demo's for the demo DB.",
        ),
    ] = None,
    schema_notes: SchemaNotesOption = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model for --generator openai.")] = (
        "gpt-4o"
    ),
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible API root (default OPENAI_BASE_URL)."),
    ] = None,
    api_key_env: Annotated[
        str,
        typer.Option("--api-key-env", help="Environment variable holding the API key."),
    ] = "OPENAI_API_KEY",
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="HTTP requests in flight.")
    ] = 8,
    k: Annotated[int, typer.Option("--k", min=0, help="Seed examples shown per call.")] = 3,
    temperature: Annotated[
        float, typer.Option("--temperature", help="Sampling temperature.")
    ] = 0.5,
    mode: Annotated[
        OutputMode, typer.Option("--mode", help="tools (tool call) or json_schema output.")
    ] = OutputMode.tools,
    requests_per_minute: Annotated[
        float | None, typer.Option("--rpm", help="Client-side requests-per-minute limit.")
    ] = None,
    tokens_per_minute: Annotated[
        float | None, typer.Option("--tpm", help="Client-side tokens-per-minute limit.")
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            "--prices",
            help="JSON file mapping model names to (USD per 1M input, per 1M output) tokens.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (examples, templates).")] = 0,
    append: Annotated[
        bool,
        typer.Option(
            "--append",
            help="Add records to --output even though it is not a generation checkpoint.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace --output: start a new checkpoint (no resume)."),
    ] = False,
    llm: LLMConfig = llm_options.FROM_OPTIONS,
    json_output: JsonOption = False,
) -> None:
    """Generate question/SQL pairs into a JSONL checkpoint that a re-run continues.

    Every record (usable or rejected) is appended as it arrives; running the same command again
    only generates what is missing, so nothing saved is paid for twice. A call the provider never
    answered is not saved: after --max-failures of them in a row the run stops (exit 4) and a
    re-run continues. An existing --output that is not a generation checkpoint (a golden set,
    validated pairs) is refused unless --append or --force says what to do with it.
    """
    from .._sync import run_sync
    from ..config import GenerateConfig, PipelineConfig
    from ..executors import open_executor
    from ..generators import agenerate_to_file, checkpoint_problem
    from ..llm import PriceTable
    from ..records import Usage
    from ..run.components import BuildContext, abuild_generator

    if append and force:
        raise ConfigurationError("--append and --force contradict each other: pick one")
    problem = None if append or force else checkpoint_problem(output)
    if problem is not None:
        raise DataError(
            f"{output} exists and is not a generation checkpoint ({problem}); refusing to add "
            "generated records to it. Pass --append to add them anyway, --force to replace "
            "the file, or another --output"
        )
    settings = GenerateConfig(
        generator=generator_name,
        n=n,
        seed_examples=seed_examples,
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        concurrency=concurrency,
        temperature=temperature,
        k=k,
        seed=seed,
        mode=mode.value,
    )
    context = BuildContext(
        PipelineConfig(generate=settings, llm=llm),
        client_options={
            "requests_per_minute": requests_per_minute,
            "tokens_per_minute": tokens_per_minute,
            "prices": PriceTable.from_file(prices) if prices else None,
            "on_retry": llm_options.retry_printer(err_console, quiet=json_output),
        },
    )

    with open_executor(database) as executor:

        async def build() -> QAGenerator:
            from ..run.from_config import aschema_and_seeds

            context.executor = executor
            context.schema, context.seeds, _ = await aschema_and_seeds(
                executor, database, schema_notes, seed_examples
            )
            generator = await abuild_generator(context)
            assert generator is not None  # "none" is not offered here
            return generator

        try:
            generator = run_sync(build())
        except BaseException:
            run_sync(context.aclose())
            raise
    client = context.clients[0] if context.clients else None

    progress = Progress(
        TextColumn("[bold]generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=json_output,
    )
    counts = {"ok": 0, "rejected": 0}
    usage = Usage()

    def stats() -> str:
        text = f"ok {counts['ok']} · failed {counts['rejected']}"
        if client is not None:
            text += f" · {usage.total_tokens:,} tok"
            if usage.cost_usd is not None:
                text += f" · ${usage.cost_usd:.4f}"
        return text

    from ..generators import read_checkpoint_state

    already = 0 if force else read_checkpoint_state(output).records
    if_exists: Literal["resume", "append", "overwrite"] = (
        "overwrite" if force else "append" if append else "resume"
    )
    with progress:
        task = progress.add_task("generate", total=n, completed=min(already, n), stats=stats())

        def on_record(pair: QAPair) -> None:
            nonlocal usage
            counts["ok" if pair.ok else "rejected"] += 1
            if pair.usage is not None:
                usage = usage + pair.usage
            progress.update(task, advance=1, stats=stats())

        def saved() -> str:
            records = already + counts["ok"] + counts["rejected"]
            if not output.exists() or not records:
                return "no record was saved yet"
            return f"{records} records are saved in {output}"

        try:
            with llm_options.reporting_stops(progress, err_console, saved):
                summary = run_sync(
                    agenerate_to_file(
                        generator, n, output, on_record=on_record, if_exists=if_exists
                    )
                )
        finally:
            run_sync(context.aclose())

    if json_output:
        data = summary.model_dump(mode="json")
        if client is not None:
            data["retries"] = client.retries
            data["billed_usage"] = client.usage.model_dump(mode="json")
        print_json(data)
        return
    retries = client.retries if client is not None else None
    # The client's total also counts calls answered with an unreadable body: they are billed.
    billed = client.usage if client is not None else summary.usage
    console.print(_summary_table(summary, billed, retries))
    console.print(f"saved to {output}")
