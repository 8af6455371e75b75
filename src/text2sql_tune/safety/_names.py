"""Names in a query: which database a table name resolves to, and which names the query defines.

ClickHouse resolves a name without a database in the connection's default database, wherever a
table or dictionary can stand: after ``FROM``, after ``IN`` (``x IN pins`` reads the table
``pins`` when no alias or column has that name), as the second argument of ``notIn``, and in the
strings given to ``dictGet`` or ``joinGet``. :class:`Databases` holds the one rule for all of
them. :func:`defined_names` lists the names a query defines itself (aliases, CTEs, lambda
parameters), which the engine reads before any table or function of that name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._lexer import Kind, Token
from ._statement import NAMES, RefusalError

__all__ = ["Databases", "defined_names", "lambda_parameters"]

_LITERAL_WORDS = frozenset({"NULL", "TRUE", "FALSE"})


@dataclass(frozen=True)
class Databases:
    """Which databases a query may read, for names written with and without one.

    Attributes:
        check: Raises :class:`RefusalError` for a database the query may not name.
        default_allowed: Whether a name without a database (which resolves in the connection's
            default database) is allowed.
    """

    check: Callable[[str], None]
    default_allowed: bool = True

    def unqualified(self, name: str, what: str) -> None:
        """Refuse ``name`` written without a database when the default database is not allowed.

        Args:
            name: The table or dictionary name as written.
            what: What it names, for the message ("table", "dictionary").
        """
        if not self.default_allowed:
            raise RefusalError(
                f"{what} {name!r} is in the default database, which is not allowed; "
                "name its database"
            )

    def table_name(self, database: str, name: str, what: str = "table") -> None:
        """Check ``database.name`` (``database`` empty: the default database)."""
        if database:
            self.check(database)
        else:
            self.unqualified(name, what)


def is_plain_name(token: Token) -> bool:
    """A bare or quoted name that is no literal keyword (``NULL``, ``TRUE``, ``FALSE``)."""
    if token.kind is Kind.QUOTED:
        return True
    return token.kind is Kind.WORD and token.upper not in _LITERAL_WORDS


def lambda_parameters(code: list[Token], close: Mapping[int, int]) -> set[int]:
    """Indexes of the tokens that name a lambda's parameters.

    ``x -> ...``, ``(x, y) -> ...``, and ClickHouse's form without brackets inside a call,
    ``arrayFold(x, acc -> acc + x, arr, 0)``, where every argument before the one holding the
    arrow is a parameter.
    """
    params: set[int] = set()
    opener = {end: start for start, end in close.items()}
    for i, token in enumerate(code):
        if token.kind is not Kind.PUNCT or token.text != "->" or i == 0:
            continue
        before = code[i - 1]
        if before.text == ")" and before.kind is Kind.PUNCT and i - 1 in opener:
            start = opener[i - 1]
            params.update(j for j in range(start + 1, i - 1) if code[j].kind in NAMES)
            continue
        if before.kind not in NAMES:
            continue
        params.add(i - 1)
        j = i - 2
        while j >= 1 and code[j].text == "," and code[j - 1].kind in NAMES:
            params.add(j - 1)
            j -= 2
    return params


def defined_names(code: list[Token], close: Mapping[int, int]) -> set[str]:
    """Names the query defines: ``AS name`` aliases, CTE names and lambda parameters."""
    names = {code[i].name() for i in lambda_parameters(code, close)}
    for i, token in enumerate(code):
        if token.kind is not Kind.WORD or token.upper != "AS":
            continue
        after = code[i + 1] if i + 1 < len(code) else None
        if after is not None and after.kind in NAMES:
            names.add(after.name())
        elif after is not None and after.text == "(" and i > 0 and code[i - 1].kind in NAMES:
            names.add(code[i - 1].name())  # WITH name AS (SELECT ...)
    return names
