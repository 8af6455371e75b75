"""Similarity search over question words: one Jaccard index and one TF-IDF index.

- :class:`JaccardIndex`: exact near-duplicate search over word *sets* (the cleaning filters).
- :class:`LexicalIndex`: TF-IDF cosine ranking over word *counts* and adjacent word pairs (the
  retrieval baseline, few-shot example choice, neighbours in reports).

Both read text with :func:`~text2sql_tune.text.tokens.question_words`.

**Jaccard search without comparing every pair.** Two filters find the candidates; an exact
check decides.

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
(:func:`~text2sql_tune.text.terms.distinguishing_tokens`).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations, pairwise

import numpy as np

from .terms import distinguishing_tokens
from .tokens import question_words

__all__ = ["JaccardIndex", "LexicalIndex", "jaccard", "token_order"]

_EPS = 1e-9


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

    def matches(self, tokens: frozenset[str]) -> list[tuple[int, float]]:
        """Every indexed set at or above the threshold, as ``(key, similarity)``, best first.

        The same rule as :meth:`best` (equal distinguishing tokens); ties keep indexing order.
        """
        if not tokens:
            return []
        distinct = distinguishing_tokens(tokens)
        found = []
        for slot in sorted(self._candidates(tokens)):
            other = self._sets[slot]
            similarity = jaccard(tokens, other)
            if similarity >= self.threshold - _EPS and distinguishing_tokens(other) == distinct:
                found.append((self._keys[slot], similarity))
        found.sort(key=lambda match: -match[1])
        return found


class LexicalIndex:
    """TF-IDF cosine similarity over question words (unigrams and bigrams), built in memory.

    Documents are kept as an inverted index (per term: the documents holding it and their
    weights, as numpy arrays), so a search reads only the postings of the query's terms and adds
    them up in C: on 100,000 documents it takes milliseconds, not a Python loop over every one.

    Args:
        texts: The documents to search.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        # One pass in Python collects (term, document, count) triples; numpy does the weights.
        vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        doc_ids: list[int] = []
        counts: list[int] = []
        for index, text in enumerate(texts):
            terms = self._terms(text)
            term_ids.extend(vocabulary.setdefault(t, len(vocabulary)) for t in terms)
            counts.extend(terms.values())
            doc_ids.extend(itertools.repeat(index, len(terms)))
        self._size = total = len(texts)
        terms_of = np.array(term_ids, dtype=np.int64)
        docs_of = np.array(doc_ids, dtype=np.int64)
        df = np.bincount(terms_of, minlength=len(vocabulary))
        idf = np.log((1 + total) / (1 + df)) + 1.0
        self._idf = dict(zip(vocabulary, idf.tolist(), strict=True))
        weights = (1 + np.log(np.array(counts, dtype=np.float64))) * idf[terms_of]
        norms = np.sqrt(np.bincount(docs_of, weights=weights * weights, minlength=total))
        weights /= np.where(norms > 0, norms, 1.0)[docs_of]
        # Postings of every term, side by side in flat arrays sorted by term.
        by_term = np.argsort(terms_of, kind="stable")
        self._vocabulary = vocabulary
        self._doc_ids = docs_of[by_term]
        self._values = weights[by_term]
        self._starts = np.searchsorted(terms_of[by_term], np.arange(len(vocabulary) + 1))

    def __len__(self) -> int:
        return self._size

    @staticmethod
    def _terms(text: str) -> Counter[str]:
        words = question_words(text)
        return Counter(words + [f"{a} {b}" for a, b in pairwise(words)])

    def _weigh(self, terms: Counter[str]) -> dict[str, float]:
        weights = {t: (1 + math.log(c)) * self._idf.get(t, 0.0) for t, c in terms.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def search(self, query: str, k: int = 1) -> list[tuple[int, float]]:
        """Return up to ``k`` ``(document index, cosine similarity)`` pairs, best first.

        Ties are broken by the lower index so results are deterministic.
        """
        if k < 1 or not self._size:
            return []
        scores = np.zeros(self._size, dtype=np.float64)
        for term, weight in self._weigh(self._terms(query)).items():
            term_id = self._vocabulary.get(term)
            if term_id is not None:
                start, end = self._starts[term_id], self._starts[term_id + 1]
                # A document holds a term once, so its ids are unique within the slice.
                scores[self._doc_ids[start:end]] += weight * self._values[start:end]
        # Round away summation-order noise so that equal scores tie and the lower index wins.
        rounded = np.round(scores, 12)
        order = np.lexsort((np.arange(self._size), -rounded))[:k]
        return [(int(i), float(scores[i])) for i in order]
