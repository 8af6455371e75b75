"""SafetyFilter: keep only SQL the safety guard accepts."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import SQLSyntaxError, UnsafeSQLError
from ..interfaces import DatasetFilter
from ..records import FilterDecision, OutcomeStatus, QAPair
from ..safety import SQLGuard
from ._common import drop, keep, shorten

__all__ = ["SafetyFilter"]


class SafetyFilter(DatasetFilter):
    """Drops pairs whose SQL the safety guard refuses (writes, file access, several statements).

    A model tuned on ``DROP TABLE`` answers will write them. The guard is
    :class:`~text2sql_tune.safety.SQLGuard` (a sqlglot parse, about 0.4 ms a query). A pair that
    validation ran already went through its executor's guard, so by default, when no ``guard`` is
    given, its validation is trusted instead of parsing again: validated as ``unsafe`` means
    dropped, validated as anything else means kept.

    Args:
        guard: The guard to apply; default ``SQLGuard()`` (ClickHouse dialect, default rules).
        trust_validation: Use a pair's validation instead of checking it again. Default: trust it
            when ``guard`` is not given, check every pair when a (stricter) ``guard`` is given.

    Reasons:
        ``unsafe_sql``: the guard refused the query (detail: the guard's reason).
        ``invalid_sql``: the guard could not read the query as SQL (detail: where).
    """

    name = "safety"

    def __init__(
        self, guard: SQLGuard | None = None, *, trust_validation: bool | None = None
    ) -> None:
        self.guard = guard or SQLGuard()
        self.trust_validation = guard is None if trust_validation is None else trust_validation

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Check each pair's SQL (once per distinct text)."""
        kept = keep(self.name)
        verdicts: dict[str, FilterDecision] = {}
        decisions = []
        for pair in pairs:
            info = pair.validation
            if self.trust_validation and info is not None:
                if info.status is OutcomeStatus.UNSAFE:
                    detail = shorten(info.error) if info.error else None
                    decisions.append(drop(self.name, "unsafe_sql", detail))
                else:
                    decisions.append(kept)
                continue
            verdict = verdicts.get(pair.sql)
            if verdict is None:
                try:
                    self.guard.check(pair.sql)
                    verdict = kept
                except UnsafeSQLError as exc:
                    verdict = drop(self.name, "unsafe_sql", shorten(exc.reason))
                except SQLSyntaxError as exc:
                    verdict = drop(self.name, "invalid_sql", shorten(exc.reason))
                verdicts[pair.sql] = verdict
            decisions.append(verdict)
        return decisions
