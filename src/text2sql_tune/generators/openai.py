"""Generate question/SQL pairs with an OpenAI-compatible LLM and a few seed examples.

Each call shows the model the annotated schema (system prompt) and ``k`` random seed examples
(few-shot), and asks for one new pair that is similar to the examples but different, returned
through a tool call (default) or a JSON-schema structured answer.

What happens to a failed call depends on whether the provider answered:

* an answer that cannot be used (no tool call, invalid arguments, a content filter, a refusal,
  invalid Unicode, a missing or empty field) is paid for: it becomes a rejected record with the
  reason, so a resumed run does not pay for it again;
* no usable answer at all (network, timeouts, 5xx / 429 after every retry, an unreadable body)
  is not an answer: nothing is recorded, the attempt is made again, and after
  ``max_consecutive_failures`` of them in a row the run stops with
  :class:`~text2sql_tune.errors.ProviderOutageError`;
* an error that every call would get (a wrong key, a missing model, a redirect) stops the run at
  once.

:meth:`OpenAIQAGenerator.targeted` makes a generator for analysis targets: each call names one
target's concepts and query pattern (tables, columns, functions, filters, period grain; never a
golden question's text or values) and shows the seed examples closest to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

from ..analysis import GenerationTarget, sql_concepts
from ..errors import (
    ConfigurationError,
    DataError,
    ProviderError,
    ProviderOutageError,
    ProviderUnavailableError,
)
from ..interfaces import QAGenerator
from ..llm.messages import ChatResponse, ToolCall
from ..llm.outage import DEFAULT_MAX_CONSECUTIVE_FAILURES, FailureStreak
from ..llm.protocol import ChatClient
from ..prompts import dialect_display_name, generation_system_prompt
from ..records import QAPair, Usage
from ..schema import DatabaseSchema
from ..sql.dialects import Dialect

__all__ = [
    "GENERATION_TOOL",
    "GENERATION_TOOL_NAME",
    "OpenAIQAGenerator",
    "format_examples",
    "generation_response_format",
    "generation_user_prompt",
    "targeted_user_prompt",
]

GENERATION_TOOL_NAME = "generate_question_and_answer"

_FIELDS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "comments": {
            "type": "string",
            "description": "1-2 sentences about the new question and query pair",
        },
        "question": {"type": "string", "description": "the new question"},
        "sql_query": {
            "type": "string",
            "description": "the SQL query that answers the question",
        },
    },
    "required": ["comments", "question", "sql_query"],
    "additionalProperties": False,
}

GENERATION_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": GENERATION_TOOL_NAME,
        "description": "Returns the new question and the SQL query that answers it.",
        "parameters": _FIELDS,
        "strict": True,
    },
}
"""The tool the model calls with its new pair (OpenAI function-tool format)."""

_MAX_QUESTION_CHARS = 2_000
_MAX_RAW_KEPT = 1_000
# Errors every later call would get too: stop instead of recording each call as rejected.
_FATAL_STATUSES = frozenset({301, 302, 303, 307, 308, 401, 403, 404})
# Calls in flight assumed for a ChatClient that does not say (OpenAIChatClient's default).
_CLIENT_CONCURRENCY = 8
_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls other than tab, newline and carriage return have no place in a question or SQL.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def generation_response_format() -> dict[str, Any]:
    """The JSON-schema ``response_format`` asking for ``{comments, question, sql_query}``."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "question_and_answer", "strict": True, "schema": _FIELDS},
    }


def format_examples(examples: Sequence[QAPair]) -> str:
    """Seed examples in the few-shot style: ``question: ..., sql_query: ...``, blank-line apart."""
    return "\n\n".join(f"question: {p.question}, sql_query: {p.sql}" for p in examples)


def generation_user_prompt(
    examples: Sequence[QAPair], *, dialect: Dialect | str = "ClickHouse"
) -> str:
    """The user message asking for one new pair like (but unlike) ``examples``."""
    return (
        "Look at the examples below. Write one new question and the "
        f"{dialect_display_name(dialect)} SQL query that answers it. The new pair should be "
        "similar in style to the examples but must ask something different from each of them.\n\n"
        "Examples of questions and the SQL queries that answer them:\n\n"
        f"{format_examples(examples)}"
    )


