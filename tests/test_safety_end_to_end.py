"""End to end: generated pairs and predictions that try to read a secret file and the process
environment leave no trace of either in any file that validate, clean, evaluate or run write.

Everything runs in a fresh process that has the secret in its environment (and its own chDB
database), as a user's would; the test process itself never holds the secret.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from fresh_process import run_python

ATTACKS = [
    "SELECT file('{sentinel}') AS s",
    "SELECT file('/proc/self/environ') AS s",
    "SELECT arrayMap(file, ['/proc/self/environ']) AS s",
    "SELECT * APPLY(file) FROM (SELECT '{sentinel}' AS p)",
    "SELECT COLUMNS('p') APPLY file FROM (SELECT '/proc/self/environ' AS p)",
    "SELECT x FROM (SELECT 1 AS x) ARRAY JOIN arrayMap(file, ['{sentinel}']) AS f",
    "SELECT * FROM file('{sentinel}', 'LineAsString')",
    "SELECT `file`('{sentinel}') AS s",
    "WITH (SELECT file('/proc/self/environ')) AS e SELECT e",
    "SELECT arrayMap(x -> file(x), ['{sentinel}']) AS s",
    "SELECT 1 AS x INTO OUTFILE '{root}/leak.txt'",
    "SELECT 'x' AS s FORMAT RawBLOB SETTINGS join_use_nulls = 0",
    "SELECT * FROM system.one",
]

SCRIPT = """
import json, os, sys
from pathlib import Path
from typer.testing import CliRunner
from text2sql_tune import ChDBExecutor, SQLGuard
from text2sql_tune.cli import app
from text2sql_tune.demo import build_demo_database

root = Path(os.environ["T2S_E2E_ROOT"])
url = build_demo_database(root / "db", scale=0.01, seed=1)
runner = CliRunner()
def cli(name, *args):
    database = ["--database", url] if name != "run" else []
    result = runner.invoke(app, [name, *args, *database])
    (root / f"{name}.out").write_text(result.output, encoding="utf-8")
    print("RC", name, result.exit_code, flush=True)

cli("validate", "-i", str(root / "pairs.jsonl"), "-o", str(root / "validated.jsonl"))
cli("clean", "-i", str(root / "validated.jsonl"), "-o", str(root / "clean.jsonl"),
    "--dropped", str(root / "dropped.jsonl"), "--report", str(root / "clean_report.json"))
cli("evaluate", "--golden", str(root / "golden.jsonl"), "--predictions",
    str(root / "predictions.jsonl"), "--output", str(root / "report.json"))
cli("run", str(root / "pipeline.toml"))

class Naked(SQLGuard):
    def check(self, sql):
        return sql

# The control: without the guard the engine would hand both secrets over.
naked = ChDBExecutor(root / "db", guard=Naked())
file_text = naked.execute("SELECT file('" + os.environ["T2S_E2E_SENTINEL"] + "') AS s").to_text()
env_text = naked.execute("SELECT file('/proc/self/environ') AS s").to_text()
print("CONTROL", os.environ["T2S_E2E_FILE_SECRET"] in file_text,
      os.environ["T2S_E2E_ENV_SECRET"] in env_text, flush=True)
"""


def write_jsonl(path: Path, records: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_no_secret_reaches_any_output_file(tmp_path: Path) -> None:
    file_secret = "FILE-SECRET-" + secrets.token_hex(8)
    env_secret = "ENV-SECRET-" + secrets.token_hex(8)
    root = tmp_path / "work"
    root.mkdir()
    sentinel = tmp_path / "secret.txt"
    sentinel.write_text(file_secret + "\n", encoding="utf-8")
    attacks = [a.format(sentinel=sentinel, root=root) for a in ATTACKS]
    pairs = [{"question": f"Attack number {i}?", "sql": sql} for i, sql in enumerate(attacks)]
    pairs.append(
        {"question": "How many users are there?", "sql": "SELECT count() FROM ecommerce.users"}
    )
    write_jsonl(root / "pairs.jsonl", pairs)
    golden = [
        {"question": "How many users are there?", "sql": "SELECT count() FROM ecommerce.users"},
        {
            "question": "How many sessions are there?",
            "sql": "SELECT count() FROM ecommerce.sessions",
        },
    ]
    write_jsonl(root / "golden.jsonl", golden)
    predictions = [
        {"question": golden[0]["question"], "sql": attacks[0]},
        {"question": golden[1]["question"], "sql": attacks[2]},
    ]
    write_jsonl(root / "predictions.jsonl", predictions)
    (root / "pipeline.toml").write_text(
        f'[run]\ndir = "{root / "run"}"\ndatabase = "chdb://{root / "db"}"\n'
        '[generate]\ngenerator = "none"\nseed_examples = "pairs.jsonl"\n'
        '[evaluate]\ngolden = "golden.jsonl"\nhtml = false\n',
        encoding="utf-8",
    )
    done = run_python(
        SCRIPT,
        home=tmp_path / "home",
        env={
            "T2S_E2E_ROOT": str(root),
            "T2S_E2E_SENTINEL": str(sentinel),
            "T2S_E2E_FILE_SECRET": file_secret,
            "T2S_E2E_ENV_SECRET": env_secret,
        },
    )
    output = done.stdout + done.stderr
    assert "CONTROL True True" in done.stdout, output  # the attacks are real
    for command in ("validate", "clean", "evaluate", "run"):
        assert f"RC {command} 0" in done.stdout, output
    scanned = [p for p in root.rglob("*") if p.is_file()]
    assert len(scanned) > 20 and (root / "run" / "clean.jsonl").exists()
    for path in scanned:
        data = path.read_bytes()
        assert file_secret.encode() not in data, path
        assert env_secret.encode() not in data, path
    assert file_secret not in output and env_secret not in output
    assert not (root / "leak.txt").exists()
    validated = [json.loads(line) for line in (root / "validated.jsonl").read_text().splitlines()]
    statuses = {p["question"]: p["validation"]["status"] for p in validated}
    assert statuses["How many users are there?"] == "ok"
    assert sum(1 for s in statuses.values() if s == "unsafe") == len(ATTACKS) - 1
    report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    assert [r["category"] for r in report["results"]] == ["unsafe", "unsafe"]
