"""Paraphrases: do two questions ask the same thing in other words?

Word overlap misses rewordings: "Which country **had** the highest total revenue in 2025?" and
"Which country **brought** the highest total revenue in 2025?" share 8 of 10 words, under a 0.9
near-duplicate threshold. :func:`paraphrase_words` reads a question as the words that carry its
meaning, written one way:

- stop words and the verbs analytics questions use without meaning much (``had``, ``brought``,
  ``generated``, ``made``...: :data:`LIGHT_VERBS`) are dropped, and so are counting and summing
  words (``number``, ``total``, ``sum``): "how many" and "the number of" ask the same;
- the other words are stemmed (Snowball's English stemmer: ``purchased`` -> ``purchas``);
- words with the same meaning in analytics questions become one (:data:`ANALYTICS_SYNONYMS`:
  ``unique`` = ``distinct``, ``bought`` = ``purchased`` = ``paying``, ``highest`` = ``most`` =
  ``top``, ``percentage`` = ``share`` = ``rate``, ``customer`` = ``user`` = ``client``,
  ``operating system`` = ``os``...);
- numbers, months, weekdays and relative dates are kept as they are.

:func:`paraphrase_similarity` is the Jaccard similarity of two such sets, and 0 when they differ
in a number, a month or a relative date (another year is another question). A
:class:`ParaphraseIndex` finds the indexed questions at least that similar to a probe.

Example:
    >>> paraphrase_similarity(
    ...     "Which country had the highest total revenue in 2025?",
    ...     "Which country brought the highest total revenue in 2025?")
    1.0
    >>> paraphrase_similarity(
    ...     "Which country had the highest total revenue in 2025?",
    ...     "Which country had the highest total revenue in 2024?")
    0.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

import snowballstemmer

from .index import JaccardIndex, jaccard, token_order
from .terms import ENTITY_SYNONYMS, MONTH_WORDS, STOPWORDS, WEEKDAY_WORDS, distinguishing_tokens
from .tokens import question_words

__all__ = [
    "ANALYTICS_SYNONYMS",
    "LIGHT_VERBS",
    "ParaphraseIndex",
    "paraphrase_similarity",
    "paraphrase_words",
]

LIGHT_VERBS: frozenset[str] = frozenset(
    (
        *("had", "has", "have", "having", "brought", "bring", "brings", "bringing"),
        *("generated", "generate", "generates", "generating", "made", "make", "makes"),
        *("produced", "produce", "produces", "earned", "earn", "earns", "yielded", "yield"),
        *("got", "get", "gets", "see", "saw", "seen", "record", "recorded", "achieved"),
        *("total", "sum", "number", "count", "counts", "figure", "altogether", "overall"),
    )
)
"""Words dropped before comparing: verbs that say little ("had", "brought", "generated") and
the words of a count or a sum ("number", "total"): the measure noun says what is counted."""

_GROUPS: dict[str, tuple[str, ...]] = {
    **{entity: (entity, *others) for entity, others in ENTITY_SYNONYMS.items()},
    "distinct": ("distinct", "unique", "different", "individual"),
    "buy": (
        *("buy", "bought", "buys", "purchase", "purchased", "purchasing", "pay", "paid"),
        *("paying", "spend", "spent", "spending"),  # "paying customers" = "who bought"
    ),
    "max": ("highest", "largest", "biggest", "most", "top", "maximum", "max", "greatest"),
    "min": ("lowest", "smallest", "least", "fewest", "minimum", "min"),
    "avg": ("average", "avg", "mean", "typical"),
    "share": ("percentage", "percent", "share", "proportion", "fraction", "ratio", "rate"),
    "revenue": ("revenue", "sales", "income", "turnover"),
    "os": ("os", "operating", "system", "platform"),
    "country": ("country", "countries", "nation", "nations"),
    "day": ("day", "days", "daily"),
    "week": ("week", "weeks", "weekly"),
    "month": ("month", "months", "monthly"),
    "year": ("year", "years", "yearly", "annual", "annually"),
    "fraud": ("fraud", "fraudulent", "fraudster"),
    "age": ("age", "aged", "old", "older", "young", "younger"),
    "long": ("long", "longer", "lasted", "duration", "length"),
}
# Later groups win: "purchase" is a buy here, not the "order" entity.
_STEMMER = snowballstemmer.stemmer("english")
_CALENDAR = MONTH_WORDS | WEEKDAY_WORDS  # kept as written: they tell questions apart


@lru_cache(maxsize=1 << 15)
def _stem(word: str) -> str:
    if len(word) <= 2 or word in _CALENDAR or any(ch.isdigit() for ch in word):
        return word
    stemmed: str = _STEMMER.stemWord(word)
    return stemmed


ANALYTICS_SYNONYMS: Mapping[str, str] = {
    _stem(word): group for group, words in _GROUPS.items() for word in words
}
"""Stemmed word -> the one word its meaning is written as (``purchas`` -> ``buy``)."""

_DROPPED = frozenset(_stem(w) for w in LIGHT_VERBS) | frozenset(STOPWORDS)


@lru_cache(maxsize=1 << 15)
def paraphrase_words(question: str) -> frozenset[str]:
    """The words of ``question`` that carry its meaning, stemmed and folded (module docstring).

    Args:
        question: The question.

    Returns:
        Words such as ``country``, ``max``, ``revenue``, ``2025``.
    """
    out: set[str] = set()
    for word in question_words(question):
        if word in STOPWORDS or word in LIGHT_VERBS:
            continue
        stemmed = _stem(word)
        if stemmed in _DROPPED:
            continue
        out.add(ANALYTICS_SYNONYMS.get(stemmed, stemmed))
    return frozenset(out)


def paraphrase_similarity(a: str, b: str) -> float:
    """How alike two questions are in meaning, in ``[0, 1]`` (see the module docstring).

    Args:
        a: A question.
        b: Another question.

    Returns:
        The Jaccard similarity of their :func:`paraphrase_words`; 0.0 when they name different
        numbers, months, weekdays, periods or relative dates.
    """
    left, right = paraphrase_words(a), paraphrase_words(b)
    if distinguishing_tokens(left) != distinguishing_tokens(right):
        return 0.0
    return jaccard(left, right)


class ParaphraseIndex:
    """Questions indexed for "which of them does this question paraphrase?".

    Args:
        questions: Key -> question.
        threshold: :func:`paraphrase_similarity` at which a question counts as a paraphrase.
        probes: Questions that will be looked up (optional): they sharpen the index's word
            order, which makes lookups faster, never different.
    """

    def __init__(
        self, questions: Mapping[int, str], threshold: float, probes: Iterable[str] = ()
    ) -> None:
        words = {key: paraphrase_words(q) for key, q in questions.items()}
        order = token_order([*words.values(), *(paraphrase_words(p) for p in probes)])
        self.threshold = threshold
        self._index = JaccardIndex(threshold, order)
        for key, found in words.items():
            self._index.add(key, found)

    def matches(self, question: str) -> list[tuple[int, float]]:
        """Keys of the indexed questions ``question`` paraphrases, most similar first."""
        return self._index.matches(paraphrase_words(question))
