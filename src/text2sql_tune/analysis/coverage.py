"""Map a golden set and a training set to concepts; find the gaps and the inconsistencies.

:func:`analyze` reads every golden case and training pair once
(:mod:`~text2sql_tune.sql.concepts` for the SQL, :mod:`~text2sql_tune.text.terms` for the
question), counts how many training pairs use each concept a golden case needs, and lists the
concepts with none or few (``min_examples``), the failing cases first when an evaluation report
is given. It also runs :func:`~.consistency.find_inconsistencies` on the
training pairs and turns both into :class:`~text2sql_tune.analysis.GenerationTarget` records for
targeted generation.

Nothing here writes training data: golden questions are shown to you, never to a generator (a
target carries the case's query *pattern*, not its text or its values), and the leakage filter
still runs on whatever is generated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from ..io.files import read_json_model, write_json_model
from ..records import EvalCase, EvalReport, EvalResult, QAPair
from ..text.tokens import normalize_question
from ._corpus import Item, read_items
from .consistency import find_inconsistencies
from .results import (
    CaseCoverage,
    ConceptGap,
    GenerationTarget,
    Inconsistency,
    SQLPattern,
    Verdict,
    concept_label,
)

__all__ = ["Analysis", "AnalysisSummary", "analyze"]

_CASE_WEIGHT = {"wrong": 2.0, "undecided": 2.0, "not_evaluated": 1.0, "correct": 0.5}
_TERM_WEIGHT = 0.4
_REASON_WEIGHT = {"missing": 1.5, "rare": 1.0, "failing": 0.75}
_MAX_EXAMPLES = 3


class AnalysisSummary(BaseModel):
    """The analysis in numbers.

    Attributes:
        golden_cases: Golden cases analysed.
        training_pairs: Usable training pairs analysed.
        evaluated: Whether an evaluation report weighted the cases.
        failing_cases: Cases the evaluation got wrong or could not decide.
        golden_concepts: Distinct SQL concepts the golden set uses (question terms not counted).
        covered: Those with at least ``min_examples`` training pairs.
        rare: Those with fewer.
        missing: Those with none.
        cases_with_gaps: Cases that need at least one missing or rare SQL concept.
        inconsistencies: Terms the training data computes in more than one way.
    """

    model_config = ConfigDict(extra="forbid")

    golden_cases: int
    training_pairs: int
    evaluated: bool
    failing_cases: int
    golden_concepts: int
    covered: int
    rare: int
    missing: int
    cases_with_gaps: int
    inconsistencies: int

    @property
    def coverage(self) -> float:
        """Share of the golden set's SQL concepts with enough training examples."""
        return self.covered / self.golden_concepts if self.golden_concepts else 1.0


