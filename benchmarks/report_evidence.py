"""Report evidence and golden-set lint: what they cost, against naive baselines in the same run.

1. Nearest training pairs (``report --training``): :class:`~text2sql_tune.reporting.TrainingIndex`
   on 10k / 50k / 100k synthetic template pairs (the cleaning benchmark's generator), queried by
   question and by SQL for golden-like cases. The naive baseline is the previous search: score
   every training pair in a Python loop (same TF-IDF weights, same results, checked).
2. A whole report with evidence: ``report_html`` + ``report_markdown`` of 100 cases with previews
   and 100k training pairs.
3. Golden-set lint on the demo database (built in a temporary folder): the article's 10 golden
   queries times 10, against one evaluation of the same set (the lint runs every reference
   twice, plus one ``LIMIT n+1`` probe per ``ORDER BY ... LIMIT``).

Run:  python benchmarks/report_evidence.py                 (about two minutes)
      python benchmarks/report_evidence.py --sizes 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cleaning import base_pair

from text2sql_tune import EvalCase, EvalReport, EvalResult, Prediction, QAPair
from text2sql_tune.evaluate.evaluator import Evaluator, summarize
from text2sql_tune.evaluate.golden_lint import alint_golden
from text2sql_tune.models.retrieval import LexicalIndex
from text2sql_tune.records import ResultPreview
from text2sql_tune.reporting import TrainingIndex, report_html, report_markdown


def naive_search(
    index: LexicalIndex, vectors: list[dict[str, float]], query: str, k: int
) -> list[int]:
    """The previous LexicalIndex.search: a dot product with every document, in Python."""
    weights = index._weigh(index._terms(query))
    scored = [
        (i, sum(w * doc.get(t, 0.0) for t, w in weights.items())) for i, doc in enumerate(vectors)
    ]
    scored.sort(key=lambda item: (-round(item[1], 12), item[0]))
    return [i for i, _ in scored[:k]]


def bench_neighbours(size: int, rng: random.Random, cases: int, naive_cases: int) -> None:
    pairs = [QAPair(question=q, sql=s) for q, s in (base_pair(rng) for _ in range(size))]
    golden = [base_pair(rng) for _ in range(cases)]
    started = time.perf_counter()
    index = TrainingIndex(pairs)
    build = time.perf_counter() - started
    started = time.perf_counter()
    for question, sql in golden:
        index.by_question(question, 3)
        index.by_sql(sql, 3)
    per_case = (time.perf_counter() - started) / cases
    # The naive baseline on the question index only (the SQL index costs the same again).
    questions = index._questions
    vectors = [questions._weigh(questions._terms(p.question)) for p in index.pairs]
    started = time.perf_counter()
    agree = True
    for question, _ in golden[:naive_cases]:
        expected = naive_search(questions, vectors, question, 3)
        agree &= expected == [i for i, _ in questions.search(question, 3)]
    naive = 2 * (time.perf_counter() - started) / naive_cases
    print(
        f"{size:>7,} pairs: index built in {build:5.1f} s; per case (question + SQL) "
        f"{per_case * 1000:6.1f} ms vs naive {naive * 1000:7.1f} ms = {naive / per_case:5.0f}x; "
        f"same neighbours: {agree}"
    )


def bench_report(rng: random.Random, size: int, cases: int) -> None:
    pairs = [QAPair(question=q, sql=s) for q, s in (base_pair(rng) for _ in range(size))]
    results = []
    for i in range(cases):
        question, sql = base_pair(rng)
        rows = [[f"v{j}", j * 10 + i] for j in range(10)]
        results.append(
            EvalResult(
                question=question,
                reference_sql=sql,
                predicted_sql=sql.replace("sum(", "avg(").replace("count()", "uniq(user_id)"),
                valid=True,
                correct=i % 3 == 0,
                category="correct" if i % 3 == 0 else "wrong_result",
                reason="r",
                details={"ordered": False},
                reference_preview=ResultPreview(columns=["k", "n"], rows=rows, row_count=40),
                predicted_preview=ResultPreview(
                    columns=["k", "n"], rows=[[k, n + (i % 2)] for k, n in rows], row_count=40
                ),
            )
        )
    report = EvalReport(summary=summarize(results), results=results, model="m", judge="execution")
    started = time.perf_counter()
    index = TrainingIndex(pairs)
    built = time.perf_counter() - started
    page = report_html(report, chart=False, training=index)
    text = report_markdown(report, training=index)
    elapsed = time.perf_counter() - started
    print(
        f"report of {cases} cases with {size:,} training pairs: HTML {len(page) / 1e6:.1f} MB and "
        f"markdown {len(text) / 1e6:.1f} MB in {elapsed:.1f} s ({built:.1f} s of it building "
        "the index, shared by both)"
    )


def bench_lint(repeat: int) -> None:
    from text2sql_tune.demo import build_demo_database, load_golden_set
    from text2sql_tune.executors import ChDBExecutor

    with tempfile.TemporaryDirectory() as folder:
        build_demo_database(folder, scale=0.1, end_date=dt.date.today())
        executor = ChDBExecutor(folder)
        cases = [
            EvalCase(question=f"{c.question} ({n})", sql=c.sql)
            for n in range(repeat)
            for c in load_golden_set()
        ]
        predictions = [Prediction(question=c.question, sql=c.sql) for c in cases]
        evaluator = Evaluator(executor)
        evaluator.evaluate_predictions(cases[:10], predictions[:10])  # warm the engine up
        started = time.perf_counter()
        evaluator.evaluate_predictions(cases, predictions)
        evaluation = time.perf_counter() - started
        from text2sql_tune._sync import run_sync

        started = time.perf_counter()
        found = run_sync(alint_golden(cases, executor))
        lint = time.perf_counter() - started
        started = time.perf_counter()
        run_sync(alint_golden(cases, executor, rerun=False))
        single = time.perf_counter() - started
        executor.close()
    print(
        f"lint of {len(cases)} golden cases on the demo database (scale 0.1): {lint:.2f} s "
        f"({single:.2f} s without the second run) vs evaluating them: {evaluation:.2f} s "
        f"= {lint / evaluation:.1f}x; findings: {found.summary()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--cases", type=int, default=100)
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}")
    rng = random.Random(7)
    for size in args.sizes:
        bench_neighbours(size, rng, args.cases, naive_cases=5)
    bench_report(rng, max(args.sizes), args.cases)
    bench_lint(repeat=10)


if __name__ == "__main__":
    main()
