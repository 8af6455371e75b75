"""ValidSQLFilter: keep only pairs whose SQL was validated and ran."""

from __future__ import annotations

from collections.abc import Sequence

from ..interfaces import DatasetFilter
from ..records import FilterDecision, OutcomeStatus, QAPair
from ._common import drop, keep, shorten

__all__ = ["ValidSQLFilter"]

_REASONS = {
    OutcomeStatus.ERROR: "invalid_sql",
    OutcomeStatus.UNSAFE: "unsafe",
    OutcomeStatus.TIMEOUT: "timeout",
}


class ValidSQLFilter(DatasetFilter):
    """Drops pairs whose SQL did not run: engine errors, refused as unsafe, timeouts, unvalidated.

    Pairs whose SQL ran but returned too few or too many rows are kept: row counts are
    :class:`~text2sql_tune.filters.RowCountFilter`'s job.

    Reasons:
        ``not_validated``: the pair has no validation (run :func:`~text2sql_tune.validate_pairs`).
        ``invalid_sql``: the engine rejected the query (detail: error name and message).
        ``unsafe``: the executor's safety guard refused it.
        ``timeout``: it ran past the executor's time limit.
    """

    name = "valid_sql"

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Keep pairs validated as ok, empty or too_many_rows; drop the rest."""
        kept = keep(self.name)
        decisions = []
        for pair in pairs:
            info = pair.validation
            if info is None:
                decisions.append(drop(self.name, "not_validated"))
                continue
            reason = _REASONS.get(info.status)
            if reason is None:
                decisions.append(kept)
                continue
            detail = info.error or None
            if detail is not None:
                detail = shorten(f"{info.error_name}: {detail}" if info.error_name else detail)
            decisions.append(drop(self.name, reason, detail))
        return decisions
