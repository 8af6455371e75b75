"""Column labels as evidence: a pairing by values must not contradict what the columns are called.

Columns are paired by their values, so aliases do not matter: ``count() AS c`` answers for
``count() AS sessions``. But when two measures are present, a prediction may put each label on
the other's values (``sum(revenue) AS sessions, count() AS revenue``); a pairing by values alone
accepts it, while a reader of the table takes the numbers under the wrong headings.

A predicted label *contradicts* a pairing when it is a plain name (an alias, not an expression)
whose words are exactly those of another reference column's name, and not all of them are in
the name of the reference column it is paired with. Words are case-folded, split at ``_`` and
case changes, and plural-folded; in a name that is an expression (``sum(revenue)``) the
function names and table qualifiers do not count.

Example:
    >>> contradiction(["sessions", "revenue"], ["revenue", "sessions"], [0, 1])
    "the prediction labels 'sessions' values as 'revenue'"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from ...text import stem

__all__ = ["contradiction", "label_words"]

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*\(")
_QUALIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\.(?=[A-Za-z_])")


@lru_cache(maxsize=4096)
def label_words(name: str) -> frozenset[str]:
    """The words of a column name: ``totalRevenue_2024`` -> ``{"total", "revenue", "2024"}``."""
    spaced = _CAMEL.sub(" ", _CALL.sub(" (", _QUALIFIER.sub("", name)))
    return frozenset(stem(w) for w in re.split(r"[^0-9A-Za-z]+", spaced.lower()) if w)


def contradiction(
    reference: Sequence[str], predicted: Sequence[str], mapping: Sequence[int]
) -> str | None:
    """Why the pairing ``mapping`` (reference index -> predicted index) contradicts the labels.

    Args:
        reference: The reference's column names.
        predicted: The prediction's column names.
        mapping: For each reference column, the predicted column paired with it.

    Returns:
        A sentence naming the mislabelled column, or ``None`` when the labels allow the pairing.
    """
    for i, j in enumerate(mapping):
        label = predicted[j]
        words = label_words(label)
        if not words or not _PLAIN_NAME.fullmatch(label) or words <= label_words(reference[i]):
            continue
        for k, other in enumerate(reference):
            if k != i and words == label_words(other):
                return f"the prediction labels {reference[i]!r} values as {label!r}"
    return None
