"""Leakage by meaning on a real run: what the spelling-only rules kept that the new ones drop.

The leakage filter checks the spelling-only rules first (``leaks_eval_question``,
``leaks_eval_sql``: what it did before it learned meaning) and then the new ones
(``leaks_eval_sql_equivalent``, ``leaks_eval_result``), so every pair dropped for a new reason is
a pair the old filter kept. For each run directory (a run, or the demo's folder and its
``iteration-N`` folders) this reads ``validated.jsonl``, runs the default chain without the
leakage filter, then the leakage filter against the run's golden set (dev and test), and prints
the drops by reason, examples of the new ones, and the leakage step's time with and without the
database (the result check).

Run:  text2sql-tune demo --run-dir demo-run
      python benchmarks/leakage.py demo-run demo-run/iteration-2 [--database chdb:///...]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from text2sql_tune.config import load_config
from text2sql_tune.executors import open_executor
from text2sql_tune.filters import FilterChain, LeakageFilter, default_filters
from text2sql_tune.io.records import read_pairs
from text2sql_tune.run.from_config import golden_split
from text2sql_tune.run.paths import RunPaths

OLD_REASONS = ("leaks_eval_question", "leaks_eval_sql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="Run directories.")
    parser.add_argument("--database", help="Database URL (default: the run's, else the demo's).")
    args = parser.parse_args()
    config = load_config(RunPaths(args.runs[0]).config)
    url = args.database or config.run.database
    cases = golden_split(config, is_demo=config.run.database is None).all
    print(f"golden set: {len(cases)} cases (dev and test)")
    total: Counter[str] = Counter()
    with open_executor(url) as executor:
        for run in args.runs:
            validated = read_pairs(RunPaths(run).validated)
            before, _ = FilterChain(default_filters(without=["leakage"])).apply(validated)
            started = time.perf_counter()
            text_only = LeakageFilter(cases).decide(before)
            text_s = time.perf_counter() - started
            started = time.perf_counter()
            decisions = LeakageFilter(cases, executor=executor).decide(before)
            full_s = time.perf_counter() - started
            reasons = Counter(d.reason for d in decisions if not d.keep)
            old = sum(reasons[r] for r in OLD_REASONS)
            new = sum(reasons.values()) - old
            total.update(reasons)
            dropped_text = sum(1 for d in text_only if not d.keep)
            print(
                f"\n{run}: {len(before)} pairs reach the leakage step; spelling-only rules drop "
                f"{old}, the rules by meaning drop {new} more: {dict(reasons)}"
            )
            print(
                f"  leakage step: {text_s * 1000:.0f} ms without the database ({dropped_text} "
                f"dropped), {full_s * 1000:.0f} ms with it (results compared)"
            )
            for pair, decision in zip(before, decisions, strict=True):
                if decision.reason and decision.reason not in OLD_REASONS:
                    print(f"  - [{decision.reason}] {pair.question}\n      {decision.detail}")
    old = sum(total[r] for r in OLD_REASONS)
    print(f"\nall runs: old rules {old}, new rules {sum(total.values()) - old} more")


if __name__ == "__main__":
    main()
