"""Dev and test: the part of a golden set the loop may read, and the part it is scored on.

Everything that shapes training data (the analysis, targeted generation, ``run --next-from``,
seed examples, your own error analysis) reads the **dev** cases only. The **test** cases are
scored, never read: once a step has looked at them, they measure how well the loop copied them,
not how well the model answers new questions.

- :func:`split_golden`: one golden set split in two, deterministically, stratified by the cases'
  first tag (else by the shape of their SQL), seeded. Cases with the same SQL stay on one side.
- :class:`GoldenSplit`: the two parts and how they were made; :meth:`GoldenSplit.record` is what
  a run saves (``golden_split.json``): counts, a hash of each part and fingerprints of the test
  cases, so that later steps can refuse test cases without the test file.
- :class:`HeldOutSet`: the test fingerprints; :meth:`HeldOutSet.check` raises
  :class:`~text2sql_tune.errors.HeldOutSetError` when cases or pairs given to something that
  shapes training data are test cases (same question, or the same query after
  :func:`~text2sql_tune.sql.canonical.canonical_sql`).

Example:
    >>> from text2sql_tune.demo import load_golden_set
    >>> split = split_golden(load_golden_set("all"), test_fraction=0.5, seed=0)
    >>> len(split.dev) + len(split.test)
    46
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import HeldOutSetError
from ..io.files import read_json_model, write_json_model
from ..records import EvalCase, QAPair
from ..sql.canonical import canonical_sql
from ..sql.normalize import normalize_sql
from ..text.tokens import normalize_question

__all__ = [
    "GoldenSplit",
    "HeldOutSet",
    "SplitRecord",
    "case_set_hash",
    "split_golden",
    "stratum",
]

SplitMethod = Literal["files", "fraction", "dev_only"]

_SHAPES = ("subquery", "join", "with_totals", "top_n", "group_by", "ratio")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sql_key(sql: str) -> str:
    return canonical_sql(sql) or normalize_sql(sql)


def _fingerprints(question: str, sql: str) -> tuple[str, str]:
    return (
        "q:" + _digest(normalize_question(question))[:32],
        "s:" + _digest(_sql_key(sql))[:32],
    )


def case_set_hash(cases: Iterable[EvalCase]) -> str:
    """A hash of a set of cases: the same for the same questions and queries, in any order.

    Questions and SQL are normalised first (case, spacing, keyword spelling), so reformatting a
    file does not change it; editing a question or a query does.
    """
    lines = sorted(f"{normalize_question(c.question)}\x00{normalize_sql(c.sql)}" for c in cases)
    return "sha256:" + _digest("\n".join(lines))


def stratum(case: EvalCase) -> str:
    """The stratum a case is split in: its first tag, else the shape of its SQL.

    Shapes, the first that applies: ``subquery``, ``join``, ``with_totals``, ``top_n``,
    ``group_by``, ``ratio``, else ``simple``.
    """
    if case.tags:
        return f"tag:{case.tags[0]}"
    from ..sql.concepts import sql_concepts

    features = sql_concepts(case.sql).features
    return "shape:" + next((s for s in _SHAPES if s in features), "simple")


def _item_name(item: EvalCase | QAPair) -> str:
    return (item.id if isinstance(item, EvalCase) else None) or item.question


class SplitRecord(BaseModel):
    """What a run records about its golden split (``golden_split.json``).

    Attributes:
        method: ``files`` (dev and test given apart), ``fraction`` (one file split here) or
            ``dev_only`` (no test set: the scores are on cases the loop reads).
        test_fraction: The share of cases put in test (``fraction``).
        seed: The split's seed (``fraction``).
        dev_cases: Cases in dev.
        dev_hash: :func:`case_set_hash` of dev.
        test_cases: Cases in test.
        test_hash: :func:`case_set_hash` of test (``None`` without a test set).
        test_fingerprints: Hashes of each test question and canonical query (no text).
    """

    model_config = ConfigDict(extra="forbid")

    method: SplitMethod
    test_fraction: float | None = None
    seed: int | None = None
    dev_cases: int
    dev_hash: str
    test_cases: int = 0
    test_hash: str | None = None
    test_fingerprints: list[str] = Field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        """Write the record as JSON (parent folders are created)."""
        return write_json_model(path, self)

    @classmethod
    def load(cls, path: str | Path) -> SplitRecord:
        """Read a record written by :meth:`save`.

        Raises:
            DataError: The file is missing or is not a split record.
        """
        return read_json_model(cls, path, "golden split record")

    def held_out(self) -> HeldOutSet:
        """The test set as fingerprints, to check other cases against."""
        return HeldOutSet(self.test_fingerprints, self.test_hash)


class HeldOutSet:
    """The test cases as fingerprints: which questions and queries nothing else may read.

    Args:
        fingerprints: From :meth:`of` or :attr:`SplitRecord.test_fingerprints`.
        test_hash: The test set's hash, named in error messages.
    """

    def __init__(self, fingerprints: Iterable[str], test_hash: str | None = None) -> None:
        self.fingerprints = frozenset(fingerprints)
        self.test_hash = test_hash

    @classmethod
    def of(cls, cases: Sequence[EvalCase]) -> HeldOutSet:
        """The held-out set of ``cases``."""
        return cls(
            (f for c in cases for f in _fingerprints(c.question, c.sql)), case_set_hash(cases)
        )

    def __bool__(self) -> bool:
        return bool(self.fingerprints)

    def holds(self, question: str, sql: str) -> bool:
        """True when the question or the query is one of the test set's."""
        return any(f in self.fingerprints for f in _fingerprints(question, sql))

    def check(self, items: Iterable[EvalCase | QAPair], purpose: str) -> None:
        """Refuse ``items`` that are test cases, before ``purpose`` reads them.

        Args:
            items: Cases or pairs about to be read.
            purpose: What would read them, e.g. ``"the analysis of a next iteration"``.

        Raises:
            HeldOutSetError: At least one item has a test question or a test query.
        """
        if not self.fingerprints:
            return
        found = [
            _item_name(item)
            for item in items
            if (not isinstance(item, QAPair) or item.ok) and self.holds(item.question, item.sql)
        ]
        if found:
            shown = "; ".join(found[:3]) + (
                f"; and {len(found) - 3} more" if len(found) > 3 else ""
            )
            raise HeldOutSetError(
                f"{purpose} would read {len(found)} test-set case(s) ({shown}): only dev cases "
                "may shape training data. Give it the dev part of the golden set; keep the test "
                "part for scoring",
                found,
            )


