"""Time the demo database build and the bundled queries on it.

Usage: python benchmarks/demo_build.py [--scale 1.0] [--path DIR]

Builds into a fresh temporary folder unless --path is given (chDB: one folder per process).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from text2sql_tune import ChDBExecutor, build_demo_database, load_golden_set, load_seed_examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--path", type=Path, default=None)
    args = parser.parse_args()
    path = args.path or Path(tempfile.mkdtemp(prefix="t2s_demo_bench_")) / "demo"

    started = time.perf_counter()
    url = build_demo_database(path, scale=args.scale)
    built = time.perf_counter() - started
    started = time.perf_counter()
    build_demo_database(path, scale=args.scale)
    skipped = time.perf_counter() - started

    executor = ChDBExecutor(path)
    users, sessions = executor.execute(
        "SELECT (SELECT count() FROM ecommerce.users), (SELECT count() FROM ecommerce.sessions)"
    ).rows[0]
    size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    print(f"{url}: scale {args.scale}, {users:,} users, {sessions:,} sessions, {size / 1e6:.1f} MB")
    print(f"build {built:.2f} s, up-to-date check {skipped * 1000:.0f} ms")

    queries = [p.sql for p in load_seed_examples()] + [c.sql for c in load_golden_set()]
    times = []
    for sql in queries:
        outcome = executor.try_execute(sql, max_rows=100)
        assert outcome.ok, (sql, outcome.status, outcome.error)
        times.append(outcome.elapsed_s * 1000)
    print(
        f"{len(queries)} bundled queries: median {statistics.median(times):.0f} ms, "
        f"max {max(times):.0f} ms, total {sum(times):.0f} ms"
    )


if __name__ == "__main__":
    main()
