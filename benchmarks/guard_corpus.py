"""The SQL guard on real ClickHouse queries written by others: what it accepts, refuses, and why.

Reads ``tests/data/clickhouse_corpus/queries.jsonl`` (labelled safe or unsafe by the rule in its
README) and prints

- accepted (safe), refused-unsafe, refused-safe (false refusals) and accepted-unsafe (leaks),
- the reasons of the refusals, grouped, with one example each,
- the guard's time per statement: p50, p95 and max over ``--repeat`` runs of each statement.

To compare with another version of the guard, run the same script with that version first on
the path (``PYTHONPATH=/path/to/old/src python benchmarks/guard_corpus.py --corpus ...``).

Run:  python benchmarks/guard_corpus.py              (a few seconds)
      python benchmarks/guard_corpus.py --repeat 20 --examples 0
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

from text2sql_tune import SQLGuard, SQLSyntaxError, UnsafeSQLError

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "clickhouse_corpus"


def _check(guard: SQLGuard, sql: str) -> tuple[str | None, float]:
    started = time.perf_counter()
    try:
        guard.check(sql)
    except (UnsafeSQLError, SQLSyntaxError) as exc:
        return exc.reason, time.perf_counter() - started
    return None, time.perf_counter() - started


def _group(reason: str) -> str:
    """The reason without its particulars (names, offsets), to count alike refusals together."""
    head = reason.split(": ")[0] if "could not parse" not in reason else "could not parse"
    return head.split(" (")[0][:70]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS / "queries.jsonl")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each statement")
    parser.add_argument("--examples", type=int, default=1, help="examples shown per reason")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.corpus.read_text("utf-8").splitlines() if line]
    guard = SQLGuard()
    guard.check("SELECT 1")  # load the catalog and sqlglot before timing
    times: list[float] = []
    outcome: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {"refused-unsafe": Counter(), "refused-safe": Counter()}
    examples: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        sql = str(row["sql"])
        reason, _ = _check(guard, sql)
        times.extend(_check(guard, sql)[1] for _ in range(args.repeat))
        if reason is None:
            kind = "accepted" if row["safe"] else "accepted-unsafe (leak)"
        else:
            kind = "refused-unsafe" if not row["safe"] else "refused-safe"
            reasons[kind][_group(reason)] += 1
            examples.setdefault((kind, _group(reason)), []).append(sql.replace("\n", " ")[:90])
        outcome[kind] += 1
    safe = sum(1 for r in rows if r["safe"])
    print(f"python {platform.python_version()}, {len(rows)} statements ({safe} safe)")
    for kind in ("accepted", "refused-unsafe", "refused-safe", "accepted-unsafe (leak)"):
        print(f"  {kind:24} {outcome[kind]:5}")
    print(f"  safe accepted            {outcome['accepted'] / safe:.1%}")
    for kind, counter in reasons.items():
        if counter:
            print(f"{kind} by reason:")
        for reason, count in counter.most_common():
            print(f"  {count:4}  {reason}")
            for example in examples[(kind, reason)][: args.examples]:
                print(f"          e.g. {example}")
    times.sort()
    p50 = statistics.median(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    print(
        f"guard time per statement ({len(times)} checks): p50 {p50 * 1e3:.2f} ms, "
        f"p95 {p95 * 1e3:.2f} ms, max {times[-1] * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
