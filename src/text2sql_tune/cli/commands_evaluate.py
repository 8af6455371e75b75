"""Evaluation commands: ``evaluate`` and ``report`` (``report compare A B``)."""

from __future__ import annotations

import base64
import html
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from .._files import atomic_write_text
from .._sync import run_sync
from ..config import LLMConfig
from ..datasets import read_cases
from ..errors import ConfigurationError
from ..evaluation import Evaluator, read_predictions
from ..interfaces import Judge, SQLExecutor, Text2SQLModel
from ..models import EvalReport, EvalResult
from . import _llm_options as llm_options
from ._app import (
    DatabaseOption,
    JsonOption,
    SchemaFileOption,
    app,
    console,
    err_console,
    print_json,
)

if TYPE_CHECKING:
    from ..text2sql_models import CheckpointedModel

__all__ = ["evaluate", "report"]


class JudgeKind(str, Enum):
    """The judges ``evaluate --judge`` offers."""

    execution = "execution"
    llm = "llm"
    cascade = "cascade"


def _make_judge(
    kind: JudgeKind,
    executor: SQLExecutor,
    judge_model: str,
    cache: Path | None,
    client_options: dict[str, Any],
) -> Judge:
    from ..judges import CascadeJudge, ExecutionMatchJudge, LLMJudge

    deterministic = ExecutionMatchJudge(executor)
    if kind is JudgeKind.execution:
        return deterministic
    from ..llm.openai import OpenAIChatClient  # type: ignore[import-not-found,unused-ignore]

    client = OpenAIChatClient(judge_model, **client_options)
    llm = LLMJudge(client, executor=executor, cache=cache)
    return llm if kind is JudgeKind.llm else CascadeJudge([deterministic, llm])


def _make_model(
    spec: str,
    database: str | None,
    schema_file: Path | None,
    train: Path | None,
    client_options: dict[str, Any],
) -> tuple[Text2SQLModel, str]:
    """The model and the key of its answers (what they depend on: spec, prompt, examples)."""
    from ..datasets import read_pairs
    from ..prompts import answering_system_prompt
    from ..text2sql_models import answers_key, model_from_spec
    from .commands_tune import _schema

    pairs = read_pairs(train) if train is not None else []
    schema = _schema(database, schema_file, None)
    built = model_from_spec(spec, schema, train=pairs, client_options=client_options)
    examples = [(p.question, p.sql) for p in pairs]
    return built, answers_key(spec, answering_system_prompt(schema), examples)


def _answers_path(checkpoint: Path | None, spec: str, key: str) -> Path:
    """``--checkpoint``, else ``<cache folder>/answers/<model>-<key>.jsonl``."""
    if checkpoint is not None:
        return checkpoint
    from ..demo import default_database_path

    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in spec).strip("-.")[:80]
    return default_database_path().parent / "answers" / f"{slug or 'model'}-{key}.jsonl"


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
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="With --model: JSONL file the answers are saved to as they arrive; a re-run "
            "asks only the questions without one. Default: one file per model, prompt and "
            "--train in the cache folder (answers/).",
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="With --model: ask every question again, ignoring saved answers."
        ),
    ] = False,
    max_retries: llm_options.MaxRetriesOption = llm_options.DEFAULTS.max_retries,
    max_wait: llm_options.MaxWaitOption = llm_options.DEFAULTS.max_wait_s,
    timeout: llm_options.TimeoutOption = llm_options.DEFAULTS.timeout_s,
    call_timeout: llm_options.CallTimeoutOption = llm_options.DEFAULTS.call_timeout_s,
    max_failures: llm_options.MaxFailuresOption = llm_options.DEFAULTS.max_failures,
    as_json: JsonOption = False,
) -> None:
    """Evaluate predictions or a model on a golden set: validity, accuracy, why each case failed.

    Both the predicted and the reference SQL run on --database; the judge compares the results.
    With --predictions, predictions are matched to golden questions ignoring case, spacing and
    trailing punctuation, and a question without a prediction counts as no_sql. With --model, the
    model answers every golden question, asked with the answering prompt of --schema (else of
    --database's tables, else of the demo schema): the prompt tuned models were trained with.
    Its answers are saved to --checkpoint as they arrive (except for the offline retrieval
    model), so a stopped evaluation resumes without asking twice; when the provider stops
    answering (--max-failures calls in a row) the command stops with exit code 4.
    """
    from ..reporting import save_report

    if (predictions is None) == (model is None):
        raise ConfigurationError("pass either --predictions FILE or --model SPEC")
    cases = read_cases(golden)
    preds = read_predictions(predictions) if predictions is not None else []
    llm = LLMConfig(
        max_retries=max_retries,
        max_wait_s=max_wait,
        timeout_s=timeout,
        call_timeout_s=call_timeout,
        max_failures=max_failures,
    )
    options = llm_options.client_options(llm, err_console, quiet=as_json)
    text2sql: Text2SQLModel | None = None
    answers: CheckpointedModel | None = None
    if model is not None:
        from ..text2sql_models import CheckpointedModel

        text2sql, key = _make_model(model, database, schema_file, train, options)
        if model.strip().lower() != "retrieval":  # offline and free: nothing to save
            path = _answers_path(checkpoint, model, key)
            answers = CheckpointedModel(text2sql, path, key=key, fresh=fresh).open()
            text2sql = answers
    try:
        result = _evaluate(
            cases, preds, predictions, text2sql, answers, database, judge, judge_model,
            judge_cache, options, llm.max_failures, concurrency, as_json,
        )  # fmt: skip
    finally:
        if answers is not None:
            answers.close()
    result.metadata.update(golden=str(golden), predictions=str(predictions or model))
    if answers is not None:
        result.metadata["answers_checkpoint"] = str(answers.path)
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


