"""Find training questions that say the same thing while their SQL computes different things.

For every question term shared by at least two training pairs ("fraud rate", "revenue"), the
pairs are grouped by their SQL's *definition* (what the measures compute, values abstracted; see
:class:`~text2sql_tune.analysis.SQLConcepts`). Two groups are an inconsistency when their
definitions differ in exactly one way:

- ``counted``: what is counted or divided by (``countIf(is_fraud = 1) / count()`` over sessions
  against ``uniqExactIf(user_id, is_fraud = 1) / uniqExact(user_id)``: a share of sessions or a
  share of customers);
- ``condition``: a value-free condition only some use (``sum(revenue)`` with and without
  ``revenue > 0``);
- ``aggregate``: another aggregate of the same column (``sum`` against ``avg``);

and nothing in the questions explains the difference: no word that changes the computation
("distinct", "average", "total", ...) and no "counted thing" ("many sessions", "share of
customers") separates the groups, and for a condition no term that goes with that condition
elsewhere in the training data ("paying" -> ``revenue > 0``) and no number the questions state
("with revenue above 1" -> ``revenue > 1``). Each difference is reported once,
under the term that names it best (the most of whose pairs it covers, two-word terms first).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from ..text.terms import COUNTING_WORDS, ENTITY_SYNONYMS, OPERATION_WORDS, stem
from ._corpus import Item
from .results import DefinitionVariant, Inconsistency, PairRef

__all__ = ["find_inconsistencies"]

Axis = Literal["counted", "condition", "aggregate"]
_DESCRIPTOR = re.compile(r"^(?P<family>\w+)\((?P<subject>.*?)(?: \| (?P<conditions>.*))?\)$")
_MAX_GROUPS = 6  # definition groups compared per term (the largest)
_MAX_EXAMPLES = 3
_SEPARATION = 0.8  # a word in this much more of one group than the other explains the split
# P(condition | term) for a term to explain a condition: "purchase" explains "average revenue"
# with and without revenue > 0 even when a stray "purchase revenue" pair lacks the condition.
_ASSOCIATION = 0.5


@dataclass(frozen=True)
class _Aggregate:
    family: str
    subject: str
    conditions: frozenset[str]


def _parse(definition: str) -> list[list[_Aggregate]] | None:
    """``a / b ; c`` -> ``[[a, b], [c]]`` (each measure's aggregates), or None when unreadable."""
    measures = []
    for measure in definition.split(" ; "):
        aggregates = []
        for part in re.split(r" / | , ", measure):
            match = _DESCRIPTOR.match(part)
            if match is None:
                return None
            conditions = match["conditions"]
            aggregates.append(
                _Aggregate(
                    family=match["family"],
                    subject=match["subject"],
                    conditions=frozenset(conditions.split(", ")) if conditions else frozenset(),
                )
            )
        measures.append(aggregates)
    return measures


def _counting(family: str) -> bool:
    return family in ("count", "uniq")


def _describe_subject(aggregate: _Aggregate) -> str:
    if aggregate.subject.startswith("rows of "):
        return aggregate.subject[len("rows of ") :].rsplit(".", 1)[-1]
    if aggregate.family == "uniq":
        return f"distinct {aggregate.subject}"
    return aggregate.subject


def _difference(first: str, second: str) -> tuple[Axis, str] | None:
    """``(axis, difference in words)`` when two definitions differ in exactly one way."""
    a, b = _parse(first), _parse(second)
    if a is None or b is None or len(a) != len(b):
        return None
    changes: set[tuple[Axis, str]] = set()
    for measure_a, measure_b in zip(a, b, strict=True):
        if len(measure_a) != len(measure_b):
            return None
        for x, y in zip(measure_a, measure_b, strict=True):
            if x == y:
                continue
            counting = _counting(x.family) and _counting(y.family)
            if counting and x.conditions == y.conditions and x.subject != y.subject:
                change = f"{_describe_subject(x)} vs {_describe_subject(y)}"
                changes.add(("counted", change))
            elif x.family == y.family and x.subject == y.subject:
                extra = x.conditions ^ y.conditions
                if len(extra) != 1:
                    return None
                (condition,) = extra
                changes.add(("condition", f"with vs without {condition}"))
            elif x.subject == y.subject and x.conditions == y.conditions:
                changes.add(("aggregate", f"{x.family}({x.subject}) vs {y.family}({y.subject})"))
            else:
                return None
    if len({axis for axis, _ in changes}) != 1:
        return None
    axis = next(iter(changes))[0]
    return axis, "; ".join(sorted(change for _, change in changes))


def _entity_words(items: Sequence[Item]) -> frozenset[str]:
    """Nouns for what a query counts: table names, key columns and common synonyms."""
    words: set[str] = set()
    for item in items:
        for table in item.concepts.tables:
            words.add(stem(table.rsplit(".", 1)[-1].lower()))
        for column in item.concepts.columns:
            if column.lower().endswith("_id"):
                words.add(stem(column.lower()[: -len("_id")]))
    for word in list(words):
        words.update(ENTITY_SYNONYMS.get(word, ()))
    return frozenset(words)


class _Separators:
    """The question features that may explain a difference between two definition groups."""

    def __init__(self, items: Sequence[Item]) -> None:
        entities = _entity_words(items)
        self.features: list[frozenset[str]] = []
        for item in items:
            found = {w for w in item.words if w in OPERATION_WORDS}
            for first, second in zip(item.words, item.words[1:], strict=False):
                if first in COUNTING_WORDS and second in entities:
                    found.add(f"{first} {second}")
            self.features.append(frozenset(found))
        with_term: Counter[tuple[str, str]] = Counter()
        term_pairs: Counter[str] = Counter()
        for item in items:
            term_pairs.update(item.terms)
            for condition in set(item.concepts.filters):
                for term in item.terms:
                    with_term[(term, condition)] += 1
        # term -> conditions it goes with across the training data ("paying" -> revenue > 0)
        self.indicates: dict[str, set[str]] = defaultdict(set)
        for (term, condition), count in with_term.items():
            if count >= 2 and count / term_pairs[term] >= _ASSOCIATION:
                self.indicates[term].add(condition)

    def explained(self, first: list[int], second: list[int]) -> bool:
        """True when some question feature is in most of one group and few of the other.

        ``first`` and ``second`` are positions in the items the separators were built from.
        """

        def share(group: list[int], feature: str) -> float:
            return sum(1 for i in group if feature in self.features[i]) / len(group)

        candidates = set().union(*(self.features[i] for i in first + second))
        return any(
            abs(share(first, feature) - share(second, feature)) >= _SEPARATION
            for feature in candidates
        )

    def condition_explained(
        self, items: Sequence[Item], first: list[int], second: list[int], condition: str
    ) -> bool:
        """True when a term that goes with ``condition`` elsewhere separates the groups."""
        terms = {
            t for i in first + second for t in items[i].terms if condition in self.indicates[t]
        }
        for term in terms:
            a = sum(1 for i in first if term in items[i].terms) / len(first)
            b = sum(1 for i in second if term in items[i].terms) / len(second)
            if abs(a - b) >= _SEPARATION:
                return True
        return False


def _stated(items: Sequence[Item], group: list[int], condition: str) -> bool:
    """True when every question of ``group`` names the number ``condition`` compares with.

    "With revenue above 1" states its ``revenue > 1``: a value the question gives, not a
    definition the SQL adds.
    """
    number = condition.rsplit(" ", 1)[-1]
    if not number.isdigit():
        return False
    return all(number in re.findall(r"\d+", items[i].question) for i in group)


@dataclass
class _Finding:
    term: str
    axis: Axis
    difference: str
    groups: list[list[int]]  # positions in ``items``, the two variants
    purity: float


def find_inconsistencies(
    items: Sequence[Item], golden: Sequence[tuple[str, Item]] = (), *, min_pairs: int = 2
) -> list[Inconsistency]:
    """Inconsistent definitions in the training items (see the module docstring).

    Args:
        items: The analysed training pairs.
        golden: ``(case id, analysed golden case)``: a variant a golden case computes the same
            way is recommended.
        min_pairs: Fewest training pairs that must share a term for it to be checked.

    Returns:
        One inconsistency per difference, largest minority first.
    """
    separators = _Separators(items)
    by_term: dict[str, list[int]] = defaultdict(list)
    for position, item in enumerate(items):
        if item.concepts.definition:
            for term in item.terms:
                by_term[term].append(position)
    findings: dict[tuple[str, frozenset[str]], list[_Finding]] = defaultdict(list)
    for term, positions in by_term.items():
        if len(positions) < min_pairs:
            continue
        groups: dict[str, list[int]] = defaultdict(list)
        for position in positions:
            groups[items[position].concepts.definition].append(position)
        if len(groups) < 2:
            continue
        largest = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:_MAX_GROUPS]
        for (def_a, group_a), (def_b, group_b) in combinations(largest, 2):
            found = _difference(def_a, def_b)
            if found is None:
                continue
            axis, difference = found
            if separators.explained(group_a, group_b):
                continue
            if axis == "condition":
                condition = difference.removeprefix("with vs without ")
                if separators.condition_explained(items, group_a, group_b, condition):
                    continue
                if _stated(items, group_a, condition) or _stated(items, group_b, condition):
                    continue
            purity = (len(group_a) + len(group_b)) / len(positions)
            key = (axis, frozenset((def_a, def_b)))
            findings[key].append(_Finding(term, axis, difference, [group_a, group_b], purity))
    results = [_report(items, golden, found) for found in findings.values()]
    results.sort(key=lambda r: (-min(v.count for v in r.variants), r.term))
    return results


