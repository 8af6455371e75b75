"""The ``evaluate`` command: run predictions or a model on a golden set and judge them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ..errors import ConfigurationError
from ..io.paths import refuse_overwriting
from . import _llm_options as llm_options
from ._app import (
    DatabaseOption,
    GoldenOption,
    JsonOption,
    SchemaFileOption,
    app,
    console,
    err_console,
    name_option,
    print_json,
)

if TYPE_CHECKING:  # the command imports what it runs when it runs, so --help stays fast
    from ..config import LLMConfig
    from ..interfaces import Judge, SQLExecutor, Text2SQLModel
    from ..models import CheckpointedModel
    from ..records import EvalCase, EvalReport
    from ..run.components import BuildContext

__all__ = ["evaluate"]


def _judge_context(
    name: str,
    executor: SQLExecutor,
    judge_model: str,
    cache: Path | None,
    client_options: dict[str, Any],
) -> BuildContext:
    """What the registry's judge ``name`` is built from (its chat clients are closed with it)."""
    from ..config import EvaluateConfig, PipelineConfig
    from ..run.components import BuildContext

    settings = EvaluateConfig(judge=name, judge_model=judge_model, judge_cache=cache)
    return BuildContext(PipelineConfig(evaluate=settings), executor, client_options=client_options)


def _make_model(
    spec: str,
    database: str | None,
    schema_file: Path | None,
    train: Path | None,
    client_options: dict[str, Any],
    model_options: dict[str, Any] | None = None,
) -> tuple[Text2SQLModel, str]:
    """The model and the key of its answers (what they depend on: spec, prompt, examples)."""
    from ..io.records import read_pairs
    from ..models import answers_key, model_from_spec
    from ..prompts import answering_system_prompt
    from .commands_tune import _schema

    pairs = read_pairs(train) if train is not None else []
    schema = _schema(database, schema_file, None)
    built = model_from_spec(
        spec, schema, train=pairs, client_options=client_options, model_options=model_options
    )
    examples = [(p.question, p.sql) for p in pairs]
    # Options that change the answers (not batch size or device) are part of what they depend on.
    shaping = {k: v for k, v in (model_options or {}).items() if k not in ("batch_size", "device")}
    keyed = f"{spec} {sorted(shaping.items())}" if shaping else spec
    return built, answers_key(keyed, answering_system_prompt(schema), examples)


def _answers_path(checkpoint: Path | None, spec: str, key: str) -> Path:
    """``--checkpoint``, else ``<cache folder>/answers/<model>-<key>.jsonl``."""
    if checkpoint is not None:
        return checkpoint
    from ..demo.database import default_database_path

    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in spec).strip("-.")[:80]
    return default_database_path().parent / "answers" / f"{slug or 'model'}-{key}.jsonl"


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
    from .._sync import run_sync
    from ..evaluate.golden_lint import alint_golden

    found = run_sync(alint_golden(cases, executor, judge=judge))
    if found.findings and not quiet:
        err_console.print(found.to_table())
        err_console.print(
            "[yellow]warning:[/] the golden set has problems (above); the evaluation goes on",
            highlight=False,
        )
    return [f.model_dump(mode="json") for f in found.findings]


