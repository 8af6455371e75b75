"""Prompts shared by generation, formatting, tuned-model inference and judging.

The same answering prompt must be used to format training data and to query the tuned model, so it
lives here once. The Llama 3 template follows Meta's published chat format byte for byte.
"""

from __future__ import annotations

from typing import Literal

from .schema import Column, DatabaseSchema, Table, friendly_type
from .sql.dialects import Dialect

__all__ = [
    "ANALYST_PERSONA",
    "PromptStyle",
    "answering_system_prompt",
    "chat_messages",
    "compact_schema_text",
    "dialect_display_name",
    "generation_system_prompt",
    "llama3_prompt",
    "schema_for_question",
]

PromptStyle = Literal["full", "compact"]
"""How the answering prompt renders the schema: the article's ``full`` layout, or ``compact``."""

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


# Example values are shown in the compact rendering only for these kinds of column: there the
# exact spelling of a value decides whether a filter matches ("United Kingdom", not "UK").
_SPELLED_TYPES = frozenset({"string"})


def _compact_column(column: Column) -> str:
    line = f"  {column.name} {column.type}"
    text = column.description or column.comment
    if text:
        line += f": {text}"
    if column.examples and friendly_type(column.type) in _SPELLED_TYPES:
        shown = ", ".join(repr(str(v)) for v in column.examples[:3])
        line += f" (e.g. {shown})"
    return line


def compact_schema_text(schema: DatabaseSchema) -> str:
    """The schema in few tokens: a line per table, an indented line per column.

    Each column has its type and its one-line description; example values only for string
    columns, where their spelling matters. About half the tokens of
    :meth:`~text2sql_tune.schema.DatabaseSchema.to_prompt`.
    """
    blocks = []
    for table in schema.tables:
        head = f"{table.full_name}: {table.description}" if table.description else table.full_name
        blocks.append("\n".join([head, *(_compact_column(c) for c in table.columns)]))
    return "\n".join(blocks)


def _table_words(table: Table) -> set[str]:
    from .text.terms import ENTITY_SYNONYMS, stem
    from .text.tokens import question_words

    entity = stem(table.name.lower())
    words = {entity, *ENTITY_SYNONYMS.get(entity, ())}
    for column in table.columns:
        if not column.name.lower().endswith("_id"):  # keys name other tables too
            words.update(stem(part) for part in column.name.lower().split("_") if len(part) > 2)
        for value in column.examples:
            if isinstance(value, str):
                words.update(stem(w) for w in question_words(value))
    return words


def schema_for_question(schema: DatabaseSchema, question: str) -> DatabaseSchema:
    """The tables a question names (schema pruning at inference); all of them when unsure.

    A table is kept when the question uses its name or a synonym of it ("customers" for
    ``users``), a word of one of its column names, or one of its example values. When no table
    or every table matches, the whole schema is returned.
    """
    from .text.terms import stem
    from .text.tokens import question_words

    words = {stem(w) for w in question_words(question)}
    kept = [t for t in schema.tables if words & _table_words(t)]
    if not kept or len(kept) == len(schema.tables):
        return schema
    return DatabaseSchema(tables=kept)


def answering_system_prompt(
    schema: DatabaseSchema,
    *,
    dialect: Dialect | str = "ClickHouse",
    extra_instructions: str | None = None,
    style: PromptStyle = "full",
) -> str:
    """The system prompt for answering a question with SQL (inference and tuning data).

    Args:
        schema: The annotated schema.
        dialect: The SQL dialect named in the instruction: a
            :class:`~text2sql_tune.sql.dialects.Dialect` (its display name) or the name to write.
        extra_instructions: Appended after the standard instructions (e.g. a FORMAT convention).
        style: ``full``: the article's persona and schema layout; ``compact``: the schema as
            :func:`compact_schema_text` (about half the tokens; a model tuned on one style
            must be asked with the same one).

    Returns:
        The system prompt text.
    """
    name = dialect_display_name(dialect)
    if style == "compact":
        head = (
            f"Tables of the {name} database (column type: meaning):\n{compact_schema_text(schema)}"
        )
    else:
        head = _schema_intro(schema)
    text = (
        f"{head}\n\n"
        f"Write a query in {name} SQL that answers the user's question. "
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
