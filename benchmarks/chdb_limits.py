"""ChDBExecutor's hard limits, measured: deadlines, per-query overhead, memory of the whole engine.

- ``deadline``: queries that spend their time inside one function call (ClickHouse checks
  ``max_execution_time`` between blocks only) run under a 2 s limit; prints how long each took to
  end and with what. ``--inprocess`` runs them instead on a chDB session inside this process
  with the same limits (how the executor ran them before it moved the engine to a child process).
- ``overhead``: p50/p95 of small queries through ``ChDBExecutor.execute`` (guard included).
  Run it with another version of the library first on the path to compare.
- ``memory``: four heavy queries at once (concurrency 4, 2 GiB each); prints the engine's peak
  resident memory (``VmHWM`` of the process that runs chDB) and what each query returned.

Every measurement is repeated ``--repeat`` times; medians are printed. The machine these numbers
come from is shared with other jobs, so single runs vary.

Run:  python benchmarks/chdb_limits.py deadline [--inprocess]
      python benchmarks/chdb_limits.py overhead
      python benchmarks/chdb_limits.py memory
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

from text2sql_tune import ChDBExecutor, ExecutionLimits

RUNAWAYS = {
    "arrayLevenshteinDistance, 100k elements": (
        "SELECT arrayLevenshteinDistance(range(100000), range(1, 100001)) AS d"
    ),
    "editDistance, 64k characters": (
        "SELECT editDistance(repeat('ab', 32000), repeat('ba', 32000)) AS d"
    ),
    "arrayFold building a 200k array": (
        "SELECT length(arrayFold((acc, x) -> arrayPushBack(acc, x), range(200000), "
        "emptyArrayUInt64())) AS n"
    ),
}
HEAVY = "SELECT length(groupArray(repeat(toString(number), 100))) AS n FROM numbers(8000000)"
LIMIT_S = 2.0


def _median_of(runs: list[float]) -> str:
    return f"median {statistics.median(runs):.2f} s (runs: {', '.join(f'{r:.2f}' for r in runs)})"


def deadline(repeat: int, inprocess: bool) -> None:
    limits = ExecutionLimits(max_execution_time_s=LIMIT_S)
    run: Any
    if inprocess:
        from chdb.session import Session

        session: Any = Session(":memory:")
        session.query(f"SET max_execution_time = {LIMIT_S:g}")

        def run(sql: str) -> str:
            try:
                session.query(sql, "JSONCompact")
            except Exception as exc:  # the engine's error
                return str(exc).split("(")[-1].rstrip(") .\n") or type(exc).__name__
            return "finished"
    else:
        executor = ChDBExecutor(tempfile.mkdtemp(), limits=limits)

        def run(sql: str) -> str:
            outcome = executor.try_execute(sql)
            return outcome.error_name or outcome.status.value

    print(f"limit {LIMIT_S:g} s, {'in this process' if inprocess else 'ChDBExecutor'}")
    for name, sql in RUNAWAYS.items():
        runs, ends = [], set()
        for _ in range(repeat):
            started = time.perf_counter()
            ends.add(run(sql))
            runs.append(time.perf_counter() - started)
        print(f"  {name:36} {_median_of(runs)}, ended by {', '.join(sorted(ends))}")


def overhead(repeat: int) -> None:
    executor = ChDBExecutor(tempfile.mkdtemp())
    executor.execute_admin(
        "CREATE TABLE t ENGINE = MergeTree ORDER BY k AS "
        "SELECT number AS k, toString(number % 100) AS s FROM numbers(100000)"
    )
    queries = {
        "SELECT 1": "SELECT 1 AS one",
        "group by over 100k rows": "SELECT s, count() AS n FROM t GROUP BY s ORDER BY n LIMIT 5",
    }
    for name, sql in queries.items():
        for _ in range(20):  # warm up: sessions, caches
            executor.execute(sql)
        medians, p95s = [], []
        for _ in range(repeat):
            times = []
            for _ in range(200):
                started = time.perf_counter()
                executor.execute(sql)
                times.append(time.perf_counter() - started)
            times.sort()
            medians.append(statistics.median(times) * 1e3)
            p95s.append(times[int(0.95 * len(times))] * 1e3)
        print(
            f"  {name:26} p50 {statistics.median(medians):.2f} ms, "
            f"p95 {statistics.median(p95s):.2f} ms (median of {repeat} runs of 200)"
        )


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def memory() -> None:
    """One run per process (chDB allows one folder per process): run the script again to repeat."""
    executor = ChDBExecutor(tempfile.mkdtemp(), concurrency=4)

    async def four() -> list[Any]:
        return list(await asyncio.gather(*(executor.atry_execute(HEAVY) for _ in range(4))))

    outcomes = asyncio.run(four())
    process = getattr(getattr(executor, "_engine", None), "process", None)
    pid = getattr(process, "pid", None) or os.getpid()
    results = [o.error_name or "ok" for o in outcomes]
    print(f"  peak RSS of the engine {_peak_rss(pid) / 1e9:.2f} GB, queries: {results}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["deadline", "overhead", "memory"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--inprocess", action="store_true", help="deadline: without the executor")
    args = parser.parse_args()
    if args.what == "deadline":
        deadline(args.repeat, args.inprocess)
    elif args.what == "overhead":
        overhead(args.repeat)
    else:
        memory()


if __name__ == "__main__":
    main()
