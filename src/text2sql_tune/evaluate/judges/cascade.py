"""A cascade of judges: the first decisive verdict wins (deterministic first, LLM for the rest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...interfaces import Judge
from ...records import JudgeInput, Verdict

__all__ = ["CascadeJudge"]


class CascadeJudge(Judge):
    """Ask judges in turn until one decides.

    The usual cascade is ``CascadeJudge([ExecutionMatchJudge(executor), LLMJudge(client)])``: the
    deterministic judge decides most cases for free, the LLM only sees the undecided ones. The
    verdict is the deciding judge's, with ``details["cascade"]`` listing every judge asked.

    Args:
        judges: The judges, in the order they are asked (at least one).
    """

    name = "cascade"

    def __init__(self, judges: Sequence[Judge]) -> None:
        if not judges:
            raise ValueError("a cascade needs at least one judge")
        self.judges = list(judges)

    async def ajudge(self, case: JudgeInput) -> Verdict:
        """Return the first decisive verdict, or the last undecided one."""
        steps: list[dict[str, Any]] = []
        verdict: Verdict | None = None
        for judge in self.judges:
            verdict = await judge.ajudge(case)
            steps.append(
                {"judge": verdict.judge, "correct": verdict.correct, "reason": verdict.reason}
            )
            if verdict.correct is not None:
                break
        assert verdict is not None
        return verdict.model_copy(update={"details": {**verdict.details, "cascade": steps}})
