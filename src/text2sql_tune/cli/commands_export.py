"""``export``: write clean pairs as Lamini, OpenAI, Hugging Face or plain JSONL training files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._defaults import MAX_SQL_LENGTH, ExportFormat
from ._app import (
    DatabaseOption,
    JsonOption,
    SchemaFileOption,
    SchemaNotesOption,
    app,
    console,
    print_json,
)
from .commands_clean import MaxSQLLengthOption
from .commands_tune import _schema

__all__ = ["export"]


@app.command()
def export(
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="Clean pairs (JSONL: question + sql).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The training file to write.")],
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="lamini: Llama 3.1 prompt as input, SQL as output; openai: chat fine-tuning "
            "messages; hf: messages + question + sql; jsonl: question + sql.",
        ),
    ] = ExportFormat.LAMINI,
    database: DatabaseOption = None,
    schema_file: SchemaFileOption = None,
    annotations: SchemaNotesOption = None,
    validation_fraction: Annotated[
        float,
        typer.Option(
            "--validation-fraction", help="Share held out as <output>.validation.jsonl (0: none)."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/validation split.")] = 0,
    max_sql_length: MaxSQLLengthOption = MAX_SQL_LENGTH,
    as_json: JsonOption = False,
) -> None:
    """Format clean pairs as a training file, with the answering system prompt of your schema.

    The system prompt comes from --schema, else from --database's tables, else from the demo
    schema; it is the same prompt `tune` uses, so a model is asked questions the way it was trained.
    The input is read one line at a time (memory stays flat however large it is) and the files
    are replaced only once they are complete. Pairs the generator rejected and pairs whose SQL is
    longer than --max-sql-length are left out and counted.
    """
    from ..exports import export_file, validation_path_for
    from ..io.paths import refuse_overwriting
    from ..prompts import answering_system_prompt

    refuse_overwriting(
        {"--output": output, "the validation file": validation_path_for(output)},
        {"--input": input_path, "--schema": schema_file, "--schema-notes": annotations},
    )
    system_prompt = answering_system_prompt(_schema(database, schema_file, annotations))
    result = export_file(
        input_path,
        output,
        fmt,
        system_prompt=system_prompt,
        validation_fraction=validation_fraction,
        seed=seed,
        max_sql_length=max_sql_length,
    )
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    console.print(f"{result.train_count} {fmt.value} records written to {result.train_path}")
    for reason, count in result.skipped.items():
        console.print(f"{count} pairs left out: {reason}")
    if result.validation_path is not None:
        console.print(
            f"{result.validation_count} validation records written to {result.validation_path}"
        )
