"""Question/SQL pair generators: LLM few-shot, offline templates, and resumable runs."""

from __future__ import annotations

from .openai import (
    GENERATION_TOOL,
    GENERATION_TOOL_NAME,
    OpenAIQAGenerator,
    format_examples,
    generation_response_format,
    generation_user_prompt,
)
from .runner import (
    CheckpointState,
    GenerationSummary,
    ResumableGenerator,
    agenerate_to_file,
    checkpoint_problem,
    generate_to_file,
    read_checkpoint_state,
)
from .templates import TemplateQAGenerator

__all__ = [
    "GENERATION_TOOL",
    "GENERATION_TOOL_NAME",
    "CheckpointState",
    "GenerationSummary",
    "OpenAIQAGenerator",
    "ResumableGenerator",
    "TemplateQAGenerator",
    "agenerate_to_file",
    "checkpoint_problem",
    "format_examples",
    "generate_to_file",
    "generation_response_format",
    "generation_user_prompt",
    "read_checkpoint_state",
]
