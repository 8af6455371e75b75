"""The registry: built-in names, registering, entry-point plugins, and who looks names up."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fresh_process import run_python
from text2sql_tune import (
    ConfigurationError,
    FunctionExecutor,
    FunctionFilter,
    FunctionGenerator,
    FunctionJudge,
    FunctionModel,
    QueryResult,
    demo_schema,
    load_config,
    read_pairs,
    registry,
)
from text2sql_tune.cli import app
from text2sql_tune.executors import open_executor
from text2sql_tune.filters import DEFAULT_FILTERS, default_filters
from text2sql_tune.models import model_from_spec
from text2sql_tune.registry import BUILTINS, ENTRY_POINT_GROUP, KINDS, PluginWarning, Registry
from text2sql_tune.run.components import BuildContext

runner = CliRunner()


@pytest.fixture
def registered() -> Iterator[list[tuple[registry.Kind, str]]]:
    """Names a test registers on the default registry, removed afterwards."""
    names: list[tuple[registry.Kind, str]] = []
    yield names
    for kind, name in names:
        registry.default_registry.unregister(kind, name)


def _register(
    names: list[tuple[registry.Kind, str]], kind: registry.Kind, name: str, factory: Any
) -> None:
    registry.register(kind, name, factory)
    names.append((kind, name))


def test_every_builtin_is_listed_first_and_resolves() -> None:
    for kind in KINDS:
        listed = registry.names(kind)
        assert listed[: len(BUILTINS[kind])] == list(BUILTINS[kind])
        assert registry.builtin_names(kind) == tuple(BUILTINS[kind])
        for name in BUILTINS[kind]:
            assert callable(registry.get(kind, name)), (kind, name)
            assert registry.default_registry.source(kind, name) == "built-in"
    assert registry.builtin_names("filter") == DEFAULT_FILTERS
    # The registry name of each default filter is the name it reports under.
    assert [f.name for f in default_filters(eval_cases=[])] == list(DEFAULT_FILTERS)


def test_register_as_decorator_function_or_reference() -> None:
    local = Registry(BUILTINS, group=None)

    @local.register("judge", "Always")
    def always(context: BuildContext) -> FunctionJudge:
        return FunctionJudge(lambda case: True, name="always")

    local.register("filter", "keep_all", lambda: FunctionFilter(lambda pair: True, name="all"))
    local.register("model", "echo", "text2sql_tune.adapters:FunctionModel")
    assert local.get("judge", " ALWAYS ") is always  # names are case- and space-insensitive
    assert local.get("filter", "keep_all")().name == "all"
    assert local.get("model", "echo") is FunctionModel  # a reference is imported on first use
    assert local.names("judge") == ["execution", "llm", "cascade", "always"]
    assert local.source("judge", "always") == "registered"

    with pytest.raises(ValueError, match="already registered"):
        local.register("judge", "llm", always)
    local.register("judge", "llm", always, replace=True)
    assert local.get("judge", "llm") is always
    with pytest.raises(ValueError, match="unknown kind 'widget'"):
        local.register("widget", "x", always)  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError) as info:
        local.get("judge", "oracle")
    assert str(info.value) == "unknown judge 'oracle'; available: execution, llm, cascade, always"
    local.register("model", "broken", "text2sql_tune.no_such_module:Model")
    with pytest.raises(ConfigurationError, match=r"model 'broken' .* cannot be loaded"):
        local.get("model", "broken")


def _write_distribution(
    folder: Path, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """A distribution installed nowhere but ``folder`` (put on sys.path): metadata and code."""
    info = folder / "t2s_fake_plugins-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: t2s-fake-plugins\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, code in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(code), encoding="utf-8")


def test_entry_point_plugins_load_once_and_a_broken_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_distribution(
        tmp_path,
        {"counting": "t2s_counting_plugin:register", "broken": "t2s_broken_plugin"},
        {
            "t2s_counting_plugin": """
                from text2sql_tune.adapters import FunctionFilter

                CALLS = []

                def register(registry):
                    CALLS.append(registry)
                    registry.register(
                        "filter", "nothing", lambda: FunctionFilter(lambda p: True, name="nothing")
                    )
            """,
            "t2s_broken_plugin": "raise RuntimeError('the plugin needs a key')\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    local = Registry(BUILTINS)
    with pytest.warns(PluginWarning) as caught:
        assert local.names("filter")[-1] == "nothing"
    (warning,) = caught
    assert "plugin 'broken' (t2s_broken_plugin)" in str(warning.message)
    assert "RuntimeError: the plugin needs a key" in str(warning.message)
    assert local.source("filter", "nothing") == "counting"
    assert local.plugins == {"counting": "t2s_counting_plugin:register"}
    local.get("filter", "nothing")
    local.names("generator")
    import t2s_counting_plugin  # type: ignore[import-not-found]

    calls = t2s_counting_plugin.CALLS
    assert calls == [local]  # loaded once, however often names are read


def test_a_plugin_filter_from_an_installed_distribution_runs_in_clean(tmp_path: Path) -> None:
    """End to end in a fresh process: entry point -> module -> registry -> ``clean --filter``."""
    site = tmp_path / "site"
    _write_distribution(
        site,
        {"short_questions": "t2s_short_plugin"},
        {
            "t2s_short_plugin": """
                from text2sql_tune import FunctionFilter, registry

                @registry.register("filter", "short_question")
                def short_question(*, max_words: int = 6, max_rows: int = 0):
                    def decide(pair):
                        return len(pair.question.split()) <= max_words or "long_question"

                    return FunctionFilter(decide, name="short_question")
            """
        },
    )
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"question": "How many users are there?", "sql": "SELECT count() FROM ecommerce.users"},
        {
            "question": "How many users are there in each of the four countries?",
            "sql": "SELECT country, count() FROM ecommerce.users GROUP BY country",
        },
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = [
        "clean", "-i", str(pairs), "-o", str(tmp_path / "kept.jsonl"), "--skip-validation",
        "--without", "valid_sql", "--without", "row_count", "--filter", "short_question",
    ]  # fmt: skip
    code = (
        f"import sys; sys.argv = ['text2sql-tune', *{args!r}]\n"
        "from text2sql_tune.cli import main\nmain()\n"
    )
    path = os.pathsep.join([str(site), *sys.path])
    done = run_python(code, home=tmp_path / "home", env={"PYTHONPATH": path})
    assert done.returncode == 0, done.stderr
    (kept,) = read_pairs(tmp_path / "kept.jsonl")
    assert kept.question == "How many users are there?"
    report = json.loads((tmp_path / "kept.report.json").read_text(encoding="utf-8"))
    steps = [step["name"] for step in report["steps"]]
    assert steps[-1] == "short_question" and "valid_sql" not in steps
    assert report["by_reason"] == {"long_question": 1}


def test_config_names_are_checked_against_the_registry(
    tmp_path: Path, registered: list[tuple[registry.Kind, str]]
) -> None:
    config = tmp_path / "pipeline.toml"
    config.write_text('[generate]\ngenerator = "synthetic"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_config(config)
    assert "field 'generate.generator': unknown generator 'synthetic'" in str(info.value)
    assert "available: template, openai, none" in str(info.value)

    _register(registered, "generator", "synthetic", lambda context: FunctionGenerator(str))
    _register(registered, "judge", "lenient", lambda context: FunctionJudge(lambda case: True))
    config.write_text(
        '[generate]\ngenerator = "Synthetic"\n[evaluate]\njudge = "lenient"\n'
        'model = "few-shot"\n[clean]\nwithout = ["near_duplicate"]\n'
        "[clean.filter_options.row_count]\nmax_rows = 5\n",
        encoding="utf-8",
    )
    loaded = load_config(config)
    assert (loaded.generate.generator, loaded.evaluate.judge) == ("synthetic", "lenient")
    assert loaded.evaluate.model == "few-shot"
    for bad, message in [
        ('[evaluate]\nmodel = "bert"', "unknown model 'bert'; available: retrieval, lamini"),
        ('[clean]\nwithout = ["typo"]', "'typo' is not a default filter"),
        ('[clean]\nfilters = ["typo"]', "unknown filter 'typo'"),
        (
            '[clean]\nwithout = ["row_count"]\n[clean.filter_options.row_count]\nmax_rows = 5',
            "filter_options for row_count, which is not in the chain",
        ),
        ('[tune]\ntuner = "modal"', "unknown tuner 'modal'; available: lamini, openai, local"),
    ]:
        config.write_text(bad + "\n", encoding="utf-8")
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            load_config(config)


def test_filter_options_reach_the_filter_and_unknown_ones_are_refused() -> None:
    chain = default_filters(
        options={"row_count": {"max_rows": 7}}, extra=["leakage"], eval_cases=[]
    )
    (rows,) = [f for f in chain if f.name == "row_count"]
    assert (rows.min_rows, rows.max_rows) == (1, 7)  # type: ignore[attr-defined]
    assert [f.name for f in chain].count("leakage") == 1  # named again: it runs once
    with pytest.raises(ConfigurationError, match="'row_count' takes no option most"):
        default_filters(options={"row_count": {"most": 7}})
    with pytest.raises(ConfigurationError, match="'near_dup' is not a default filter"):
        default_filters(without=["near_dup"])


def test_clean_command_adds_and_removes_filters_by_name(
    tmp_path: Path, demo_db_url: str, registered: list[tuple[registry.Kind, str]]
) -> None:
    def no_counts(**options: Any) -> FunctionFilter:
        word = options.get("word", "count")
        return FunctionFilter(lambda pair: word not in pair.sql or "counts", name="no_counts")

    _register(registered, "filter", "no_counts", no_counts)
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        ("How many users are there?", "SELECT count() FROM ecommerce.users"),
        ("How many users are there in total?", "SELECT uniqExact(user_id) FROM ecommerce.users"),
        ("Which operating systems are there?", "SELECT DISTINCT os FROM ecommerce.sessions"),
    ]
    pairs.write_text(
        "".join(json.dumps({"question": q, "sql": s}) + "\n" for q, s in rows), encoding="utf-8"
    )
    out = tmp_path / "kept.jsonl"
    result = runner.invoke(
        app,
        [
            *("clean", "-i", str(pairs), "-o", str(out), "-d", demo_db_url, "--json"),
            *("--filter", "no_counts", "--without", "near_duplicate"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    steps = [step["name"] for step in summary["steps"]]
    assert "near_duplicate" not in steps and steps[-1] == "no_counts"
    assert [p.question for p in read_pairs(out)] == [rows[1][0], rows[2][0]]

    wrong = runner.invoke(
        app, ["clean", "-i", str(pairs), "-o", str(tmp_path / "x.jsonl"), "--filter", "nope"]
    )
    assert isinstance(wrong.exception, ConfigurationError)
    assert "unknown filter 'nope'; available: sql_length" in str(wrong.exception)


def test_the_cli_offers_registered_generators_and_judges(
    tmp_path: Path, demo_db_url: str, registered: list[tuple[registry.Kind, str]]
) -> None:
    seen: list[BuildContext] = []

    def counting(context: BuildContext) -> FunctionGenerator:
        seen.append(context)
        return FunctionGenerator(
            lambda i: (f"How many users are older than {20 + i}?", f"SELECT count() FROM "
                       f"ecommerce.users WHERE age > {20 + i}"), name="counting")  # fmt: skip

    _register(registered, "generator", "counting", counting)
    _register(registered, "judge", "yes", lambda context: FunctionJudge(lambda c: True, name="yes"))
    raw = tmp_path / "raw.jsonl"
    made = runner.invoke(
        app, ["generate", "-g", "counting", "-n", "3", "-o", str(raw), "-d", demo_db_url, "--json"]
    )
    assert made.exit_code == 0, made.output
    assert len(read_pairs(raw)) == 3
    (context,) = seen
    assert context.executor is not None and context.config.generate.n == 3
    golden = tmp_path / "golden.jsonl"
    golden.write_text(json.dumps({"question": "q", "sql": "SELECT 1"}) + "\n", encoding="utf-8")
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(json.dumps({"question": "q", "sql": "SELECT 2"}) + "\n", "utf-8")
    judged = runner.invoke(
        app,
        [
            *("evaluate", "-g", str(golden), "-p", str(predictions), "-d", demo_db_url),
            *("--judge", "yes", "--no-lint", "--json"),
        ],
    )
    assert judged.exit_code == 0, judged.output
    assert json.loads(judged.stdout)["summary"]["correct"] == 1  # the plugin judge decided

    unknown = runner.invoke(app, ["generate", "-g", "nope", "-o", str(tmp_path / "r.jsonl")])
    assert unknown.exit_code == 2
    shown = re.sub(r"[\s│]+", " ", unknown.output)  # the usage error comes in a box
    assert "unknown generator 'nope'; available: template, openai, counting" in shown


def test_executors_and_models_come_from_the_registry(
    registered: list[tuple[registry.Kind, str]],
) -> None:
    urls: list[str] = []

    def memory(url: str, **options: Any) -> FunctionExecutor:
        urls.append(url)
        return FunctionExecutor(
            lambda sql: QueryResult(sql=sql, columns=["x"], rows=[[1]]), **options
        )

    _register(registered, "executor", "memory", memory)
    executor = open_executor("MEMORY://anything", concurrency=2)
    assert urls == ["MEMORY://anything"] and executor.concurrency == 2
    assert executor.execute("SELECT 1").rows == [[1]]
    with pytest.raises(ConfigurationError) as info:
        open_executor("postgres://localhost/db")
    assert "chdb://, clickhouse://, clickhouses://, memory://" in str(info.value)

    def constant(name: str, schema: Any, **_: Any) -> FunctionModel:
        return FunctionModel(lambda question: f"SELECT {name}", name=f"constant:{name}")

    _register(registered, "model", "constant", constant)
    model = model_from_spec("constant:42", demo_schema())
    assert model.predict("anything").sql == "SELECT 42"


def test_plugins_lists_every_name_with_its_source(
    registered: list[tuple[registry.Kind, str]],
) -> None:
    _register(registered, "judge", "lenient", lambda context: FunctionJudge(lambda case: True))
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["names"]
    assert set(listed) == set(KINDS)
    assert {"name": "lenient", "source": "registered"} in listed["judge"]
    assert listed["executor"][0] == {"name": "chdb", "source": "built-in"}
    table = runner.invoke(app, ["plugins"])
    assert "lenient" in table.stdout and "registered" in table.stdout
