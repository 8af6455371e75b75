"""Judges: decide whether a predicted query answers the question like the reference.

- :class:`ExecutionMatchJudge`: deterministic, compares the two results by :class:`MatchRules`.
- :class:`LLMJudge`: the article's method, an LLM compares two small result tables (0/1 score).
- :class:`CascadeJudge`: deterministic first, the LLM only for the undecided cases.
- :class:`TestSuite`: test-suite checking for the execution judge (perturbed database copies).
"""

from __future__ import annotations

from .cache import VerdictCache
from .cascade import CascadeJudge
from .compare import Comparison, MatchRules, compare_results
from .execution import ExecutionMatchJudge
from .llm import LLMJudge
from .ordering import question_asks_for_order, reference_order
from .rewrite import ExactRewrite, find_approximate_functions, rewrite_exact
from .suite import SuiteCheck, TestSuite

__all__ = [
    "CascadeJudge",
    "Comparison",
    "ExactRewrite",
    "ExecutionMatchJudge",
    "LLMJudge",
    "MatchRules",
    "SuiteCheck",
    "TestSuite",
    "VerdictCache",
    "compare_results",
    "find_approximate_functions",
    "question_asks_for_order",
    "reference_order",
    "rewrite_exact",
]
