"""Reading broken, oddly encoded, hostile or empty record files: one clear DataError each."""

from __future__ import annotations

import codecs
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from text2sql_tune import DataError, EvalCase, QAPair, read_cases, read_pairs, write_jsonl
from text2sql_tune.filters import FilterReport
from text2sql_tune.io.records import iter_pairs, iter_records, read_records
from text2sql_tune.records import Prediction

RECORD = {"question": "Combien de clients à Zürich?", "sql": "SELECT count() FROM t", "id": 7}
LINE = json.dumps(RECORD, ensure_ascii=False) + "\n"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (b"", "utf-8"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_utf8_and_any_unicode_encoding_with_a_bom_is_read(
    bom: bytes, codec: str, tmp_path: Path
) -> None:
    path = _write(tmp_path / "pairs.jsonl", bom + (LINE * 2).encode(codec))
    pairs = read_pairs(path)
    assert [p.question for p in pairs] == [RECORD["question"]] * 2
    assert pairs[0].metadata == {"id": 7}


def test_a_bom_does_not_end_up_in_the_first_csv_column(tmp_path: Path) -> None:
    text = "question,sql_query,difficulty\r\nHow many users?,SELECT count() FROM u,easy\r\n"
    path = _write(tmp_path / "golden.csv", codecs.BOM_UTF8 + text.encode())
    (case,) = read_cases(path)
    assert (case.question, case.sql, case.metadata) == (
        "How many users?",
        "SELECT count() FROM u",
        {"difficulty": "easy"},
    )


def test_utf16_tsv_with_a_bom_is_read(tmp_path: Path) -> None:
    text = "question\tsql\nHow many users?\tSELECT count() FROM u\n"
    path = _write(tmp_path / "pairs.tsv", text.encode("utf-16"))  # Python writes the BOM
    assert read_pairs(path)[0].sql == "SELECT count() FROM u"


def test_invalid_utf8_names_the_file_line_and_column(tmp_path: Path) -> None:
    latin1 = '{"question": "Café?", "sql": "SELECT 1"}\n'.encode("latin-1")
    path = _write(tmp_path / "pairs.jsonl", LINE.encode() + latin1)
    with pytest.raises(DataError) as caught:
        read_pairs(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: not valid UTF-8 (byte 0xe9 at column 18)")
    assert "Latin-1" in message and "\n" not in message


def test_utf16_without_a_bom_is_recognised_and_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "pairs.jsonl", LINE.encode("utf-16-le"))
    with pytest.raises(DataError, match=r"pairs\.jsonl:1: .*UTF-16 or UTF-32 without a byte-order"):
        read_pairs(path)


def test_bytes_that_break_the_encoding_its_bom_names_are_refused_with_the_line(
    tmp_path: Path,
) -> None:
    lone_high_surrogate = "\ud800".encode("utf-16-le", "surrogatepass")
    data = codecs.BOM_UTF16_LE + (LINE * 2).encode("utf-16-le") + lone_high_surrogate + b"{\x00"
    path = _write(tmp_path / "pairs.jsonl", data)
    with pytest.raises(DataError, match=r"pairs\.jsonl:3: not valid UTF-16-LE although its"):
        read_pairs(path)


def test_a_line_separator_inside_a_string_does_not_split_the_record(tmp_path: Path) -> None:
    record = {"question": "first\u2028second\u0085third", "sql": "SELECT 1"}
    text = json.dumps(record, ensure_ascii=False) + "\n"
    for name, data in (("a.jsonl", text.encode()), ("b.jsonl", text.encode("utf-16"))):
        (pair,) = read_pairs(_write(tmp_path / name, data))
        assert pair.question == record["question"]


# -- hostile JSON ------------------------------------------------------------------------------


def test_lone_surrogates_are_replaced_with_one_warning_and_the_pairs_can_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(
        tmp_path / "pairs.jsonl",
        b'{"question": "ok", "sql": "SELECT 1"}\n'
        b'{"question": "bad \\ud800 text", "sql": "SELECT \'\\udfff\'", "\\ud83d": 1}\n'
        b'{"question": "emoji \\ud83d\\ude00 is a valid pair", "sql": "SELECT 2"}\n',
    )
    with caplog.at_level(logging.WARNING, logger="text2sql_tune"):
        pairs = read_pairs(path)
    assert pairs[1].question == "bad \ufffd text" and pairs[1].sql == "SELECT '\ufffd'"
    assert pairs[1].metadata == {"\ufffd": 1}
    assert pairs[2].question == "emoji \U0001f600 is a valid pair"
    (warning,) = [r.getMessage() for r in caplog.records if "surrogate" in r.getMessage()]
    assert "1 record(s)" in warning and "at: 2" in warning
    out = tmp_path / "out.jsonl"
    assert write_jsonl(out, pairs) == 3
    assert read_pairs(out)[1].question == "bad \ufffd text"


def test_writing_a_record_built_with_a_lone_surrogate_does_not_crash(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    write_jsonl(out, [QAPair(question="x\udc80y", sql="SELECT 1")])
    assert read_pairs(out)[0].question == "x\ufffdy"


@pytest.mark.parametrize(
    ("depth", "message"),
    [(100_000, "nested far too deeply"), (150, "nested 152 levels deep; at most 100")],
)
def test_deeply_nested_metadata_is_refused(depth: int, message: str, tmp_path: Path) -> None:
    nested = "[" * depth + "]" * depth
    line = '{"question": "q", "sql": "SELECT 1", "metadata": {"a": ' + nested + "}}\n"
    path = _write(tmp_path / "deep.jsonl", line.encode())
    with pytest.raises(DataError, match=rf"deep\.jsonl:1: {message}"):
        read_pairs(path)


def test_nesting_within_the_limit_is_kept_and_written_back(tmp_path: Path) -> None:
    nested = "[" * 90 + "]" * 90
    line = '{"question": "q", "sql": "SELECT 1", "metadata": {"a": ' + nested + "}}\n"
    pairs = read_pairs(_write(tmp_path / "ok.jsonl", line.encode()))
    out = tmp_path / "out.jsonl"
    write_jsonl(out, pairs)
    assert read_pairs(out) == pairs


def test_a_number_with_thousands_of_digits_is_refused(tmp_path: Path) -> None:
    line = '{"question": "q", "sql": "SELECT 1", "metadata": {"n": ' + "9" * 5000 + "}}\n"
    path = _write(tmp_path / "big.jsonl", line.encode())
    with pytest.raises(DataError, match=r"big\.jsonl:1: a number has more than 4,300 digits"):
        read_pairs(path)


# -- extra keys ---------------------------------------------------------------------------------


def test_unknown_keys_of_a_pair_are_kept_as_metadata(tmp_path: Path) -> None:
    rows = [
        {"id": 1, "question": "q1", "sql": "SELECT 1", "difficulty": "easy"},
        {"id": 2, "question": "q2", "sql": "SELECT 2", "metadata": {"id": "kept", "x": 1}},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    first, second = read_pairs(path)
    assert first.metadata == {"id": 1, "difficulty": "easy"}
    assert second.metadata == {"id": "kept", "x": 1}  # an explicit metadata value wins
    out = tmp_path / "out.jsonl"
    write_jsonl(out, [first, second])
    assert read_pairs(out) == [first, second]


def test_golden_cases_keep_extra_columns_and_accept_a_numeric_id() -> None:
    case = EvalCase.model_validate({"id": 3, "question": "q", "sql": "SELECT 1", "level": 2})
    assert (case.id, case.metadata) == ("3", {"level": 2})


# -- empty, blank and torn files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.jsonl", b"", "the file is empty"),
        ("blank.jsonl", b"\n   \n\t\n", "the file holds only blank lines"),
        (
            "torn.jsonl",
            b'{"question": "q", "sql": "SEL',
            "its only line is cut off (an interrupted write?)",
        ),
        ("header.csv", b"question,sql\n", "it has a header row but no records"),
        ("empty.csv", b"", "the file is empty"),
        ("empty.json", b"[]", "it is an empty JSON array"),
        ("blank.json", b"  \n", "the file is empty"),
    ],
)
def test_a_file_without_records_is_refused_saying_why(
    name: str, data: bytes, reason: str, tmp_path: Path
) -> None:
    path = _write(tmp_path / name, data)
    with pytest.raises(DataError) as caught:
        read_pairs(path)
    assert str(caught.value) == f"{path}: no question/SQL pairs in it: {reason}"
    assert read_pairs(path, allow_empty=True) == []
    with pytest.raises(DataError, match="no golden cases in it"):
        read_cases(path)


def test_a_torn_last_line_after_good_ones_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path / "raw.jsonl", LINE.encode() * 2 + b'{"question": "q", "sql"')
    with caplog.at_level(logging.WARNING, logger="text2sql_tune"):
        pairs = read_pairs(path)
    assert len(pairs) == 2
    assert any("raw.jsonl:3: skipping an incomplete last line" in m for m in caplog.messages)


