"""A tuned model exported to GGUF, served by llama.cpp's OpenAI-compatible server, evaluated.

Slow and skipped unless everything is here: ``TEXT2SQL_TUNE_TEST_MODEL`` names a real model
folder whose tokenizer llama.cpp knows (e.g. Qwen2.5-Coder-0.5B-Instruct; the tiny test Llama's
tokenizer is not one), ``LLAMA_CPP_DIR`` a llama.cpp folder with ``convert_hf_to_gguf.py``
(``vendor/llama.cpp`` of the llama-cpp-python source package), and llama-cpp-python with its
server (``pip install 'llama-cpp-python[server]'``) is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

MODEL = os.environ.get("TEXT2SQL_TUNE_TEST_MODEL", "")
CONVERTER = Path(os.environ.get("LLAMA_CPP_DIR", "/nonexistent")) / "convert_hf_to_gguf.py"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not (MODEL and (Path(MODEL) / "config.json").is_file()),
        reason="set TEXT2SQL_TUNE_TEST_MODEL to a real model folder",
    ),
    pytest.mark.skipif(not CONVERTER.is_file(), reason="set LLAMA_CPP_DIR to llama.cpp"),
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None
        or importlib.util.find_spec("uvicorn") is None,
        reason="llama-cpp-python[server] is not installed",
    ),
]

from typer.testing import CliRunner  # noqa: E402

from text2sql_tune.cli import app  # noqa: E402
from text2sql_tune.demo import load_golden_set  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    runner = CliRunner()
    pairs = Path(__file__).parent / "data" / "local_pairs.jsonl"
    job_file = tmp_path / "job.json"
    tuned = runner.invoke(
        app,
        [
            *("tune", "--tuner", "local", "--base-model", MODEL, "--data", str(pairs)),
            *("--output-dir", str(tmp_path / "runs"), "--max-steps", "1", "--device", "cpu"),
            *("--arg", "batch_size=1", "--job-file", str(job_file), "--json"),
        ],
    )
    assert tuned.exit_code == 0, tuned.output
    exported = runner.invoke(
        app,
        [*("tune", "export", str(job_file), "-o", str(tmp_path / "export"), "--format", "gguf"),
         *("--converter", str(CONVERTER), "--json")],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    gguf = Path(json.loads(exported.stdout)["gguf"])
    assert gguf.read_bytes()[:4] == b"GGUF"
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
         "--port", str(port), "--model_alias", "text2sql", "--n_ctx", "2048"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                    break
            time.sleep(1)
        else:
            tail = (tmp_path / "server.log").read_text()[-2000:]
            pytest.fail(f"the llama.cpp server did not answer: {tail}")
        yield url, tmp_path
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_exported_gguf_answers_through_the_openai_api(
    served: tuple[str, Path], demo_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, tmp_path = served
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", "none")
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        "".join(json.dumps(c.model_dump()) + "\n" for c in load_golden_set()[:3]), encoding="utf-8"
    )
    report = tmp_path / "report.json"
    evaluated = CliRunner().invoke(
        app,
        [
            *("evaluate", "--golden", str(golden), "--model", "openai:text2sql"),
            *("--database", demo_db_url, "--output", str(report), "--no-lint", "--fresh"),
            *("--checkpoint", str(tmp_path / "answers.jsonl"), "--json"),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["summary"]["total"] == 3
    # Every question got an answer from the server (right or wrong), none a provider error.
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    errors = [r.get("error") for r in data["results"]]
    assert len(answers) == 3 and all(a.get("raw_output") for a in answers), errors
    assert not any("provider" in (r.get("error") or "") for r in data["results"])