class Analysis(BaseModel):
    """Concept coverage of a golden set by a training set, and the training set's consistency.

    Attributes:
        min_examples: Training pairs a concept needs to count as covered.
        summary: The numbers.
        gaps: Concepts with no or few training examples, highest priority first.
        cases: Every golden case with its verdict and its missing and rare concepts, failing
            cases first.
        inconsistencies: Terms the training questions share while their SQL computes different
            things.
        targets: What targeted generation should produce, highest weight first.
    """

    model_config = ConfigDict(extra="forbid")

    min_examples: int
    summary: AnalysisSummary
    gaps: list[ConceptGap] = Field(default_factory=list)
    cases: list[CaseCoverage] = Field(default_factory=list)
    inconsistencies: list[Inconsistency] = Field(default_factory=list)
    targets: list[GenerationTarget] = Field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        """Write the analysis as JSON (parent folders are created)."""
        return write_json_model(path, self)

    @classmethod
    def load(cls, path: str | Path) -> Analysis:
        """Read an analysis written by :meth:`save`.

        Raises:
            DataError: The file is missing or is not an analysis.
        """
        return read_json_model(cls, path, "analysis")

    def tables(self, *, limit: int = 20) -> list[Table]:
        """Rich tables for a terminal: summary, gaps, failing cases, inconsistencies.

        Args:
            limit: Most rows per table (the JSON has everything).
        """
        s = self.summary
        summary = Table(title="Concept coverage", show_header=False)
        summary.add_column("", style="bold")
        summary.add_column("")
        summary.add_row("golden cases", f"{s.golden_cases}" + (
            f" ({s.failing_cases} failing)" if s.evaluated else " (no evaluation report)"
        ))  # fmt: skip
        summary.add_row("training pairs", f"{s.training_pairs:,}")
        summary.add_row(
            "golden SQL concepts",
            f"{s.golden_concepts}: {s.covered} covered ({s.coverage:.0%}), {s.rare} rare, "
            f"{s.missing} missing (covered = at least {self.min_examples} training pairs)",
        )
        summary.add_row("cases with gaps", str(s.cases_with_gaps))
        summary.add_row("inconsistent terms", str(s.inconsistencies))
        out = [summary]
        terms = [g for g in self.gaps if g.kind == "term" and g.status == "missing"]
        if terms:
            words = ", ".join(g.concept.split(":", 1)[1] for g in terms[:limit])
            summary.add_row("golden terms no training question uses", words)
        sql_gaps = [g for g in self.gaps if g.kind != "term"]
        if sql_gaps:
            gaps = Table(title=f"Golden SQL concepts with fewer than {self.min_examples} examples")
            gaps.add_column("concept")
            gaps.add_column("training", justify="right")
            gaps.add_column("golden cases (failing marked ✗)")
            for gap in sql_gaps[:limit]:
                failing = set(gap.failing_cases)
                cases = " ".join(c + ("✗" if c in failing else "") for c in gap.golden_cases)
                gaps.add_row(gap.label, str(gap.training_count), cases)
            out.append(gaps)
        with_gaps = [c for c in self.cases if c.missing or c.rare or c.failing]
        if with_gaps:
            by_case = Table(title="Golden cases")
            by_case.add_column("case")
            by_case.add_column("verdict")
            by_case.add_column("missing concepts")
            by_case.add_column("rare concepts")
            for case in with_gaps[:limit]:
                verdict = case.verdict + (f" ({case.category})" if case.category else "")
                by_case.add_row(
                    case.case,
                    verdict,
                    ", ".join(concept_label(c) for c in case.missing if c[:5] != "term:") or "-",
                    ", ".join(concept_label(c) for c in case.rare if c[:5] != "term:") or "-",
                )
            out.append(by_case)
        if self.inconsistencies:
            table = Table(title="Same words, different SQL")
            table.add_column("term")
            table.add_column("difference")
            table.add_column("variants (pairs)")
            for found in self.inconsistencies[:limit]:
                variants = "\n".join(f"{v.count} × {v.measure}" for v in found.variants)
                table.add_row(found.term, found.difference, variants)
            out.append(table)
        return out


def _case_id(case: EvalCase, position: int) -> str:
    return case.id or f"#{position + 1}"


def _verdicts(
    cases: Sequence[EvalCase], report: EvalReport | None
) -> list[tuple[Verdict, str | None]]:
    if report is None:
        return [("not_evaluated", None)] * len(cases)
    by_question: dict[str, EvalResult] = {}
    for result in report.results:
        by_question.setdefault(normalize_question(result.question), result)
    positional = len(report.results) == len(cases)
    out: list[tuple[Verdict, str | None]] = []
    for position, case in enumerate(cases):
        found = by_question.get(normalize_question(case.question))
        if found is None and positional:
            found = report.results[position]
        if found is None:
            out.append(("not_evaluated", None))
            continue
        verdict: Verdict = (
            "undecided" if found.correct is None else "correct" if found.correct else "wrong"
        )
        out.append((verdict, None if found.category == "correct" else found.category))
    return out


def _gap_priority(kind: str, missing: bool, verdicts: Sequence[Verdict]) -> float:
    weight = _TERM_WEIGHT if kind == "term" else 1.0
    status = 1.0 if missing else 0.5
    return round(weight * status * sum(_CASE_WEIGHT[v] for v in verdicts), 3)


