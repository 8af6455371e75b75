"""How often the execution judge agrees with the labelled sets, before and after a change.

For each labelled set (``tests/data/judge_cases_hard.yaml`` on its ``judgelab`` database, and
``tests/data/judge_cases.yaml`` on the demo database at test scale) it prints, for the judge of
a base commit (default: the commit this branch started from) and the judge of this tree:

- agreement: verdicts equal to the label;
- false correct: judged correct, labelled wrong or undecided (the costly error);
- false incorrect: judged wrong, labelled correct;
- milliseconds per case; for this tree with test-suite checking (choosing each reference's
  copies among its candidates), again with that choice cached (an evaluation re-run: only the
  chosen copies are built), and without test-suite checking;

and the hard set's agreement per class (precision, order, labels, ties...). Each judge runs in
its own process (chDB allows one database folder per process) on a fresh temporary database.

Run:  python benchmarks/judge_agreement.py
      python benchmarks/judge_agreement.py --base 4491e2f --suite-seeds 3
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "hard": ROOT / "tests" / "data" / "judge_cases_hard.yaml",
    "rules": ROOT / "tests" / "data" / "judge_cases.yaml",
}
LABEL = {True: "correct", False: "wrong", None: "undecided"}


def worker(suite: str, seed: int) -> None:
    """Judge every case with the ``text2sql_tune`` on ``sys.path``; print one JSON per case."""
    import yaml

    from text2sql_tune import JudgeInput
    from text2sql_tune.demo import build_demo_database
    from text2sql_tune.evaluate.judges import ExecutionMatchJudge, MatchRules
    from text2sql_tune.executors import ChDBExecutor

    path = tempfile.mkdtemp(prefix="judge_agreement_")
    build_demo_database(path, scale=0.02, seed=42, end_date=dt.date(2025, 6, 30))
    executor = ChDBExecutor(path)
    options: dict[str, Any] = {}
    cache = Path(path) / "suites.jsonl"

    def fresh_options() -> None:
        if suite != "default":
            from text2sql_tune.evaluate.judges import TestSuite

            on = TestSuite(seed=seed, cache_path=cache)
            options["test_suite"] = False if suite == "off" else on

    fresh_options()

    async def judge_all(rerun: bool) -> None:
        for name, file in SETS.items():
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
            cases = data["cases"] if isinstance(data, dict) else data
            for statement in data.get("setup", []) if isinstance(data, dict) and not rerun else []:
                await executor.aexecute_admin(statement)
            for case in cases:
                rules = MatchRules(**case.get("rules", {}))
                given = JudgeInput(
                    question=case["question"],
                    reference_sql=case["reference"],
                    predicted_sql=case["predicted"],
                )
                started = time.perf_counter()
                if case.get("executor", True) is False:
                    given = given.model_copy(
                        update={
                            "reference": await executor.aexecute(case["reference"]),
                            "predicted": await executor.aexecute(case["predicted"]),
                        }
                    )
                    verdict = await ExecutionMatchJudge(None, rules).ajudge(given)
                else:
                    judge = ExecutionMatchJudge(executor, rules, **options)
                    verdict = await judge.ajudge(given)
                row = {
                    "set": name,
                    "id": case["id"],
                    "class": case.get("class", "rules"),
                    "expected": case["expected"],
                    "got": LABEL[verdict.correct],
                    "seconds": time.perf_counter() - started,
                    "rerun": rerun,
                }
                print(json.dumps(row), flush=True)

    asyncio.run(judge_all(rerun=False))
    if suite == "on":  # again with a new suite: it rebuilds only the copies the cache chose
        fresh_options()
        asyncio.run(judge_all(rerun=True))


def _source_of(base: str) -> Path:
    """The ``src`` folder of commit ``base``, extracted to a temporary folder."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", base, "src"], check=True, capture_output=True
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="judge_base_"))
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def _run(source: Path, suite: str, seed: int) -> list[dict[str, Any]]:
    """The worker's rows (both passes when it judges everything twice)."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    env["TEXT2SQL_TUNE_HOME"] = tempfile.mkdtemp(prefix="judge_home_")
    command = [sys.executable, __file__, "--worker", "--suite", suite, "--seed", str(seed)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    agree = sum(r["got"] == r["expected"] for r in rows)
    false_correct = sum(r["got"] == "correct" and r["expected"] != "correct" for r in rows)
    false_incorrect = sum(r["got"] == "wrong" and r["expected"] == "correct" for r in rows)
    return {
        "cases": len(rows),
        "agree": agree,
        "false_correct": false_correct,
        "false_incorrect": false_incorrect,
        "ms_per_case": 1000 * sum(r["seconds"] for r in rows) / max(1, len(rows)),
    }


def _line(label: str, score: dict[str, Any]) -> str:
    share = score["agree"] / max(1, score["cases"])
    return (
        f"  {label:<28} agreement {score['agree']:>3}/{score['cases']:<3} ({share:6.1%})  "
        f"false correct {score['false_correct']:>2}  false incorrect "
        f"{score['false_incorrect']:>2}  {score['ms_per_case']:7.1f} ms/case"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base", default="4491e2f", help="The commit whose judge is 'before'.")
    parser.add_argument("--suite-seeds", type=int, default=1, help="Test-suite seeds to try.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--suite", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.suite, args.seed)
        return
    runs: dict[str, list[dict[str, Any]]] = {
        f"before ({args.base})": _run(_source_of(args.base), "default", 0)
    }
    for seed in range(args.suite_seeds):
        rows = _run(ROOT / "src", "on", seed)
        runs[f"after, test suite seed {seed}"] = [r for r in rows if not r["rerun"]]
        if seed == 0:
            runs["after, choice cached (rerun)"] = [r for r in rows if r["rerun"]]
    runs["after, no test suite"] = _run(ROOT / "src", "off", 0)
    for name in SETS:
        print(f"{name} set ({SETS[name].relative_to(ROOT)}):")
        for label, rows in runs.items():
            print(_line(label, _score([r for r in rows if r["set"] == name])))
    print("hard set, agreement per class (before -> after):")
    before, after, *_ = runs.values()
    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    for old, new in zip(before, after, strict=True):
        if old["set"] != "hard":
            continue
        counts = by_class[old["class"]]
        counts["cases"] += 1
        counts["before"] += old["got"] == old["expected"]
        counts["after"] += new["got"] == new["expected"]
    for name, counts in by_class.items():
        print(f"  {name:<16} {counts['before']:>3} -> {counts['after']:>3} of {counts['cases']}")
    missed = [r["id"] for r in after if r["got"] != r["expected"]]
    print(f"after, disagreements: {', '.join(missed) or 'none'}")


if __name__ == "__main__":
    main()
