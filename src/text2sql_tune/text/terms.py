"""The words of a question that carry its meaning, and the word lists that say which ones do.

A question's *terms* are its content words (stop words dropped, plurals folded: "customers" ->
"customer") and the pairs of content words that stand next to each other ("fraud rate",
"paying customer"). Values the SQL names ("Germany", "Android"), numbers, months, weekdays,
and relative days are masked first: "fraud rate in March 2024" and "fraud rate for Android in
2023" share the terms that say *what* is asked, not *for which values*.

The calendar and number words are listed once here: :data:`DISTINGUISHING_WORDS` (two questions
that differ in one of them ask different things) is their union, and masking keeps the ones that
say what is asked (periods such as "month", relative words such as "last", ordinals).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from .tokens import question_words

__all__ = [
    "COUNTING_WORDS",
    "DISTINGUISHING_WORDS",
    "ENTITY_SYNONYMS",
    "MASK",
    "OPERATION_WORDS",
    "PERIOD_WORDS",
    "STOPWORDS",
    "distinguishing_tokens",
    "masked_words",
    "question_terms",
    "stem",
    "terms_of",
    "value_words",
]

MONTH_WORDS: frozenset[str] = frozenset(
    (
        *("january", "february", "march", "april", "may", "june", "july", "august"),
        *("september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun"),
        *("jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    )
)
WEEKDAY_WORDS: frozenset[str] = frozenset(
    (
        *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
        *("mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"),
    )
)
PERIOD_WORDS: frozenset[str] = frozenset(
    (
        *("day", "days", "daily", "week", "weeks", "weekly", "month", "months", "monthly"),
        *("quarter", "quarters", "quarterly", "year", "years", "yearly", "annual", "annually"),
        *("hour", "hours", "hourly", "minute", "minutes", "half", "fortnight", "decade"),
        *("weekday", "weekdays", "weekend", "weekends"),
    )
)
"""Words that name a period or a grain ("month", "weekly", "weekend")."""
_TO_DATE_WORDS = frozenset(("ytd", "mtd", "qtd", "wtd"))
_RELATIVE_DAYS = frozenset(("yesterday", "today", "tonight", "tomorrow", "now", "ago"))
_RELATIVE_WORDS = frozenset(
    (
        *("current", "this", "last", "next", "previous", "prior", "past", "recent", "recently"),
        *("latest", "since", "until", "before", "after", "earlier", "later"),
    )
)
_NUMBER_WORDS = frozenset(
    (
        *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
        *("eleven", "twelve", "fifteen", "twenty", "thirty", "fifty", "hundred", "thousand"),
        *("million", "billion", "dozen"),
    )
)
_ORDINALS = frozenset(("first", "second", "third", "fourth", "fifth", "tenth"))

DISTINGUISHING_WORDS: frozenset[str] = (
    MONTH_WORDS
    | WEEKDAY_WORDS
    | PERIOD_WORDS
    | _TO_DATE_WORDS
    | _RELATIVE_DAYS
    | _RELATIVE_WORDS
    | _NUMBER_WORDS
    | _ORDINALS
)
"""Words that change a question's answer when they change: months, weekdays, periods, relative
dates ("yesterday", "last", "this"), number words and ordinals (case-folded)."""

# Masked like values: they say for which day or number, not what is asked.
_MASKED = MONTH_WORDS | WEEKDAY_WORDS | _TO_DATE_WORDS | _RELATIVE_DAYS | _NUMBER_WORDS
MASK = "#"
"""What :func:`masked_words` writes for a run of values, numbers and calendar names."""

STOPWORDS: frozenset[str] = frozenset(
    (
        *("a", "an", "the", "of", "in", "on", "at", "by", "for", "from", "to", "with", "and"),
        *("or", "as", "into", "than", "that", "which", "who", "whom", "whose", "what", "when"),
        *("where", "how", "many", "much", "is", "are", "was", "were", "be", "been", "being"),
        *("do", "does", "did", "done", "have", "has", "had", "there", "their", "they", "them"),
        *("it", "its", "this", "these", "those", "me", "my", "we", "our", "us", "you", "your"),
        *("i", "show", "give", "list", "tell", "find", "get", "return", "compute", "calculate"),
        *("please", "can", "could", "would", "will", "should", "all", "any", "some", "s", "t"),
        *("overall", "exactly", "approximately", "roughly", "about", "also", "just", "only"),
        *("each", "every", "per", "both", "either", "between", "during", "within", "over"),
        *("among", "across", "out", "up", "down", "so", "far", "like", "whole", "entire"),
        *("make", "made", "use", "used", "using", "via", "broken", "split", "grouped"),
        *("include", "including", "value", "number", "count", "total", "amount", "level"),
        *("something", "anything", "someone", "anyone", "thing", "things", "ones", "one"),
    )
)
"""Words that do not say what a question is about (case-folded)."""

OPERATION_WORDS: frozenset[str] = frozenset(
    (
        *("distinct", "unique", "different", "average", "avg", "mean", "total", "sum"),
        *("median", "percentile", "quantile", "maximum", "max", "largest", "highest"),
        *("biggest", "longest", "most", "top", "minimum", "min", "smallest", "lowest"),
        *("shortest", "least", "fewest", "share", "percentage", "percent", "proportion"),
        *("ratio", "fraction", "rate", "number", "count", "cumulative", "running"),
        *("growth", "change", "difference", "rank", "first", "last", "without", "not", "no"),
        *("never", "excluding", "only", "more", "less", "fewer", "above", "below", "under"),
    )
)
"""Words that change what is computed ("total" vs "average", "distinct"): a difference in one of
them explains a difference in the SQL."""

COUNTING_WORDS: frozenset[str] = frozenset(
    (
        *("many", "number", "count", "distinct", "unique", "of", "per", "each", "every"),
        *("share", "percentage", "proportion", "fraction", "total", "average", "all"),
    )
)
"""Words that name what is counted when an entity follows ("many sessions", "share of users")."""

ENTITY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "user": ("customer", "client", "buyer", "visitor", "shopper", "member", "account"),
    "session": ("visit",),
    "order": ("purchase",),
}
"""Other words questions use for what a table's rows are (stemmed table name -> words)."""


