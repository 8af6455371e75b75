"""Cleaning: filters that decide which question/SQL pairs stay in a dataset, with a report.

Each filter implements :class:`~text2sql_tune.interfaces.DatasetFilter` (one decision per pair,
with a groupable reason); :class:`FilterChain` runs them in order and returns the kept pairs and a
:class:`FilterReport`. :func:`default_filters` is the article's cleaning:

- :class:`SQLLengthFilter`: SQL longer than ``max_sql_length`` characters (``sql_too_long``).
- :class:`SafetyFilter`: SQL the safety guard refuses (``unsafe_sql``).
- :class:`ValidSQLFilter`: SQL that failed, was refused, timed out or was never validated
  (``invalid_sql``, ``unsafe``, ``timeout``, ``not_validated``).
- :class:`RowCountFilter`: empty results and results over ``max_rows`` rows (``no_rows``,
  ``too_many_rows``).
- :class:`DuplicateQuestionFilter`: a second answer to the same question (``duplicate_question``).
- :class:`DuplicateSQLFilter`: the same query again (``duplicate_sql``).
- :class:`NearDuplicateQuestionFilter`: rewordings of a kept question
  (``near_duplicate_question``).
- :class:`LeakageFilter`: golden questions, their rewordings and golden SQL
  (``leaks_eval_question``, ``leaks_eval_sql``).

Pairs their generator rejected are dropped first (step ``generator``,
``rejected_by_generator``).

Every filter has a name in the :mod:`~text2sql_tune.registry` (the ``name`` it reports under:
``sql_length``, ``safety``, ``valid_sql``, ``row_count``, ``duplicate_question``,
``duplicate_sql``, ``near_duplicate``, ``leakage``); ``default_filters(extra=[...],
without=[...])``, ``[clean] filters`` / ``without`` and ``clean --filter`` / ``--without`` add
filters by name (a plugin's too) and leave default ones out.
"""

from __future__ import annotations

from ..text.terms import DISTINGUISHING_WORDS, distinguishing_tokens
from .chain import DEFAULT_FILTERS, FilterChain, build_filter, default_filters
from .dedupe import DuplicateQuestionFilter, DuplicateSQLFilter, NearDuplicateQuestionFilter
from .leakage import LeakageFilter
from .length import SQLLengthFilter
from .report import DroppedPair, FilterReport, FilterStep
from .rows import RowCountFilter
from .safety import SafetyFilter
from .validation import ValidationCheckpoint, avalidate_pairs, validate_pairs
from .validity import ValidSQLFilter

__all__ = [
    "DEFAULT_FILTERS",
    "DISTINGUISHING_WORDS",
    "DroppedPair",
    "DuplicateQuestionFilter",
    "DuplicateSQLFilter",
    "FilterChain",
    "FilterReport",
    "FilterStep",
    "LeakageFilter",
    "NearDuplicateQuestionFilter",
    "RowCountFilter",
    "SQLLengthFilter",
    "SafetyFilter",
    "ValidSQLFilter",
    "ValidationCheckpoint",
    "avalidate_pairs",
    "build_filter",
    "default_filters",
    "distinguishing_tokens",
    "validate_pairs",
]
