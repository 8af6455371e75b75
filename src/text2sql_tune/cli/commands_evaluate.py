"""Evaluation commands: ``evaluate`` and ``report`` (``report compare A B``)."""

from __future__ import annotations

import base64
import html
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from .._paths import refuse_overwriting
from .._sync import run_sync
from ..datasets import read_cases
from ..errors import ConfigurationError
from ..evaluation import Evaluator, read_predictions
from ..interfaces import Judge, SQLExecutor, Text2SQLModel
from ..models import EvalReport, EvalResult
from ._app import DatabaseOption, JsonOption, SchemaFileOption, app, console, print_json

__all__ = ["evaluate", "report"]


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
    for category, count in sorted(s.by_category.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {category}", str(count))
    return table


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
            "openai:<model>, zero-shot:<model> or few-shot:<model>.",
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
    as_json: JsonOption = False,
) -> None:
    """Evaluate predictions or a model on a golden set: validity, accuracy, why each case failed.

    Both the predicted and the reference SQL run on --database; the judge compares the results.
    With --predictions, predictions are matched to golden questions ignoring case, spacing and
    trailing punctuation, and a question without a prediction counts as no_sql. With --model, the
    model answers every golden question, asked with the answering prompt of --schema (else of
    --database's tables, else of the demo schema): the prompt tuned models were trained with.
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
        evaluator = Evaluator(
            executor,
            _make_judge(judge, executor, judge_model, judge_cache),
            concurrency=concurrency,
        )
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


@app.command()
def report(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="REPORT.json to render, or: compare A.json B.json",
            metavar="REPORT | compare A B",
            show_default=False,
        ),
    ],
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="Write a self-contained HTML page with a bar chart here."),
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Write markdown here.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Render an evaluation report, or compare two (`report compare A.json B.json`).

    Without --html/--markdown the markdown is printed. A comparison lists the cases that flipped:
    fixed (now correct), broken (no longer correct) and other changes.
    """
    from ..reporting import (
        bar_chart_png,
        compare_reports,
        comparison_markdown,
        load_report,
        report_html,
        report_markdown,
    )

    payload: dict[str, Any]
    if paths and str(paths[0]) == "compare":
        if len(paths) != 3:
            raise ConfigurationError("usage: text2sql-tune report compare A.json B.json")
        a, b = load_report(paths[1]), load_report(paths[2])
        comparison = compare_reports(a, b)
        text = comparison_markdown(comparison)
        payload = comparison.model_dump(mode="json")
        if html_out is not None:
            png = base64.b64encode(bar_chart_png([a, b])).decode("ascii")
            title = html.escape(f"{comparison.a} vs {comparison.b}")
            html_out.write_text(
                "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{title}</title></head><body>"
                f"<img alt='validity and accuracy' src='data:image/png;base64,{png}'>"
                f"<pre>{html.escape(text)}</pre></body></html>",
                encoding="utf-8",
            )
    else:
        if len(paths) != 1:
            raise ConfigurationError("give one report, or: report compare A.json B.json")
        loaded = load_report(paths[0])
        text = report_markdown(loaded)
        payload = loaded.summary.model_dump(mode="json")
        if html_out is not None:
            html_out.write_text(report_html(loaded), encoding="utf-8")
    if markdown_out is not None:
        markdown_out.write_text(text, encoding="utf-8")
    if as_json:
        print_json(payload)
    elif html_out is None and markdown_out is None:
        typer.echo(text, nl=False)
    else:
        for written in (html_out, markdown_out):
            if written is not None:
                console.print(f"wrote {written}")
