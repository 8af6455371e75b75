"""The README works as written: the executor snippet and the custom pipeline (fake servers)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fresh_process import run_python
from text2sql_tune.testing import FakeLaminiServer, FakeOpenAIServer

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_quickstart_has_exactly_the_demo_and_the_test_command() -> None:
    quickstart = README.read_text(encoding="utf-8").split("## Quickstart", 1)[1].split("\n## ")[0]
    commands = re.findall(r"```bash\n(.*?)```", quickstart, re.S)
    assert len(commands) == 2
    assert commands[0].strip().endswith("text2sql-tune demo")
    assert commands[1].strip().endswith("python -m pytest")
    # CI runs the same test command as the README.
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -q -e ".[dev,lamini]"' in ci
    assert "\npython -m pytest\n" in ci


@pytest.mark.slow
def test_the_five_line_executor_snippet_runs(tmp_path: Path) -> None:
    (code,) = [c for c in python_blocks() if "open_executor(None) as db" in c]
    assert len(code.strip().splitlines()) <= 5
    done = run_python(code, home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("['country', 'users'] ['String', 'UInt64'] [[")


@pytest.mark.slow
def test_the_custom_pipeline_runs_against_fake_openai_and_lamini(tmp_path: Path) -> None:
    (code,) = [c for c in python_blocks() if "Pipeline(" in c]
    assert len(code.strip().splitlines()) <= 25
    dev = {"question": "How many users are there?", "sql": "select count() from ecommerce.users"}
    test = {
        "question": "How many sessions are there?",
        "sql": "select count() from ecommerce.sessions",
    }
    (tmp_path / "golden_dev.jsonl").write_text(json.dumps(dev) + "\n", encoding="utf-8")
    (tmp_path / "golden_test.jsonl").write_text(json.dumps(test) + "\n", encoding="utf-8")
    with FakeOpenAIServer() as openai, FakeLaminiServer() as lamini:
        env = {
            "OPENAI_API_KEY": "sk-fake",
            "OPENAI_BASE_URL": openai.url,
            "LAMINI_API_KEY": lamini.api_key,
            "LAMINI_API_URL": lamini.url,
        }
        done = run_python(code, home=tmp_path / "home", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert openai.chat_calls == 300  # one generation call per pair
        (job,) = lamini.jobs.values()
    assert job["finetune_args"]["max_steps"] == 50
    run_dir = tmp_path / "runs" / "shop"
    kept = (run_dir / "clean.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(kept) > 0
    assert json.loads((run_dir / "tuning_job.json").read_text())["provider"] == "lamini"
    assert json.loads((run_dir / "eval" / "report.json").read_text())["summary"]["total"] == 1
    test_report = json.loads((run_dir / "eval" / "test" / "report.json").read_text())
    assert test_report["summary"]["total"] == 1 and "training_overlap" in test_report["metadata"]
