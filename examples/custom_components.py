"""Plain functions as components: a model, a judge and a filter, evaluated on SQLite.

Each interface has a ``Function*`` adapter, so a function (sync or async) is enough:

- ``FunctionModel(fn)``: ``fn(question) -> sql`` answers questions (here: keyword rules);
- ``FunctionJudge(fn)``: ``fn(case) -> True / False / None`` decides correctness (here: same rows,
  in any order);
- ``FunctionFilter(fn)``: ``fn(pair) -> True / False / "reason"`` cleans a dataset.

Nothing here needs a network or an API key; the database is the SQLite one from
``sqlite_executor.py`` next to this file. Run it::

    python examples/custom_components.py
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

from text2sql_tune import (
    EvalCase,
    Evaluator,
    FunctionFilter,
    FunctionJudge,
    FunctionModel,
    JudgeInput,
    QAPair,
    Verdict,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlite_executor import SQLiteExecutor, build_shop_database

# -- a "model": keyword rules standing in for a tuned LLM ---------------------------------------

RULES = {
    "how many customers": "SELECT COUNT(*) FROM customers",
    "revenue by country": (
        "SELECT c.country, SUM(o.amount) FROM orders AS o "
        "JOIN customers AS c ON c.customer_id = o.customer_id GROUP BY c.country"
    ),
    "biggest order": "SELECT MAX(amount) FROM orders",
    "orders in march": "SELECT COUNT(*) FROM orders WHERE order_date LIKE '2024-02%'",  # wrong
    "average order": "SELECT AVG(total) FROM orders",  # unknown column
}


def rule_model(question: str) -> str:
    """Answer with the SQL of the first rule whose keywords appear in the question."""
    for keywords, sql in RULES.items():
        if keywords in question.lower():
            return sql
    raise LookupError("no rule matches the question")  # becomes Prediction.error


# -- a judge: same rows in any order, numbers rounded ------------------------------------------


def same_rows(case: JudgeInput) -> Verdict | bool | None:
    """Correct when both queries return the same multiset of rows (floats rounded to 6 places)."""
    if case.reference is None or case.predicted is None:
        return None  # one side did not run: undecided

    def bag(rows: list[list[object]]) -> Counter[tuple[object, ...]]:
        return Counter(
            tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows
        )

    if bag(case.reference.rows) == bag(case.predicted.rows):
        return True
    return Verdict(
        correct=False,
        reason=f"got {case.predicted.rows[:3]}, expected {case.reference.rows[:3]}",
        judge="same-rows",
    )


# -- a filter: drop questions that are too short or SQL that reads everything -------------------


def tidy(pair: QAPair) -> bool | str:
    """Keep a pair unless its question is too short or its SQL selects every column."""
    if len(pair.question.split()) < 4:
        return "question_too_short"
    if "select *" in pair.sql.lower():
        return "select_star"
    return True


def main() -> None:
    """Clean a small dataset, then evaluate the rule model with the custom judge."""
    pairs = [
        QAPair(question="How many customers do we have?", sql="SELECT COUNT(*) FROM customers"),
        QAPair(question="Orders?", sql="SELECT COUNT(*) FROM orders"),
        QAPair(question="Show me every order we ever had", sql="SELECT * FROM orders"),
        QAPair(question="What is the biggest order amount?", sql="SELECT MAX(amount) FROM orders"),
    ]
    cleaner = FunctionFilter(tidy, name="tidy")
    decisions = cleaner.decide(pairs)
    for pair, decision in zip(pairs, decisions, strict=True):
        verdict = "keep" if decision.keep else f"drop ({decision.reason})"
        print(f"filter: {verdict:<26} {pair.question}")
    print(f"kept {len(cleaner.keep(pairs))} of {len(pairs)} pairs")

    golden = [
        EvalCase(question="How many customers are there?", sql="SELECT COUNT(*) FROM customers"),
        EvalCase(
            question="Total revenue by country",
            sql="SELECT country, SUM(amount) FROM customers JOIN orders USING (customer_id) "
            "GROUP BY country ORDER BY country",
        ),
        EvalCase(question="Size of the biggest order?", sql="SELECT MAX(amount) FROM orders"),
        EvalCase(
            question="How many orders in March?",
            sql="SELECT COUNT(*) FROM orders WHERE order_date LIKE '2024-03-%'",
        ),
        EvalCase(question="Average order value?", sql="SELECT AVG(amount) FROM orders"),
        EvalCase(question="Who ordered last?", sql="SELECT customer_id FROM orders LIMIT 1"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = build_shop_database(Path(tmp) / "shop.db")
        with SQLiteExecutor(db) as executor:
            evaluator = Evaluator(executor, FunctionJudge(same_rows, name="same-rows"))
            report = evaluator.evaluate(FunctionModel(rule_model, name="rules"), golden)

    print()
    for result in report.results:
        print(f"{result.category:<16} {result.question}  ({result.reason})")
    summary = report.summary
    print(
        f"\nvalid {summary.valid}/{summary.total} ({summary.validity_rate:.0%}), "
        f"correct {summary.correct}/{summary.total} ({summary.accuracy:.0%})"
    )


if __name__ == "__main__":
    main()
