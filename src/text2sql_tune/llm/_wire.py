"""Reading a chat-completion body defensively: every field an LLM server sends is hostile input.

:func:`parse_completion` turns a response body into the parts of a
:class:`~text2sql_tune.llm.openai.ChatResponse`, or raises :class:`NotACompletionError` when the
body holds no answer at all (not JSON, not an object, no ``choices[0].message``). Inside a real
answer nothing raises: strings that cannot be written as UTF-8 (lone surrogates) are repaired, a
non-string ``finish_reason`` is normalised, unbelievable token counts are dropped from the usage,
and each repair is listed in ``warnings``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_TOKENS_PER_CALL",
    "NotACompletionError",
    "ParsedCompletion",
    "ParsedToolCall",
    "bounded_int",
    "clean_text",
    "clean_tree",
    "load_json",
    "parse_completion",
]

MAX_TOKENS_PER_CALL = 10_000_000
"""A token count above this for one call is not believed (the largest contexts are ~2M tokens)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_INT_DIGITS = 400
_MAX_FINISH_REASON_CHARS = 40


class NotACompletionError(ValueError):
    """The body is not a chat completion (the message says why)."""


@dataclass
class ParsedToolCall:
    """One tool call as read from the body (``arguments`` is the model's JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass
class ParsedCompletion:
    """What :func:`parse_completion` read from one body."""

    data: dict[str, Any]
    content: str | None
    tool_calls: list[ParsedToolCall]
    finish_reason: str | None
    refusal: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    usage_valid: bool
    warnings: list[str] = field(default_factory=list)


def clean_text(text: str) -> tuple[str, int]:
    """Replace lone surrogates (not encodable as UTF-8) with U+FFFD; return the text and count."""
    return _SURROGATE.subn("\ufffd", text)


def clean_tree(value: Any) -> Any:
    """A copy of a JSON-like value with lone surrogates replaced in every string and key."""
    return _clean_tree(value, [0])


def _clean_tree(value: Any, counter: list[int]) -> Any:
    if isinstance(value, str):
        text, count = clean_text(value)
        counter[0] += count
        return text
    if isinstance(value, list):
        return [_clean_tree(item, counter) for item in value]
    if isinstance(value, dict):
        return {_clean_tree(k, counter): _clean_tree(v, counter) for k, v in value.items()}
    return value


def bounded_int(digits: str) -> int:
    """``int(digits)`` for JSON parsing, refusing absurdly long numbers on every Python version."""
    if len(digits) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer with {len(digits):,} digits")
    return int(digits)


def load_json(raw: bytes) -> Any:
    """Parse a JSON body; any way it can fail becomes :class:`NotACompletionError`.

    Covers invalid UTF-8, invalid or truncated JSON, nesting too deep for the parser and integers
    with more digits than Python converts.
    """
    if not raw.strip():
        raise NotACompletionError("the body is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        why = f"the body is not UTF-8 ({exc.reason} at byte {exc.start})"
        raise NotACompletionError(why) from exc
    try:
        return json.loads(text, parse_int=bounded_int)
    except RecursionError as exc:
        raise NotACompletionError("the body is nested too deeply to read") from exc
    except ValueError as exc:  # JSONDecodeError, and int() refusing a 5000-digit number
        raise NotACompletionError(f"the body is not valid JSON ({exc})") from exc


def _token_count(value: Any) -> int | None:
    """A believable token count, ``0`` when missing, ``None`` when not believable."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_TOKENS_PER_CALL:
        return None
    return value


def _usage(data: Mapping[str, Any], warnings: list[str]) -> tuple[int, int, bool]:
    raw = data.get("usage")
    if raw is None:  # not reported (some local servers): unknown, not free
        return 0, 0, False
    if not isinstance(raw, Mapping):
        warnings.append(f"usage is a {type(raw).__name__}, not an object: tokens not counted")
        return 0, 0, False
    prompt = _token_count(raw.get("prompt_tokens"))
    completion = _token_count(raw.get("completion_tokens"))
    if prompt is None or completion is None:
        shown = {k: raw.get(k) for k in ("prompt_tokens", "completion_tokens")}
        warnings.append(f"usage is not believable ({shown!r:.120}): tokens not counted")
        return 0, 0, False
    return prompt, completion, True


def _finish_reason(value: Any, warnings: list[str]) -> str | None:
    if value is None or isinstance(value, str):
        return value[:_MAX_FINISH_REASON_CHARS] if value is not None else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        warnings.append(f"finish_reason is a number ({value!r}), not a string")
        return str(value)[:_MAX_FINISH_REASON_CHARS]
    warnings.append(f"finish_reason is a {type(value).__name__}, not a string: ignored")
    return None


def _tool_calls(message: Mapping[str, Any], warnings: list[str]) -> list[ParsedToolCall]:
    items = message.get("tool_calls")
    if items is None:
        return []
    if not isinstance(items, list):
        warnings.append(f"tool_calls is a {type(items).__name__}, not a list: ignored")
        return []
    calls = []
    for index, item in enumerate(items):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping):
            warnings.append(f"tool call {index} is malformed (no function object): ignored")
            continue
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):  # some servers send an object instead of JSON text
            arguments = json.dumps(arguments)
        name = function.get("name")
        calls.append(
            ParsedToolCall(
                id=str(item.get("id") or f"call_{index}"),
                name=name if isinstance(name, str) else "",
                arguments=arguments,
            )
        )
    return calls


def parse_completion(raw: bytes) -> ParsedCompletion:
    """Read a chat-completion body.

    Args:
        raw: The response body.

    Returns:
        The first choice's parts, usage and the repairs made.

    Raises:
        NotACompletionError: The body holds no chat completion (nothing to use: worth a retry).
    """
    counter = [0]
    data = _clean_tree(load_json(raw), counter)
    if not isinstance(data, dict):
        raise NotACompletionError(f"the body is a JSON {type(data).__name__}, not an object")
    choices = data.get("choices")
    if not isinstance(choices, list):
        missing = "choices" not in data
        why = "the body has no 'choices'" if missing else "'choices' is not a list"
        raise NotACompletionError(why)
    if not choices:
        raise NotACompletionError("'choices' is empty")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, Mapping) else None
    if not isinstance(message, Mapping):
        raise NotACompletionError("choices[0] has no message object")
    warnings: list[str] = []
    if counter[0]:
        warnings.append(f"replaced {counter[0]} lone surrogate(s) (invalid Unicode) with U+FFFD")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        content = json.dumps(content)
    refusal = message.get("refusal")
    prompt_tokens, completion_tokens, usage_valid = _usage(data, warnings)
    model = data.get("model")
    return ParsedCompletion(
        data=data,
        content=content,
        tool_calls=_tool_calls(message, warnings),
        finish_reason=_finish_reason(choice.get("finish_reason"), warnings),
        refusal=refusal if isinstance(refusal, str) and refusal.strip() else None,
        model=model if isinstance(model, str) and model else None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        usage_valid=usage_valid,
        warnings=warnings,
    )
