"""What a question says about the shape of its answer: order, precision, unit, asked quantities.

The result comparison reads the question for a few facts only a question can give:

- whether rows must come in order: an explicit request ("sorted", "newest first", "from highest
  to lowest", "in descending order of", "rank", "top 3"), or a superlative ("the most", "highest")
  when the reference keeps only the top rows. A superlative that describes an aggregate ("the
  highest revenue for each country") asks for no order;
- the precision asked for ("to two decimal places", "to the nearest whole number");
- the unit named for a share ("as a percentage", "as a fraction"), or none ("what share");
- whether a quantity is asked for besides an entity ("and how many", "with their revenue");
- its words, to see whether the question names labels that a result encodes as flags.

Example:
    >>> read_question("List the countries from highest to lowest revenue, to one decimal.").decimals
    1
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from ...text import question_words, stem

__all__ = ["QuestionReading", "names", "question_asks_for_order", "read_question", "stems_of"]

_SUPERLATIVES = (
    r"highest|lowest|largest|smallest|biggest|greatest|most|least|fewest|best|worst|top|"
    r"longest|shortest|newest|latest|oldest|earliest|youngest|cheapest|maximum|minimum|"
    r"most\s+recent|least\s+recent"
)
_ORDER_KINDS = (
    r"(?:same|reverse|descending|ascending|alphabetical|chronological|increasing|decreasing|"
    r"numerical|date|time)"
)
_TIME_UNITS = r"(?:days?|weeks?|months?|years?|hours?|minutes?|quarters?|seconds?)"
_NUMBER = r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|twenty|fifty|hundred)"

_EXPLICIT_ORDER = re.compile(
    rf"""
    \border(?:ed|ing)?\s+by\b
    | \bsort(?:ed|ing|s)?\b
    | \bin\s+(?:the\s+)?(?:{_ORDER_KINDS}\s+)?order\b(?!\s+to\b)
    | \brank(?:ed|ing|s)?\b
    | \b(?:de|a)scending\b
    | \bchronological(?:ly)?\b | \balphabetical(?:ly)?\b
    | \b(?:top|bottom)[\s-]?{_NUMBER}\b
    | \b(?:first|last)\s+{_NUMBER}\b(?!\s+{_TIME_UNITS}\b)
    | \bfrom\s+(?:the\s+)?(?:{_SUPERLATIVES}|first|last|a|z|\d+)\s+to\s+(?:the\s+)?\w+
    | \b(?:{_SUPERLATIVES})\b(?:\s+\w+){{0,3}}?\s+first\b(?!\s+{_TIME_UNITS}\b)
    | \b(?:{_SUPERLATIVES})\s+(?:\w+\s+){{0,2}}(?:at\s+the\s+top|on\s+top)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_SUPERLATIVE = re.compile(rf"\b(?:{_SUPERLATIVES})\b", re.IGNORECASE)

_NUMBER_WORDS = {
    "zero": 0, "no": 0, "one": 1, "a": 1, "an": 1, "single": 1, "two": 2, "three": 3,
    "four": 4, "five": 5, "six": 6,
}  # fmt: skip
_DECIMALS = re.compile(
    r"\b(\d+|zero|no|one|two|three|four|five|six|a|an|a\s+single)\s+"
    r"(?:decimal(?:\s+places?|\s+digits?|s)?|d\.?p\.?|places?\s+after\s+the\s+decimal)",
    re.IGNORECASE,
)
_NEAREST = re.compile(
    r"\b(?:nearest|closest)\s+(whole\s+number|integer|unit|tenth|hundredth|thousandth|cent|"
    r"percent(?:age\s+point)?)\b|\bas\s+(?:a\s+)?whole\s+numbers?\b|\bno\s+decimals\b",
    re.IGNORECASE,
)
_NEAREST_PLACES = {"tenth": 1, "hundredth": 2, "thousandth": 3, "cent": 2}