@dataclass(frozen=True)
class GoldenSplit:
    """A golden set in two parts (see the module docstring).

    Attributes:
        dev: What the loop may read (and is scored on too).
        test: What is only scored.
        method: ``files``, ``fraction`` or ``dev_only``.
        test_fraction: The share asked for, with ``fraction``.
        seed: The seed, with ``fraction``.
    """

    dev: list[EvalCase]
    test: list[EvalCase]
    method: SplitMethod = "files"
    test_fraction: float | None = None
    seed: int | None = None

    @classmethod
    def of(cls, dev: Sequence[EvalCase], test: Sequence[EvalCase] = ()) -> GoldenSplit:
        """Dev and test given apart (``dev_only`` when ``test`` is empty).

        Raises:
            HeldOutSetError: A dev case has a test question or query.
        """
        split = cls(list(dev), list(test), "files" if test else "dev_only")
        split.held_out().check(split.dev, "the dev set")
        return split

    @property
    def all(self) -> list[EvalCase]:
        """Dev then test: every case, e.g. for the leakage filter."""
        return [*self.dev, *self.test]

    def held_out(self) -> HeldOutSet:
        """The test cases as a :class:`HeldOutSet`."""
        return HeldOutSet.of(self.test)

    def record(self) -> SplitRecord:
        """What a run saves about this split."""
        held = self.held_out()
        return SplitRecord(
            method=self.method,
            test_fraction=self.test_fraction,
            seed=self.seed,
            dev_cases=len(self.dev),
            dev_hash=case_set_hash(self.dev),
            test_cases=len(self.test),
            test_hash=case_set_hash(self.test) if self.test else None,
            test_fingerprints=sorted(held.fingerprints),
        )


def _quotas(sizes: dict[str, int], fraction: float, total: int, seed: int) -> dict[str, int]:
    """Test cases per stratum: ``fraction`` of each, largest remainders up to ``total``."""
    shares = {key: size * fraction for key, size in sizes.items()}
    quotas = {key: int(share) for key, share in shares.items()}

    def tie(key: str) -> str:
        return _digest(f"{seed}:stratum:{key}")

    order = sorted(sizes, key=lambda k: (-(shares[k] - quotas[k]), tie(k)))
    for key in order:
        if sum(quotas.values()) >= total:
            break
        if quotas[key] < sizes[key]:
            quotas[key] += 1
    return quotas


def split_golden(cases: Sequence[EvalCase], test_fraction: float, *, seed: int = 0) -> GoldenSplit:
    """Split a golden set into dev and test, deterministically and stratified.

    Cases are grouped by :func:`stratum`; each stratum gives about ``test_fraction`` of its cases
    to test (largest remainders decide the rounding, so the total is ``round(test_fraction *
    len(cases))``, at least 1 and at most all but one). Within a stratum the cases are ordered by
    a hash of the seed and their question, so the split depends on the cases and the seed, not on
    the order of the file. Cases with the same query (canonical form) go to the same side.

    Args:
        cases: The golden set (at least two cases).
        test_fraction: Share of cases for test, in ``(0, 1)``.
        seed: Another seed gives another split.

    Returns:
        The split; dev and test keep the file's order.

    Raises:
        ValueError: ``test_fraction`` outside ``(0, 1)`` or fewer than two cases.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if len(cases) < 2:
        raise ValueError("a golden set needs at least two cases to split")
    # Cases sharing a query form one unit: splitting them would put a test answer in dev.
    units: dict[str, list[int]] = defaultdict(list)
    for position, case in enumerate(cases):
        units[_sql_key(case.sql)].append(position)
    strata: dict[str, list[list[int]]] = defaultdict(list)
    for unit in units.values():
        strata[stratum(cases[unit[0]])].append(unit)
    total = min(len(units) - 1, max(1, round(test_fraction * len(units))))
    quotas = _quotas({k: len(v) for k, v in strata.items()}, test_fraction, total, seed)

    def rank(unit: list[int]) -> str:
        return _digest(f"{seed}:{normalize_question(cases[unit[0]].question)}")

    test: set[int] = set()
    for key, grouped in strata.items():
        for chosen in sorted(grouped, key=rank)[: quotas[key]]:
            test.update(chosen)
    return GoldenSplit(
        dev=[c for i, c in enumerate(cases) if i not in test],
        test=[c for i, c in enumerate(cases) if i in test],
        method="fraction",
        test_fraction=test_fraction,
        seed=seed,
    )
