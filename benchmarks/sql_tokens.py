"""SQL readers per query on the demo's golden and seed SQL: tokens, profile, concepts.

Times, in microseconds per query (best of several rounds, cold caches):

- ``statement_tokens``: sqlglot's ClickHouse tokenizer (compiled when ``sqlglotc`` is installed);
- ``profile_sql``: tokens, the walker and the canonical text with its facts (the cleaning key);
- ``sql_concepts``: the analysis reader (profile, filters, periods, groups, measures);

and, as the baseline, a full sqlglot parse (``parse_one``), which the token readers avoid.
The first line says whether the tokenizer runs compiled.

Run:  python benchmarks/sql_tokens.py
      python benchmarks/sql_tokens.py --rounds 10 --repeat 100
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import sqlglot
import sqlglot.tokenizer_core

from text2sql_tune.demo import load_golden_set, load_seed_examples
from text2sql_tune.sql.concepts import sql_concepts
from text2sql_tune.sql.profile import profile_sql
from text2sql_tune.sql.tokens import statement_tokens


def per_query(fn: Callable[[str], object], sqls: list[str], rounds: int, repeat: int) -> float:
    """Best of ``rounds`` runs over ``sqls`` (each ``repeat`` times), in µs per query."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeat):
            profile_sql.cache_clear()
            sql_concepts.cache_clear()
            for sql in sqls:
                fn(sql)
        best = min(best, (time.perf_counter() - started) / repeat / len(sqls))
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    compiled = not sqlglot.tokenizer_core.__file__.endswith(".py")
    print(
        f"sqlglot {sqlglot.__version__} (tokenizer compiled: {compiled}), "
        f"Python {platform.python_version()}"
    )
    sqls = [c.sql for c in load_golden_set()] + [p.sql for p in load_seed_examples()]
    print(f"{len(sqls)} statements (demo golden set and seed examples), µs per query:")
    readers: list[tuple[str, Callable[[str], object]]] = [
        ("statement_tokens", statement_tokens),
        ("profile_sql", profile_sql),
        ("sql_concepts", sql_concepts),
        ("sqlglot parse_one (baseline)", lambda s: sqlglot.parse_one(s, read="clickhouse")),
    ]
    for name, fn in readers:
        repeat = max(1, args.repeat // 5) if "baseline" in name else args.repeat
        print(f"  {name:<30} {per_query(fn, sqls, args.rounds, repeat):8.1f}")


if __name__ == "__main__":
    main()