def targeted_user_prompt(
    target: GenerationTarget,
    examples: Sequence[QAPair],
    *,
    dialect: Dialect | str = "ClickHouse",
) -> str:
    """The user message asking for one new pair that teaches ``target``.

    It states the target's concepts and query pattern (see
    :meth:`GenerationTarget.describe <text2sql_tune.analysis.GenerationTarget.describe>`) and
    shows ``examples`` for style; it never contains a golden question.
    """
    prompt = (
        f"Write one new question and the {dialect_display_name(dialect)} SQL query that answers "
        "it. The training data lacks examples of the concept below: the new pair must teach it. "
        "Pick your own values (dates, periods, categories, thresholds) and your own wording; ask "
        "something different from the examples.\n\n"
        f"{target.describe()}"
    )
    if examples:
        prompt += (
            "\n\nExamples of questions and the SQL queries that answer them (for style):\n\n"
            f"{format_examples(examples)}"
        )
    return prompt


class OpenAIQAGenerator(QAGenerator):
    """Few-shot question/SQL generation with an OpenAI-compatible model.

    Args:
        client: The :class:`~text2sql_tune.llm.ChatClient` (its model, retries and limits apply).
        schema: The annotated schema shown in the system prompt.
        seed_examples: Pairs to sample the few-shot examples from.
        k: Examples per call (fewer when there are fewer seeds).
        temperature: Sampling temperature.
        concurrency: Attempts in progress at once; default twice the client's ``concurrency``
            (8 when it has none), so HTTP slots stay busy while some attempts wait out a
            ``Retry-After``.
        rng_seed: Seed for the example sampling (``None``: random).
        max_sql_chars: Longer SQL (or a question over 2,000 characters) is rejected.
        mode: ``"tools"`` (a forced tool call) or ``"json_schema"`` (structured output).
        dialect: The SQL dialect named in the prompts: a
            :class:`~text2sql_tune.sql.dialects.Dialect` (e.g. the executor's, whose display
            name is used) or the name to write.
        max_tokens: Longest answer per call.
        max_consecutive_failures: Calls in a row without a usable answer (each after all of the
            client's retries) that stop the run with ``ProviderOutageError``; ``None``: never.

    Raises:
        ConfigurationError: ``k`` is negative, ``mode`` is unknown or
            ``max_consecutive_failures`` is below 1.
    """

    def __init__(
        self,
        client: ChatClient,
        schema: DatabaseSchema,
        seed_examples: Sequence[QAPair],
        *,
        k: int = 3,
        temperature: float = 0.5,
        concurrency: int | None = None,
        rng_seed: int | None = None,
        max_sql_chars: int = 20_000,
        mode: Literal["tools", "json_schema"] = "tools",
        dialect: Dialect | str = "ClickHouse",
        max_tokens: int | None = 1_000,
        max_consecutive_failures: int | None = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        FailureStreak(max_consecutive_failures)  # validates the limit now, not mid-run
        if k < 0:
            raise ConfigurationError("k (examples per call) must be 0 or more")
        if mode not in ("tools", "json_schema"):
            raise ConfigurationError(f"unknown mode {mode!r}: use 'tools' or 'json_schema'")
        self.client = client
        self.schema = schema
        self.seed_examples = [p for p in seed_examples if p.ok]
        self.k = k
        self.temperature = temperature
        self.concurrency: int = concurrency or 2 * getattr(
            client, "concurrency", _CLIENT_CONCURRENCY
        )
        self.max_sql_chars = max_sql_chars
        self.mode = mode
        self.dialect = dialect
        self.max_tokens = max_tokens
        self.max_consecutive_failures = max_consecutive_failures
        self.system_prompt = generation_system_prompt(schema, dialect=dialect)
        self.name = f"openai:{client.model}"
        self._rng = random.Random(rng_seed)
        self._rng_seed = rng_seed
        self.targets: list[GenerationTarget] = []
        self._schedule: list[int] = []  # target index per attempt, by weight
        self._started = 0

    def targeted(
        self, targets: Sequence[GenerationTarget], *, rng_seed: int | None = None
    ) -> OpenAIQAGenerator:
        """A generator whose calls teach ``targets`` (same client, schema and settings).

        Attempts go to the targets in proportion to their weights, in a fixed rotation; each
        call's prompt is :func:`targeted_user_prompt` with the ``k`` seed examples whose SQL
        shares most concepts with the target. Pairs carry ``metadata["target"]`` and
        ``metadata["reason"]``.

        Args:
            targets: From :attr:`Analysis.targets <text2sql_tune.analysis.Analysis.targets>`.
            rng_seed: Seed for the example choice (default: this generator's).
        """
        clone = OpenAIQAGenerator(
            self.client,
            self.schema,
            self.seed_examples,
            k=self.k,
            temperature=self.temperature,
            concurrency=self.concurrency,
            rng_seed=self._rng_seed if rng_seed is None else rng_seed,
            max_sql_chars=self.max_sql_chars,
            mode=self.mode,
            dialect=self.dialect,
            max_tokens=self.max_tokens,
        )
        clone.targets = list(targets)
        clone._schedule = _schedule([t.weight for t in clone.targets])
        clone.name = f"openai:{self.client.model}:targeted"
        return clone

    def resume_after(self, count: int) -> None:
        """Continue the target rotation after ``count`` attempts (resumed runs)."""
        self._started = max(0, count)

    def _examples_for(self, target: GenerationTarget) -> list[QAPair]:
        """The ``k`` seed examples closest to a target (most shared concepts), ties at random."""
        count = min(self.k, len(self.seed_examples))
        if count == 0:
            return []
        wanted = set(target.concepts)
        ranked = sorted(
            self.seed_examples,
            key=lambda p: (-len(wanted & sql_concepts(p.sql).concepts), self._rng.random()),
        )
        return ranked[:count]

    def _sample(self) -> list[QAPair]:
        count = min(self.k, len(self.seed_examples))
        return self._rng.sample(self.seed_examples, count)

    def messages(
        self, examples: Sequence[QAPair], target: GenerationTarget | None = None
    ) -> list[dict[str, str]]:
        """The chat messages for one call with the given examples (and target)."""
        user = (
            generation_user_prompt(examples, dialect=self.dialect)
            if target is None
            else targeted_user_prompt(target, examples, dialect=self.dialect)
        )
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": user},
        ]

    async def agenerate_one(
        self, examples: Sequence[QAPair] | None = None, target: GenerationTarget | None = None
    ) -> QAPair:
        """Make one call and turn the answer into a pair (rejected when unusable).

        Args:
            examples: The few-shot examples; default ``k`` random seed examples.
            target: Ask for a pair that teaches this target (see :meth:`targeted`).

        Raises:
            ProviderUnavailableError: No usable answer after every retry (nothing was answered,
                so nothing is recorded; the caller decides whether to try again).
            ProviderError: An error every call would get: authentication / permission (401 /
                403), an unknown model or path (404), a redirect. Other provider errors (a
                400, say) become rejected records.
        """
        shown = list(examples) if examples is not None else self._sample()
        questions = [p.question for p in shown]
        kwargs: dict[str, Any] = {}
        if self.mode == "tools":
            kwargs = {"tools": [GENERATION_TOOL], "tool_choice": GENERATION_TOOL_NAME}
        else:
            kwargs = {"response_format": generation_response_format()}
        try:
            response = await self.client.achat(
                self.messages(shown, target),
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                **kwargs,
            )
        except ProviderError as exc:
            if isinstance(exc, ProviderUnavailableError) or exc.status in _FATAL_STATUSES:
                raise
            return _with_target(
                QAPair(
                    rejected=f"provider error after retries: {exc}",
                    source=self.name,
                    examples=questions,
                    usage=Usage(),
                ),
                target,
            )
        return _with_target(self._to_pair(response, questions), target)

    def _to_pair(self, response: ChatResponse, questions: list[str]) -> QAPair:
        source = f"openai:{response.model}" if response.model else self.name
        raw = ""
        try:
            fields, raw = self._fields(response)
            pair = self._check(fields)
        except DataError as exc:
            metadata: dict[str, Any] = {"finish_reason": response.finish_reason}
            if raw:
                metadata["raw"] = _SURROGATES.sub("\ufffd", raw[:_MAX_RAW_KEPT])
            return QAPair(
                rejected=str(exc),
                source=source,
                examples=questions,
                usage=response.usage,
                metadata=metadata,
            )
        return pair.model_copy(
            update={"source": source, "examples": questions, "usage": response.usage}
        )

    def _fields(self, response: ChatResponse) -> tuple[dict[str, Any], str]:
        if response.finish_reason == "content_filter":
            raise DataError("the provider's content filter stopped the answer")
        if response.refusal and not response.tool_calls:
            raise DataError(f"the model refused: {response.refusal[:200]!r}")
        try:
            return self._read_fields(response)
        except DataError as exc:
            if response.finish_reason == "length":
                raise DataError(
                    f"the answer was cut off at max_tokens={self.max_tokens} "
                    f"(finish_reason=length): {exc}"
                ) from exc
            raise

    def _read_fields(self, response: ChatResponse) -> tuple[dict[str, Any], str]:
        if self.mode == "tools":
            if not response.tool_calls:
                text = (response.content or "").strip()
                raise DataError(
                    "the model answered without calling the tool"
                    + (f": {text[:200]!r}" if text else "")
                )
            call = response.tool_calls[0]
            if call.name != GENERATION_TOOL_NAME:
                raise DataError(f"the model called an unknown tool {call.name[:100]!r}")
            return call.parsed_arguments(), call.arguments
        text = response.content or ""
        if not text.strip():
            raise DataError("the model's structured answer is empty")
        # Same reading as tool arguments: duplicate keys, deep nesting and huge numbers refused.
        value = ToolCall(id="content", name="structured answer", arguments=text)
        return value.parsed_arguments(), text

    def _check(self, fields: Mapping[str, Any]) -> QAPair:
        question = fields.get("question")
        sql = fields.get("sql_query", fields.get("sql"))
        comments = fields.get("comments")
        for name, value in (("question", question), ("sql_query", sql)):
            if value is None:
                raise DataError(f"the answer has no {name!r}")
            if not isinstance(value, str):
                raise DataError(f"{name!r} is a {type(value).__name__}, not a string")
            if not value.strip():
                raise DataError(f"{name!r} is empty")
            if _SURROGATES.search(value) or "\ufffd" in value:
                raise DataError(f"{name!r} holds invalid Unicode (a lone surrogate)")
            if _CONTROL.search(value):
                raise DataError(f"{name!r} holds control characters")
        assert isinstance(question, str) and isinstance(sql, str)
        if len(sql) > self.max_sql_chars:
            raise DataError(f"'sql_query' is too long ({len(sql)} > {self.max_sql_chars} chars)")
        if len(question) > _MAX_QUESTION_CHARS:
            raise DataError(f"'question' is too long ({len(question)} > {_MAX_QUESTION_CHARS})")
        if comments is not None and not isinstance(comments, str):
            comments = json.dumps(comments)
        if isinstance(comments, str):
            comments = _SURROGATES.sub("\ufffd", comments)
        if isinstance(comments, str) and len(comments) > _MAX_QUESTION_CHARS:
            comments = comments[:_MAX_QUESTION_CHARS]
        return QAPair(question=question.strip(), sql=sql.strip(), comments=comments or None)

    async def agenerate(self, n: int) -> AsyncIterator[QAPair]:
        """Yield ``n`` pairs (usable or rejected) in the order they arrive.

        Up to ``concurrency`` attempts run at once. An attempt that got no usable answer is made
        again (it yields nothing); after ``max_consecutive_failures`` of them in a row no new
        attempt starts, the attempts in flight are finished (their answers are yielded: they
        are paid for) and the run stops. Closing the iterator early (or Ctrl-C) cancels the
        attempts still in flight.

        Raises:
            ProviderOutageError: Too many calls in a row got no usable answer.
            ProviderError: An error every call would get (401 / 403 / 404 / a redirect).
        """
        if n <= 0:
            return
        streak = FailureStreak(self.max_consecutive_failures)
        pending: set[asyncio.Task[QAPair]] = set()
        produced = 0
        unread: list[asyncio.Task[QAPair]] = []

        def launch() -> None:
            # Examples are sampled here, in launch order, so a seeded run is reproducible.
            while streak.stopped is None:
                in_flight = len(pending) + len(unread)  # finished but not yet read count too
                if in_flight >= min(self.concurrency, n - produced):
                    return
                if self._schedule:
                    target = self.targets[self._schedule[self._started % len(self._schedule)]]
                    self._started += 1
                    call = self.agenerate_one(self._examples_for(target), target)
                else:
                    call = self.agenerate_one(self._sample())
                pending.add(asyncio.ensure_future(call))

        try:
            launch()
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                unread = list(done)
                while unread:
                    task = unread.pop()
                    try:
                        pair = task.result()
                    except ProviderUnavailableError as exc:
                        with contextlib.suppress(ProviderOutageError):
                            streak.failure(exc)
                        launch()
                        continue
                    streak.success()
                    produced += 1
                    yield pair
                    launch()
            if streak.stopped is not None:
                raise streak.stopped
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            for task in unread:  # finished but never read: retrieve, so nothing is logged
                if not task.cancelled():
                    task.exception()


def _schedule(weights: Sequence[float], length: int = 60) -> list[int]:
    """A rotation of target indexes in proportion to ``weights`` (each target at least once)."""
    if not weights:
        return []
    total = sum(weights) or 1.0
    counts = [max(1, round(length * w / total)) for w in weights]
    credit = [0.0] * len(weights)
    order: list[int] = []
    for _ in range(sum(counts)):  # smooth weighted round robin
        for i, count in enumerate(counts):
            credit[i] += count
        best = max(range(len(weights)), key=lambda i: credit[i])
        credit[best] -= sum(counts)
        order.append(best)
    return order


def _with_target(pair: QAPair, target: GenerationTarget | None) -> QAPair:
    if target is None:
        return pair
    label = target.case or target.term or ""
    metadata = {**pair.metadata, "target": label, "reason": target.reason}
    return pair.model_copy(update={"metadata": metadata})
