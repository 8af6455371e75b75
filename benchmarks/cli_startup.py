"""How long `text2sql-tune --help` takes, against the eager import it replaced.

Each row is the median wall time of ``--runs`` fresh processes (a new interpreter each, as a user
starting the command gets). The rows:

* ``python -c pass``: the interpreter alone (the floor).
* ``bare Typer app --help`` / ``bare Typer app hello --help``: a two-command Typer app with rich
  help, the floor for any Typer CLI (Typer builds a subcommand's options with pydantic, which is
  why every subcommand's help costs more than the top-level one).
* ``text2sql-tune --help`` and ``text2sql-tune evaluate --help``: the CLI as shipped (the package
  and every command import their dependencies lazily).
* ``naive: eager import + --help``: the same ``--help`` after importing every public name of the
  package first, which is what the CLI did before (sqlglot, httpx, pydantic, chdb, numpy... on
  every start).

Run:  python benchmarks/cli_startup.py [--runs 15]

Python caches compiled modules in ``__pycache__``; with ``PYTHONDONTWRITEBYTECODE=1`` (set on some
CI machines) the library's own modules are compiled again at every start, which adds ~0.15 s here.
The script warms the cache once with bytecode writing on, so it measures what a user gets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

BARE_TYPER = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "x") -> None:
    print(name)
@app.command()
def bye() -> None:
    pass
app()
"""

EAGER = """
import sys
import text2sql_tune
for name in text2sql_tune.__all__:
    getattr(text2sql_tune, name)
from text2sql_tune.cli import main
main()
"""

SHIPPED = "from text2sql_tune.cli import main\nmain()\n"


def _median_s(code: str, args: list[str], runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for run in range(runs + 1):  # the first run only writes the bytecode cache
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            env=env,
        )
        if run == 0:
            continue
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    rows = [
        ("python -c pass", "pass", []),
        ("bare Typer app --help", BARE_TYPER, ["--help"]),
        ("bare Typer app hello --help", BARE_TYPER, ["hello", "--help"]),
        ("text2sql-tune --help", SHIPPED, ["--help"]),
        ("text2sql-tune evaluate --help", SHIPPED, ["evaluate", "--help"]),
        ("naive: eager import + --help", EAGER, ["--help"]),
    ]
    results = {label: _median_s(code, args, runs) for label, code, args in rows}
    shipped = results["text2sql-tune --help"]
    print(f"median of {runs} fresh processes each")
    print(f"{'':34} {'seconds':>8} {'vs shipped':>11}")
    for label, seconds in results.items():
        print(f"{label:34} {seconds:8.3f} {seconds / shipped:10.2f}x")


if __name__ == "__main__":
    main()
