import json

import pytest

from text2sql_tune import DataError, FunctionModel, QAPair, read_pairs
from text2sql_tune.io import JsonlAppender
from text2sql_tune.prompts import llama3_prompt
from text2sql_tune.records import Usage


def test_pair_accepts_article_key() -> None:
    pair = QAPair.model_validate({"question": "How many?", "sql_query": "SELECT 1"})
    assert pair.sql == "SELECT 1"
    assert pair.ok


def test_pair_needs_text_unless_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        QAPair(question="q", sql=" ")
    assert not QAPair(rejected="no tool call").ok


def test_usage_adds_up() -> None:
    total = Usage(calls=1, prompt_tokens=10, completion_tokens=5, cost_usd=0.1) + Usage(
        calls=2, prompt_tokens=1, completion_tokens=1
    )
    assert (total.calls, total.total_tokens, total.cost_usd) == (3, 17, 0.1)


def test_appender_cuts_torn_tail_and_reads_back(tmp_path) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_text(json.dumps({"question": "a", "sql": "SELECT 1"}) + '\n{"question": "b", "sq')
    with JsonlAppender(path) as out:
        out.append(QAPair(question="c", sql="SELECT 3"))
    assert [p.question for p in read_pairs(path)] == ["a", "c"]


def test_read_pairs_tsv_and_bad_line(tmp_path) -> None:
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("question\tsql_query\nHow many users?\tSELECT count() FROM t\n")
    assert read_pairs(tsv)[0].sql == "SELECT count() FROM t"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('not json\n{"question": "a", "sql": "b"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:1"):
        read_pairs(bad)


def test_llama3_template_exact() -> None:
    assert llama3_prompt("Q?", "S") == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nQ?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_sync_twin_refuses_inside_running_loop() -> None:
    import asyncio

    model = FunctionModel(lambda q: "SELECT 1")

    async def inside() -> None:
        model.predict("q")

    with pytest.raises(RuntimeError, match="async twin"):
        asyncio.run(inside())
    assert model.predict("q").sql == "SELECT 1"
