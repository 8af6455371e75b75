"""Defaults shared by the library and the CLI, in a module light enough for ``--help``.

:class:`~text2sql_tune.config.LLMConfig` (the ``[llm]`` section of a run) and the CLI's
``--max-retries`` / ``--max-wait`` / ``--timeout`` / ``--call-timeout`` / ``--max-failures``
options take their defaults from here; they match
:class:`~text2sql_tune.llm.OpenAIChatClient`'s (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["LLM_DEFAULTS", "MAX_SQL_LENGTH", "ExportFormat", "LLMDefaults"]

MAX_SQL_LENGTH = 100_000
"""Longest SQL, in characters, that validation, cleaning and export accept by default.

Longer SQL is refused before anything tokenises it (lexing 10 MB of SQL takes many seconds); the
safety guard's default limit is the same.
"""


@dataclass(frozen=True)
class LLMDefaults:
    """The defaults; see :class:`~text2sql_tune.config.LLMConfig` for what each one bounds."""

    max_retries: int = 6
    max_wait_s: float = 120.0
    timeout_s: float = 180.0
    call_timeout_s: float = 300.0
    max_failures: int = 5


LLM_DEFAULTS = LLMDefaults()


class ExportFormat(str, Enum):
    """The training-file formats :func:`~text2sql_tune.exports.export_pairs` writes."""

    LAMINI = "lamini"
    OPENAI = "openai"
    HF = "hf"
    JSONL = "jsonl"
