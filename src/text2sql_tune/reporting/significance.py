"""Honest uncertainty for small golden sets: Wilson intervals and an exact McNemar test.

A golden set of ten questions cannot tell 70% from 50%: the 95% Wilson interval of 7/10 runs from
about 40% to 89%. When two models (or two tuning runs) answer the *same* questions, the paired
test is McNemar's: only the cases whose verdict changed carry information, and under "no real
difference" each of them is equally likely to have gone either way. The exact version is a
two-sided binomial test on those discordant cases, which stays valid for any number of cases
(the chi-squared approximation does not for a handful).

Pure Python (``math.comb`` and :class:`statistics.NormalDist`), no SciPy.

Example:
    >>> low, high = wilson_interval(7, 10)
    >>> f"{low:.3f}-{high:.3f}"
    '0.397-0.892'
    >>> mcnemar_exact(2, 0).p_value
    0.5
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict

__all__ = [
    "McNemarTest",
    "binomial_two_sided",
    "describe_difference",
    "mcnemar_exact",
    "wilson_interval",
]


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion.

    Unlike the textbook ``p ± z·sqrt(p(1-p)/n)`` it stays inside ``[0, 1]`` and does not shrink to
    a point at 0/n or n/n, which is what small golden sets produce.

    Args:
        successes: Cases judged correct.
        total: Cases in all.
        confidence: Two-sided confidence level in ``(0, 1)``.

    Returns:
        ``(low, high)``; ``(0.0, 1.0)`` when ``total`` is 0 (nothing is known).

    Raises:
        ValueError: A count is negative, ``successes > total``, or ``confidence`` is out of range.
    """
    if total < 0 or successes < 0 or successes > total:
        raise ValueError(f"need 0 <= successes <= total, got {successes}/{total}")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    if total == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / total
    z2n = z * z / total
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / total + z2n / (4 * total))
    # At 0/n and n/n the formula's bound is the boundary itself; keep float noise out of it.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == total else min(1.0, centre + half)
    return (low, high)


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of seeing ``k`` of ``n`` under a fair coin (p = 1/2).

    The probability of an outcome at least as far from ``n/2`` as ``k``, summed exactly in
    integers: ``min(1, 2 * P(X <= min(k, n - k)))``.

    Raises:
        ValueError: ``k`` is not in ``[0, n]``.
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


class McNemarTest(BaseModel):
    """An exact McNemar test on paired verdicts.

    Attributes:
        fixed: Cases wrong before and correct after.
        broken: Cases correct before and wrong after.
        p_value: Two-sided exact p-value (1.0 when no case changed).
        min_p_value: The smallest p-value this many discordant cases could give (all changes in
            one direction): above ``alpha`` the test cannot find a difference whatever happened.
        significant: ``p_value < alpha``.
        alpha: The significance level used.
    """

    model_config = ConfigDict(extra="forbid")

    fixed: int
    broken: int
    p_value: float
    min_p_value: float
    significant: bool
    alpha: float = 0.05

    @property
    def discordant(self) -> int:
        """Cases whose verdict changed (the only ones the test looks at)."""
        return self.fixed + self.broken


def mcnemar_exact(fixed: int, broken: int, *, alpha: float = 0.05) -> McNemarTest:
    """Exact McNemar test: is "fixed" vs "broken" more lopsided than chance?

    Args:
        fixed: Paired cases that went from not correct to correct.
        broken: Paired cases that went from correct to not correct.
        alpha: Significance level.

    Returns:
        The test, with the p-value of a two-sided binomial test on the discordant cases.

    Raises:
        ValueError: A count is negative or ``alpha`` is not in ``(0, 1)``.
    """
    if fixed < 0 or broken < 0:
        raise ValueError("counts must be >= 0")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    n = fixed + broken
    p_value = binomial_two_sided(fixed, n)
    return McNemarTest(
        fixed=fixed,
        broken=broken,
        p_value=p_value,
        min_p_value=binomial_two_sided(0, n),
        significant=p_value < alpha,
        alpha=alpha,
    )


def _p(value: float) -> str:
    if value < 0.001:
        return "p<0.001"
    return f"p={value:.3g}"


def describe_difference(
    correct_before: int,
    total_before: int,
    correct_after: int,
    total_after: int,
    test: McNemarTest,
    *,
    labels: tuple[str, str] | None = None,
) -> str:
    """One honest sentence about a change in accuracy, later run first.

    For example ``"7/10 vs 5/10, p=0.5: not significant on 10 cases"``, or with labels
    ``"tuned 7/10 vs base 5/10, ..."``.

    Args:
        correct_before: Correct cases of the earlier run.
        total_before: Cases of the earlier run.
        correct_after: Correct cases of the later run.
        total_after: Cases of the later run.
        test: The McNemar test on the paired cases.
        labels: Names of the earlier and the later run.
    """
    before, after = (f"{labels[0]} ", f"{labels[1]} ") if labels else ("", "")
    head = f"{after}{correct_after}/{total_after} vs {before}{correct_before}/{total_before}"
    cases = max(total_before, total_after)
    if test.discordant == 0:
        return f"{head}: no case changed its verdict, no evidence of a difference"
    verdict = f"{head}, {_p(test.p_value)}"
    if test.significant:
        direction = "better" if test.fixed > test.broken else "worse"
        return (
            f"{verdict}: significantly {direction} at the {test.alpha:.0%} level "
            f"({test.fixed} fixed, {test.broken} broken)"
        )
    sentence = f"{verdict}: not significant on {cases} cases"
    if test.min_p_value >= test.alpha:
        changed = "1 verdict" if test.discordant == 1 else f"{test.discordant} verdicts"
        sentence += (
            f" (only {changed} changed: even all in one direction would give "
            f"{_p(test.min_p_value)})"
        )
    return sentence
