"""An LLM judge: show a model both small result tables and ask for a strict 0/1 score.

This is the article's approach: compare the outputs of the reference and the predicted query with
an LLM and keep a score with comments. The answer must be JSON ``{"score": 0|1, "comments": ...}``
(asked for with a JSON-schema ``response_format``); anything else is undecided. Verdicts are cached
by a hash of the question, both queries, both result tables and the judge model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ProviderError
from ...interfaces import Judge, SQLExecutor
from ...records import JudgeInput, QueryResult, Verdict
from .cache import VerdictCache, cache_key

if TYPE_CHECKING:
    from ...llm.messages import ChatResponse
    from ...llm.protocol import ChatClient

__all__ = ["JUDGE_RESPONSE_FORMAT", "JUDGE_SYSTEM_PROMPT", "LLMJudge", "judge_user_prompt"]

logger = logging.getLogger("text2sql_tune")

_PROMPT_VERSION = 1

JUDGE_SYSTEM_PROMPT = (
    "You are a strict reviewer of SQL answers. A reference query is known to answer the question "
    "correctly. Decide whether the candidate query's result answers the question the same way.\n"
    "Score 1 only when the candidate result gives the same answer: the same numbers (differences "
    "from rounding to fewer decimals are fine), the same rows, and the same breakdown. Column "
    "names, column order and extra columns with additional detail do not matter; row order "
    "matters only when the question asks for an order or a top list.\n"
    "Score 0 when anything in the answer differs: a percentage instead of a fraction or the other "
    "way round, missing or extra rows, a missing total, a different time window or filter, a "
    "different grouping, or an error instead of a result.\n"
    'Reply with JSON only: {"score": 0 or 1, "comments": "one or two sentences on why"}.'
)

#: The OpenAI ``response_format`` forcing the ``{"score", "comments"}`` answer.
JUDGE_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "sql_result_judgement",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "score": {"type": "integer", "enum": [0, 1]},
                "comments": {"type": "string"},
            },
            "required": ["score", "comments"],
            "additionalProperties": False,
        },
    },
}


def _table(result: QueryResult | None, error: str | None, max_rows: int) -> str:
    if result is None:
        return f"(no result: {error or 'the query was not executed'})"
    text = result.to_text(max_rows=max_rows)
    if result.truncated:
        text += "\n(truncated at the row cap)"
    return text


def judge_user_prompt(
    case: JudgeInput,
    *,
    max_rows: int = 20,
    predicted_error: str | None = None,
    reference_error: str | None = None,
) -> str:
    """The user message the LLM judge sends for one case.

    Args:
        case: The question, both queries and (when executed) both results.
        max_rows: Rows of each result shown; the rest is summarised as a count.
        predicted_error: Why the predicted query has no result, when it has none.
        reference_error: Why the reference query has no result, when it has none.
    """
    return (
        f"Question:\n{case.question}\n\n"
        f"Reference query:\n{case.reference_sql}\n\n"
        f"Reference result:\n{_table(case.reference, reference_error, max_rows)}\n\n"
        f"Candidate query:\n{case.predicted_sql}\n\n"
        f"Candidate result:\n{_table(case.predicted, predicted_error, max_rows)}"
    )


class LLMJudge(Judge):
    """Judges with an LLM that compares two small result tables (the article's method).

    Args:
        client: A :class:`~text2sql_tune.llm.ChatClient`, e.g.
            :class:`~text2sql_tune.llm.OpenAIChatClient`.
        max_rows: Rows of each result shown to the model.
        executor: Runs the queries when the input carries no results.
        cache: A :class:`VerdictCache`, or a JSONL path for one; default an in-memory cache.
        model: The judge model, when it differs from the client's default.
    """

    name = "llm"

    def __init__(
        self,
        client: ChatClient,
        *,
        max_rows: int = 20,
        executor: SQLExecutor | None = None,
        cache: VerdictCache | str | Path | None = None,
        model: str | None = None,
    ) -> None:
        self.client = client
        self.max_rows = max_rows
        self.executor = executor
        self.cache = cache if isinstance(cache, VerdictCache) else VerdictCache(cache)
        self.model = model or client.model

    async def _results(self, case: JudgeInput) -> tuple[JudgeInput, str | None, str | None]:
        errors: dict[str, str | None] = {"reference": None, "predicted": None}
        if self.executor is None:
            return case, None, None
        update: dict[str, Any] = {}
        for side, sql in (("reference", case.reference_sql), ("predicted", case.predicted_sql)):
            if getattr(case, side) is None and sql.strip():
                outcome = await self.executor.atry_execute(sql, min_rows=0)
                update[side] = outcome.result
                errors[side] = outcome.error
        return case.model_copy(update=update), errors["reference"], errors["predicted"]

    async def ajudge(self, case: JudgeInput) -> Verdict:
        """Ask the model for a 0/1 score; a malformed answer or a failed call is undecided."""
        if not case.predicted_sql.strip():
            return Verdict(correct=False, reason="there is no predicted SQL", judge=self.name)
        case, reference_error, predicted_error = await self._results(case)
        prompt = judge_user_prompt(
            case,
            max_rows=self.max_rows,
            predicted_error=predicted_error,
            reference_error=reference_error,
        )
        key = cache_key("llm-judge", _PROMPT_VERSION, self.model, prompt)
        cached = self.cache.get(key)
        if cached is not None:
            return cached.model_copy(update={"details": {**cached.details, "cached": True}})
        messages = [
            {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ]
        logger.info("LLM judge call (model %s)", self.model)
        try:
            response = await self.client.achat(
                messages,
                response_format=JUDGE_RESPONSE_FORMAT,
                temperature=0.0,
                model=None if self.model == self.client.model else self.model,
            )
        except ProviderError as exc:
            return Verdict(
                correct=None, reason=f"the LLM judge call failed: {exc}", judge=self.name
            )
        verdict = self._parse(response)
        if verdict.correct is not None:
            self.cache.put(key, verdict)
        return verdict

    def _parse(self, response: ChatResponse) -> Verdict:
        details: dict[str, Any] = {"model": self.model}
        details["usage"] = response.usage.model_dump(mode="json")
        content = response.content or ""
        try:
            answer = json.loads(content)
        except json.JSONDecodeError:
            answer = None
        score = answer.get("score") if isinstance(answer, dict) else None
        if isinstance(score, bool) or score not in (0, 1):
            details["raw"] = content[:500]
            return Verdict(
                correct=None,
                reason='the judge model did not answer with {"score": 0|1, "comments": ...}',
                judge=self.name,
                details=details,
            )
        assert isinstance(answer, dict)
        comments = str(answer.get("comments", "")).strip()
        details["score"] = score
        details["comments"] = comments
        return Verdict(
            correct=score == 1,
            reason=comments or f"the judge model scored {score}",
            judge=self.name,
            details=details,
        )
