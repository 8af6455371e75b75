"""Cleaning throughput: default_filters through FilterChain on 25k / 50k / 100k synthetic pairs.

No database: pairs are built in memory with a fake validation (ok, 1-100 rows, plus a few empty
and over-long results and engine errors). Mixed in: about 10 % exact duplicate questions (with
different SQL), 5 % near-duplicate rewordings, 5 % duplicate SQL written differently, and a few
hundred pairs leaking a 50-case golden set. Each size is timed once without tracemalloc, then
run again under tracemalloc for the peak memory (tracemalloc slows Python down, so the two are
kept apart). Every run starts with a cold SQL-profile cache.

The naive baseline, in the same run: near-duplicate detection by comparing every question with
every kept one (O(n²) Jaccard) on a 5,000-pair subset, extrapolated quadratically to 100,000 and
compared with NearDuplicateQuestionFilter on the same subset (same decisions) and on 100,000.

Run:  python benchmarks/cleaning.py            (about a minute)
      python benchmarks/cleaning.py --sizes 25000
"""

from __future__ import annotations

import argparse
import calendar
import platform
import random
import time
import tracemalloc
from collections.abc import Callable

import sqlglot

from text2sql_tune import EvalCase, OutcomeStatus, QAPair
from text2sql_tune.filters import (
    FilterChain,
    NearDuplicateQuestionFilter,
    default_filters,
    distinguishing_tokens,
)
from text2sql_tune.records import ValidationInfo
from text2sql_tune.sql.normalize import question_tokens
from text2sql_tune.sql.profile import profile_sql

COUNTRIES = ["United Kingdom", "Germany", "France", "Netherlands"]
OSES = ["Windows", "iOS", "Android"]
BROWSERS = ["Chrome", "Safari", "Firefox"]
MONTHS = list(calendar.month_name)[1:]
METRICS = [
    ("sessions", "count()"),
    ("distinct customers", "uniqExact(user_id)"),
    ("total revenue", "sum(revenue)"),
    ("average revenue", "avg(revenue)"),
    ("fraud sessions", "countIf(is_fraud = 1)"),
    ("median session duration", "median(session_duration)"),
    ("longest session", "max(session_duration)"),
]
LEADS = ["What was the", "Show the", "Give me the", "Tell me the", "Compute the", "Find the"]
GROUPS = [
    ("", ""),
    (" per operating system", " GROUP BY os"),
    (" by browser", " GROUP BY browser"),
    (" for each day", " GROUP BY action_date ORDER BY action_date"),
    (" split by fraud flag", " GROUP BY is_fraud"),
]
FILLERS = ["exactly", "overall", "please", "approximately", "roughly"]


def base_pair(rng: random.Random) -> tuple[str, str]:
    """A question/SQL pair from templates; slot values make most of them distinct."""
    words, agg = rng.choice(METRICS)
    country, os_, browser = rng.choice(COUNTRIES), rng.choice(OSES), rng.choice(BROWSERS)
    year, month, day = rng.randint(2021, 2025), rng.randint(1, 12), rng.randint(1, 28)
    minimum = rng.randint(1, 9999)
    group_text, group_sql = rng.choice(GROUPS)
    where = [f"country = '{country}'"]
    parts = [f"{rng.choice(LEADS)} {words} from {country}"]
    if rng.random() < 0.5:
        parts.append(f"on {os_}")
        where.append(f"os = '{os_}'")
    if rng.random() < 0.4:
        parts.append(f"using {browser}")
        where.append(f"browser = '{browser}'")
    if rng.random() < 0.6:
        parts.append(f"on {MONTHS[month - 1]} {day}, {year}")
        where.append(f"action_date = '{year}-{month:02d}-{day:02d}'")
    else:
        parts.append(f"in {MONTHS[month - 1]} {year}")
        where.append(f"toStartOfMonth(action_date) = '{year}-{month:02d}-01'")
    if rng.random() < 0.5:
        parts.append(f"with revenue above {minimum}")
        where.append(f"revenue > {minimum}")
    question = " ".join(parts) + group_text + "?"
    sql = f"SELECT {agg} FROM ecommerce.sessions WHERE {' AND '.join(where)}{group_sql}"
    return question, sql


def validation(rng: random.Random) -> ValidationInfo:
    """A fake validation: mostly ok with 1-100 rows; some empty, too long, or failed."""
    roll = rng.random()
    if roll < 0.02:
        return ValidationInfo(status=OutcomeStatus.EMPTY, row_count=0)
    if roll < 0.04:
        return ValidationInfo(status=OutcomeStatus.OK, row_count=rng.randint(101, 5000))
    if roll < 0.05:
        return ValidationInfo(status=OutcomeStatus.ERROR, error="Unknown identifier", error_code=47)
    return ValidationInfo(status=OutcomeStatus.OK, row_count=rng.randint(1, 100))


def restyle(sql: str, rng: random.Random) -> str:
    """The same query written differently: keyword case, line breaks, a comment."""
    text = sql.replace("SELECT", "select").replace(" FROM ", "\n  from ").replace(" AND ", " and ")
    return ("/* same query */ " if rng.random() < 0.5 else "") + text


