"""Guard overhead and ChDBExecutor throughput, each against a naive baseline in the same run.

Run: python benchmarks/bench_safety_executors.py [path/to/queries.tsv-or-json ...]

1. SQLGuard.check per query vs the naive baseline (strip the FORMAT clause only), on the given
   query files (the article's TSV/JSON files have a ``sql_query`` column/key) or on a synthetic set.
2. ChDBExecutor (temporary database) with concurrency 1 and 4 vs a bare chdb Session running the
   same queries one after another: the executor's overhead (guard, thread hop, JSON parsing) and
   what the session pool buys.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

from text2sql_tune import ChDBExecutor, SQLGuard
from text2sql_tune.safety import strip_format_clause


def load_queries(paths: list[str]) -> list[str]:
    queries: list[str] = []
    csv.field_size_limit(10**9)
    for name in paths:
        path = Path(name)
        if path.suffix == ".tsv":
            with path.open(encoding="utf-8") as handle:
                queries += [r["sql_query"] for r in csv.DictReader(handle, delimiter="\t")]
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            items = data if isinstance(data, list) else next(v for v in data.values())
            queries += [r.get("sql_query") or r["sql"] for r in items]
    if not queries:
        queries = [
            f"select toStartOfMonth(action_date) as m, uniqExact(user_id) as u, avg(revenue) "
            f"from ecommerce.sessions as s join ecommerce.users as u using (user_id) "
            f"where os = 'Android' and age > {i} group by m order by m "
            "format TabSeparatedWithNames"
            for i in range(200)
        ]
    return queries


def bench_guard(queries: list[str]) -> None:
    guard = SQLGuard()
    contenders = (
        ("naive strip_format_clause", strip_format_clause),
        ("SQLGuard.check", guard.check),
    )
    for label, fn in contenders:
        started = time.perf_counter()
        rounds = 5
        for _ in range(rounds):
            for sql in queries:
                fn(sql)
        per = (time.perf_counter() - started) / (rounds * len(queries)) * 1000
        print(f"  {label:<28} {per:7.3f} ms/query  ({len(queries)} queries x {rounds})")


def bench_executor(n: int = 200) -> None:
    sql = "SELECT sum(number % 7) AS s FROM numbers(3000000)"
    executor = ChDBExecutor()
    session = executor._engine.admin  # the bare chdb Session: the naive baseline
    session.query(sql, "JSONCompact")
    started = time.perf_counter()
    for _ in range(n):
        session.query(sql, "JSONCompact")
    base = time.perf_counter() - started
    print(f"  bare chdb Session, sequential     {n / base:8.1f} queries/s")
    for concurrency in (1, 4):
        executor.concurrency = concurrency
        executor._semaphore = None
        executor.execute_many([sql] * 8)  # warm the session pool
        started = time.perf_counter()
        outcomes = executor.execute_many([sql] * n)
        took = time.perf_counter() - started
        assert all(o.ok for o in outcomes)
        print(
            f"  ChDBExecutor concurrency={concurrency}         {n / took:8.1f} queries/s "
            f"({base / took:.2f}x the bare session)"
        )


def main() -> None:
    queries = load_queries(sys.argv[1:])
    print("guard overhead:")
    bench_guard(queries)
    print("executor throughput:")
    bench_executor()


if __name__ == "__main__":
    main()
