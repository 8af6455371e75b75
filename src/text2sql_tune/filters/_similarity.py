"""Exact Jaccard similarity search over token sets, without comparing every pair.

Two filters find the candidates; an exact check decides.

**Partition signatures** (for sets with enough tokens). If ``J(x, y) >= t`` then the symmetric
difference of ``x`` and ``y`` has at most ``k = floor((1 - t) / t * min(|x|, |y|))`` tokens.
Hash every token into one of ``P = k + 2`` partitions: the differing tokens touch at most ``k``
partitions, so ``x`` and ``y`` are identical on at least two. Every pair of partitions of a set
is a signature (the tokens it holds there); two similar sets share at least one signature.
Signatures hold most of a set's tokens, so unrelated questions that merely share common words
rarely collide, whatever the vocabulary: this is what keeps template-made data (few distinct
words) fast. Sets indexed under every ``P`` a compatible probe size may use (``t * |y| <= |x| <=
|y| / t``) stay findable.

**Prefix filtering** (for short sets, low thresholds, and sets whose signatures would be empty).
Order tokens globally (rarest first); two sets with ``J >= t`` share a token among their first
``|x| - ceil(t * |x|) + 1`` tokens. Only such "flagged" sets go in the prefix index, and every
probe also looks there, so each pair is found by one filter or the other.

Questions that differ only in a number, a month, a weekday, a quarter or a relative date ("... in
2023" / "... in 2024", "... in March 2024" / "... in 2024", "yesterday" / "last week") ask
different things with different answers, so a match also needs the same *distinguishing tokens*
(:func:`distinguishing_tokens`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from itertools import combinations

__all__ = [
    "DISTINGUISHING_WORDS",
    "JaccardIndex",
    "distinguishing_tokens",
    "jaccard",
    "token_order",
]

_EPS = 1e-9

_MONTHS = (
    *("january", "february", "march", "april", "may", "june", "july", "august", "september"),
    *("october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep"),
    *("sept", "oct", "nov", "dec"),
)
_WEEKDAYS = (
    *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    *("mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"),
    *("weekday", "weekdays", "weekend", "weekends"),
)
_PERIODS = (
    *("day", "days", "daily", "week", "weeks", "weekly", "month", "months", "monthly"),
    *("quarter", "quarters", "quarterly", "year", "years", "yearly", "annual", "annually"),
    *("hour", "hours", "hourly", "minute", "minutes", "half", "fortnight", "decade", "ytd"),
    *("mtd", "qtd", "wtd"),
)
_RELATIVE = (
    *("yesterday", "today", "tonight", "tomorrow", "now", "current", "this", "last", "next"),
    *("previous", "prior", "past", "ago", "recent", "recently", "latest", "since", "until"),
    *("before", "after", "earlier", "later"),
)
_NUMBER_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "fifteen", "twenty", "thirty", "fifty", "hundred", "thousand"),
    *("million", "billion", "dozen", "first", "second", "third", "fourth", "fifth", "tenth"),
)
DISTINGUISHING_WORDS: frozenset[str] = frozenset(
    (*_MONTHS, *_WEEKDAYS, *_PERIODS, *_RELATIVE, *_NUMBER_WORDS)
)
"""Words that change a question's answer when they change: months, weekdays, periods, relative
dates ("yesterday", "last", "this"), number words and ordinals (case-folded)."""


def jaccard(a: frozenset[str], b: frozenset[str] | tuple[str, ...]) -> float:
    """Jaccard similarity of two sets (``b`` may be a tuple of distinct tokens; 0.0 if empty)."""
    if not a and not b:
        return 0.0
    common = len(a.intersection(b))
    return common / (len(a) + len(b) - common)


def token_order(token_sets: Iterable[Iterable[str]]) -> dict[str, int]:
    """A global token order for prefix filtering: rank by document frequency, rarest first."""
    frequency: Counter[str] = Counter()
    for tokens in token_sets:
        frequency.update(tokens)
    ranked = sorted(frequency.items(), key=lambda item: (item[1], item[0]))
    return {token: rank for rank, (token, _) in enumerate(ranked)}


def distinguishing_tokens(tokens: Iterable[str]) -> frozenset[str]:
    """The tokens two questions must share to count as near duplicates.

    Tokens with a digit (``2024``, ``q3``, ``10th``) and the :data:`DISTINGUISHING_WORDS`
    (months, weekdays, periods, relative dates, number words): "sessions in March 2024" and
    "sessions in 2024", or "revenue yesterday" and "revenue last week", differ only there and
    have different answers.

    Args:
        tokens: Case-folded question tokens (see
            :func:`~text2sql_tune.sql.normalize.question_tokens`).
    """
    return frozenset(filter(_distinguishing, tokens))


@lru_cache(maxsize=1 << 16)
def _distinguishing(token: str) -> bool:
    return token in DISTINGUISHING_WORDS or any(ch.isdigit() for ch in token)


class JaccardIndex:
    """Token sets indexed for "which indexed set is at least ``threshold`` similar?" queries.

    Args:
        threshold: Jaccard similarity in ``(0, 1]`` that counts as a match.
        order: Global token rank (see :func:`token_order`) covering the indexed and the probing
            sets; tokens it lacks sort first, by text.
    """

    def __init__(self, threshold: float, order: Mapping[str, int]) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self._order = order
        self._signatures: dict[int, list[int]] = {}  # hash of a signature -> slots
        self._prefixes: dict[str, list[int]] = {}
        self._sets: list[tuple[str, ...]] = []  # tuples: a quarter of a frozenset's memory
        self._keys: list[int] = []

    def __len__(self) -> int:
        return len(self._sets)

    def _partitions(self, size: int) -> int:
        """``P = k + 2`` for a probe of ``size`` tokens, or 0 when partitions would be too thin."""
        t = self.threshold
        count = math.floor((1.0 - t) / t * size + _EPS) + 2
        return count if 2 * count <= size else 0

    @staticmethod
    def _split(tokens: frozenset[str], partitions: int) -> list[frozenset[str]]:
        parts: list[list[str]] = [[] for _ in range(partitions)]
        for token in tokens:
            parts[hash(token) % partitions].append(token)
        return [frozenset(part) for part in parts]

    def _signatures_of(self, tokens: frozenset[str], partitions: int) -> list[int] | None:
        """Every pair of partitions as a signature, or ``None`` if one pair would be empty.

        Signatures are kept as hashes: a collision only adds a candidate, which the exact check
        then rejects.
        """
        parts = self._split(tokens, partitions)
        if sum(1 for part in parts if not part) >= 2:
            return None
        return [
            hash((partitions, a, b, parts[a], parts[b]))
            for a, b in combinations(range(partitions), 2)
        ]

    def _prefix(self, tokens: frozenset[str]) -> list[str]:
        order = self._order
        ranked = sorted(tokens, key=lambda t: (order.get(t, -1), t))
        overlap = math.ceil(self.threshold * len(ranked) - _EPS)
        return ranked[: len(ranked) - overlap + 1]

    def add(self, key: int, tokens: frozenset[str]) -> None:
        """Index ``tokens`` under ``key`` (empty sets are ignored)."""
        if not tokens:
            return
        slot = len(self._sets)
        self._sets.append(tuple(tokens))
        self._keys.append(key)
        size = len(tokens)
        low = math.ceil(self.threshold * size - _EPS)
        high = math.floor(size / self.threshold + _EPS)
        signatures: list[int] = []
        for partitions in {self._partitions(s) for s in range(low, high + 1)}:
            found = self._signatures_of(tokens, partitions) if partitions else None
            if found is None:  # some compatible probe cannot rely on signatures: flag it
                for token in self._prefix(tokens):
                    self._prefixes.setdefault(token, []).append(slot)
                return
            signatures += found
        for signature in signatures:
            self._signatures.setdefault(signature, []).append(slot)

    def _candidates(self, tokens: frozenset[str]) -> set[int]:
        found: set[int] = set()
        partitions = self._partitions(len(tokens))
        if partitions:
            parts = self._split(tokens, partitions)
            for a, b in combinations(range(partitions), 2):
                if parts[a] or parts[b]:
                    signature = hash((partitions, a, b, parts[a], parts[b]))
                    found.update(self._signatures.get(signature, ()))
        if self._prefixes:
            for token in self._prefix(tokens):
                found.update(self._prefixes.get(token, ()))
        return found

    def best(self, tokens: frozenset[str]) -> tuple[int, float] | None:
        """The most similar indexed set at or above the threshold, as ``(key, similarity)``.

        Ties go to the set indexed first. Sets with different distinguishing tokens (numbers,
        months, weekdays, periods, relative dates: :func:`distinguishing_tokens`) never match.
        """
        if not tokens:
            return None
        best: tuple[int, float] | None = None
        best_slot = -1
        distinct: frozenset[str] | None = None
        for slot in sorted(self._candidates(tokens)):
            other = self._sets[slot]
            similarity = jaccard(tokens, other)
            if similarity < self.threshold - _EPS or (best is not None and similarity <= best[1]):
                continue
            if distinct is None:
                distinct = distinguishing_tokens(tokens)
            if distinguishing_tokens(other) == distinct:
                best, best_slot = (self._keys[slot], similarity), slot
        return best if best_slot >= 0 else None