def test_a_broken_line_in_the_middle_is_an_error_not_a_torn_tail(tmp_path: Path) -> None:
    path = _write(tmp_path / "raw.jsonl", LINE.encode() + b'{"question": \n' + LINE.encode())
    with pytest.raises(DataError, match=r"raw\.jsonl:2: not valid JSON: Expecting value"):
        read_pairs(path)


def test_missing_files_and_folders_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_pairs(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="is a folder"):
        read_pairs(tmp_path)


# -- validation errors in one line -------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"question": "q", "sql": 5}, "field 'sql': expected a string (got 5)"),
        ({"sql": "SELECT 1"}, "a pair needs a non-empty question and sql (or a rejected reason)"),
        (
            {"question": "q", "sql": "SELECT 1", "validation": {"status": "fine"}},
            "field 'validation.status': expected 'ok', 'error', 'too_many_rows', 'empty', "
            "'unsafe' or 'timeout' (got \"fine\")",
        ),
        (
            {"question": "q", "sql": "SELECT 1", "examples": "not a list"},
            "field 'examples': expected a list (got \"not a list\")",
        ),
        (
            {"question": "q", "sql": "SELECT 1", "usage": {"calls": "many"}},
            "field 'usage.calls': expected an integer (got \"many\")",
        ),
    ],
)
def test_a_bad_record_is_one_line_naming_file_line_and_field(
    record: dict[str, object], expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(LINE + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_pairs(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: not a valid question/SQL pair: {expected}")
    assert "\n" not in message and "pydantic" not in message


def test_a_model_level_error_lists_the_keys_found(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"questoin": "q", "sql": "SELECT 1"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"\(its keys: questoin, sql\)$"):
        read_pairs(path)


@pytest.mark.parametrize("field", ["question", "sql"])
def test_a_golden_case_with_blank_text_is_refused(field: str, tmp_path: Path) -> None:
    case = {"question": "How many?", "sql": "SELECT 1", field: "   "}
    path = tmp_path / "golden.jsonl"
    path.write_text(json.dumps(case) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_cases(path)
    assert str(caught.value) == (
        f"{path}:1: not a valid golden case: field '{field}': must not be empty"
    )


def test_non_object_records_are_refused_with_their_place(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"x\.jsonl:1: expected a JSON object .*found list"):
        read_pairs(_write(tmp_path / "x.jsonl", b"[1, 2]\n"))
    with pytest.raises(DataError, match=r"x\.json: item 2: expected a JSON object .*found int"):
        read_pairs(_write(tmp_path / "x.json", b'[{"question": "q", "sql": "SELECT 1"}, 5]'))


# -- CSV / TSV -----------------------------------------------------------------------------------


def test_csv_empty_cells_are_missing_values_and_extra_cells_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("question,sql,rejected,comments\nq,SELECT 1,,\n", encoding="utf-8")
    (pair,) = read_pairs(path)
    assert pair.ok and pair.comments is None  # an empty "rejected" cell does not reject it
    path.write_text("question,sql\nq,SELECT 1\nr,SELECT a, b FROM t\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs\.csv:3: 3 cells but the header has 2 columns"):
        read_pairs(path)


def test_csv_header_needs_distinct_names(tmp_path: Path) -> None:
    path = _write(tmp_path / "pairs.csv", b"question,sql,sql\nq,a,b\n")
    with pytest.raises(DataError, match=r"pairs\.csv:1: every column needs a distinct name"):
        read_pairs(path)


def test_a_csv_field_over_the_csv_module_limit_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text('question,sql\nq,"SELECT ' + "1" * 200_000 + '"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs\.csv:\d+: not valid CSV/TSV: field larger"):
        read_pairs(path)


# -- streaming ---------------------------------------------------------------------------------


def test_iter_pairs_streams_and_reports_a_bad_record_when_it_reaches_it(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(LINE * 3 + '{"question": 1}\n', encoding="utf-8")
    stream = iter_pairs(path)
    assert [next(stream).question for _ in range(3)] == [RECORD["question"]] * 3
    with pytest.raises(DataError, match=r"pairs\.jsonl:4:"):
        next(stream)


def test_raw_records_and_other_models_share_the_reader(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.jsonl", codecs.BOM_UTF8 + b'{"question": "q", "sql": "S"}\n')
    assert list(iter_records(path)) == [{"question": "q", "sql": "S"}]
    assert read_records(path, Prediction)[0].sql == "S"
    with pytest.raises(DataError, match="no predictions in it"):
        read_records(_write(tmp_path / "e.jsonl", b""), Prediction)


def test_write_jsonl_leaves_the_old_file_when_the_records_fail_midway(tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    write_jsonl(out, [QAPair(question="old", sql="SELECT 1")])
    before = out.read_bytes()

    def records() -> Iterator[QAPair]:
        yield QAPair(question="new", sql="SELECT 2")
        raise DataError("the source broke")

    with pytest.raises(DataError, match="the source broke"):
        write_jsonl(out, records())
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.jsonl"]


def test_a_cleaning_report_that_is_not_one_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"input_count": "many"}', encoding="utf-8")
    with pytest.raises(DataError) as caught:
        FilterReport.load(path)
    assert str(caught.value).startswith(f"{path}: not a cleaning report: field 'input_count'")
    with pytest.raises(DataError, match="no such file"):
        FilterReport.load(tmp_path / "missing.json")
