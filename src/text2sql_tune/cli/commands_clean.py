"""Cleaning commands: ``validate`` (run every pair's SQL) and ``clean`` (validate, then filter)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._defaults import MAX_SQL_LENGTH
from ..registry import builtin_names
from ._app import DatabaseOption, JsonOption, app, console, err_console, print_json

if TYPE_CHECKING:
    from ..records import QAPair

__all__ = ["MaxSQLLengthOption", "clean", "validate"]

DEFAULT_FILTER_NAMES = builtin_names("filter")

InputOption = Annotated[
    Path,
    typer.Option(
        "--input", "-i", help="Pairs: JSONL (also JSON, TSV, CSV; sql_query accepted for sql)."
    ),
]
MaxSQLLengthOption = Annotated[
    int,
    typer.Option(
        "--max-sql-length",
        min=1,
        help="Leave out SQL longer than this many characters (checked before anything parses it).",
    ),
]
MinRowsOption = Annotated[
    int, typer.Option("--min-rows", min=0, help="Fewer result rows than this is empty.")
]
MaxRowsOption = Annotated[
    int, typer.Option("--max-rows", min=1, help="More result rows than this is too many.")
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", "-c", min=1, help="Queries run at once.")
]


def _checkpoint_for(output: Path) -> Path:
    """Where validation saves its outcomes while it runs (removed once ``output`` is written)."""
    return output.with_name(f"{output.stem}.checkpoint.jsonl")


def _validated(
    pairs: list[QAPair],
    database: str | None,
    *,
    min_rows: int,
    max_rows: int,
    concurrency: int,
    quiet: bool,
    checkpoint: Path,
) -> list[QAPair]:
    """Validate ``pairs`` on ``database`` with a progress bar (on stderr), resumably.

    Each outcome is appended to ``checkpoint`` as its query finishes; a re-run after Ctrl-C or a
    crash runs only the queries not saved there.
    """
    from ..executors import open_executor
    from ..filters.validation import validate_pairs
    from ._llm_options import reporting_stops

    done = 0

    with (
        open_executor(database, concurrency=concurrency) as executor,
        Progress(
            TextColumn("[bold]validate"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("validate", total=len(pairs))

        def advance(_index: int, _pair: QAPair) -> None:
            nonlocal done
            done += 1
            progress.advance(task)

        def saved() -> str:
            if not done or not checkpoint.exists():
                return "no query had finished, nothing was saved"
            return f"{done:,} of {len(pairs):,} pairs are validated and saved in {checkpoint}"

        with reporting_stops(progress, err_console, saved):
            return validate_pairs(
                pairs,
                executor,
                min_rows=min_rows,
                max_rows=max_rows,
                concurrency=concurrency,
                on_done=advance,
                checkpoint=checkpoint,
            )


def _status_counts(pairs: Sequence[QAPair]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for pair in pairs:
        if not pair.ok:
            counts["rejected"] += 1
        elif pair.validation is None:
            counts["not_validated"] += 1
        else:
            counts[pair.validation.status.value] += 1
    return dict(counts.most_common())


def _status_table(counts: dict[str, int], total: int) -> Table:
    table = Table(title=f"Validation: {total:,} pairs")
    table.add_column("status")
    table.add_column("pairs", justify="right")
    table.add_column("share", justify="right")
    for status, count in counts.items():
        table.add_row(status, f"{count:,}", f"{count / total:.1%}" if total else "-")
    return table


@app.command()
def validate(
    input_path: InputOption,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Write the validated pairs here (JSONL).")
    ],
    database: DatabaseOption = None,
    min_rows: MinRowsOption = 1,
    max_rows: MaxRowsOption = 100,
    concurrency: ConcurrencyOption = 4,
    as_json: JsonOption = False,
) -> None:
    """Run every pair's SQL on --database and record the outcome on the pair.

    Each usable pair gets a "validation" object: status (ok, error, too_many_rows, empty, unsafe,
    timeout), row count, result columns, a few preview rows and the error, if any. The same query
    written twice runs once. Pairs the generator rejected are copied unchanged. Nothing is
    dropped: that is what `clean` does. Outcomes are saved as they finish in
    <output stem>.checkpoint.jsonl, so an interrupted run resumes where it stopped.
    """
    from ..io.paths import refuse_overwriting
    from ..io.records import read_pairs, write_jsonl

    checkpoint = _checkpoint_for(output)
    refuse_overwriting(
        {"--output": output, "the validation checkpoint": checkpoint}, {"--input": input_path}
    )
    pairs = read_pairs(input_path)
    usable = sum(1 for pair in pairs if pair.ok)
    validated = _validated(
        pairs,
        database,
        min_rows=min_rows,
        max_rows=max_rows,
        concurrency=concurrency,
        quiet=as_json,
        checkpoint=checkpoint,
    )
    write_jsonl(output, validated)
    checkpoint.unlink(missing_ok=True)
    counts = _status_counts(validated)
    if as_json:
        print_json(
            {"input": len(pairs), "validated": usable, "by_status": counts, "output": str(output)}
        )
        return
    console.print(_status_table(counts, len(pairs)))
    console.print(f"wrote {len(validated):,} pairs to {output}")


@app.command()
def clean(
    input_path: InputOption,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Write the kept pairs here (JSONL).")
    ],
    database: DatabaseOption = None,
    min_rows: MinRowsOption = 1,
    max_rows: MaxRowsOption = 100,
    eval_set: Annotated[
        Path | None,
        typer.Option(
            "--eval-set",
            help="Evaluation set (JSONL with question and sql; give dev and test together): "
            "its questions, rewordings of them and its queries in any spelling are removed "
            "from the training pairs, and so are pairs whose question paraphrases one and "
            "whose result on --database is its result.",
        ),
    ] = None,
    near_dup_threshold: Annotated[
        float,
        typer.Option(
            "--near-dup-threshold",
            min=0.0,
            max=1.0,
            help="Word-set Jaccard similarity at which two questions are near duplicates.",
        ),
    ] = 0.9,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="JSON report; default: <output stem>.report.json."),
    ] = None,
    dropped: Annotated[
        Path | None,
        typer.Option(
            "--dropped",
            help="Dropped pairs with filter and reason (JSONL); default: "
            "<output stem>.dropped.jsonl.",
        ),
    ] = None,
    skip_validation: Annotated[
        bool,
        typer.Option(
            "--skip-validation",
            help="Do not run SQL: the input is already validated (pairs without a validation "
            "are dropped as not_validated).",
        ),
    ] = False,
    concurrency: ConcurrencyOption = 4,
    max_sql_length: MaxSQLLengthOption = MAX_SQL_LENGTH,
    extra_filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="Also run this filter (a registry name: a plugin's, or a default one left out "
            "by --without), after the default ones. Repeatable.",
        ),
    ] = None,
    without: Annotated[
        list[str] | None,
        typer.Option(
            "--without",
            help=f"Leave this default filter out ({', '.join(DEFAULT_FILTER_NAMES)}). Repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Validate pairs that need it, then filter: the article's cleaning, with a report.

    Filters, in order: SQL longer than --max-sql-length (sql_length), safety guard (safety), SQL
    that failed (valid_sql), results with fewer than --min-rows or more than --max-rows rows
    (row_count), a second answer to the same question (duplicate_question), the same SQL again
    (duplicate_sql), rewordings of a kept question (near_duplicate), and with --eval-set the
    evaluation questions and queries, by spelling and by meaning (leakage: the same canonical
    SQL, or a paraphrased question with the same result on --database; with --skip-validation
    results are not compared); then each --filter. Writes the kept pairs to --output, a JSON
    report (counts per filter and reason, dataset statistics) to --report and every dropped pair
    with its filter and reason to --dropped.
    """
    from ..executors import open_executor
    from ..filters import FilterChain, default_filters
    from ..io.paths import refuse_overwriting
    from ..io.records import read_cases, read_pairs, write_jsonl

    if near_dup_threshold <= 0.0:
        raise typer.BadParameter("must be above 0", param_hint="--near-dup-threshold")
    report_path = report or output.with_name(f"{output.stem}.report.json")
    dropped_path = dropped or output.with_name(f"{output.stem}.dropped.jsonl")
    checkpoint = _checkpoint_for(output)
    refuse_overwriting(
        {
            "--output": output,
            "--report": report_path,
            "--dropped": dropped_path,
            "the validation checkpoint": checkpoint,
        },
        {"--input": input_path, "--eval-set": eval_set},
    )
    pairs = read_pairs(input_path)
    cases = read_cases(eval_set) if eval_set is not None else None
    chain = partial(
        default_filters,
        min_rows=min_rows,
        max_rows=max_rows,
        near_dup_threshold=near_dup_threshold,
        eval_cases=cases,
        max_sql_length=max_sql_length,
        extra=extra_filters or (),
        without=without or (),
    )
    chain()  # before validation: a wrong filter name costs no query
    todo = [i for i, pair in enumerate(pairs) if pair.ok and pair.validation is None]
    if todo and not skip_validation:
        validated = _validated(
            [pairs[i] for i in todo],
            database,
            min_rows=min_rows,
            max_rows=max_rows,
            concurrency=concurrency,
            quiet=as_json,
            checkpoint=checkpoint,
        )
        for index, pair in zip(todo, validated, strict=True):
            pairs[index] = pair
    if cases and not skip_validation:  # the leakage filter compares results on the database
        with open_executor(database, concurrency=concurrency) as executor:
            kept, result = FilterChain(chain(executor=executor)).apply(pairs)
    else:
        kept, result = FilterChain(chain()).apply(pairs)
    write_jsonl(output, kept)
    result.save(report_path, dropped_path=dropped_path)
    checkpoint.unlink(missing_ok=True)
    if as_json:
        print_json(
            {
                "input": result.input_count,
                "kept": result.kept_count,
                "dropped": result.dropped_count,
                "by_reason": result.by_reason,
                "steps": [step.model_dump(mode="json") for step in result.steps],
                "stats": result.stats.model_dump(mode="json"),
                "output": str(output),
                "report": str(report_path),
                "dropped_path": str(dropped_path),
            }
        )
        return
    console.print(result.to_table())
    console.print(result.stats.to_table())
    console.print(
        f"kept {result.kept_count:,} of {result.input_count:,} pairs -> {output}\n"
        f"report -> {report_path}\ndropped pairs -> {dropped_path}"
    )
