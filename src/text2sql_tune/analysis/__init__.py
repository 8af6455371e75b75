"""Concept coverage and consistency analysis: what the training data lacks, and where it disagrees.

- :func:`analyze` maps golden questions and training pairs to *concepts* (tables, columns,
  functions, aggregates, filters, periods, group keys, clause features, question terms), lists the
  golden concepts with no or few training examples (failing cases first with an evaluation
  report), finds training pairs whose questions say the same thing while their SQL computes
  different things, and turns both into :class:`GenerationTarget` records.
- :func:`sql_concepts` is the per-statement reader it uses (lexical, cached).
- Targeted generation: :meth:`TemplateQAGenerator.targeted
  <text2sql_tune.generators.TemplateQAGenerator.targeted>` and :meth:`OpenAIQAGenerator.targeted
  <text2sql_tune.generators.OpenAIQAGenerator.targeted>` produce pairs for the targets.

Example:
    >>> from text2sql_tune.analysis import analyze
    >>> from text2sql_tune.demo import load_golden_set, load_seed_examples
    >>> result = analyze(load_golden_set(), load_seed_examples())
    >>> result.summary.golden_cases
    10
"""

from __future__ import annotations

from ..sql.concepts import SQLConcepts, sql_concepts
from ..text.terms import question_terms
from .coverage import Analysis, AnalysisSummary, analyze
from .results import (
    CaseCoverage,
    ConceptGap,
    DefinitionVariant,
    GenerationTarget,
    Inconsistency,
    PairRef,
    SQLPattern,
    concept_label,
)

__all__ = [
    "Analysis",
    "AnalysisSummary",
    "CaseCoverage",
    "ConceptGap",
    "DefinitionVariant",
    "GenerationTarget",
    "Inconsistency",
    "PairRef",
    "SQLConcepts",
    "SQLPattern",
    "analyze",
    "concept_label",
    "question_terms",
    "sql_concepts",
]
