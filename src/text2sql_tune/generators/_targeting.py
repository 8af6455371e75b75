"""Pick the templates that teach a target's concepts, and fill each target's share of a budget.

Each template is sampled a few times and every sample's SQL is read with
:func:`~text2sql_tune.analysis.sql_concepts`. A sample *scores* for a target by the share of
the target's concepts it uses, plus half the share of the target's pattern it follows; the
templates whose best sample scores close to the best template's are used for that target, and
only samples that use at least one of the target's concepts are kept.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ..analysis import GenerationTarget, question_terms, sql_concepts
from ..records import QAPair
from ._template_base import _Focus

__all__ = ["focus_of", "split_budget", "targeted_pairs"]

Template = Callable[[random.Random], tuple[str, str]]

_SAMPLES = 16  # samples per template to learn what it can produce
_ATTEMPTS = 40  # draws per wanted pair before a target gives up
_CLOSE = 0.75  # templates within this share of the best score are used
_IGNORED = ("table:", "column:")


def split_budget(n: int, weights: Sequence[float]) -> list[int]:
    """``n`` split in proportion to ``weights`` (largest remainders get the rest)."""
    total = sum(weights)
    if n <= 0 or total <= 0:
        return [0] * len(weights)
    shares = [n * w / total for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _pattern_keys(target: GenerationTarget) -> frozenset[str]:
    p = target.pattern
    return frozenset(
        (
            *(f"filter:{f}" for f in p.filters),
            *(f"period:{x}" for x in p.periods),
            *(f"group:{g}" for g in p.groups),
            *(f"feature:{f}" for f in p.features),
            *(f"function:{f}" for f in p.functions),
            *(f"table:{t}" for t in p.tables),
        )
    )


class _Scorer:
    def __init__(self, target: GenerationTarget) -> None:
        wanted = [c for c in target.concepts if not c.startswith(_IGNORED)]
        self.wanted = frozenset(wanted or target.concepts)
        self.pattern = _pattern_keys(target)

    def score(self, question: str, sql: str) -> tuple[float, float]:
        """``(score, share of wanted concepts used)``."""
        concepts = sql_concepts(sql)
        keys = set(concepts.concepts)
        if any(c.startswith("term:") for c in self.wanted):
            keys.update(f"term:{t}" for t in question_terms(question, concepts.values))
        covered = len(self.wanted & keys) / len(self.wanted) if self.wanted else 0.0
        followed = len(self.pattern & keys) / len(self.pattern) if self.pattern else 0.0
        return covered + 0.5 * followed, covered


def focus_of(target: GenerationTarget) -> _Focus:
    """The columns and period grain a target's pattern asks for."""
    periods = target.pattern.periods
    calendar = [p for p in periods if p in ("year", "quarter", "month", "day")]
    relative = [p for p in periods if p.startswith("relative_")]
    grain = next(iter(calendar or relative), None)
    return _Focus(columns=frozenset(target.pattern.columns), grain=grain, windowed=bool(periods))


class _Plan:
    """One target's draws: its templates, its scorer, its own random sequence."""

    def __init__(
        self, target: GenerationTarget, scorer: _Scorer, chosen: list[int], top: float, seed: str
    ) -> None:
        self.target = target
        self.scorer = scorer
        self.chosen = chosen
        self.top = top
        self.rng = random.Random(seed)
        self.exhausted = False


def targeted_pairs(
    templates: Sequence[tuple[Template, int]],
    targets: Sequence[GenerationTarget],
    n: int,
    *,
    seed: int,
    name: str,
    focus: Callable[[_Focus | None], None],
) -> list[QAPair]:
    """``n`` pairs for ``targets`` from ``templates`` (see the module docstring).

    ``focus`` narrows the templates to a target's columns and grain while its pairs are drawn.
    A target whose templates run out of distinct pairs leaves its share to the others; when no
    template serves any target, every record is rejected with the reason.
    """
    functions = [fn for fn, _ in templates]
    samples: list[list[tuple[str, str]]] = []
    for index, fn in enumerate(functions):
        rng = random.Random(f"{seed}:sample:{index}")
        samples.append([fn(rng) for _ in range(_SAMPLES)])
    plans: list[_Plan] = []
    for position, target in enumerate(targets):
        scorer = _Scorer(target)
        best = [max(scorer.score(q, s) for q, s in found) for found in samples]
        top = max((score for score, covered in best if covered > 0), default=0.0)
        if top <= 0:
            continue
        chosen = [i for i, (sc, covered) in enumerate(best) if covered > 0 and sc >= _CLOSE * top]
        plans.append(_Plan(target, scorer, chosen, top, f"{seed}:target:{position}"))
    if not plans:
        reason = "no template uses the concepts of any target"
        return [QAPair(rejected=reason, source=name) for _ in range(n)]
    seen: set[str] = set()
    out: list[QAPair] = []

    def draw(plan: _Plan, count: int) -> None:
        focus(focus_of(plan.target))
        try:
            made = 0
            for _attempt in range(count * _ATTEMPTS):
                if made >= count:
                    return
                index = plan.rng.choice(plan.chosen)
                question, sql = functions[index](plan.rng)
                score, covered = plan.scorer.score(question, sql)
                if covered <= 0 or score < _CLOSE * plan.top or sql in seen:
                    continue
                seen.add(sql)
                made += 1
                out.append(_pair(question, sql, name, plan.target, functions[index]))
            plan.exhausted = True
        finally:
            focus(None)

    for plan, budget in zip(plans, split_budget(n, [p.target.weight for p in plans]), strict=True):
        draw(plan, budget)
    while len(out) < n and not all(p.exhausted for p in plans):
        for plan in plans:  # what the exhausted targets left, one pair at a time
            if not plan.exhausted and len(out) < n:
                draw(plan, 1)
    reason = "the matching templates produced no further distinct pair"
    return out + [QAPair(rejected=reason, source=name) for _ in range(n - len(out))]


def _pair(
    question: str, sql: str, name: str, target: GenerationTarget, template: Template
) -> QAPair:
    return QAPair(
        question=question,
        sql=sql,
        source=name,
        metadata={
            "template": getattr(template, "template_name", ""),
            "target": target.case or target.term or "",
            "reason": target.reason,
        },
    )
