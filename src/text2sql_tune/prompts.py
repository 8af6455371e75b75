"""Prompts shared by generation, formatting, tuned-model inference and judging.

The same answering prompt must be used to format training data and to query the tuned model, so it
lives here once. The Llama 3 template follows Meta's published chat format byte for byte.
"""

from __future__ import annotations

from .schema import DatabaseSchema
from .sql.dialects import Dialect

__all__ = [
    "ANALYST_PERSONA",
    "answering_system_prompt",
    "chat_messages",
    "dialect_display_name",
    "generation_system_prompt",
    "llama3_prompt",
]

ANALYST_PERSONA = (
    "You are a senior data analyst with more than 10 years of experience "
    "writing complex SQL queries."
)


def dialect_display_name(dialect: Dialect | str) -> str:
    """How prompts name a dialect's SQL: a :class:`Dialect`'s display name, or the text given."""
    return dialect.display_name if isinstance(dialect, Dialect) else dialect


def _schema_intro(schema: DatabaseSchema) -> str:
    count = len(schema.tables)
    noun = "table" if count == 1 else "tables"
    return (
        f"{ANALYST_PERSONA}\n"
        f"The database you work with has {count} {noun} with the following schemas.\n\n"
        f"{schema.to_prompt()}"
    )


def answering_system_prompt(
    schema: DatabaseSchema,
    *,
    dialect: Dialect | str = "ClickHouse",
    extra_instructions: str | None = None,
) -> str:
    """The system prompt for answering a question with SQL (inference and tuning data).

    Args:
        schema: The annotated schema.
        dialect: The SQL dialect named in the instruction: a
            :class:`~text2sql_tune.sql.dialects.Dialect` (its display name) or the name to write.
        extra_instructions: Appended after the standard instructions (e.g. a FORMAT convention).

    Returns:
        The system prompt text.
    """
    text = (
        f"{_schema_intro(schema)}\n\n"
        f"Write a query in {dialect_display_name(dialect)} SQL that answers the user's question. "
        "Answer with the SQL query only."
    )
    if extra_instructions:
        text += f"\n{extra_instructions}"
    return text


def generation_system_prompt(
    schema: DatabaseSchema, *, dialect: Dialect | str = "ClickHouse"
) -> str:
    """The system prompt for generating new question/SQL training pairs.

    Args:
        schema: The annotated schema.
        dialect: The SQL dialect the generated queries must use (a
            :class:`~text2sql_tune.sql.dialects.Dialect` or the name to write).
    """
    return (
        f"{_schema_intro(schema)}\n\n"
        f"Each query you write must be valid {dialect_display_name(dialect)} SQL that only reads "
        "data (SELECT or WITH) and returns a small, aggregated result that answers the question."
    )


def llama3_prompt(user_message: str, system_message: str = "") -> str:
    """Format one turn with Meta's Llama 3 / 3.1 chat template, ready for the assistant's answer.

    Args:
        user_message: The user's message (the question).
        system_message: The system prompt; omitted from the prompt when empty.

    Returns:
        ``<|begin_of_text|>`` + optional system turn + user turn + the assistant header.
    """
    system_turn = ""
    if system_message:
        system_turn = f"<|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|>"
    return (
        f"<|begin_of_text|>{system_turn}"
        f"<|start_header_id|>user<|end_header_id|>\n\n{user_message}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def chat_messages(
    user_message: str, system_message: str = "", assistant_message: str | None = None
) -> list[dict[str, str]]:
    """The same turn as OpenAI / Hugging Face chat messages.

    Args:
        user_message: The user's message.
        system_message: The system prompt; omitted when empty.
        assistant_message: The answer, for training data; omitted when ``None``.
    """
    messages: list[dict[str, str]] = []
    if system_message:
        messages.append({"role": "system", "content": system_message})
    messages.append({"role": "user", "content": user_message})
    if assistant_message is not None:
        messages.append({"role": "assistant", "content": assistant_message})
    return messages
