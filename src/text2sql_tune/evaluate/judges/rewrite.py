"""Rewrite approximate aggregate functions to their exact variants.

``median``, ``quantile``, ``uniq`` and friends are approximate in ClickHouse: the same query can
give slightly different numbers on the same data (measured: 505.3, 500.8, 503.8). A judge comparing
results must not call an answer wrong because of that, so before comparing it re-runs both queries
with exact variants (``medianExact``, ``quantileExact``, ``uniqExact`` ...). Which functions are
approximate, and their exact variants, is the dialect's knowledge
(:attr:`~text2sql_tune.sql.dialects.Dialect.approximate_to_exact`).

The rewrite works on sqlglot's tokens for the dialect and replaces only function-name tokens, so
the rest of the query (string literals, quoted identifiers, ``WITH TOTALS``, formatting) is left as
written. Aggregate-function combinators are kept: ``uniqIf`` becomes ``uniqExactIf``.

Example:
    >>> rewrite_exact("SELECT median(x), uniqIf(id, ok) FROM t").sql
    'SELECT medianExact(x), uniqExactIf(id, ok) FROM t'
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlglot.errors import TokenError
from sqlglot.tokenizer_core import TokenType

from ...sql.dialects import Dialect
from ...sql.tokens import tokenize
from ...sql.walk import TokenWalk

__all__ = [
    "ExactRewrite",
    "find_approximate_functions",
    "rewrite_exact",
]

_NOT_NAMES = (TokenType.STRING, TokenType.IDENTIFIER, TokenType.NUMBER)


@dataclass
class ExactRewrite:
    """The outcome of :func:`rewrite_exact`.

    Attributes:
        sql: The rewritten statement (the input unchanged when nothing was approximate).
        replaced: ``(approximate, exact)`` function names, one per call rewritten.
        without_exact: Approximate functions found that have no exact variant.
    """

    sql: str
    replaced: list[tuple[str, str]] = field(default_factory=list)
    without_exact: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when at least one call was rewritten."""
        return bool(self.replaced)

    @property
    def approximate(self) -> bool:
        """True when the statement used any approximate function."""
        return bool(self.replaced or self.without_exact)


def _split_combinators(name: str, dialect: Dialect) -> tuple[str, str] | None:
    """Split ``uniqIfOrNull`` into (``uniq``, ``IfOrNull``) when the base is approximate.

    The base comes back as the dialect spells it (``MEDIAN`` -> ``median`` where function names
    are case-insensitive).
    """
    sensitive = dialect.functions_case_sensitive
    for base in _bases(dialect):
        if not (name if sensitive else name.lower()).startswith(
            base if sensitive else base.lower()
        ):
            continue
        rest = name[len(base) :]
        while rest:
            for combinator in dialect.aggregate_combinators:
                if rest.startswith(combinator):
                    rest = rest[len(combinator) :]
                    break
            else:
                break
        if not rest:
            return base, name[len(base) :]
    return None


@cache
def _bases(dialect: Dialect) -> list[str]:
    names = [*dialect.approximate_to_exact, *dialect.approximate_without_exact]
    return sorted(names, key=len, reverse=True)


def rewrite_exact(sql: str, dialect: Dialect | str = "clickhouse") -> ExactRewrite:
    """Replace approximate aggregate functions by their exact variants.

    Args:
        sql: A statement.
        dialect: Its dialect (whose :attr:`~text2sql_tune.sql.dialects.Dialect.approximate_to_exact`
            says what to replace).

    Returns:
        The rewritten statement and what was replaced. SQL that cannot be tokenized is returned
        unchanged.
    """
    dialect = Dialect.get(dialect)
    if not (dialect.approximate_to_exact or dialect.approximate_without_exact):
        return ExactRewrite(sql)
    try:
        tokens = tokenize(sql, dialect.sqlglot_dialect)
    except TokenError:
        return ExactRewrite(sql)
    walk = TokenWalk([t.token_type for t in tokens], [t.text for t in tokens])
    outcome = ExactRewrite(sql)
    edits: list[tuple[int, int, str]] = []  # (start, end inclusive, replacement)
    for index, token in enumerate(tokens[:-1]):
        if token.token_type in _NOT_NAMES or tokens[index + 1].token_type != TokenType.L_PAREN:
            continue
        if index > 0 and tokens[index - 1].token_type == TokenType.DOT:
            continue
        split = _split_combinators(token.text, dialect)
        if split is None:
            continue
        base, suffix = split
        exact = dialect.approximate_to_exact.get(base)
        if exact is None:
            outcome.without_exact.append(token.text)
            continue
        edits.append((token.start, token.end, exact + suffix))
        outcome.replaced.append((token.text, exact + suffix))
        close = walk.match[index + 1]
        parameterized = close > 0 and walk.kind(close + 1) is TokenType.L_PAREN
        if parameterized and base in dialect.exact_drops_parameters:
            edits.append((tokens[index + 1].start, tokens[close].end, ""))
    text = sql
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end + 1 :]
    outcome.sql = text
    return outcome


def find_approximate_functions(sql: str, dialect: Dialect | str = "clickhouse") -> list[str]:
    """Names of the approximate aggregate functions a statement calls (in order, repeated)."""
    outcome = rewrite_exact(sql, dialect)
    return [name for name, _ in outcome.replaced] + outcome.without_exact


def __getattr__(name: str) -> Any:
    if name not in ("APPROXIMATE_TO_EXACT", "APPROXIMATE_WITHOUT_EXACT"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    moved = name.lower()  # moved to the ClickHouse dialect in 0.2
    warnings.warn(
        f"{__name__}.{name} is deprecated: it is the ClickHouse dialect's {moved} "
        f'(Dialect.get("clickhouse").{moved}); it goes in 0.3',
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(Dialect.get("clickhouse"), moved)
