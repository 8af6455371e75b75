"""How SQLGuard.check scales with the length of a query, against the old approach in the same run.

Three shapes of query, each at about 1k, 10k and 100k characters:

- ``literal``: one long string literal and a trailing ``FORMAT`` clause (the shape that made the
  old guard quadratic: it blanked string contents to ``_`` and then ran a backtracking regex over
  the run of word characters that made);
- ``wide``: a realistic analytics query with many conditional aggregates;
- ``in-list``: a filter with a long ``IN (...)`` list.

The old approach is reproduced below as it was (``old_check``: blank strings and comments, strip
the ``FORMAT`` tail with the old regexes, then parse with sqlglot). It is run whenever a quadratic
projection from the last size says it finishes within ``--old-budget`` seconds, and extrapolated
quadratically otherwise (``*``), the way the old regex grows. The new guard is timed in full and
in two of its parts (its lexer, and sqlglot's parse of the query), with microseconds per
character to show it is linear.

Run:  python benchmarks/guard_scaling.py            (about a minute)
      python benchmarks/guard_scaling.py --sizes 1000 10000
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import time
from collections.abc import Callable

import sqlglot

from text2sql_tune import SQLGuard
from text2sql_tune.safety._lexer import lex

# --- the old approach, as it was ----------------------------------------------------------------

_OLD_FORMAT_TAIL = re.compile(
    r"(?<![\w.])format\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE
)
_OLD_WORD_BEFORE = re.compile(r"(\w+)\s*$")
_OLD_NO_FORMAT_AFTER = {"by", "as", "select", "distinct", "and", "or", "not", "where", "on"}


def _old_mask(sql: str) -> str:
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(ch + "_" * (j - i - 1) + ch)
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def old_check(sql: str) -> str:
    """The old guard's costly path: mask, cut the FORMAT tail by regex, parse with sqlglot."""
    text = sql.strip()
    masked = _old_mask(text)
    match = _OLD_FORMAT_TAIL.search(masked)
    if match is not None:
        before = _OLD_WORD_BEFORE.search(masked[: match.start()])
        if before is None or before.group(1).lower() not in _OLD_NO_FORMAT_AFTER:
            text = text[: match.start()].rstrip()
    tree = sqlglot.parse_one(text, read="clickhouse")
    sum(1 for _ in tree.walk())
    return text


# --- queries ---------------------------------------------------------------------------------


def literal_query(size: int) -> str:
    head, tail = "SELECT '", "' AS s FORMAT TabSeparatedWithNames"
    return head + "a" * max(1, size - len(head) - len(tail)) + tail


def wide_query(size: int) -> str:
    parts: list[str] = []
    i = 0
    while sum(len(p) + 2 for p in parts) < size - 120:
        parts.append(f"countIf(os = 'iOS' AND revenue > {i} AND browser != 'Firefox') AS c{i}")
        i += 1
    return (
        "SELECT " + ", ".join(parts) + " FROM ecommerce.sessions WHERE action_date >= "
        "today() - 30 FORMAT TabSeparatedWithNames"
    )


def in_list_query(size: int) -> str:
    head = "SELECT count() FROM ecommerce.sessions WHERE user_id IN ("
    numbers: list[str] = []
    length = len(head) + 40
    while length < size:
        numbers.append(str(len(numbers) * 7919 % 1000003))
        length += len(numbers[-1]) + 2
    return head + ", ".join(numbers) + ") FORMAT JSON"


SHAPES: dict[str, Callable[[int], str]] = {
    "literal": literal_query,
    "wide": wide_query,
    "in-list": in_list_query,
}


def timed(fn: Callable[[str], object], sql: str, budget_s: float = 2.0) -> float:
    """Median seconds per call over a few runs (one run when a call is slow)."""
    runs: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(runs) < 7 and (not runs or time.perf_counter() < deadline):
        started = time.perf_counter()
        fn(sql)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--old-budget",
        type=float,
        default=30.0,
        help="seconds the old approach may take on one query before it is extrapolated instead",
    )
    args = parser.parse_args()
    guard = SQLGuard(max_sql_length=max(args.sizes) + 1_000)
    print(f"Python {platform.python_version()}, sqlglot {sqlglot.__version__}")
    header = (
        f"{'shape':<8} {'chars':>7} {'new check':>10} {'µs/char':>8} {'lex':>8} "
        f"{'sqlglot':>9} {'old check':>11} {'old/new':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, make in SHAPES.items():
        old_at: tuple[int, float] | None = None
        for size in args.sizes:
            sql = make(size)
            new = timed(guard.check, sql)
            lexing = timed(lex, sql)
            statement = guard.check(sql)
            parse = timed(lambda s: sqlglot.parse_one(s, read="clickhouse"), statement)
            projected = 0.0 if old_at is None else old_at[1] * (len(sql) / old_at[0]) ** 2
            if projected <= args.old_budget:
                old = timed(old_check, sql)
                old_at = (len(sql), old)
                old_text = f"{old * 1000:9.1f}ms"
            else:
                old, old_text = projected, f"{projected * 1000:9.0f}ms*"
            print(
                f"{name:<8} {len(sql):>7} {new * 1000:8.1f}ms {new / len(sql) * 1e6:8.2f} "
                f"{lexing * 1000:6.1f}ms {parse * 1000:7.1f}ms {old_text:>11} "
                f"{old / new:7.1f}x"
            )
    print("* extrapolated quadratically from the longest size the old approach ran on")


if __name__ == "__main__":
    main()
