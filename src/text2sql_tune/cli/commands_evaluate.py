"""The ``evaluate`` command: run predictions or a model on a golden set and judge them."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from .._paths import refuse_overwriting
from .._sync import run_sync
from ..datasets import read_cases
from ..errors import ConfigurationError
from ..evaluation import Evaluator, read_predictions
from ..interfaces import Judge, SQLExecutor, Text2SQLModel
from ..models import EvalCase, EvalReport, EvalResult
from ._app import (
    DatabaseOption,
    JsonOption,
    SchemaFileOption,
    app,
    console,
    err_console,
    print_json,
)

__all__ = ["evaluate"]


class JudgeKind(str, Enum):
    """The judges ``evaluate --judge`` offers."""

    execution = "execution"
    llm = "llm"
    cascade = "cascade"


def _make_judge(
    kind: JudgeKind, executor: SQLExecutor, judge_model: str, cache: Path | None
) -> Judge:
    from ..judges import CascadeJudge, ExecutionMatchJudge, LLMJudge

    deterministic = ExecutionMatchJudge(executor)
    if kind is JudgeKind.execution:
        return deterministic
    from ..llm.openai import OpenAIChatClient  # type: ignore[import-not-found,unused-ignore]

    llm = LLMJudge(OpenAIChatClient(judge_model), executor=executor, cache=cache)
    return llm if kind is JudgeKind.llm else CascadeJudge([deterministic, llm])


def _make_model(
    spec: str, database: str | None, schema_file: Path | None, train: Path | None
) -> Text2SQLModel:
    from ..datasets import read_pairs
    from ..text2sql_models import model_from_spec
    from .commands_tune import _schema

    pairs = read_pairs(train) if train is not None else []
    return model_from_spec(spec, _schema(database, schema_file, None), train=pairs)


def _summary_table(report: EvalReport) -> Table:
    s = report.summary
    table = Table(title=f"{report.model} - judge: {report.judge}", show_header=False)
    table.add_row("cases", str(s.total))
    table.add_row("valid SQL", f"{s.valid} ({s.validity_rate:.1%})")
    table.add_row("correct", f"{s.correct} ({s.accuracy:.1%})")
    table.add_row("wrong / undecided", f"{s.wrong} / {s.undecided}")
    failing = [(c, n) for c, n in s.by_category.items() if c != "correct"]  # not a failure
    for category, count in sorted(failing, key=lambda kv: -kv[1]):
        table.add_row(f"  {category}", str(count))
    return table


def _lint_first(
    cases: list[EvalCase], executor: SQLExecutor, judge: Judge, *, quiet: bool
) -> list[dict[str, object]]:
    """Lint the golden set; print what it found (on stderr) and return it for the report."""
    from ..golden_lint import alint_golden

    found = run_sync(alint_golden(cases, executor, judge=judge))
    if found.findings and not quiet:
        err_console.print(found.to_table())
        err_console.print(
            "[yellow]warning:[/] the golden set has problems (above); the evaluation goes on",
            highlight=False,
        )
    return [f.model_dump(mode="json") for f in found.findings]


@app.command()
def evaluate(
    golden: Annotated[
        Path, typer.Option("--golden", "-g", help="Golden set: question + sql (or sql_query).")
    ],
    predictions: Annotated[
        Path | None,
        typer.Option("--predictions", "-p", help='Predictions: {"question", "sql"} per line.'),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Stop when a prediction matches no golden question (default: warn and go on).",
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Ask a model instead of reading predictions: retrieval, lamini:<model id>, "
            "openai:<model>, zero-shot:<model>, few-shot:<model> or local:<job or model folder>.",
        ),
    ] = None,
    train: Annotated[
        Path | None,
        typer.Option("--train", help="Training pairs for --model retrieval / few-shot."),
    ] = None,
    schema_file: SchemaFileOption = None,
    database: DatabaseOption = None,
    judge: Annotated[
        JudgeKind,
        typer.Option(
            "--judge",
            help="execution: compare results by rules; llm: ask an LLM (the article's method); "
            "cascade: execution first, the LLM only for undecided cases.",
        ),
    ] = JudgeKind.execution,
    judge_model: Annotated[
        str, typer.Option("--judge-model", help="Model of the llm / cascade judge.")
    ] = "gpt-4o",
    judge_cache: Annotated[
        Path | None,
        typer.Option("--judge-cache", help="JSONL file caching LLM verdicts across runs."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report (JSON) here.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Cases evaluated at once.")] = 8,
    lint: Annotated[
        bool,
        typer.Option(
            "--lint/--no-lint",
            help="Check the golden set first (as lint-golden does) and warn about what it finds.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Evaluate predictions or a model on a golden set: validity, accuracy, why each case failed.

    Both the predicted and the reference SQL run on --database; the judge compares the results.
    With --predictions, predictions are matched to golden questions ignoring case, spacing and
    trailing punctuation, and a question without a prediction counts as no_sql. With --model, the
    model answers every golden question, asked with the answering prompt of --schema (else of
    --database's tables, else of the demo schema): the prompt tuned models were trained with.
    The golden set is linted first (see lint-golden): findings are printed as warnings and kept
    in the report.
    """
    from ..executors import open_executor
    from ..reporting import save_report

    if (predictions is None) == (model is None):
        raise ConfigurationError("pass either --predictions FILE or --model SPEC")
    refuse_overwriting(
        {"--output": output, "--judge-cache": judge_cache},
        {
            "--golden": golden,
            "--predictions": predictions,
            "--train": train,
            "--schema": schema_file,
        },
    )
    cases = read_cases(golden)
    preds = read_predictions(predictions) if predictions is not None else []
    text2sql = _make_model(model, database, schema_file, train) if model is not None else None
    with open_executor(database) as executor:
        the_judge = _make_judge(judge, executor, judge_model, judge_cache)
        findings = _lint_first(cases, executor, the_judge, quiet=as_json) if lint else None
        evaluator = Evaluator(executor, the_judge, concurrency=concurrency)
        with Progress(
            TextColumn("evaluating"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=as_json,
            transient=True,
        ) as progress:
            task = progress.add_task("evaluate", total=len(cases))

            def advance(_index: int, _result: EvalResult) -> None:
                progress.advance(task)

            if text2sql is not None:
                result = run_sync(evaluator.aevaluate(text2sql, cases, on_done=advance))
            else:
                assert predictions is not None
                result = run_sync(
                    evaluator.aevaluate_predictions(
                        cases, preds, name=predictions.name, on_done=advance, strict=strict
                    )
                )
    result.metadata.update(golden=str(golden), predictions=str(predictions or model))
    training = getattr(text2sql, "training", None)  # a local model: its loss curve and recall
    if training:
        result.metadata["training"] = training
    if findings is not None:
        result.metadata["golden_lint"] = findings
    if output is not None:
        save_report(result, output)
    if as_json:
        print_json(
            result.model_dump(mode="json")
            if output is None
            else {"summary": result.summary.model_dump(mode="json"), "output": str(output)}
        )
        return
    console.print(_summary_table(result))
    if output is not None:
        console.print(f"report written to {output}")