def stem(word: str) -> str:
    """A light plural fold: ``customers`` -> ``customer``, ``countries`` -> ``country``."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("sses"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def distinguishing_tokens(tokens: Iterable[str]) -> frozenset[str]:
    """The tokens two questions must share to count as near duplicates.

    Tokens with a digit (``2024``, ``q3``, ``10th``) and the :data:`DISTINGUISHING_WORDS`
    (months, weekdays, periods, relative dates, number words): "sessions in March 2024" and
    "sessions in 2024", or "revenue yesterday" and "revenue last week", differ only there and
    have different answers.

    Args:
        tokens: Case-folded question tokens (see :func:`~text2sql_tune.text.question_tokens`).
    """
    return frozenset(filter(_distinguishing, tokens))


@lru_cache(maxsize=1 << 16)
def _distinguishing(token: str) -> bool:
    return token in DISTINGUISHING_WORDS or any(ch.isdigit() for ch in token)


def value_words(values: Iterable[str]) -> frozenset[str]:
    """Words of the string literals a query filters on ("United Kingdom" -> united, kingdom)."""
    return frozenset(stem(w) for value in values for w in question_words(value))


def masked_words(question: str, values: Iterable[str] = ()) -> list[str]:
    """The question's words, stemmed, with values, numbers and calendar names replaced by ``#``.

    Months, weekdays, "yesterday" / "today" and number words are masked; period words ("month",
    "last week") and ordinals ("first session") are kept: they say what is asked.

    Runs of masked words collapse into one ``#``.
    """
    masked_values = value_words(values)
    out: list[str] = []
    for word in question_words(question):
        if word in _MASKED or any(ch.isdigit() for ch in word) or stem(word) in masked_values:
            if not out or out[-1] != MASK:
                out.append(MASK)
            continue
        out.append(stem(word))
    return out


def question_terms(question: str, values: Iterable[str] = ()) -> frozenset[str]:
    """Content words and adjacent content-word pairs of a question (see the module docstring).

    Args:
        question: The question.
        values: Values its SQL names (string literals), masked like dates.

    Returns:
        Terms such as ``fraud``, ``rate``, ``fraud rate``.
    """
    return terms_of(masked_words(question, values))


def terms_of(words: Iterable[str]) -> frozenset[str]:
    """The terms of already masked words (see :func:`question_terms`)."""
    terms: set[str] = set()
    previous: str | None = None
    for word in words:
        content = word != MASK and word not in STOPWORDS and len(word) > 1
        if content:
            terms.add(word)
            if previous is not None:
                terms.add(f"{previous} {word}")
        previous = word if content else None
    return frozenset(terms)
