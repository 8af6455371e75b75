"""Test-suite checking: a prediction must match the reference on small perturbed copies too.

Execution match on one database cannot see a coincidence: a prediction that adds or drops a
filter that happens not to change the result on this data, or makes a unit mistake whose result
happens to be equal, matches the reference there. Following Zhong et al. (EMNLP 2020, "Semantic
Evaluation for Text-to-SQL with Distilled Test Suites"), :class:`TestSuite` builds small copies
of the reference's tables with perturbed data (:mod:`.copies`), keeps the ``copies`` of them that
best tell the reference apart from its near misses (:mod:`.mutants`), and a prediction is correct
only when it also matches the reference on each of them.

The copies are tables of a scratch database (``ENGINE = Memory``: nothing is written to disk)
built through the executor's trusted admin connection; queries reach them only through a guard
built like the executor's but allowing the scratch database alone, so a copy never weakens the
guard of the real database. Which copies a reference keeps is cached per database (a fingerprint
of each table's data) and reference, in memory and in a JSONL file.
"""

from __future__ import annotations

import asyncio
import copy as copying
import datetime as dt
import hashlib
import json
import logging
import random
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ....errors import ConfigurationError
from ....interfaces import SQLExecutor
from ....records import QueryResult
from ....safety import SQLGuard
from ....sql.dialects import Dialect
from ....sql.tokens import statement_tokens
from ....sql.walk import TokenWalk
from ..compare import Comparison, compare_results
from .copies import copy_rows, perturbed_share
from .mutants import Constants, constants, mutants
from .profile import Admin, TableProfile, literal, profile_table
from .retarget import quote, retarget

__all__ = ["Decide", "Run", "SuiteCheck", "TestSuite"]

logger = logging.getLogger("text2sql_tune")

SUITE_VERSION = 1
"""Changes when copies or their choice change: older cache entries are then not used."""

Run = Callable[[str], Awaitable[QueryResult | None]]
"""Runs one query on a copy (``None`` when it fails there)."""

Decide = Callable[[QueryResult, QueryResult, Run], Awaitable[Comparison]]
"""The judge's comparison of a reference and a predicted result on one database."""

_MAX_TABLES = 12
_SHARED: TestSuite | None = None
_PREVIEW_ROWS = 5


@dataclass
class SuiteCheck:
    """What the test suite found for one prediction.

    Attributes:
        copies: Copies the prediction was checked on.
        matched: Copies where it matched the reference.
        broken: The first copy where it did not, and why (``None`` when none).
        skipped: Copies that could not decide, and why (a query failed there, say).
        elapsed_s: Seconds spent, building the suite included.
    """

    copies: int
    matched: int = 0
    broken: dict[str, Any] | None = None
    skipped: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_details(self) -> dict[str, Any]:
        """The check as verdict details."""
        details: dict[str, Any] = {
            "copies": self.copies,
            "matched": self.matched,
            "elapsed_s": round(self.elapsed_s, 4),
        }
        if self.broken is not None:
            details["broken"] = self.broken
        if self.skipped:
            details["skipped"] = self.skipped
        return details


@dataclass
class _Copy:
    """One built candidate copy: real ``(database, table)`` -> its table in the scratch database."""

    index: int
    tables: dict[tuple[str, str], str]
    rows: dict[str, int]


@dataclass
class _Pool:
    """What the candidate copies of one digest are built from."""

    profiles: list[TableProfile]
    read: list[TableProfile]
    constants: Constants


@dataclass
class _Bound:
    """The suite's state for one executor."""

    admin: Admin
    runner: SQLExecutor
    default_database: str
    dialect: Dialect
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    databases: dict[str, list[str]] = field(default_factory=dict)
    profiles: dict[tuple[str, str], TableProfile] = field(default_factory=dict)
    pools: dict[str, _Pool] = field(default_factory=dict)
    copies: dict[tuple[str, int], _Copy] = field(default_factory=dict)
    chosen: dict[str, list[int]] = field(default_factory=dict)
    results: dict[tuple[str, int, str], QueryResult | None] = field(default_factory=dict)
    locks: dict[tuple[int, str], asyncio.Lock] = field(default_factory=dict)

    def lock(self, key: str) -> asyncio.Lock:
        """The lock of ``key`` in the running event loop (a lock serves one loop only)."""
        return self.locks.setdefault((id(asyncio.get_running_loop()), key), asyncio.Lock())


