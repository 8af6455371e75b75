"""Wilson intervals and the exact McNemar test against published and hand-computed values."""

from __future__ import annotations

import pytest

from text2sql_tune.reporting.significance import (
    binomial_two_sided,
    describe_difference,
    mcnemar_exact,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "total", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
        # method 3 (score interval without continuity correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # The small golden sets this library is used with.
        (7, 10, 0.3968, 0.8922),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_matches_published_values(
    successes: int, total: int, low: float, high: float
) -> None:
    got_low, got_high = wilson_interval(successes, total)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_edges_and_levels() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=5e-5)
    wide, narrow = wilson_interval(7, 10, 0.99), wilson_interval(7, 10, 0.90)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]
    for bad in ((11, 10), (-1, 10), (1, -1)):
        with pytest.raises(ValueError, match="successes"):
            wilson_interval(*bad)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence=1.0)


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [
        (9, 10, 22 / 1024),  # R: binom.test(9, 10)$p.value = 0.02148438
        (0, 10, 2 / 1024),
        (5, 10, 1.0),
        (3, 6, 1.0),
        (0, 0, 1.0),
        (0, 1, 1.0),
        (2, 12, 158 / 4096),  # 2 * (1 + 12 + 66) / 2**12
    ],
)
def test_binomial_two_sided(k: int, n: int, p: float) -> None:
    assert binomial_two_sided(k, n) == pytest.approx(p, rel=1e-12)
    assert binomial_two_sided(n - k, n) == pytest.approx(p, rel=1e-12)  # two-sided: symmetric


def test_binomial_is_exact_for_large_counts() -> None:
    # 2 * P(X <= 400) for X ~ Bin(1000, 1/2) is about 2.7e-10; a float sum of terms loses it.
    assert 2.0e-10 < binomial_two_sided(400, 1000) < 3.5e-10
    with pytest.raises(ValueError):
        binomial_two_sided(11, 10)


def test_mcnemar_exact() -> None:
    test = mcnemar_exact(2, 0)
    assert (test.p_value, test.min_p_value, test.discordant) == (0.5, 0.5, 2)
    assert not test.significant
    assert mcnemar_exact(10, 2).p_value == pytest.approx(0.0386, abs=1e-4)
    assert mcnemar_exact(10, 2).significant
    assert mcnemar_exact(0, 0).p_value == 1.0
    assert mcnemar_exact(3, 3).p_value == 1.0
    assert not mcnemar_exact(10, 2, alpha=0.01).significant
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 0)


def test_wording_is_honest_about_small_samples() -> None:
    text = describe_difference(5, 10, 7, 10, mcnemar_exact(2, 0))
    assert text.startswith("7/10 vs 5/10, p=0.5: not significant on 10 cases")
    assert "only 2 verdicts changed" in text
    strong = describe_difference(40, 100, 60, 100, mcnemar_exact(25, 5), labels=("base", "tuned"))
    assert strong.startswith("tuned 60/100 vs base 40/100, p<0.001: significantly better")
    worse = describe_difference(60, 100, 40, 100, mcnemar_exact(5, 25))
    assert "significantly worse" in worse
    same = describe_difference(5, 10, 5, 10, mcnemar_exact(0, 0))
    assert "no case changed its verdict" in same
    # Enough changed verdicts to be able to reach significance, but a balanced split.
    balanced = describe_difference(50, 100, 51, 100, mcnemar_exact(10, 9))
    assert "not significant on 100 cases" in balanced and "only" not in balanced
