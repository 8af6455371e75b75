"""The records an analysis produces: gaps, per-case coverage, inconsistencies, generation targets.

All are pydantic models, so an :class:`Analysis` round-trips through JSON
(``analysis.model_dump(mode="json")`` / ``Analysis.model_validate``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..sql.concepts import SQLConcepts

__all__ = [
    "CaseCoverage",
    "ConceptGap",
    "DefinitionVariant",
    "GenerationTarget",
    "Inconsistency",
    "PairRef",
    "SQLPattern",
    "concept_label",
]

Verdict = Literal["correct", "wrong", "undecided", "not_evaluated"]

_KIND_LABELS = {
    "table": "table",
    "column": "column",
    "function": "function",
    "aggregate": "aggregate",
    "filter": "filter",
    "period": "period",
    "group": "group by",
    "feature": "feature",
    "measure": "measure",
    "term": "question term",
}


def concept_label(concept: str) -> str:
    """A concept key in words: ``filter:revenue > 0`` -> ``filter revenue > 0``."""
    kind, _, value = concept.partition(":")
    if kind == "term":
        return f"question term '{value}'"
    return f"{_KIND_LABELS.get(kind, kind)} {value}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SQLPattern(_Model):
    """The shape of a query without its text or its values: what a targeted generator imitates.

    Attributes:
        tables: Tables read.
        columns: Columns used.
        functions: Functions called.
        filters: Filters with abstracted values (``country = ?``, ``revenue > 0``).
        periods: Periods filtered on (``month``, ``year``, ``relative_day``...).
        groups: Group keys (``os``, ``month``).
        features: Clause features (``join``, ``subquery``, ``with_totals``, ``top_n``...).
        measure: What it computes: the measures as SQL, values abstracted
            (``100 * countIf(is_fraud = 1) / count()``).
    """

    tables: list[str] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list)
    functions: list[str] = Field(default_factory=list)
    filters: list[str] = Field(default_factory=list)
    periods: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    measure: str = ""

    @classmethod
    def of(cls, concepts: SQLConcepts) -> SQLPattern:
        """The pattern of an analysed statement."""
        shown = {"where", "aggregate", "date_function"}
        return cls(
            tables=list(concepts.tables),
            columns=list(concepts.columns),
            functions=list(concepts.functions),
            filters=list(concepts.filters),
            periods=list(concepts.periods),
            groups=list(concepts.groups),
            features=sorted(concepts.features - shown),
            measure=concepts.measure_text,
        )

    def lines(self) -> list[str]:
        """The pattern as ``name: values`` lines (empty parts left out), for prompts and tables."""
        parts = [
            ("tables", self.tables),
            ("columns", self.columns),
            ("functions", self.functions),
            ("filters", self.filters),
            ("period", self.periods),
            ("grouped by", self.groups),
            ("features", self.features),
        ]
        lines = [f"{name}: {', '.join(values)}" for name, values in parts if values]
        if self.measure:
            lines.append(f"computes: {self.measure}")
        return lines


class ConceptGap(_Model):
    """A concept the golden set needs that the training data has too few examples of.

    Attributes:
        concept: The concept key (``kind:value``), e.g. ``filter:revenue > 0``.
        kind: Its kind: ``table``, ``column``, ``function``, ``aggregate``, ``filter``,
            ``period``, ``group``, ``feature``, ``measure`` (what is computed, e.g.
            ``uniq(user_id | revenue > 0)``) or ``term`` (a question term).
        label: The concept in words.
        status: ``missing`` (no training example) or ``rare`` (fewer than ``min_examples``).
        training_count: Training pairs that use it.
        golden_cases: Golden cases that need it (ids, failing ones first).
        failing_cases: Those among them the evaluation got wrong (or could not decide).
        priority: Higher first: failing cases weigh more, missing more than rare, question
            terms less than SQL concepts.
        examples: Up to three training questions that use it (for a rare concept).
    """

    concept: str
    kind: str
    label: str
    status: Literal["missing", "rare"]
    training_count: int
    golden_cases: list[str]
    failing_cases: list[str] = Field(default_factory=list)
    priority: float
    examples: list[str] = Field(default_factory=list)


class CaseCoverage(_Model):
    """One golden case: its verdict (with a report), its concepts' coverage and its pattern.

    Attributes:
        case: The case id (its ``id``, else ``#n`` by position).
        question: The golden question (shown to you; never given to a generator).
        verdict: ``correct``, ``wrong``, ``undecided`` or ``not_evaluated`` (no report).
        category: The report's error category, when there is one.
        missing: Its concepts with no training example.
        rare: Its concepts with fewer than ``min_examples`` training examples.
        pattern: Its SQL's pattern (no text, no values).
    """

    case: str
    question: str
    verdict: Verdict = "not_evaluated"
    category: str | None = None
    missing: list[str] = Field(default_factory=list)
    rare: list[str] = Field(default_factory=list)
    pattern: SQLPattern = Field(default_factory=SQLPattern)

    @property
    def failing(self) -> bool:
        """True when the evaluation did not get this case right."""
        return self.verdict in ("wrong", "undecided")


class PairRef(_Model):
    """A training pair named by an analysis finding.

    Attributes:
        index: Its position among the usable training pairs given to :func:`analyze` (counting
            from 0; for a run's ``clean.jsonl``, its line number minus one).
        question: Its question.
        sql: Its SQL.
    """

    index: int
    question: str
    sql: str


class DefinitionVariant(_Model):
    """One way the training data computes a term.

    Attributes:
        definition: What the SQL computes, literals abstracted (``count(rows of
            ecommerce.sessions | is_fraud = 1) / count(rows of ecommerce.sessions)``).
        measure: The measure as one of the pairs writes it, values abstracted, with its
            value-free WHERE conditions (``sum(revenue) where revenue > 0``).
        count: Training pairs that use this variant.
        examples: Up to three of them.
        in_golden: Golden cases whose questions use the term and whose SQL computes it this way.
    """

    definition: str
    measure: str
    count: int
    examples: list[PairRef] = Field(default_factory=list)
    in_golden: list[str] = Field(default_factory=list)


class Inconsistency(_Model):
    """Training questions that say the same thing while their SQL computes different things.

    The article's "fraud rate" (a share of customers in some pairs, a share of sessions in
    others) and "purchase revenue" (with and without ``revenue > 0``): a model tuned on both
    learns neither.

    Attributes:
        term: The question term the variants share (``fraud rate``).
        axis: How the variants differ: ``counted`` (what is counted or divided by),
            ``condition`` (a value-free condition present in some only) or ``aggregate``
            (another aggregate of the same column).
        difference: The difference in words.
        variants: The variants, the recommended one first (see ``chosen_by``).
        chosen_by: ``golden`` when a golden case computes the term like the first variant (the
            golden set is the specification), ``majority`` when most pairs do, ``none`` on a tie
            (you decide; no generation target is made).
        other_terms: Other shared terms that show the same split.
        hint: What to do about it.
    """

    term: str
    axis: Literal["counted", "condition", "aggregate"]
    difference: str
    variants: list[DefinitionVariant]
    chosen_by: Literal["golden", "majority", "none"] = "majority"
    other_terms: list[str] = Field(default_factory=list)
    hint: str = ""

    @property
    def minority(self) -> list[PairRef]:
        """The example pairs of every variant but the recommended one."""
        return [ref for variant in self.variants[1:] for ref in variant.examples]


class GenerationTarget(_Model):
    """What a targeted generator should produce more of.

    Built from a golden case's *pattern* (tables, columns, functions, filters, period, grouping;
    never its question text or its values) or from an inconsistent term's recommended
    definition.

    Attributes:
        reason: ``missing`` / ``rare`` (the case's concepts lack training examples),
            ``failing`` (the evaluation got the case wrong although each concept has examples:
            more of its pattern) or ``inconsistent`` (teach one definition of ``term``).
        concepts: The concept keys to teach (the gaps, or the definition's concepts).
        pattern: The query shape to imitate.
        case: The golden case it comes from (for your records; generators never read the case).
        term: The inconsistent term.
        definition: The measure to use for ``term``, as SQL.
        weight: Share of the targeted budget (failing cases and missing concepts weigh more).
    """

    reason: Literal["missing", "rare", "failing", "inconsistent"]
    concepts: list[str]
    pattern: SQLPattern
    case: str | None = None
    term: str | None = None
    definition: str | None = None
    weight: float = 1.0

    def describe(self) -> str:
        """The target in words, as the LLM generator's prompt states it."""
        lines: list[str] = []
        if self.reason == "inconsistent" and self.term:
            lines.append(
                f"The question must use the term '{self.term}' and compute it exactly as: "
                f"{self.definition}."
            )
        wanted = [concept_label(c) for c in self.concepts if not c.startswith("term:")]
        terms = [c.split(":", 1)[1] for c in self.concepts if c.startswith("term:")]
        if wanted:
            lines.append("The SQL must use: " + "; ".join(wanted) + ".")
        if terms:
            lines.append("The question may use words such as: " + ", ".join(terms) + ".")
        if self.pattern.lines():
            lines.append("Follow this query pattern (choose your own values):")
            lines += [f"- {line}" for line in self.pattern.lines()]
        return "\n".join(lines)
