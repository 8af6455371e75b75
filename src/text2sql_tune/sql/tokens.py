"""SQL as tokens: sqlglot's tokenizer, one instance per dialect and thread.

- :func:`tokenize`: sqlglot's tokens of a text, with their positions (comments ride on the
  tokens, they are not tokens of their own).
- :func:`statement_tokens`: the token types and texts of one statement, without its trailing
  ``;`` and ``FORMAT`` clause: what :mod:`~text2sql_tune.sql.profile` and
  :mod:`~text2sql_tune.sql.concepts` read.

With the ``sqlglotc`` package (the ``sqlglot[c]`` dependency) the tokenizer runs compiled: about
22 µs for a demo golden query on this project's reference machine, faster than the hand-written
regular-expression lexer it replaced (``benchmarks/sql_tokens.py``).

Example:
    >>> statement_tokens("select count() from t;").texts
    ('select', 'count', '(', ')', 'from', 't')
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlglot.dialects.dialect import Dialect
from sqlglot.tokenizer_core import Token, TokenType
from sqlglot.tokens import Tokenizer

__all__ = ["DEFAULT_DIALECT", "StatementTokens", "statement_tokens", "tokenize"]

DEFAULT_DIALECT = "clickhouse"
"""The dialect SQL is read in unless a caller names another (a sqlglot dialect name)."""

_LOCAL = threading.local()  # a tokenizer keeps state while it scans: one per thread


@dataclass(frozen=True)
class StatementTokens:
    """Token types and texts of one statement, side by side.

    Attributes:
        kinds: sqlglot token types.
        texts: Token texts as sqlglot gives them: strings unquoted and unescaped, quoted names
            unquoted, multi-word keywords single-spaced (``GROUP BY``).
    """

    kinds: tuple[TokenType, ...]
    texts: tuple[str, ...]


def _tokenizer(dialect: str) -> Tokenizer:
    tokenizers: dict[str, Tokenizer] | None = getattr(_LOCAL, "tokenizers", None)
    if tokenizers is None:
        tokenizers = _LOCAL.tokenizers = {}
    found = tokenizers.get(dialect)
    if found is None:
        found = tokenizers[dialect] = Dialect.get_or_raise(dialect).tokenizer()
    return found


def tokenize(sql: str, dialect: str = DEFAULT_DIALECT) -> list[Token]:
    """Sqlglot's tokens of ``sql`` (``start`` and ``end`` are inclusive character offsets).

    Args:
        sql: SQL text: one statement or several.
        dialect: A sqlglot dialect name.

    Raises:
        sqlglot.errors.TokenError: The text cannot be tokenized (an unterminated string, say).
    """
    return _tokenizer(dialect).tokenize(sql)


def statement_tokens(sql: str, dialect: str = DEFAULT_DIALECT) -> StatementTokens:
    """Token types and texts of one statement, its trailing ``;`` and ``FORMAT`` clause dropped.

    Executors strip the ``FORMAT`` clause too: it changes how results are written, not what the
    statement computes.

    Args:
        sql: One statement.
        dialect: A sqlglot dialect name.

    Raises:
        sqlglot.errors.TokenError: The text cannot be tokenized.
    """
    tokens = tokenize(sql, dialect)
    end = len(tokens)
    while end and tokens[end - 1].token_type is TokenType.SEMICOLON:
        end -= 1
    if end > 2 and tokens[end - 2].token_type is TokenType.FORMAT:
        end -= 2
    kept = tokens[:end]
    return StatementTokens(
        kinds=tuple(t.token_type for t in kept), texts=tuple(t.text for t in kept)
    )
