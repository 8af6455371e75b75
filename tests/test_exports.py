"""Training-file exports: formats, the Llama 3 template, the seeded split and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_tune import ConfigurationError, ExportFormat, QAPair, demo_schema, export_pairs
from text2sql_tune.cli import app
from text2sql_tune.exports import (
    hf_messages_records,
    lamini_records,
    openai_chat_records,
    split_train_validation,
)
from text2sql_tune.prompts import answering_system_prompt

PAIRS = [
    QAPair(question="How many users?", sql="SELECT count() FROM ecommerce.users", source="seed"),
    QAPair(rejected="the answer had no SQL"),
    QAPair(question="Average age?", sql="SELECT avg(age) FROM ecommerce.users"),
]


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_lamini_input_is_meta_llama3_chat_format_byte_for_byte() -> None:
    records = list(lamini_records(PAIRS, "You write SQL."))
    # Meta's Llama 3.1 format: begin_of_text, each turn as header + blank line + text + eot_id,
    # and the assistant header left open for the model to continue.
    assert records[0] == {
        "input": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "You write SQL.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
        "How many users?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        "output": "SELECT count() FROM ecommerce.users",
    }
    assert len(records) == 2  # the rejected pair is skipped


def test_openai_records_are_system_user_assistant() -> None:
    records = list(openai_chat_records(PAIRS, "You write SQL."))
    assert records[1] == {
        "messages": [
            {"role": "system", "content": "You write SQL."},
            {"role": "user", "content": "Average age?"},
            {"role": "assistant", "content": "SELECT avg(age) FROM ecommerce.users"},
        ]
    }


def test_without_a_system_prompt_no_system_turn_is_written() -> None:
    (record,) = list(openai_chat_records(PAIRS[:1]))
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
    (lamini,) = list(lamini_records(PAIRS[:1]))
    assert "system" not in lamini["input"]


def test_hf_records_keep_question_and_sql_next_to_messages() -> None:
    records = list(hf_messages_records(PAIRS, "S"))
    assert records[0]["question"] == "How many users?"
    assert records[0]["sql"] == "SELECT count() FROM ecommerce.users"
    assert records[0]["messages"][-1] == {"role": "assistant", "content": records[0]["sql"]}


def test_split_is_reproducible_and_disjoint() -> None:
    pairs = [QAPair(question=f"q{i}", sql=f"SELECT {i}") for i in range(50)]
    train, validation = split_train_validation(pairs, 0.2, seed=7)
    again_train, again_validation = split_train_validation(pairs, 0.2, seed=7)
    _, other_validation = split_train_validation(pairs, 0.2, seed=8)
    assert len(validation) == 10 and len(train) == 40
    assert validation == again_validation and train == again_train
    assert validation != other_validation
    assert {p.question for p in train}.isdisjoint({p.question for p in validation})


def test_split_keeps_at_least_one_pair_on_each_side() -> None:
    pairs = [QAPair(question=f"q{i}", sql=f"SELECT {i}") for i in range(3)]
    train, validation = split_train_validation(pairs, 0.01)
    assert (len(train), len(validation)) == (2, 1)
    with pytest.raises(ConfigurationError, match=r"\[0, 1\)"):
        split_train_validation(pairs, 1.0)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_export_pairs_writes_every_format(fmt: ExportFormat, tmp_path: Path) -> None:
    result = export_pairs(PAIRS, tmp_path / "out" / "train.jsonl", fmt, system_prompt="S")
    assert result.train_count == 2 and result.validation_path is None
    lines = read_jsonl(result.train_path)
    assert len(lines) == 2
    assert "SELECT avg(age)" in json.dumps(lines[1])


def test_export_with_validation_split_writes_two_files(tmp_path: Path) -> None:
    pairs = [QAPair(question=f"q{i}", sql=f"SELECT {i}") for i in range(10)]
    result = export_pairs(pairs, tmp_path / "openai.jsonl", "openai", validation_fraction=0.3)
    assert result.validation_path == tmp_path / "openai.validation.jsonl"
    assert (result.train_count, result.validation_count) == (7, 3)
    assert len(read_jsonl(result.validation_path)) == 3
    # Exporting again without a split removes the stale validation file.
    export_pairs(pairs, tmp_path / "openai.jsonl", "openai")
    assert not result.validation_path.exists()


def test_unknown_format_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown export format 'alpaca'"):
        export_pairs(PAIRS, tmp_path / "x.jsonl", "alpaca")


def test_export_cli_uses_the_answering_prompt_of_the_schema(tmp_path: Path) -> None:
    source = tmp_path / "clean.jsonl"
    source.write_text(
        "\n".join(json.dumps({"question": f"q{i}", "sql_query": f"SELECT {i}"}) for i in range(4))
        + "\n",
        encoding="utf-8",
    )
    output = tmp_path / "lamini.jsonl"
    result = CliRunner().invoke(
        app,
        [
            *("export", "-i", str(source), "-o", str(output), "--format", "lamini"),
            *("--validation-fraction", "0.25", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["train_count"], summary["validation_count"]) == (3, 1)
    records = read_jsonl(output)
    system = answering_system_prompt(demo_schema())
    assert all(
        str(r["input"]).startswith("<|begin_of_text|><|start_header_id|>system") for r in records
    )
    assert all(system in str(r["input"]) for r in records)