def _report(
    items: Sequence[Item], golden: Sequence[tuple[str, Item]], found: list[_Finding]
) -> Inconsistency:
    best = max(found, key=lambda f: (f.purity, " " in f.term, sum(map(len, f.groups)), f.term))
    variants = []
    for group in best.groups:
        definition = items[group[0]].concepts.definition
        matching = [
            case
            for case, item in golden
            if item.concepts.definition == definition and best.term in item.terms
        ]
        variants.append(
            DefinitionVariant(
                definition=definition,
                measure=items[group[0]].concepts.measure_display,
                count=len(group),
                examples=[
                    PairRef(index=items[i].index, question=items[i].question, sql=items[i].sql)
                    for i in group[:_MAX_EXAMPLES]
                ],
                in_golden=matching,
            )
        )
    chosen_by: Literal["golden", "majority", "none"] = "majority"
    if any(v.in_golden for v in variants):
        variants.sort(key=lambda v: (not v.in_golden, -v.count))
        chosen_by = "golden"
    else:
        variants.sort(key=lambda v: -v.count)
        if variants[0].count == variants[1].count:
            chosen_by = "none"
    other = sorted({f.term for f in found} - {best.term})
    recommended = variants[0]
    if chosen_by == "none":
        hint = (
            f"decide what '{best.term}' means ({' or '.join(v.measure for v in variants)}), "
            "fix or drop the other pairs, and say it in the schema notes"
        )
    else:
        why = "as the golden set does" if chosen_by == "golden" else "as most pairs do"
        hint = (
            f"pick one meaning for '{best.term}': compute it as {recommended.measure} ({why}); "
            f"fix or drop the other {sum(v.count for v in variants[1:])} pair(s), or say which "
            "one you mean in the schema notes and regenerate"
        )
    return Inconsistency(
        term=best.term,
        axis=best.axis,
        difference=best.difference,
        variants=variants,
        chosen_by=chosen_by,
        other_terms=other,
        hint=hint,
    )
