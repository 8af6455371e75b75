"""Check what an evaluation is given before scoring it: predictions files and golden sets.

An evaluation that silently scores the wrong thing is worse than one that stops, so:

- :func:`read_predictions` refuses an empty file and takes the SQL out of a Markdown fence (a
  model's raw answer pasted into the file) with :func:`~text2sql_tune.sql.extract.extract_sql`.
- :func:`check_golden_cases` refuses a golden set that asks the same question twice (one
  prediction would be scored twice). Blank questions and SQL are refused when the cases are read.
- :func:`prediction_problems` finds predictions that match no golden question and questions
  predicted more than once; the evaluator warns about them (or stops, with ``strict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import EvaluationError
from ..io.records import iter_models
from ..records import EvalCase, Prediction
from ..sql.extract import extract_sql
from ..sql.normalize import normalize_question

__all__ = ["check_golden_cases", "prediction_problems", "read_predictions", "shown_questions"]

_FIELDS = frozenset(Prediction.model_fields)


def _prediction_fields(raw: dict[str, Any]) -> dict[str, Any]:
    data = {key: value for key, value in raw.items() if key in _FIELDS}
    if "sql" not in data and "sql_query" in raw:
        data["sql"] = raw["sql_query"]
    if data.get("sql") is None:
        data["sql"] = ""
    return data


def _unfenced(prediction: Prediction) -> Prediction:
    """The prediction with the SQL taken out of a Markdown fence (or a raw answer), if needed."""
    text = prediction.sql
    if not text.strip() and prediction.raw_output:
        text = prediction.raw_output
    elif "```" not in text:
        return prediction
    sql = extract_sql(text)
    update: dict[str, Any] = {"sql": sql, "raw_output": prediction.raw_output or prediction.sql}
    if not sql and prediction.error is None:
        update["error"] = "no SELECT or WITH statement in the answer"
    return prediction.model_copy(update=update)


def read_predictions(path: str | Path) -> list[Prediction]:
    """Read a predictions file: ``{"question", "sql"}`` per record (``sql_query`` accepted).

    Other keys are ignored, so a file of pairs or of earlier results can be evaluated too. SQL
    inside a Markdown code fence (or, when ``sql`` is empty, in ``raw_output``) is extracted as
    :func:`~text2sql_tune.sql.extract.extract_sql` does for a model's answer; the original text
    is kept in ``raw_output``.

    Raises:
        DataError: The file is missing, unreadable or empty, or a record has no question (one
            line naming the file, the line and the field).
    """
    return [_unfenced(p) for p in iter_models(path, Prediction, prepare=_prediction_fields)]


def shown_questions(questions: Sequence[str], limit: int = 5) -> str:
    """``'a', 'b' and 3 more``: a few questions for a one-line message."""
    shown = ", ".join(repr(q if len(q) <= 80 else q[:77] + "...") for q in questions[:limit])
    more = len(questions) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def check_golden_cases(cases: Sequence[EvalCase]) -> None:
    """Refuse a golden set that asks one question twice.

    Questions are compared as predictions are matched to them (ignoring case, spacing and
    trailing punctuation), so two such cases would both be scored with one prediction.

    Raises:
        EvaluationError: Naming the repeated questions and their case numbers (1-based).
    """
    seen: dict[str, list[int]] = {}
    for number, case in enumerate(cases, start=1):
        seen.setdefault(normalize_question(case.question), []).append(number)
    repeated = [numbers for numbers in seen.values() if len(numbers) > 1]
    if repeated:
        described = "; ".join(
            f"{cases[numbers[0] - 1].question!r} (cases {', '.join(map(str, numbers))})"
            for numbers in repeated[:5]
        )
        more = f"; and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        raise EvaluationError(
            f"the golden set asks {len(repeated)} question(s) more than once, so one prediction "
            f"would be scored twice: {described}{more}; keep one case per question"
        )


def prediction_problems(
    cases: Sequence[EvalCase], predictions: Sequence[Prediction]
) -> tuple[list[str], list[str]]:
    """Predictions that match no golden question, and questions predicted more than once.

    Returns:
        ``(unmatched questions, repeated questions)``, each in file order, as written in the
        predictions.
    """
    wanted = {normalize_question(case.question) for case in cases}
    seen: dict[str, int] = {}
    unmatched: list[str] = []
    repeated: list[str] = []
    for prediction in predictions:
        key = normalize_question(prediction.question)
        seen[key] = seen.get(key, 0) + 1
        if key not in wanted and seen[key] == 1:
            unmatched.append(prediction.question)
        elif key in wanted and seen[key] == 2:
            repeated.append(prediction.question)
    return unmatched, repeated
