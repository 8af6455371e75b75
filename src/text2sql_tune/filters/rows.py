"""RowCountFilter: keep pairs whose result has a useful number of rows."""

from __future__ import annotations

from collections.abc import Sequence

from ..interfaces import DatasetFilter
from ..records import FilterDecision, OutcomeStatus, QAPair
from ._common import drop, keep

__all__ = ["RowCountFilter"]


class RowCountFilter(DatasetFilter):
    """Drops pairs whose result is empty or too long to be a useful answer.

    The article kept queries returning more than 0 and at most 100 data rows (the header line
    not counted): a question answered by 1,000+ rows, or by nothing, makes a poor example.

    Row counts come from validation. A pair validation already marked ``too_many_rows`` is
    dropped whatever its recorded count, because a result stopped at the executor's row cap may
    record the cap (or no count at all) rather than its real size. Pairs whose SQL did not run
    are left alone (that is :class:`~text2sql_tune.filters.ValidSQLFilter`'s job).

    Args:
        min_rows: Fewest data rows a kept result has.
        max_rows: Most data rows a kept result has.

    Reasons:
        ``no_rows``: fewer than ``min_rows`` rows (detail: the count).
        ``too_many_rows``: more than ``max_rows`` rows, or stopped at the row cap.
    """

    name = "row_count"

    def __init__(self, min_rows: int = 1, max_rows: int = 100) -> None:
        if min_rows < 0 or max_rows < min_rows:
            raise ValueError("need 0 <= min_rows <= max_rows")
        self.min_rows = min_rows
        self.max_rows = max_rows

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        """Judge each validated pair's row count against ``min_rows`` and ``max_rows``."""
        kept = keep(self.name)
        decisions = []
        for pair in pairs:
            info = pair.validation
            count = None if info is None else info.row_count
            if info is not None and info.status is OutcomeStatus.TOO_MANY_ROWS:
                shown = "over the row cap" if count is None else f"{count:,} rows or more"
                decisions.append(drop(self.name, "too_many_rows", shown))
            elif count is None:
                decisions.append(kept)
            elif count > self.max_rows:
                detail = f"{count:,} rows > {self.max_rows:,}"
                decisions.append(drop(self.name, "too_many_rows", detail))
            elif count < self.min_rows:
                detail = f"{count:,} rows < {self.min_rows:,}"
                decisions.append(drop(self.name, "no_rows", detail))
            else:
                decisions.append(kept)
        return decisions