_PERCENT = re.compile(r"%|\bper\s*cent(?:age)?s?\b|\bpercent(?:age)?s?\b|\bpct\b", re.IGNORECASE)
_FRACTION = re.compile(
    r"\bfraction\b|\bas\s+a\s+decimal\b|\bratio\b|\bbetween\s+0\s+and\s+1\b", re.IGNORECASE
)
_NOT_A_QUANTITY = rf"(?:{_SUPERLATIVES}|same|other|first|last)\b"
_ASKS_QUANTITY = re.compile(
    rf"""
    \bhow\s+(?:many|much|often|long)\b
    | \b(?:and|with|plus|including|showing)\s+(?:its|their|his|her|the|that)\s+(?!{_NOT_A_QUANTITY})
    | \b(?:along|together)\s+with\b | \bas\s+well\s+as\b
    | \band\s+(?:what|the\s+(?:number|count|total|amount|value))\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class QuestionReading:
    """What :func:`read_question` found in a question.

    Attributes:
        explicit_order: The question asks for an order in so many words ("sorted", "rank",
            "newest first", "from highest to lowest", "in descending order", "top 3").
        superlative: It uses a superlative ("most", "highest", "latest"...): a request for an
            order only when the reference keeps the top rows (``LIMIT``).
        decimals: Decimal places asked for ("to two decimal places" -> 2), else ``None``.
        unit: ``"percent"`` or ``"fraction"`` when the question names the unit of a share.
        asks_quantity: It asks for a quantity besides an entity ("and how many", "with their
            revenue"): a reference column holding it may not be left out.
        stems: The question's words, plural-folded, for matching labels.
    """

    explicit_order: bool
    superlative: bool
    decimals: int | None
    unit: Literal["percent", "fraction"] | None
    asks_quantity: bool
    stems: frozenset[str]

    def asks_for_order(self, *, top_rows: bool) -> bool:
        """True when rows must come in the reference's order.

        Args:
            top_rows: The reference keeps only its first rows (an outer ``LIMIT``): then a
                superlative ("the 3 most active users") asks for that ranking too.
        """
        return self.explicit_order or (self.superlative and top_rows)

    def names(self, label: str) -> bool:
        """True when the question names ``label`` (see :func:`names`)."""
        return names(self.stems, label)


def stems_of(text: str) -> frozenset[str]:
    """The plural-folded words of a text (a question, a column name)."""
    return frozenset(stem(w) for w in question_words(text.replace("_", " ")))


def names(stems: frozenset[str], label: str) -> bool:
    """True when every word of ``label`` is among ``stems``, or shares a 4-letter stem with one.

    ``"Fraudulent"`` is named by ``"fraud"``, ``"Legit"`` by ``"legitimate"``.
    """
    words = [w for w in stems_of(label) if len(w) > 1]
    return bool(words) and all(_named(w, stems) for w in words)


def _named(word: str, stems: frozenset[str]) -> bool:
    if word in stems:
        return True
    if len(word) < 4:
        return False
    return any(len(s) >= 4 and (s.startswith(word) or word.startswith(s)) for s in stems)


def _decimals(question: str) -> int | None:
    match = _DECIMALS.search(question)
    if match is not None:
        word = " ".join(match.group(1).lower().split())
        if word.isdigit():
            return int(word)
        return _NUMBER_WORDS.get(word.split()[-1])
    nearest = _NEAREST.search(question)
    if nearest is None:
        return None
    unit = (nearest.group(1) or "").lower()
    return _NEAREST_PLACES.get(unit, 0)


@lru_cache(maxsize=4096)
def read_question(question: str) -> QuestionReading:
    """Read what ``question`` says about its answer's shape (see the module docstring)."""
    percent = _PERCENT.search(question) is not None
    fraction = _FRACTION.search(question) is not None
    unit: Literal["percent", "fraction"] | None = None
    if percent != fraction:
        unit = "percent" if percent else "fraction"
    return QuestionReading(
        explicit_order=_EXPLICIT_ORDER.search(question) is not None,
        superlative=_SUPERLATIVE.search(question) is not None,
        decimals=_decimals(question),
        unit=unit,
        asks_quantity=_ASKS_QUANTITY.search(question) is not None,
        stems=stems_of(question),
    )


def question_asks_for_order(question: str, *, top_rows: bool = True) -> bool:
    """True when the question asks for an ordering or a top-N (``"top 5"``, ``"newest first"``).

    Args:
        question: The question.
        top_rows: Whether the reference keeps only its top rows (an outer ``LIMIT``); without
            that a superlative ("the highest revenue for each country") describes an aggregate
            and asks for no order.
    """
    return read_question(question).asks_for_order(top_rows=top_rows)
