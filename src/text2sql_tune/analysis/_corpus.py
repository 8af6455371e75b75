"""Questions and SQL read once: each pair's SQL concepts and question terms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..sql.concepts import SQLConcepts, sql_concepts
from ..text.terms import masked_words, terms_of

__all__ = ["Item", "read_items"]


@dataclass(frozen=True)
class Item:
    """One analysed question/SQL pair."""

    index: int
    question: str
    sql: str
    concepts: SQLConcepts
    terms: frozenset[str]
    words: tuple[str, ...]  # masked, stemmed question words (stop words kept)

    @property
    def keys(self) -> frozenset[str]:
        """SQL concept keys and ``term:`` keys together."""
        return self.concepts.concepts | frozenset(f"term:{t}" for t in self.terms)


def read_items(pairs: Iterable[tuple[str, str]]) -> list[Item]:
    """Analyse ``(question, sql)`` pairs, in order."""
    items = []
    for index, (question, sql) in enumerate(pairs):
        concepts = sql_concepts(sql)
        words = tuple(masked_words(question, concepts.values))
        items.append(
            Item(
                index=index,
                question=question,
                sql=sql,
                concepts=concepts,
                terms=terms_of(words),
                words=words,
            )
        )
    return items
