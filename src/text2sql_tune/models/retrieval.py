"""An offline retrieval baseline: answer with the SQL of the most similar training question.

It needs no LLM and no network, so the demo can evaluate something end to end. Its accuracy on a
golden set also measures how well the training data covers the golden questions: a golden
question answered correctly by retrieval has a near-equivalent pair in the training set.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from ..interfaces import Text2SQLModel
from ..records import Prediction, QAPair

__all__ = ["LexicalIndex", "RetrievalModel"]

_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


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
        words = _tokens(text)
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


class RetrievalModel(Text2SQLModel):
    """Answers with the SQL of the most similar training question (no LLM).

    Args:
        pairs: The training pairs to retrieve from (usually the cleaned dataset).
        name: Model name shown in reports.
    """

    def __init__(self, pairs: Sequence[QAPair], *, name: str = "retrieval") -> None:
        self.pairs = [p for p in pairs if p.ok]
        self.name = name
        self._index = LexicalIndex([p.question for p in self.pairs])

    async def apredict(self, question: str) -> Prediction:
        """Return the SQL of the nearest training question (``error`` when there is none)."""
        started = time.perf_counter()
        if not self.pairs:
            return Prediction(question=question, error="the training set is empty")
        (index, score), *_ = self._index.search(question, k=1)
        match = self.pairs[index]
        return Prediction(
            question=question,
            sql=match.sql,
            raw_output=f"nearest training question ({score:.2f}): {match.question}",
            latency_s=time.perf_counter() - started,
        )