class TestSuite:
    """Checks a matching prediction on small perturbed copies of the database.

    Args:
        copies: Copies each reference keeps (its test suite).
        candidates: Copies built per reference to choose from.
        rows: Fewest and most rows per copied table.
        max_mutants: Near misses of the reference used to choose the copies.
        seed: Seeds the sampling and the perturbations (copies are rebuilt identically).
        scratch_database: The database the copies live in; created (``ENGINE = Memory``) when
            missing. On a ClickHouse server it must be writable by ``admin``.
        admin: Runs the library's trusted statements (``CREATE``, ``INSERT``, the profile
            queries). Default: the executor's ``aexecute_admin`` (chDB has one); a ClickHouse
            server needs one passed here, which is why the suite is opt-in there.
        cache_path: JSONL file caching which copies each reference keeps; ``"default"`` puts it
            in the user's cache folder, ``None`` keeps it in memory.

    Example:
        >>> judge = ExecutionMatchJudge(executor, test_suite=TestSuite(copies=3))  # doctest: +SKIP
    """

    __test__ = False  # a library class, not a pytest test class

    def __init__(
        self,
        *,
        copies: int = 4,
        candidates: int = 8,
        rows: tuple[int, int] = (6, 40),
        max_mutants: int = 24,
        seed: int = 0,
        scratch_database: str = "text2sql_tune_scratch",
        admin: Admin | None = None,
        cache_path: str | Path | Literal["default"] | None = "default",
    ) -> None:
        if copies < 1 or candidates < copies:
            raise ValueError("need 1 <= copies <= candidates")
        if not 1 <= rows[0] <= rows[1]:
            raise ValueError("rows must be (fewest, most) with 1 <= fewest <= most")
        self.copies = copies
        self.candidates = candidates
        self.rows = rows
        self.max_mutants = max_mutants
        self.seed = seed
        self.scratch_database = scratch_database
        self.admin = admin
        if cache_path == "default":
            from ....demo.database import default_database_path

            cache_path = default_database_path().parent / "judge-suites.jsonl"
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._bound: weakref.WeakKeyDictionary[SQLExecutor, _Bound] = weakref.WeakKeyDictionary()
        self._disk: dict[str, list[int]] | None = None

    @classmethod
    def shared(cls) -> TestSuite:
        """The process's default suite, shared by the judges that ask for one by default.

        Sharing it lets every judge on the same executor reuse the copies already built.
        """
        global _SHARED
        if _SHARED is None:
            _SHARED = cls()
        return _SHARED

    def __repr__(self) -> str:
        return (
            f"TestSuite(copies={self.copies}, candidates={self.candidates}, rows={self.rows}, "
            f"seed={self.seed})"
        )

    def check_usable(self, executor: SQLExecutor) -> None:
        """Raise when the suite cannot run on ``executor`` (it has no admin connection)."""
        if self.admin is None and getattr(executor, "aexecute_admin", None) is None:
            raise ConfigurationError(
                f"the test suite needs a writable scratch database, and {executor.name} has no "
                "admin connection: pass TestSuite(admin=...) (a function running trusted DDL), "
                "or test_suite=False"
            )

    # -- checking ------------------------------------------------------------------------------

    async def acheck(
        self, executor: SQLExecutor, reference_sql: str, predicted_sql: str, decide: Decide
    ) -> SuiteCheck | None:
        """Compare the two queries on the reference's test suite.

        Args:
            executor: The executor of the real database.
            reference_sql: The reference, as the judge ran it (exact variants of approximate
                functions included).
            predicted_sql: The prediction, likewise.
            decide: The judge's comparison of two results on one database.

        Returns:
            The check, or ``None`` when the reference reads no table the suite can copy.
        """
        started = time.perf_counter()
        bound = await self._bind(executor)
        suite = await self._suite(bound, reference_sql)
        if suite is None:
            return None
        digest, chosen = suite
        check = SuiteCheck(copies=len(chosen))
        outcomes = await asyncio.gather(
            *(
                self._check_copy(bound, digest, index, reference_sql, predicted_sql, decide)
                for index in chosen
            )
        )
        for position, (index, outcome) in enumerate(zip(chosen, outcomes, strict=True)):
            if isinstance(outcome, str):
                check.skipped.append(f"copy {position + 1}: {outcome}")
                continue
            comparison, reference, predicted = outcome
            if comparison.equal is False and check.broken is None:
                built = bound.copies[(digest, index)]
                check.broken = {
                    "copy": position + 1,
                    "candidate": index,
                    "rows": built.rows,
                    "reason": comparison.reason,
                    "reference_rows": reference.rows[:_PREVIEW_ROWS],
                    "predicted_rows": predicted.rows[:_PREVIEW_ROWS],
                }
            elif comparison.equal:
                check.matched += 1
            elif comparison.equal is None:
                check.skipped.append(f"copy {position + 1}: {comparison.reason}")
        check.elapsed_s = time.perf_counter() - started
        return check

    async def _check_copy(
        self,
        bound: _Bound,
        digest: str,
        index: int,
        reference_sql: str,
        predicted_sql: str,
        decide: Decide,
    ) -> tuple[Comparison, QueryResult, QueryResult] | str:
        built = await self._copy(bound, digest, index)

        async def run(sql: str) -> QueryResult | None:
            return await self._run(bound, built, digest, sql)

        reference = await run(reference_sql)
        if reference is None:
            return "the reference fails there"
        predicted = await run(predicted_sql)
        if predicted is None:
            return "the prediction fails there"
        return await decide(reference, predicted, run), reference, predicted

    async def _run(self, bound: _Bound, built: _Copy, digest: str, sql: str) -> QueryResult | None:
        key = (digest, built.index, sql)
        if key in bound.results:
            return bound.results[key]
        target = retarget(
            sql, built.tables, self.scratch_database, bound.default_database, bound.dialect
        )
        result = None
        if target is not None:
            outcome = await bound.runner.atry_execute(target, min_rows=0)
            result = outcome.result if outcome.executed else None
        if len(bound.results) > 20_000:
            bound.results.clear()
        bound.results[key] = result
        return result

    # -- binding to an executor ------------------------------------------------------------

    async def _bind(self, executor: SQLExecutor) -> _Bound:
        found = self._bound.get(executor)
        if found is not None:
            return found
        self.check_usable(executor)
        admin = self.admin or executor.aexecute_admin  # type: ignore[attr-defined]
        await admin(f"CREATE DATABASE IF NOT EXISTS {quote(self.scratch_database)} ENGINE = Memory")
        current = await admin("SELECT currentDatabase()")
        default_database = str(current.rows[0][0]) if current.rows else "default"
        runner = copying.copy(executor)
        runner.guard = _scratch_guard(executor.guard, self.scratch_database, default_database)
        bound = _Bound(admin, runner, default_database, executor.dialect)
        self._bound[executor] = bound
        return bound

    # -- the suite of one reference ------------------------------------------------------------

    async def _suite(self, bound: _Bound, reference_sql: str) -> tuple[str, list[int]] | None:
        read, tables = await self._tables(bound, reference_sql)
        if not read:
            return None
        profiles = [await self._profile(bound, table) for table in tables]
        found = constants(reference_sql, bound.dialect)
        digest = _digest(
            SUITE_VERSION,
            self.seed,
            list(self.rows),
            [(p.database, p.name, p.fingerprint) for p in profiles],
            sorted(found.numbers),
            sorted(d.isoformat() for d in found.dates),
        )
        bound.pools.setdefault(digest, _Pool(profiles, [bound.profiles[t] for t in read], found))
        key = _digest(digest, self.copies, self.candidates, self.max_mutants, reference_sql)
        lock = bound.lock(key)
        async with lock:
            chosen = bound.chosen.get(key) or self._cached(key)
            if chosen is None:
                chosen = await self._distill(bound, digest, reference_sql)
                self._store(key, chosen)
            bound.chosen[key] = chosen
        return digest, chosen

    async def _distill(self, bound: _Bound, digest: str, reference_sql: str) -> list[int]:
        """The candidate copies that best tell the reference apart from its mutants."""
        pool = bound.pools[digest]
        additions = [
            (column.name, value)
            for profile in pool.read
            for column in profile.columns
            if column.categorical
            for value in column.values[:2]
        ]
        measures = ["count()"] + [
            f"{function}({quote(column.name)})"
            for profile in pool.read
            for column in profile.columns
            if column.kind in ("int", "float") and not column.key and not column.categorical
            for function in ("sum", "avg")
        ]
        near_misses = mutants(
            reference_sql, bound.dialect, additions[:8], self.max_mutants, measures[:7]
        )
        built = [await self._copy(bound, digest, i) for i in range(self.candidates)]
        kills: list[set[int]] = []
        for candidate in built:
            reference = await self._run(bound, candidate, digest, reference_sql)
            if reference is None:
                kills.append(set())
                continue
            results = await asyncio.gather(
                *(self._run(bound, candidate, digest, m) for m in near_misses)
            )
            kills.append(
                {
                    k
                    for k, result in enumerate(results)
                    if result is not None and compare_results(reference, result).equal is False
                }
            )
        chosen: list[int] = []
        covered: set[int] = set()
        while len(chosen) < self.copies:
            rest = [i for i in range(len(built)) if i not in chosen]
            # Ties go to the more perturbed copy: real rows rarely show a coincidence.
            best = max(
                rest,
                key=lambda i: (len(kills[i] - covered), len(kills[i]), perturbed_share(i), -i),
            )
            chosen.append(best)
            covered |= kills[best]
        logger.debug(
            "test suite: %d of %d mutants told apart by copies %s",
            len(covered),
            len(near_misses),
            chosen,
        )
        return sorted(chosen)

    def _cached(self, key: str) -> list[int] | None:
        if self.cache_path is None:
            return None
        if self._disk is None:
            self._disk = {}
            if self.cache_path.exists():
                for line in self.cache_path.read_text(
                    encoding="utf-8", errors="replace"
                ).splitlines():
                    try:
                        item = json.loads(line)
                        self._disk[str(item["key"])] = [int(i) for i in item["copies"]]
                    except (ValueError, KeyError, TypeError):
                        continue
        found = self._disk.get(key)
        if found is None or any(not 0 <= i < self.candidates for i in found):
            return None
        return found

    def _store(self, key: str, chosen: list[int]) -> None:
        if self.cache_path is None:
            return
        if self._disk is not None:
            self._disk[key] = chosen
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with self.cache_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"key": key, "copies": chosen}) + "\n")
        except OSError as exc:  # a cache that cannot be written costs time, never a verdict
            logger.warning("cannot write the test-suite cache %s: %s", self.cache_path, exc)

    async def _tables(
        self, bound: _Bound, sql: str
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The real tables the reference reads, and those plus their databases' other tables.

        A prediction may read a table the reference does not; the other tables are copied too
        when there are at most a dozen in all.
        """
        try:
            named = TokenWalk(*_kinds_texts(sql, bound.dialect)).tables()
        except Exception:  # a statement the tokenizer cannot read has no suite
            return [], []
        wanted: list[tuple[str, str]] = []
        for name in named:
            database, _, table = name.rpartition(".")
            wanted.append((database or bound.default_database, table))
        for database in {d for d, _ in wanted}:
            if database not in bound.databases:
                listed = await bound.admin(
                    "SELECT name FROM system.tables WHERE database = "
                    f"{literal(database)} AND NOT is_temporary AND engine NOT LIKE '%View' "
                    "ORDER BY name"
                )
                bound.databases[database] = [str(r[0]) for r in listed.rows]
        real = [(d, t) for d, t in dict.fromkeys(wanted) if t in bound.databases.get(d, [])]
        if not real:
            return [], []
        siblings = [(d, t) for d in dict.fromkeys(d for d, _ in real) for t in bound.databases[d]]
        everything = list(dict.fromkeys(real + siblings))
        return real, everything if len(everything) <= _MAX_TABLES else real

    async def _profile(self, bound: _Bound, table: tuple[str, str]) -> TableProfile:
        found = bound.profiles.get(table)
        if found is None:
            found = await profile_table(bound.admin, *table, seed=self.seed)
            bound.profiles[table] = found
        return found

    async def _copy(self, bound: _Bound, digest: str, index: int) -> _Copy:
        key = (digest, index)
        found = bound.copies.get(key)
        if found is not None:
            return found
        lock = bound.lock(f"copy:{digest}:{index}")
        async with lock:
            found = bound.copies.get(key)
            if found is None:
                found = await self._build(bound, digest, index)
                bound.copies[key] = found
        return found

    async def _build(self, bound: _Bound, digest: str, index: int) -> _Copy:
        pool = bound.pools[digest]
        profiles = pool.profiles
        built = _Copy(index, {}, {})
        rng = random.Random(f"{digest}:{index}")
        rows = copy_rows(profiles, index, pool.constants, rng, self.rows, dt.date.today())
        scratch = quote(self.scratch_database)
        for number, profile in enumerate(profiles):
            # The token keeps copies of different executors and suites apart.
            name = f"c{digest[:10]}{bound.token}_{index}_{number}_{profile.name}"[:200]
            target = f"{scratch}.{quote(name)}"
            source = f"{quote(profile.database)}.{quote(profile.name)}"
            await bound.admin(f"CREATE TABLE {target} AS {source} ENGINE = Memory")
            data = rows[(profile.database, profile.name)]
            if data:
                lines = "\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in data)
                await bound.admin(f"INSERT INTO {target} FORMAT JSONEachRow\n{lines}")
            built.tables[(profile.database, profile.name)] = name
            built.rows[f"{profile.database}.{profile.name}"] = len(data)
        return built


def _kinds_texts(sql: str, dialect: Dialect) -> tuple[Any, Any]:
    tokens = statement_tokens(sql, dialect.sqlglot_dialect)
    return tokens.kinds, tokens.texts


def _digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _scratch_guard(guard: SQLGuard, scratch: str, default_database: str) -> SQLGuard:
    """The executor's guard, allowing the scratch database only (custom guards are kept)."""
    if type(guard) is not SQLGuard:
        return guard
    return SQLGuard(
        dialect=guard.dialect,
        allowed_table_functions=guard.allowed_table_functions,
        allowed_databases={scratch},
        max_sql_length=guard.max_sql_length,
        allowed_settings=guard.allowed_settings,
        allow_explain=guard.allow_explain,
        denied_functions=guard.denied_functions,
        allowed_functions=guard.allowed_functions,
        max_depth=guard.max_depth,
        default_database=default_database,
    )