@app.command()
@llm_options.with_llm_options
def evaluate(
    golden: GoldenOption,
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
        str,
        name_option(
            "judge",
            "--judge",
            help="execution: compare results by rules; llm: ask an LLM (the article's method); "
            "cascade: execution first, the LLM only for undecided cases.",
        ),
    ] = "execution",
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
    llm: LLMConfig = llm_options.FROM_OPTIONS,
    max_new_tokens: Annotated[
        int | None,
        typer.Option(help="With --model local:...: the longest answer, in tokens (default 256)."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="With --model local:...: questions generated at once (default 8; raises "
            "--concurrency to match)."
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="With --model local:...: auto, cpu, cuda or mps.")
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="With --model local:...: auto (bf16 where the GPU or CPU has it), bf16, fp16 "
            "or fp32."
        ),
    ] = None,
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
    Its answers are saved to --checkpoint as they arrive (except for the offline retrieval
    model), so a stopped evaluation resumes without asking twice; when the provider stops
    answering (--max-failures calls in a row) the command stops with exit code 4.
    """
    from ..evaluate.evaluator import read_predictions
    from ..io.records import read_cases
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
    options = llm_options.client_options(llm, err_console, quiet=as_json)
    text2sql: Text2SQLModel | None = None
    answers: CheckpointedModel | None = None
    local = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "device": device,
             "precision": precision}  # fmt: skip
    local = {k: v for k, v in local.items() if v is not None}
    if local and not (model or "").strip().startswith("local:"):
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in local)
        raise ConfigurationError(f"{flags} apply to --model local:... only")
    concurrency = max(concurrency, batch_size or 0)
    if model is not None:
        from ..models import CheckpointedModel

        text2sql, key = _make_model(model, database, schema_file, train, options, local)
        if model.strip().lower() != "retrieval":  # offline and free: nothing to save
            path = _answers_path(checkpoint, model, key)
            answers = CheckpointedModel(text2sql, path, key=key, fresh=fresh).open()
    run = _EvaluationRun(
        cases, preds, predictions, answers or text2sql, database, judge, judge_model,
        judge_cache, options, llm.max_failures, concurrency, lint, strict, as_json,
    )  # fmt: skip
    try:
        result = run.evaluate(answers)
    finally:
        if answers is not None:
            answers.close()
    result.metadata.update(golden=str(golden), predictions=str(predictions or model))
    if answers is not None:
        result.metadata["answers_checkpoint"] = str(answers.path)
    training = getattr(text2sql, "training", None)  # a local model: its loss curve and recall
    if training:
        result.metadata["training"] = training
    if run.findings is not None:
        result.metadata["golden_lint"] = run.findings
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


@dataclass
class _EvaluationRun:
    """One ``evaluate`` invocation once its options are read: lint, then evaluate."""

    cases: list[EvalCase]
    preds: list[Any]
    predictions: Path | None
    text2sql: Text2SQLModel | None
    database: str | None
    judge: str
    judge_model: str
    judge_cache: Path | None
    options: dict[str, Any]
    max_failures: int
    concurrency: int
    lint: bool
    strict: bool
    quiet: bool
    findings: list[dict[str, object]] | None = None

    def evaluate(self, answers: CheckpointedModel | None) -> EvalReport:
        from .._sync import run_sync
        from ..executors import open_executor
        from ..run.components import build_judge

        if answers is not None and answers.loaded and not self.quiet:
            todo = sum(1 for case in self.cases if not answers.answered(case.question))
            err_console.print(
                f"{answers.loaded} answers saved in {answers.path} are reused; asking the model "
                f"{todo} questions (--fresh asks all again)",
                highlight=False,
            )
        with open_executor(self.database) as executor:
            context = _judge_context(
                self.judge, executor, self.judge_model, self.judge_cache, self.options
            )
            try:
                result = self._judged(executor, build_judge(context), answers)
            finally:
                run_sync(context.aclose())
        unanswered = sum(
            1 for r in result.results if (r.error or "").startswith("no answer from the provider")
        )
        if unanswered and not self.quiet:
            err_console.print(
                f"[yellow]warning:[/] {unanswered} questions got no answer from the provider and "
                "count as no_sql; they were not saved, so running the same command again asks "
                "them again."
            )
        return result

    def _judged(
        self, executor: SQLExecutor, the_judge: Judge, answers: CheckpointedModel | None
    ) -> EvalReport:
        from .._sync import run_sync
        from ..evaluate.evaluator import Evaluator
        from ..records import EvalResult

        if self.lint:
            self.findings = _lint_first(self.cases, executor, the_judge, quiet=self.quiet)
        evaluator = Evaluator(
            executor,
            the_judge,
            concurrency=self.concurrency,
            max_consecutive_failures=self.max_failures,
        )
        with Progress(
            TextColumn("evaluating"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=self.quiet,
            transient=True,
        ) as progress:
            task = progress.add_task("evaluate", total=len(self.cases))

            def advance(_index: int, _result: EvalResult) -> None:
                progress.advance(task)

            with llm_options.reporting_stops(progress, err_console, lambda: _saved(answers)):
                if self.text2sql is None:
                    assert self.predictions is not None
                    return run_sync(
                        evaluator.aevaluate_predictions(
                            self.cases,
                            self.preds,
                            name=self.predictions.name,
                            on_done=advance,
                            strict=self.strict,
                        )
                    )
                return run_sync(evaluator.aevaluate(self.text2sql, self.cases, on_done=advance))


def _saved(answers: CheckpointedModel | None) -> str:
    if answers is None:
        return "no report was written"
    total = answers.count
    if not total:
        return "no answer was saved yet"
    return f"{total} answers are saved in {answers.path}"
