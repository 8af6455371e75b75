"""``run config.toml``, ``demo`` and :func:`load_config`, in process, on the test demo database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from fresh_process import run_python
from text2sql_tune import ConfigurationError, load_config, load_golden_set, read_pairs
from text2sql_tune.cli import app
from text2sql_tune.prompts import llama3_prompt
from text2sql_tune.sql.canonical import canonical_sql
from text2sql_tune.testing import FakeLaminiServer, FakeOpenAIServer

GOLDEN = [
    {"question": "How many customers are there?", "sql": "select count() from ecommerce.users"},
    {
        "question": "How many sessions came from each browser?",
        "sql": "select browser, count() from ecommerce.sessions group by browser",
    },
]


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, args, env=env)


def write_config(tmp_path: Path, demo_db_url: str, body: str) -> Path:
    (tmp_path / "golden.jsonl").write_text(
        "".join(json.dumps(case) + "\n" for case in GOLDEN), encoding="utf-8"
    )
    path = tmp_path / "pipeline.toml"
    path.write_text(f'[run]\ndir = "run"\ndatabase = "{demo_db_url}"\n{body}', encoding="utf-8")
    return path


def test_load_config_resolves_relative_paths_against_the_file(
    tmp_path: Path, demo_db_url: str
) -> None:
    path = write_config(
        tmp_path,
        demo_db_url,
        '[generate]\nn = 5\n[evaluate]\ngolden = "golden.jsonl"\n[clean]\nmax_rows = 20\n',
    )
    config = load_config(path)
    assert config.run.dir == tmp_path.resolve() / "run"
    assert config.evaluate.golden == tmp_path.resolve() / "golden.jsonl"
    assert (config.generate.n, config.clean.max_rows, config.clean.min_rows) == (5, 20, 1)


def test_a_typo_in_the_config_is_named(tmp_path: Path, demo_db_url: str) -> None:
    path = write_config(tmp_path, demo_db_url, "[clean]\nmax_row = 20\n")
    with pytest.raises(ConfigurationError, match="max_row"):
        load_config(path)
    path.write_text("[run\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_config(path)


def test_run_executes_the_configured_pipeline_and_resumes(tmp_path: Path, demo_db_url: str) -> None:
    path = write_config(
        tmp_path,
        demo_db_url,
        '[generate]\nn = 40\n[export]\nformats = ["lamini", "hf"]\nvalidation_fraction = 0.2\n'
        '[evaluate]\ngolden = "golden.jsonl"\nhtml = false\n',
    )
    result = invoke(["run", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    run_dir = tmp_path / "run"
    assert summary["generated"] == 40
    assert summary["kept"] == len(read_pairs(run_dir / "clean.jsonl")) > 0
    assert summary["evaluation"]["total"] == len(GOLDEN)
    assert (run_dir / "export" / "hf.jsonl").exists()
    assert (run_dir / "export" / "lamini.validation.jsonl").exists()
    assert not (run_dir / "export" / "openai.jsonl").exists()
    saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert saved["generate"]["n"] == 40
    # No golden question reaches the training data (bundled seed examples included).
    kept_questions = {p.question.lower() for p in read_pairs(run_dir / "clean.jsonl")}
    assert not kept_questions & {case["question"].lower() for case in GOLDEN}

    again = invoke(["run", str(path), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["kept"] == summary["kept"]


def test_run_refuses_a_tuned_model_without_a_tuner(tmp_path: Path, demo_db_url: str) -> None:
    path = write_config(tmp_path, demo_db_url, '[evaluate]\nmodel = "tuned"\n')
    result = invoke(["run", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigurationError)
    assert "needs a [tune] tuner" in str(result.exception)


def test_demo_runs_the_whole_loop_offline(tmp_path: Path, demo_db_url: str) -> None:
    run_dir = tmp_path / "demo"
    result = invoke(["demo", "--database", demo_db_url, "--n", "60", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    for name in ("raw.jsonl", "clean.jsonl", "dropped.jsonl", "filter_report.json"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "export" / "lamini.jsonl").exists()
    assert (run_dir / "export" / "openai.jsonl").exists()
    html = (run_dir / "eval" / "report.html").read_text(encoding="utf-8")
    assert "retrieval" in html
    report = json.loads((run_dir / "eval" / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["total"] == len(load_golden_set())
    assert str(run_dir) in result.stdout
    # ... then the loop: analysis, targeted pairs, a second evaluation
    second = run_dir / "iteration-2"
    for name in ("analysis.json", "iteration.json", "clean.jsonl", "eval/report.json"):
        assert (second / name).exists(), name
    assert "The loop" in result.stdout and "coverage, not a model" in result.stdout
    # the demo prints its test score (the questions the loop never read), and says what it means
    test_report = json.loads((second / "eval" / "test" / "report.json").read_text())
    assert test_report["summary"]["total"] == len(load_golden_set("test"))
    assert "Test score (36 questions the loop never read)" in " ".join(result.stdout.split())
    page = (second / "eval" / "test" / "report.html").read_text(encoding="utf-8")
    assert "Training overlap" in page and "Evidence" not in page


def test_the_demo_loop_improves_coverage_without_leaking(tmp_path: Path, demo_db_url: str) -> None:
    run_dir = tmp_path / "demo"
    args = ["demo", "--database", demo_db_url, "--n", "80", "--next-n", "120"]
    result = invoke([*args, "--run-dir", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    first, second = summary["loop"]
    assert (first["iteration"], second["iteration"]) == (1, 2)
    assert second["covered"] > first["covered"] and second["missing"] < first["missing"]
    assert second["correct"] >= first["correct"]
    assert summary["iterations"][0]["generated"] == 120
    assert any("coverage, not a model" in line for line in summary["headline"])
    # the headline is the test score, dev beside it
    assert (first["test_total"], second["test_total"]) == (36, 36)
    assert summary["headline"][0].startswith("Test score (36 questions the loop never read)")
    assert summary["iterations"][0]["test_evaluation"]["total"] == 36
    assert summary["iterations"][0]["golden"]["test_hash"].startswith("sha256:")
    golden = load_golden_set("all")  # neither dev nor test leaks, in any spelling
    golden_sql = {canonical_sql(c.sql) for c in golden}
    for folder in (run_dir, run_dir / "iteration-2"):
        kept = read_pairs(folder / "clean.jsonl")
        assert not {p.question.lower() for p in kept} & {c.question.lower() for c in golden}
        assert not {canonical_sql(p.sql) for p in kept} & golden_sql
    one = invoke([*args, "--run-dir", str(tmp_path / "one"), "--iterations", "1", "--json"])
    assert "loop" not in json.loads(one.stdout)
    assert not (tmp_path / "one" / "iteration-2").exists()


def test_demo_with_lamini_tunes_and_evaluates_the_tuned_model(
    tmp_path: Path, demo_db_url: str
) -> None:
    golden = {llama3_prompt(c.question): c.sql for c in load_golden_set()}

    def respond(prompt: str, _model: str) -> str:
        # The tuned model "knows" the golden answers: find the question at the end of the prompt.
        for key, sql in golden.items():
            question = key.split("user<|end_header_id|>\n\n", 1)[1].split("<|eot_id|>")[0]
            if f"\n\n{question}<|eot_id|>" in prompt:
                return sql
        return "select 1"

    with FakeLaminiServer(respond=respond) as server:
        env = {"LAMINI_API_KEY": server.api_key, "LAMINI_API_URL": server.url}
        run_dir = tmp_path / "tuned"
        result = invoke(
            [
                *("demo", "--database", demo_db_url, "--n", "30", "--run-dir", str(run_dir)),
                *("--tuner", "lamini", "--wait", "--max-steps", "7", "--poll-interval", "0.01"),
                "--json",
            ],
            env,
        )
        assert result.exit_code == 0, result.output
        first_job, second_job = server.jobs.values()  # each iteration tunes its own model
        datasets = list(server.datasets.values())
    summary = json.loads(result.stdout)
    assert summary["tuning_job"]["status"] == "completed"
    assert first_job["finetune_args"]["max_steps"] == second_job["finetune_args"]["max_steps"] == 7
    assert summary["evaluation"]["correct"] == len(golden)
    assert len(datasets[0]) == summary["kept"]
    (child,) = summary["iterations"]
    assert len(datasets[1]) == child["kept"] > summary["kept"]
    assert child["evaluation"]["correct"] == len(golden)


@pytest.mark.slow
def test_the_demo_builds_its_default_database_on_first_use(tmp_path: Path) -> None:
    # A fresh process and a fresh home, as on a new machine: no --database at all.
    code = (
        "from text2sql_tune.cli import main\n"
        "import sys\n"
        "sys.argv = ['text2sql-tune', 'demo', '--n', '20', '--run-dir', 'run', '--json']\n"
        "main()\n"
    )
    done = run_python(code, home=tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["generated"] == 20
    assert summary["evaluation"]["total"] == len(load_golden_set())
    assert (tmp_path / "home" / "demo").is_dir()
    assert (tmp_path / "run" / "eval" / "report.html").exists()


def test_demo_with_the_openai_generator_uses_the_configured_endpoint(
    tmp_path: Path, demo_db_url: str
) -> None:
    with FakeOpenAIServer() as server:
        env = {"OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": server.url}
        result = invoke(
            [
                *("demo", "--database", demo_db_url, "--n", "12", "--run-dir", str(tmp_path)),
                *("--generator", "openai", "--model", "gpt-4o-mini", "--json", "--next-n", "6"),
            ],
            env,
        )
        assert result.exit_code == 0, result.output
        assert server.chat_calls == 12 + 6  # the second iteration asks for targeted pairs
        body = server.chat_requests[0].body
        targeted = server.chat_requests[-1].body["messages"][1]["content"]
        assert "must teach it" in targeted
    assert body["model"] == "gpt-4o-mini"
    assert "ecommerce.sessions" in body["messages"][0]["content"]  # the schema prompt
    summary = json.loads(result.stdout)
    assert summary["usage"]["calls"] == 12 and summary["usage"]["prompt_tokens"] > 0
    sources = {p.source for p in read_pairs(tmp_path / "raw.jsonl")}
    assert sources == {"openai:gpt-4o-mini"}
    second = read_pairs(tmp_path / "iteration-2" / "raw.jsonl")
    assert len(second) == 6 and all(p.metadata.get("target") for p in second)


def test_one_golden_file_is_split_by_test_fraction_and_the_split_is_recorded(
    tmp_path: Path, demo_db_url: str
) -> None:
    cases = [c.model_dump(exclude_defaults=True) for c in load_golden_set("all")]
    (tmp_path / "all.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    path = write_config(
        tmp_path,
        demo_db_url,
        '[generate]\nn = 10\n[evaluate]\ngolden = "all.jsonl"\nhtml = false\n',
    )
    result = invoke(["run", str(path), "--test-fraction", "0.25", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["evaluation"]["total"], summary["test_evaluation"]["total"]) == (34, 12)
    recorded = json.loads((tmp_path / "run" / "golden_split.json").read_text())
    assert (recorded["method"], recorded["test_fraction"], recorded["seed"]) == (
        "fraction",
        0.25,
        0,
    )
    assert summary["golden"]["test_hash"] == recorded["test_hash"]
    assert "test_fingerprints" not in summary["golden"]


def test_golden_alone_is_all_dev_and_the_summary_says_there_is_no_test_set(
    tmp_path: Path, demo_db_url: str
) -> None:
    path = write_config(
        tmp_path, demo_db_url, '[generate]\nn = 10\n[evaluate]\ngolden = "golden.jsonl"\n'
    )
    result = invoke(["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "the dev score is on questions the loop reads" in " ".join(result.stdout.split())
    assert not (tmp_path / "run" / "eval" / "test").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('golden = "golden.jsonl"\ndev = "golden.jsonl"\n', "golden or dev"),
        ('test = "golden.jsonl"\ntest_fraction = 0.3\n', r"test \(a file\) or test_fraction"),
        ("test_fraction = 1.5\n", "test_fraction"),
    ],
)
def test_contradicting_golden_settings_are_refused(
    tmp_path: Path, demo_db_url: str, body: str, message: str
) -> None:
    path = write_config(tmp_path, demo_db_url, f"[evaluate]\n{body}")
    with pytest.raises(ConfigurationError, match=message):
        load_config(path)
