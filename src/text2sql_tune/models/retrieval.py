"""An offline retrieval baseline: answer with the SQL of the most similar training question.

It needs no LLM and no network, so the demo can evaluate something end to end. Its accuracy on a
golden set also measures how well the training data covers the golden questions: a golden
question answered correctly by retrieval has a near-equivalent pair in the training set.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..interfaces import Text2SQLModel
from ..records import Prediction, QAPair
from ..text.index import LexicalIndex

__all__ = ["LexicalIndex", "RetrievalModel"]


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