def analyze(
    golden: Sequence[EvalCase],
    training: Sequence[QAPair],
    *,
    report: EvalReport | None = None,
    min_examples: int = 3,
    question_terms: bool = True,
    max_targets: int | None = None,
) -> Analysis:
    """Concept coverage of ``golden`` by ``training`` and the consistency of ``training``.

    Args:
        golden: The golden set.
        training: The training pairs (usually a run's ``clean.jsonl``); pairs their generator
            rejected are skipped.
        report: An evaluation report on ``golden``: failing cases weigh more and come first.
        min_examples: Training pairs a concept needs to count as covered.
        question_terms: Also count question terms ("paying customers") as concepts.
        max_targets: Most generation targets to produce (default: all).

    Returns:
        The analysis; ``analysis.tables()`` renders it, ``analysis.save(path)`` writes JSON.

    Raises:
        ValueError: ``min_examples`` is below 1.

    Example:
        >>> from text2sql_tune import EvalCase, QAPair
        >>> from text2sql_tune.analysis import analyze
        >>> golden = [EvalCase(question="How many paying customers were there in 2024?",
        ...     sql="select uniqExactIf(user_id, revenue > 0) from ecommerce.sessions "
        ...         "where toStartOfYear(action_date) = '2024-01-01'")]
        >>> training = [QAPair(question="How many sessions were there in 2023?",
        ...     sql="select count() from ecommerce.sessions "
        ...         "where toStartOfYear(action_date) = '2023-01-01'")]
        >>> result = analyze(golden, training, min_examples=1)
        >>> print(*(g.concept for g in result.gaps if g.kind == "filter"))
        filter:revenue > 0
    """
    if min_examples < 1:
        raise ValueError("min_examples must be at least 1")
    usable = [p for p in training if p.ok]
    train_items = read_items((p.question, p.sql) for p in usable)
    gold_items = read_items((c.question, c.sql) for c in golden)
    ids = [_case_id(c, i) for i, c in enumerate(golden)]
    verdicts = _verdicts(golden, report)

    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for item in train_items:
        keys = item.keys if question_terms else item.concepts.concepts
        counts.update(keys)
        for key in keys:
            shown = examples.setdefault(key, [])
            if len(shown) < _MAX_EXAMPLES:
                shown.append(item.question)

    def keys_of(item: Item) -> list[str]:
        keys = item.keys if question_terms else item.concepts.concepts
        return sorted(keys)

    cases: list[CaseCoverage] = []
    needed: dict[str, list[int]] = {}
    for position, item in enumerate(gold_items):
        verdict, category = verdicts[position]
        case_keys = keys_of(item)
        for key in case_keys:
            needed.setdefault(key, []).append(position)
        cases.append(
            CaseCoverage(
                case=ids[position],
                question=item.question,
                verdict=verdict,
                category=category,
                missing=[k for k in case_keys if counts[k] == 0],
                rare=[k for k in case_keys if 0 < counts[k] < min_examples],
                pattern=SQLPattern.of(item.concepts),
            )
        )

    gaps: list[ConceptGap] = []
    for key, positions in needed.items():
        count = counts[key]
        if count >= min_examples:
            continue
        kind = key.split(":", 1)[0]
        case_verdicts = [cases[p].verdict for p in positions]
        ordered = sorted(positions, key=lambda p: (not cases[p].failing, p))
        gaps.append(
            ConceptGap(
                concept=key,
                kind=kind,
                label=concept_label(key),
                status="missing" if count == 0 else "rare",
                training_count=count,
                golden_cases=[ids[p] for p in ordered],
                failing_cases=[ids[p] for p in ordered if cases[p].failing],
                priority=_gap_priority(kind, count == 0, case_verdicts),
                examples=examples.get(key, []) if count else [],
            )
        )
    gaps.sort(key=lambda g: (-g.priority, g.training_count, g.concept))

    inconsistencies = find_inconsistencies(train_items, list(zip(ids, gold_items, strict=True)))
    order = {"wrong": 0, "undecided": 0, "not_evaluated": 1, "correct": 2}
    cases.sort(key=lambda c: (order[c.verdict], -len(c.missing), -len(c.rare)))
    sql_needed = {k for k in needed if not k.startswith("term:")}
    sql_missing = {k for k in sql_needed if counts[k] == 0}
    sql_rare = {k for k in sql_needed if 0 < counts[k] < min_examples}
    summary = AnalysisSummary(
        golden_cases=len(golden),
        training_pairs=len(usable),
        evaluated=report is not None,
        failing_cases=sum(1 for c in cases if c.failing),
        golden_concepts=len(sql_needed),
        covered=len(sql_needed) - len(sql_missing) - len(sql_rare),
        rare=len(sql_rare),
        missing=len(sql_missing),
        cases_with_gaps=sum(
            1 for c in cases if any(not k.startswith("term:") for k in c.missing + c.rare)
        ),
        inconsistencies=len(inconsistencies),
    )
    targets = _targets(cases, inconsistencies, gold_items, ids)
    if max_targets is not None:
        targets = targets[:max_targets]
    return Analysis(
        min_examples=min_examples,
        summary=summary,
        gaps=gaps,
        cases=cases,
        inconsistencies=inconsistencies,
        targets=targets,
    )


