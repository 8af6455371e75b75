"""Test-suite checking (Zhong et al., EMNLP 2020): a match must hold on perturbed copies too.

See :class:`TestSuite`; :mod:`.profile`, :mod:`.copies`, :mod:`.mutants` and :mod:`.retarget`
are its parts (a column's domain, a copy's rows, a reference's near misses, a query pointed at
the copies).
"""

from __future__ import annotations

from .suite import SuiteCheck, TestSuite

__all__ = ["SuiteCheck", "TestSuite"]
