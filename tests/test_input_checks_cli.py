"""CLI input checks: no output over an input, no silent success on empty or broken input files.

Every case goes through the console entry point, so what is checked is what a user sees: the exit
status of the error family (docs/exit-codes.md) and one ``error:`` line, with the input untouched.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from cli_main import run_main

PAIRS = [
    {"question": "How many users are there?", "sql": "SELECT count() FROM ecommerce.users"},
    {"question": "How many sessions?", "sql": "SELECT count() FROM ecommerce.sessions"},
]


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    return _jsonl(tmp_path / "pairs.jsonl", PAIRS)


def _same_file_cases(tmp: Path, pairs: Path, db: str) -> list[tuple[list[str], str]]:
    """(command line, the options the message must name) for each way to clobber an input."""
    golden = _jsonl(tmp / "golden.jsonl", PAIRS)
    (tmp / "sub").mkdir()
    via_dots = str(tmp / "sub" / ".." / "pairs.jsonl")
    link = tmp / "link.jsonl"
    link.symlink_to(pairs)
    split_input = _jsonl(tmp / "train.validation.jsonl", PAIRS)
    return [
        (["export", "-i", str(pairs), "-o", str(pairs)], "--output .* --input"),
        (["export", "-i", str(pairs), "-o", via_dots], "--output .* --input"),
        (["export", "-i", str(pairs), "-o", str(link)], "--output .* --input"),
        (["export", "-i", str(split_input), "-o", str(tmp / "train.jsonl"),
          "--validation-fraction", "0.5"], "the validation file .* --input"),
        (["export", "-i", str(pairs), "-o", str(tmp / "notes.yaml"),
          "--schema-notes", str(tmp / "notes.yaml")], "--output .* --schema-notes"),
        (["validate", "-i", str(pairs), "-o", str(pairs), "-d", db], "--output .* --input"),
        (["clean", "-i", str(pairs), "-o", str(pairs), "-d", db], "--output .* --input"),
        (["clean", "-i", str(pairs), "-o", str(tmp / "c.jsonl"), "--eval-set", str(golden),
          "--dropped", str(golden), "-d", db], "--dropped .* --eval-set"),
        (["clean", "-i", str(pairs), "-o", str(tmp / "c.jsonl"), "--report", str(pairs),
          "-d", db], "--report .* --input"),
        (["clean", "-i", str(pairs), "-o", str(tmp / "c.jsonl"),
          "--report", str(tmp / "c.jsonl"), "-d", db], "--output and --report are the same"),
        (["evaluate", "-g", str(golden), "-p", str(pairs), "-o", str(golden), "-d", db],
         "--output .* --golden"),
        (["evaluate", "-g", str(golden), "-p", str(pairs), "-o", str(pairs), "-d", db],
         "--output .* --predictions"),
        (["evaluate", "-g", str(golden), "-p", str(pairs), "--judge-cache", str(golden),
          "-d", db], "--judge-cache .* --golden"),
        (["validate", "-i", str(_jsonl(tmp / "v.checkpoint.jsonl", PAIRS)),
          "-o", str(tmp / "v.jsonl"), "-d", db], "the validation checkpoint .* --input"),
        (["clean", "-i", str(_jsonl(tmp / "k.checkpoint.jsonl", PAIRS)),
          "-o", str(tmp / "k.jsonl"), "-d", db], "the validation checkpoint .* --input"),
        (["tune", "--tuner", "lamini", "--data", str(pairs), "--job-file", str(pairs)],
         "--job-file .* --data"),
        (["report", str(tmp / "report.json"), "--html", str(tmp / "report.json")],
         "--html .* report 0"),
        (["report", str(tmp / "report.json"), "--markdown", str(pairs), "--training", str(pairs)],
         "--markdown .* --training"),
    ]  # fmt: skip


def test_no_command_writes_over_one_of_its_inputs(
    tmp_path: Path,
    pairs_file: Path,
    demo_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for args, names in _same_file_cases(tmp_path, pairs_file, demo_db_url):
        before = {p: p.read_bytes() for p in tmp_path.glob("*.jsonl")}
        outcome = run_main(args, monkeypatch, capsys)
        assert outcome.code == 2, (args, outcome)
        line = outcome.error_line
        assert "same file" in line and "nothing was written" in line, line
        assert re.search(names, line), (names, line)
        assert {p: p.read_bytes() for p in tmp_path.glob("*.jsonl")} == before, args
        assert not list(tmp_path.glob(".*.tmp")), args


def test_a_hard_link_is_the_same_file_too(
    tmp_path: Path,
    pairs_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hard = tmp_path / "hard.jsonl"
    os.link(pairs_file, hard)
    outcome = run_main(["export", "-i", str(pairs_file), "-o", str(hard)], monkeypatch, capsys)
    assert outcome.code == 2 and "same file" in outcome.error_line
    assert json.loads(pairs_file.read_text(encoding="utf-8").splitlines()[0]) == PAIRS[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file holds only blank lines"),
        (
            b'{"question": "How many users are there?", "sql": "SELECT co',
            "its only line is cut off",
        ),
    ],
)
def test_empty_or_truncated_inputs_fail_with_exit_code_3(
    content: bytes,
    reason: str,
    tmp_path: Path,
    pairs_file: Path,
    demo_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    golden = _jsonl(tmp_path / "golden.jsonl", PAIRS)
    out = str(tmp_path / "out.jsonl")
    commands = [
        ["export", "-i", str(bad), "-o", out],
        ["validate", "-i", str(bad), "-o", out, "-d", demo_db_url],
        ["clean", "-i", str(bad), "-o", out, "-d", demo_db_url],
        ["clean", "-i", str(pairs_file), "-o", out, "--eval-set", str(bad), "-d", demo_db_url],
        ["evaluate", "-g", str(bad), "-p", str(pairs_file), "-d", demo_db_url],
        ["evaluate", "-g", str(golden), "-p", str(bad), "-d", demo_db_url],
        ["generate", "--generator", "template", "-n", "2", "-o", out, "-d", demo_db_url,
         "--seed-examples", str(bad)],
    ]  # fmt: skip
    for args in commands:
        outcome = run_main(args, monkeypatch, capsys)
        assert outcome.code == 3, (args, outcome)
        assert f"{bad}: no " in outcome.error_line and reason in outcome.error_line, args
        assert "Traceback" not in outcome.err
        assert not Path(out).exists(), args


def test_a_bad_record_is_one_error_line_without_a_pydantic_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(PAIRS[0]) + "\n" + '{"question": "q", "sql": ["SELECT 1"]}\n')
    outcome = run_main(
        ["export", "-i", str(bad), "-o", str(tmp_path / "o.jsonl")], monkeypatch, capsys
    )
    assert outcome.code == 3
    assert outcome.err.strip() == (
        f"error: {bad}:2: not a valid question/SQL pair: field 'sql': expected a string "
        '(got ["SELECT 1"])'
    )


def test_undecodable_input_is_exit_code_3_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(
        json.dumps(PAIRS[0]).encode() + b"\n" + '{"question": "Müller?"}\n'.encode("cp1252")
    )
    outcome = run_main(
        ["export", "-i", str(bad), "-o", str(tmp_path / "o.jsonl")], monkeypatch, capsys
    )
    assert outcome.code == 3
    assert outcome.error_line.startswith(f"error: {bad}:2: not valid UTF-8")


@pytest.mark.parametrize("content", ["", "# only a comment\n\n"])
def test_run_with_an_empty_configuration_is_refused(
    content: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "empty.jsonl"
    config.write_text(content, encoding="utf-8")
    outcome = run_main(
        ["run", str(config), "--run-dir", str(tmp_path / "run")], monkeypatch, capsys
    )
    assert outcome.code == 2
    assert f"{config}: no settings in it" in outcome.error_line
    assert not (tmp_path / "run").exists()


def test_an_invalid_configuration_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_text("[generate]\nn = 'many'\ncolour = 1\n", encoding="utf-8")
    outcome = run_main(["run", str(config)], monkeypatch, capsys)
    assert outcome.code == 2
    assert outcome.err.count("\n") == 1 and "pydantic" not in outcome.err
    assert "field 'generate.n': expected an integer" in outcome.error_line
    assert "field 'generate.colour': is not a known field" in outcome.error_line


def test_over_long_sql_is_refused_before_it_is_tokenised(
    tmp_path: Path,
    demo_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    huge = "SELECT " + " + ".join(["1"] * 500_000)  # 2 MB: seconds to lex, nothing to check
    source = _jsonl(tmp_path / "raw.jsonl", [*PAIRS, {"question": "Huge?", "sql": huge}])
    validated = tmp_path / "validated.jsonl"
    outcome = run_main(
        ["validate", "-i", str(source), "-o", str(validated), "-d", demo_db_url, "--json"],
        monkeypatch,
        capsys,
    )
    assert outcome.code == 0, outcome
    huge_pair = json.loads(validated.read_text(encoding="utf-8").splitlines()[2])
    assert huge_pair["validation"]["status"] == "unsafe"
    assert "longer than 100000 characters" in huge_pair["validation"]["error"]
    clean = tmp_path / "clean.jsonl"
    outcome = run_main(
        ["clean", "-i", str(source), "-o", str(clean), "-d", demo_db_url, "--json",
         "--max-sql-length", "36"],
        monkeypatch,
        capsys,
    )  # fmt: skip
    assert outcome.code == 0, outcome
    summary = json.loads(outcome.out)
    assert summary["by_reason"] == {"sql_too_long": 2}  # the huge one and a 38-character one
    assert summary["steps"][1]["name"] == "sql_length"
    dropped = tmp_path / "clean.dropped.jsonl"
    details = [json.loads(line)["detail"] for line in dropped.read_text().splitlines()]
    assert details[-1].startswith(f"{len(huge):,} characters, over the limit of 36")