def _evaluate(
    cases: list[Any],
    preds: list[Any],
    predictions: Path | None,
    text2sql: Text2SQLModel | None,
    answers: CheckpointedModel | None,
    database: str | None,
    judge: JudgeKind,
    judge_model: str,
    judge_cache: Path | None,
    options: dict[str, Any],
    max_failures: int,
    concurrency: int,
    quiet: bool,
) -> EvalReport:
    from ..executors import open_executor

    if answers is not None and answers.loaded and not quiet:
        todo = sum(1 for case in cases if not answers.answered(case.question))
        err_console.print(
            f"{answers.loaded} answers saved in {answers.path} are reused; asking the model "
            f"{todo} questions (--fresh asks all again)",
            highlight=False,
        )
    with open_executor(database) as executor:
        evaluator = Evaluator(
            executor,
            _make_judge(judge, executor, judge_model, judge_cache, options),
            concurrency=concurrency,
            max_consecutive_failures=max_failures,
        )
        with Progress(
            TextColumn("evaluating"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=quiet,
            transient=True,
        ) as progress:
            task = progress.add_task("evaluate", total=len(cases))

            def advance(_index: int, _result: EvalResult) -> None:
                progress.advance(task)

            with llm_options.reporting_stops(progress, err_console, lambda: _saved(answers)):
                if text2sql is None:
                    assert predictions is not None
                    return run_sync(
                        evaluator.aevaluate_predictions(
                            cases, preds, name=predictions.name, on_done=advance
                        )
                    )
                result = run_sync(evaluator.aevaluate(text2sql, cases, on_done=advance))
    unanswered = sum(
        1 for r in result.results if (r.error or "").startswith("no answer from the provider")
    )
    if unanswered and not quiet:
        err_console.print(
            f"[yellow]warning:[/] {unanswered} questions got no answer from the provider and count "
            "as no_sql; they were not saved, so running the same command again asks them again."
        )
    return result


def _saved(answers: CheckpointedModel | None) -> str:
    if answers is None:
        return "no report was written"
    total = answers.count
    if not total:
        return "no answer was saved yet"
    return f"{total} answers are saved in {answers.path}"


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
            atomic_write_text(
                html_out,
                "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{title}</title></head><body>"
                f"<img alt='validity and accuracy' src='data:image/png;base64,{png}'>"
                f"<pre>{html.escape(text)}</pre></body></html>",
            )
    else:
        if len(paths) != 1:
            raise ConfigurationError("give one report, or: report compare A.json B.json")
        loaded = load_report(paths[0])
        text = report_markdown(loaded)
        payload = loaded.summary.model_dump(mode="json")
        if html_out is not None:
            atomic_write_text(html_out, report_html(loaded))
    if markdown_out is not None:
        atomic_write_text(markdown_out, text)
    if as_json:
        print_json(payload)
    elif html_out is None and markdown_out is None:
        typer.echo(text, nl=False)
    else:
        for written in (html_out, markdown_out):
            if written is not None:
                console.print(f"wrote {written}")
