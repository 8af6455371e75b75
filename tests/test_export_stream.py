"""Streaming export from a file: the records and split of the in-memory export, atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from text2sql_tune import ConfigurationError, DataError, QAPair, export_pairs, write_jsonl
from text2sql_tune.exports import (
    ExportFormat,
    export_file,
    split_train_validation,
    validation_path_for,
)


def _pairs(n: int) -> list[QAPair]:
    pairs = [QAPair(question=f"How many users in group {i}?", sql=f"SELECT {i}") for i in range(n)]
    pairs[3] = QAPair(rejected="no tool call")
    return pairs


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_a_file_exports_exactly_like_the_same_pairs_in_memory(
    fmt: ExportFormat, tmp_path: Path
) -> None:
    pairs = _pairs(40)
    pairs[5] = QAPair(question="A long one?", sql="SELECT " + "1 + " * 30 + "1")
    source = tmp_path / "clean.jsonl"
    write_jsonl(source, pairs)
    # The article's key, as a hand-written file would have it:
    text = source.read_text(encoding="utf-8").replace('"sql":', '"sql_query":', 7)
    source.write_text(text, encoding="utf-8")
    from_memory = export_pairs(
        pairs, tmp_path / "a.jsonl", fmt, system_prompt="S", validation_fraction=0.25, seed=3,
        max_sql_length=100,
    )  # fmt: skip
    from_file = export_file(
        source, tmp_path / "b.jsonl", fmt, system_prompt="S", validation_fraction=0.25, seed=3,
        max_sql_length=100,
    )  # fmt: skip
    assert (from_file.train_count, from_file.validation_count) == (28, 10)
    expected = {"rejected_by_generator": 1, "sql_too_long": 1}
    assert from_file.skipped == from_memory.skipped == expected
    assert from_file.train_path.read_bytes() == from_memory.train_path.read_bytes()
    assert from_file.validation_path is not None and from_memory.validation_path is not None
    assert from_file.validation_path.read_bytes() == from_memory.validation_path.read_bytes()


def test_the_streamed_split_is_the_split_of_split_train_validation(tmp_path: Path) -> None:
    pairs = [p for p in _pairs(1000) if p.ok]
    source = tmp_path / "clean.jsonl"
    write_jsonl(source, pairs)
    result = export_file(source, tmp_path / "t.jsonl", "jsonl", validation_fraction=0.1, seed=11)
    train, validation = split_train_validation(pairs, 0.1, seed=11)
    assert (
        (result.train_count, result.validation_count)
        == (len(train), len(validation))
        == (
            899,
            100,
        )
    )
    assert [r["sql"] for r in _lines(result.train_path)] == [p.sql for p in train]
    assert result.validation_path is not None
    assert [r["sql"] for r in _lines(result.validation_path)] == [p.sql for p in validation]
    other = export_file(source, tmp_path / "u.jsonl", "jsonl", validation_fraction=0.1, seed=12)
    assert other.validation_path is not None
    assert _lines(other.validation_path) != _lines(result.validation_path)


def test_a_bad_record_late_in_the_file_leaves_the_previous_export_untouched(
    tmp_path: Path,
) -> None:
    source = tmp_path / "clean.jsonl"
    write_jsonl(source, _pairs(10))
    out = tmp_path / "lamini.jsonl"
    first = export_file(source, out, "lamini", validation_fraction=0.2)
    before = (out.read_bytes(), validation_path_for(out).read_bytes())
    with source.open("a", encoding="utf-8") as handle:
        handle.write('{"question": "q", "sql": 42}\n')
    for fraction in (0.0, 0.2):
        with pytest.raises(DataError, match=r"clean\.jsonl:11: not a valid question/SQL pair"):
            export_file(source, out, "lamini", validation_fraction=fraction)
        assert (out.read_bytes(), validation_path_for(out).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["clean.jsonl", first.train_path.name, "lamini.validation.jsonl"]
    )


def test_sql_over_the_length_limit_is_left_out_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    huge = "SELECT " + " + ".join(["1"] * 2_000_000)  # about 8 MB
    pairs = [QAPair(question="q1", sql="SELECT 1"), QAPair(question="q2", sql=huge)]
    source = tmp_path / "pairs.jsonl"
    write_jsonl(source, pairs)
    result = export_file(source, tmp_path / "t.jsonl", "openai")
    assert (result.train_count, result.skipped) == (1, {"sql_too_long": 1})
    assert any("longer than 100000 characters" in m for m in caplog.messages)
    relaxed = export_file(source, tmp_path / "t.jsonl", "openai", max_sql_length=None)
    assert (relaxed.train_count, relaxed.skipped) == (2, {})
    short = export_pairs(pairs, tmp_path / "s.jsonl", "jsonl", max_sql_length=5)
    assert short.skipped == {"sql_too_long": 2} and short.train_count == 0


def test_export_file_refuses_to_write_over_its_input(tmp_path: Path) -> None:
    source = tmp_path / "clean.jsonl"
    write_jsonl(source, _pairs(5))
    before = source.read_bytes()
    with pytest.raises(ConfigurationError, match=r"output .* is the same file as input"):
        export_file(source, source, "lamini")
    split_input = tmp_path / "x.validation.jsonl"
    split_input.write_bytes(before)
    with pytest.raises(ConfigurationError, match=r"validation output .* same file as input"):
        export_file(split_input, tmp_path / "x.jsonl", "lamini", validation_fraction=0.2)
    assert source.read_bytes() == split_input.read_bytes() == before


def test_a_one_shot_iterator_can_be_split(tmp_path: Path) -> None:
    pairs = _pairs(10)
    result = export_pairs(iter(pairs), tmp_path / "t.jsonl", "jsonl", validation_fraction=0.3)
    assert (result.train_count, result.validation_count) == (6, 3)


def test_an_empty_input_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    for fraction in (0.0, 0.5):
        with pytest.raises(DataError, match="no question/SQL pairs in it: the file is empty"):
            export_file(empty, tmp_path / "t.jsonl", "lamini", validation_fraction=fraction)
    assert not (tmp_path / "t.jsonl").exists()
