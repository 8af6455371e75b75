"""`--help` must not load the heavy dependencies: the package and the CLI import lazily."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlglot", "httpx", "pydantic", "numpy", "chdb", "clickhouse_connect", "torch", "lamini")

_PROBE = """
import json, sys
sys.argv = ["text2sql-tune", *{args!r}]
from text2sql_tune.cli import main
try:
    main()
except SystemExit:
    pass
loaded = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps(loaded), file=sys.stderr)
"""


def _loaded_by(*args: str) -> list[str]:
    code = _PROBE.format(args=list(args), heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


def test_help_loads_none_of_the_heavy_dependencies() -> None:
    assert _loaded_by("--help") == []


@pytest.mark.parametrize("command", ["evaluate", "run", "tune", "generate", "export"])
def test_a_commands_help_loads_only_what_typer_itself_needs(command: str) -> None:
    # Typer (0.29) builds its option parsers with pydantic: that one is Typer's, not ours.
    assert _loaded_by(command, "--help") in ([], ["pydantic"])


def test_the_package_imports_its_public_names_on_first_use() -> None:
    code = (
        "import sys, text2sql_tune\n"
        "before = 'sqlglot' in sys.modules\n"
        "guard = text2sql_tune.SQLGuard\n"
        "print(before, 'sqlglot' in sys.modules, guard.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False", "True", "text2sql_tune.safety.guard"]


def test_every_public_name_resolves_and_unknown_names_raise() -> None:
    import ast
    import importlib.resources

    import text2sql_tune

    stub = importlib.resources.files("text2sql_tune").joinpath("__init__.pyi").read_text()
    listed = {
        alias.asname or alias.name
        for node in ast.parse(stub).body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    exported = set(text2sql_tune.__all__) - {"__version__"}
    assert exported == listed
    for name in sorted(exported):
        assert getattr(text2sql_tune, name) is not None
    assert set(text2sql_tune.__all__) <= set(dir(text2sql_tune))
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _ = text2sql_tune.NoSuchThing  # type: ignore[attr-defined]


def test_names_cut_from_the_top_level_still_resolve_with_a_deprecation_warning() -> None:
    import text2sql_tune
    from text2sql_tune.filters import LeakageFilter

    with pytest.warns(DeprecationWarning, match="import it from text2sql_tune.filters"):
        moved = text2sql_tune.LeakageFilter  # type: ignore[attr-defined]
    assert moved is LeakageFilter


def test_modules_of_the_old_layout_import_as_the_new_ones_with_a_warning() -> None:
    code = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    import text2sql_tune.judges.compare as old\n"
        "    from text2sql_tune.evaluation import Evaluator\n"
        "    from text2sql_tune.models import QAPair\n"
        "import text2sql_tune.evaluate.judges.compare as new\n"
        "import text2sql_tune.evaluate, text2sql_tune.records\n"
        "print(old is new, Evaluator is text2sql_tune.evaluate.Evaluator,\n"
        "      QAPair is text2sql_tune.records.QAPair,\n"
        "      sorted({w.category.__name__ for w in caught}), len(caught) >= 3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["True", "True", "True", "['DeprecationWarning']", "True"]
