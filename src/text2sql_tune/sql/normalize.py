r"""Keys that make equal things compare equal: normalised SQL, questions and question tokens.

- :func:`normalize_sql`: the same query written with different whitespace, comments, keyword case,
  identifier quoting, trailing ``;`` or ``FORMAT`` clause gives the same text (sqlglot's ClickHouse
  tokenizer; literals are kept, so ``os = 'iOS'`` and ``os = 'Android'`` stay different). See
  :mod:`text2sql_tune.sql.profile` for the exact rules.
- :func:`normalize_question`: case-folded, single-spaced, without trailing punctuation.
- :func:`question_tokens`: the set of words of a question, for near-duplicate detection.

The two question keys live in :mod:`text2sql_tune.text.tokens`; they are importable from here too.

Example:
    >>> from text2sql_tune.sql.normalize import normalize_sql, normalize_question
    >>> normalize_sql("select  COUNT(*)\n from ecommerce.users -- all\n;")
    'SELECT count(*) FROM ecommerce.users'
    >>> normalize_question("  How many USERS are there?? ")
    'how many users are there'
"""

from __future__ import annotations

from ..records import MAX_SQL_LENGTH
from ..text.tokens import normalize_question, question_tokens
from .profile import profile_sql

__all__ = ["normalize_question", "normalize_sql", "question_tokens"]


def normalize_sql(sql: str, *, max_length: int = MAX_SQL_LENGTH) -> str:
    """Canonical text of a statement: equal for the same query written differently.

    Args:
        sql: One statement.
        max_length: Statements longer than this (in characters) are not tokenised (10 MB of SQL
            would take many seconds): their key is the whitespace-collapsed text.

    Returns:
        The canonical text, or the whitespace-collapsed text when sqlglot cannot tokenize it or
        the statement is over ``max_length``.
    """
    if len(sql) > max_length:
        return " ".join(sql.split())
    return profile_sql(sql).normalized