def build(n: int, seed: int = 7) -> tuple[list[QAPair], list[EvalCase]]:
    """``n`` synthetic pairs plus a 50-case golden set, some of which the pairs leak."""
    rng = random.Random(seed)
    seen: set[str] = set()
    golden: list[EvalCase] = []
    while len(golden) < 50:
        question, sql = base_pair(rng)
        if question not in seen:
            seen.add(question)
            golden.append(EvalCase(question=question, sql=sql))
    pairs: list[QAPair] = []
    bases: list[str] = []  # each pair's SQL before a variant added a LIMIT
    leaks = max(n // 300, 10)
    while len(pairs) < n:
        roll = rng.random()
        j = rng.randrange(len(pairs)) if pairs else -1
        if j >= 0 and roll < 0.10:  # the same question again, another answer
            question = pairs[j].question.lower().rstrip("?") + " ?"
            base, sql = bases[j], bases[j] + " LIMIT 100"
        elif j >= 0 and roll < 0.15:  # a near-duplicate rewording
            question = pairs[j].question.replace(" the ", f" the {rng.choice(FILLERS)} ", 1)
            base, sql = bases[j], bases[j] + " LIMIT 1000"
        elif j >= 0 and roll < 0.20:  # another question, the same query written differently
            question, _ = base_pair(rng)
            base, sql = bases[j], restyle(pairs[j].sql, rng)
        elif leaks and roll < 0.21:  # golden questions, rewordings and golden SQL
            leaks -= 1
            case = rng.choice(golden)
            question, sql = rng.choice(
                [
                    (case.question, case.sql + " LIMIT 10"),
                    (case.question.replace(" the ", " the overall ", 1), case.sql + " LIMIT 5"),
                    (base_pair(rng)[0], case.sql),
                ]
            )
            base = case.sql
        else:
            question, sql = base_pair(rng)
            base = sql
        bases.append(base)
        pairs.append(
            QAPair(question=question, sql=sql, source="synthetic", validation=validation(rng))
        )
    return pairs, golden


def run_chain(pairs: list[QAPair], golden: list[EvalCase]) -> tuple[int, dict[str, float]]:
    """Run the default chain once with a cold profile cache; return (kept, seconds per step)."""
    profile_sql.cache_clear()
    kept, report = FilterChain(default_filters(eval_cases=golden)).apply(pairs)
    return len(kept), {step.name: step.elapsed_s for step in report.steps}


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def peak_memory(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def naive_near_duplicates(questions: list[str], threshold: float) -> list[bool]:
    """Baseline: compare each question with every kept one (O(n²)); True means kept."""
    kept_sets: list[frozenset[str]] = []
    decisions = []
    for question in questions:
        tokens = question_tokens(question)
        duplicate = False
        for other in kept_sets:
            common = len(tokens & other)
            union = len(tokens) + len(other) - common
            similar = union and common / union >= threshold
            if similar and distinguishing_tokens(tokens) == distinguishing_tokens(other):
                duplicate = True
                break
        if not duplicate:
            kept_sets.append(tokens)
        decisions.append(not duplicate)
    return decisions


def measure_size(n: int) -> None:
    pairs, golden = build(n)
    outcome: list[tuple[int, dict[str, float]]] = []
    seconds = timed(lambda: outcome.append(run_chain(pairs, golden)))
    peak = peak_memory(lambda: run_chain(pairs, golden))
    kept, steps = outcome[0]
    slowest = sorted(steps.items(), key=lambda kv: -kv[1])[:3]
    shown = ", ".join(f"{name} {s:.2f}" for name, s in slowest)
    print(
        f"{n:>8,} {kept:>8,} {seconds:>8.2f} {seconds / n * 1e6:>8.1f} "
        f"{peak / 2**20:>9.1f}  {shown}"
    )


def compare_near_duplicates(n: int, subset_size: int) -> None:
    pairs, _ = build(n)
    subset = pairs[:subset_size]
    near = NearDuplicateQuestionFilter(0.9)
    indexed_small = timed(lambda: near.decide(subset))
    naive: list[bool] = []
    naive_small = timed(
        lambda: naive.extend(naive_near_duplicates([p.question for p in subset], 0.9))
    )
    same = naive == [d.keep for d in near.decide(subset)]
    indexed_large = timed(lambda: near.decide(pairs))
    naive_large = naive_small * (n / subset_size) ** 2
    print(f"\nnear-duplicate questions, threshold 0.9 (same decisions as naive: {same})")
    print(f"  naive O(n²) on {subset_size:,}: {naive_small:.2f} s; indexed: {indexed_small:.3f} s")
    print(
        f"  naive extrapolated to {n:,}: {naive_large:,.0f} s; "
        f"indexed measured: {indexed_large:.2f} s"
    )
    print(f"  ratio: {naive_large / indexed_large:,.0f}x")


def compare_sql_keys(count: int = 2_000) -> None:
    pairs, _ = build(count, seed=11)
    sqls = [p.sql for p in pairs]
    profile_sql.cache_clear()
    tokens = timed(lambda: [profile_sql(sql) for sql in sqls]) / count
    parsed = timed(
        lambda: [sqlglot.parse_one(s, read="clickhouse").sql("clickhouse") for s in sqls]
    )
    parsed /= count
    print("\nSQL key per query (cold cache, includes the statistics facts):")
    print(
        f"  tokens (profile_sql): {tokens * 1e6:.0f} us; sqlglot parse + generate: "
        f"{parsed * 1e6:.0f} us ({parsed / tokens:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 50_000, 100_000])
    parser.add_argument("--naive-subset", type=int, default=5_000)
    args = parser.parse_args()
    print(f"sqlglot {sqlglot.__version__}, Python {platform.python_version()}")
    print(
        f"{'pairs':>8} {'kept':>8} {'time s':>8} {'us/pair':>8} {'peak MiB':>9}  slowest steps (s)"
    )
    for n in args.sizes:
        measure_size(n)
    compare_near_duplicates(max(args.sizes), args.naive_subset)
    compare_sql_keys()


if __name__ == "__main__":
    main()
