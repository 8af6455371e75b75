"""An offline retrieval baseline: answer with the SQL of the most similar training question.

It needs no LLM and no network, so the demo can evaluate something end to end. Its accuracy on a
golden set also measures how well the training data covers the golden questions: a golden
question answered correctly by retrieval has a near-equivalent pair in the training set.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

from .interfaces import Text2SQLModel
from .models import Prediction, QAPair

__all__ = ["LexicalIndex", "RetrievalModel"]

_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class LexicalIndex:
    """TF-IDF cosine similarity over question words (unigrams and bigrams), built in memory.

    Args:
        texts: The documents to search.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self._vectors = [self._terms(t) for t in texts]
        document_frequency: Counter[str] = Counter()
        for terms in self._vectors:
            document_frequency.update(terms.keys())
        total = len(texts)
        self._idf = {
            t: math.log((1 + total) / (1 + df)) + 1.0 for t, df in document_frequency.items()
        }
        self._weighted = [self._weigh(v) for v in self._vectors]

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
        query_weights = self._weigh(self._terms(query))
        scored = []
        for index, doc in enumerate(self._weighted):
            score = sum(w * doc.get(t, 0.0) for t, w in query_weights.items())
            scored.append((index, score))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:k]


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
