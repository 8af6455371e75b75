"""Analysis throughput: analyze() on 10k / 50k synthetic training pairs against the demo golden set.

The pairs come from the cleaning benchmark's templates (metrics, filters, months, days, group-bys)
with a few inconsistent definitions mixed in (a "fraud rate" over customers among the ones over
sessions). Each size is timed once with a cold concept cache, then run again under tracemalloc
for the peak memory.

The naive baseline, in the same run: reading each query's concepts from a full sqlglot parse
(``parse_one`` and a walk over its tree for tables, columns, functions and conditions), the way
one would without the token-level reader, on a 2,000-pair subset and extrapolated linearly; it
is compared with the concept reading alone (``sql_concepts``) on the same subset.

Run:  python benchmarks/analysis.py            (about a minute)
      python benchmarks/analysis.py --sizes 10000
"""

from __future__ import annotations

import argparse
import platform
import random

import sqlglot
from cleaning import base_pair, peak_memory, timed
from sqlglot import exp

from text2sql_tune import QAPair, load_golden_set
from text2sql_tune.analysis import analyze, sql_concepts

SESSIONS_RATE = "100 * countIf(is_fraud = 1) / count()"
CUSTOMERS_RATE = "100 * uniqExactIf(user_id, is_fraud = 1) / uniqExact(user_id)"
FRAUD = [
    ("What was the fraud rate in {}?", SESSIONS_RATE),
    ("What was the fraud rate on Android in {}?", SESSIONS_RATE),
    ("What was the fraud rate for Safari in {}?", CUSTOMERS_RATE),
]


def build(n: int, seed: int = 3) -> list[QAPair]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        if rng.random() < 0.01:
            question, measure = rng.choice(FRAUD)
            year = rng.randint(2021, 2025)
            sql = (
                f"SELECT {measure} FROM ecommerce.sessions "
                f"WHERE toStartOfYear(action_date) = '{year}-01-01'"
            )
            pairs.append(QAPair(question=question.format(year), sql=sql))
        else:
            question, sql = base_pair(rng)
            pairs.append(QAPair(question=question, sql=sql))
    return pairs


def parsed_concepts(sql: str) -> frozenset[str]:
    """The naive reader: a full parse, then a walk over the tree."""
    tree = sqlglot.parse_one(sql, read="clickhouse")
    keys = {f"table:{t.sql('clickhouse')}" for t in tree.find_all(exp.Table)}
    keys |= {f"column:{c.name}" for c in tree.find_all(exp.Column)}
    keys |= {f"function:{f.sql_name()}" for f in tree.find_all(exp.Func)}
    keys |= {f"filter:{p.sql('clickhouse')}" for p in tree.find_all(exp.Predicate)}
    return frozenset(keys)


def measure_size(n: int) -> None:
    golden = load_golden_set()
    pairs = build(n)
    found: list[int] = []

    def run() -> None:
        sql_concepts.cache_clear()
        found.append(len(analyze(golden, pairs).inconsistencies))

    seconds = timed(run)
    peak = peak_memory(run)
    print(f"{n:>8,} {seconds:>8.2f} {seconds / n * 1e6:>8.1f} {peak / 2**20:>9.1f} {found[0]:>8}")


def compare_readers(subset: int, target: int) -> None:
    sqls = [p.sql for p in build(subset, seed=11)]
    sql_concepts.cache_clear()
    lexical = timed(lambda: [sql_concepts(s) for s in sqls])
    naive = timed(lambda: [parsed_concepts(s) for s in sqls])
    print(f"\nconcepts of {subset:,} queries (cold cache):")
    print(f"  sql_concepts (tokens): {lexical:.2f} s; sqlglot parse + walk: {naive:.2f} s")
    print(
        f"  extrapolated to {target:,}: {lexical * target / subset:.1f} s against "
        f"{naive * target / subset:.1f} s ({naive / lexical:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--naive-subset", type=int, default=2_000)
    args = parser.parse_args()
    print(f"sqlglot {sqlglot.__version__}, Python {platform.python_version()}")
    print(f"{'pairs':>8} {'time s':>8} {'us/pair':>8} {'peak MiB':>9} {'inconsistencies':>8}")
    for n in args.sizes:
        measure_size(n)
    compare_readers(args.naive_subset, max(args.sizes))


if __name__ == "__main__":
    main()