def _pattern_concepts(pattern: SQLPattern) -> list[str]:
    """The concepts of a pattern that say what it computes and how it groups."""
    return [
        *(f"filter:{f}" for f in pattern.filters),
        *(f"period:{p}" for p in pattern.periods),
        *(f"group:{g}" for g in pattern.groups),
        *(f"feature:{f}" for f in pattern.features),
        *(f"function:{f}" for f in pattern.functions),
    ]


def _defines_measure(concept: str) -> bool:
    """Concepts that say what a query computes (not where it looks or how it groups)."""
    kind, _, value = concept.partition(":")
    if kind in ("function", "aggregate", "measure"):
        return True
    if kind == "filter":
        return not value.endswith("?")
    return concept == "feature:ratio"


def _targets(
    cases: Sequence[CaseCoverage],
    inconsistencies: Sequence[Inconsistency],
    gold_items: Sequence[Item],
    ids: Sequence[str],
) -> list[GenerationTarget]:
    targets: list[GenerationTarget] = []
    for case in cases:
        # SQL concepts only: a golden question's words never reach a generator
        wanted = [k for k in case.missing + case.rare if not k.startswith("term:")]
        missing = [k for k in case.missing if not k.startswith("term:")]
        if wanted:
            reason = "missing" if missing else "rare"
        elif case.failing:
            reason = "failing"  # each concept has examples; their combination may not
            wanted = _pattern_concepts(case.pattern)
        else:
            continue
        weight = _CASE_WEIGHT[case.verdict] * _REASON_WEIGHT[reason]
        targets.append(
            GenerationTarget(
                reason=reason,
                concepts=wanted,
                pattern=case.pattern,
                case=case.case,
                weight=weight,
            )
        )
    by_id = dict(zip(ids, gold_items, strict=True))
    for found in inconsistencies:
        if found.chosen_by == "none":
            continue  # no definition to teach until you pick one
        recommended = found.variants[0]
        example = recommended.examples[0] if recommended.examples else None
        source = by_id[recommended.in_golden[0]] if recommended.in_golden else None
        pattern = SQLPattern(measure=recommended.measure)
        concepts = [f"term:{found.term}"]
        model = source
        if model is None and example is not None:
            (model,) = read_items([(example.question, example.sql)])
        if model is not None:
            pattern = SQLPattern.of(model.concepts)
            concepts += sorted(k for k in model.concepts.concepts if _defines_measure(k))
        targets.append(
            GenerationTarget(
                reason="inconsistent",
                concepts=concepts,
                pattern=pattern,
                term=found.term,
                definition=recommended.measure,
                weight=1.5,
            )
        )
    targets.sort(key=lambda t: -t.weight)
    return targets
