"""The e-commerce demo database: built on your machine with chDB, deterministic, in seconds.

Two tables, the shape of the article's example shop::

    ecommerce.users(user_id, country, is_active, age)
    ecommerce.sessions(user_id, session_id, action_date, session_duration, os, browser,
                       is_fraud, revenue)

Every value is a hash (``cityHash64``) of the seed and the row number, computed by ClickHouse
itself in ``INSERT ... SELECT ... FROM numbers(...)``: the same seed, scale and end date always
give the same data, and no Python loop touches a row. Customers sign up from 2021-01-01 (more of
them recently), stay for an exponentially distributed lifetime (retention decay) and visit until
they churn or until ``end_date``, so questions about "yesterday" have answers.

The build parameters are recorded in the database comment; building again with the same
parameters is a no-op. The annotated schema (descriptions and example values for prompts), the
few-shot seed examples and a golden set in two parts (dev and test) ship with the package.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import logging
import math
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from .._sync import run_sync
from ..errors import ConfigurationError, DataError
from ..records import EvalCase, QAPair
from ..schema import DatabaseSchema, Table

__all__ = [
    "DEMO_DATABASE",
    "DemoBuild",
    "abuild_demo_database",
    "adefault_database_url",
    "build_demo_database",
    "default_database_path",
    "default_database_url",
    "demo_schema",
    "load_golden_set",
    "load_seed_examples",
]

logger = logging.getLogger("text2sql_tune")

DEMO_DATABASE = "ecommerce"
"""Name of the demo database (the bundled examples and golden set query it)."""

_GENERATOR = "text2sql_tune.demo"
_FORMAT_VERSION = 1  # bump when the generated data changes, so cached databases are rebuilt
_START = dt.date(2021, 1, 1)
_SESSIONS_PER_SCALE = 1_000_000
_USERS_PER_SCALE = 60_000
_MIN_USERS = 50
_MEAN_LIFETIME_DAYS = 400

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class DemoBuild:
    """What :func:`abuild_demo_database` built (or found already built).

    Attributes:
        url: The ``chdb://`` URL of the database folder.
        database: The database name inside it (``ecommerce``).
        scale: Size factor (1.0 ≈ 1,000,000 sessions).
        seed: The random seed.
        end_date: Last day with sessions.
        users: Rows in ``users``.
        sessions: Rows in ``sessions``.
        built: False when a database with the same parameters was already there.
        elapsed_s: Seconds spent.
    """

    url: str
    database: str
    scale: float
    seed: int
    end_date: dt.date
    users: int
    sessions: int
    built: bool
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        """The build as a JSON-ready dictionary."""
        data = asdict(self)
        data["end_date"] = self.end_date.isoformat()
        return data


def default_database_path() -> Path:
    """Where the demo database lives by default.

    ``$TEXT2SQL_TUNE_HOME/demo`` when that variable is set, else
    ``$XDG_CACHE_HOME/text2sql_tune/demo``, else ``~/.cache/text2sql_tune/demo``.
    """
    home = os.environ.get("TEXT2SQL_TUNE_HOME")
    if home:
        return Path(home).expanduser() / "demo"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache).expanduser() / "text2sql_tune" / "demo"


async def abuild_demo_database(
    path: str | Path,
    *,
    scale: float = 1.0,
    seed: int = 42,
    end_date: dt.date | None = None,
    overwrite: bool = False,
    database: str = DEMO_DATABASE,
) -> str:
    """Build the demo database in ``path`` with chDB and return its URL.

    Nothing is rebuilt when the database there was built with the same parameters. A demo
    database built with other parameters is replaced; a database of the same name that this
    library did not build is only replaced with ``overwrite=True``.

    Args:
        path: The chDB data folder (created when missing). chDB allows one folder per process,
            so a process that already opened another folder cannot build here.
        scale: Size factor: 1.0 ≈ 1,000,000 sessions and 60,000 customers.
        seed: Random seed; the same seed, scale and end date give the same data.
        end_date: Last day with sessions (default: today, UTC).
        overwrite: Rebuild even when an identical database is there, and replace a database of
            the same name that this library did not build.
        database: Database name; the bundled examples and golden set query ``ecommerce``.

    Returns:
        The ``chdb://`` URL to pass to ``--database`` or :func:`~text2sql_tune.open_executor`.

    Raises:
        ConfigurationError: Bad parameters, a foreign database in the way, or this process
            already uses chDB on another folder.
    """
    build = await _abuild(path, scale, seed, end_date, overwrite, database)
    return build.url


def build_demo_database(
    path: str | Path,
    *,
    scale: float = 1.0,
    seed: int = 42,
    end_date: dt.date | None = None,
    overwrite: bool = False,
    database: str = DEMO_DATABASE,
) -> str:
    """Sync twin of :func:`abuild_demo_database`.

    Example:
        >>> from text2sql_tune import build_demo_database, open_executor
        >>> url = build_demo_database("/tmp/shop", scale=0.1)  # doctest: +SKIP
        >>> db = open_executor(url)  # doctest: +SKIP
        >>> db.execute("SELECT count() FROM ecommerce.sessions").rows  # doctest: +SKIP
        [[100024]]
    """
    return _call_sync(
        lambda: abuild_demo_database(
            path,
            scale=scale,
            seed=seed,
            end_date=end_date,
            overwrite=overwrite,
            database=database,
        )
    )


async def adefault_database_url() -> str:
    """Return the URL of the demo database in the cache folder, building it when needed.

    The first call (and the first call on a new day, so that "yesterday" has data) builds it at
    scale 1.0, which takes a few seconds; later calls only check the recorded parameters.
    """
    path = default_database_path()
    logger.info("demo database: using %s", path)
    return await abuild_demo_database(path)


def default_database_url() -> str:
    """Sync twin of :func:`adefault_database_url`."""
    return _call_sync(adefault_database_url)


_T = TypeVar("_T")


def _call_sync(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    # A sync entry point (e.g. open_executor(None)) may be called from async code, even from code
    # running on the shared sync loop itself; waiting on that loop there would deadlock, so inside
    # a running loop the work gets its own loop in a helper thread.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_sync(make())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


# --- bundled data -----------------------------------------------------------------------------


def _data_text(name: str) -> str:
    resource = resources.files("text2sql_tune").joinpath("data").joinpath(name)
    return resource.read_text(encoding="utf-8")


def demo_schema() -> DatabaseSchema:
    """The demo database's schema with descriptions and example values, ready for prompts.

    Example:
        >>> from text2sql_tune import demo_schema
        >>> print(demo_schema().to_prompt().splitlines()[0])
        Table: ecommerce.users
    """
    import yaml

    data = yaml.safe_load(_data_text("demo_schema.yaml"))
    return DatabaseSchema.model_validate(data)


def _load_jsonl(name: str, model: type[_M]) -> list[_M]:
    records: list[_M] = []
    for number, line in enumerate(_data_text(name).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(model.model_validate_json(line))
        except ValidationError as exc:  # pragma: no cover - the bundled files are tested
            raise DataError(f"bundled {name} line {number}: {exc}") from exc
    return records


def load_seed_examples() -> list[QAPair]:
    """The bundled question/SQL examples for the demo database (few-shot and seed examples)."""
    return _load_jsonl("seed_examples.jsonl", QAPair)


GoldenPart = Literal["dev", "test", "all"]

_GOLDEN_FILES: dict[str, tuple[str, ...]] = {
    "dev": ("golden.jsonl",),
    "test": ("golden_test.jsonl",),
    "all": ("golden.jsonl", "golden_test.jsonl"),
}


def load_golden_set(split: GoldenPart = "dev") -> list[EvalCase]:
    """A bundled golden set for the demo database (other questions than the seed examples).

    The demo's golden set comes in two parts (see :mod:`~text2sql_tune.evaluate.splits`): the
    10 **dev** cases (``g01``...), which the analysis and the targeted generation of the demo's
    loop read, and 36 **test** cases (``t01``...), written apart in the same style and only
    scored. Called without an argument it returns the dev cases, the set it returned before the
    split existed.

    Args:
        split: ``"dev"``, ``"test"`` or ``"all"`` (dev then test).

    Raises:
        ValueError: Another ``split``.
    """
    if split not in _GOLDEN_FILES:
        raise ValueError(f"split must be 'dev', 'test' or 'all', not {split!r}")
    return [case for name in _GOLDEN_FILES[split] for case in _load_jsonl(name, EvalCase)]


# --- building ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Params:
    scale: float
    seed: int
    end_date: dt.date

    @property
    def users(self) -> int:
        return max(_MIN_USERS, round(_USERS_PER_SCALE * self.scale))

    @property
    def sessions(self) -> int:
        return max(self.users, round(_SESSIONS_PER_SCALE * self.scale))

    def marker(self) -> dict[str, Any]:
        return {
            "generator": _GENERATOR,
            "version": _FORMAT_VERSION,
            "scale": self.scale,
            "seed": self.seed,
            "end_date": self.end_date.isoformat(),
        }


async def _abuild(
    path: str | Path,
    scale: float,
    seed: int,
    end_date: dt.date | None,
    overwrite: bool,
    database: str,
) -> DemoBuild:
    from ..executors.chdb import ChDBExecutor

    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ConfigurationError(f"scale must be a positive number, got {scale!r}")
    end = end_date or dt.datetime.now(dt.timezone.utc).date()
    if end < _START:
        raise ConfigurationError(f"end_date must be on or after {_START}, got {end}")
    if not database.isidentifier():
        raise ConfigurationError(f"database must be a plain identifier, got {database!r}")
    params = _Params(float(scale), int(seed), end)
    started = time.perf_counter()
    executor = ChDBExecutor(path, create=True)

    async def admin(sql: str) -> list[list[Any]]:
        return (await executor.aexecute_admin(sql)).rows

    async def finished(built: bool) -> DemoBuild:
        users, sessions = await _counts(admin, database)
        elapsed = time.perf_counter() - started
        return DemoBuild(
            url=executor.url,
            database=database,
            users=users,
            sessions=sessions,
            built=built,
            elapsed_s=elapsed,
            **asdict(params),  # scale, seed, end_date
        )

    existing = await admin(
        f"SELECT comment FROM system.databases WHERE name = {_literal(database)}"
    )
    if existing:
        marker = _read_marker(existing[0][0])
        if marker == params.marker() and not overwrite:
            found = await finished(built=False)
            logger.info("demo database %s.%s is up to date", executor.url, database)
            return found
        if marker is None and not overwrite:
            raise ConfigurationError(
                f"database {database!r} in {executor.path} was not built by text2sql_tune; "
                "pass overwrite=True (--overwrite) to replace it, or build elsewhere"
            )
    logger.info(
        "demo database: building %s.%s (scale %s, seed %s, until %s)",
        executor.url,
        database,
        params.scale,
        params.seed,
        end,
    )
    # Build under a staging name and rename at the end: an interrupted build never leaves a
    # half-filled database that looks finished.
    staging = f"{database}__building"
    for sql in _build_statements(params, staging):
        await admin(sql)
    (rate_row,) = await admin(_calibration_sql(params))
    for sql in _insert_statements(params, staging, float(rate_row[0])):
        await admin(sql)
    await admin(f"DROP DATABASE IF EXISTS {database} SYNC")
    await admin(f"RENAME DATABASE {staging} TO {database}")
    build = await finished(built=True)
    logger.info(
        "demo database: built %d users and %d sessions in %.1f s",
        build.users,
        build.sessions,
        build.elapsed_s,
    )
    return build


async def _counts(admin: Callable[[str], Any], database: str) -> tuple[int, int]:
    rows = await admin(
        f"SELECT (SELECT count() FROM {database}.users), (SELECT count() FROM {database}.sessions)"
    )
    return int(rows[0][0]), int(rows[0][1])


def _read_marker(comment: Any) -> dict[str, Any] | None:
    try:
        marker = json.loads(str(comment))
    except json.JSONDecodeError:
        return None
    if isinstance(marker, dict) and marker.get("generator") == _GENERATOR:
        return marker
    return None


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ddl(table: Table, database: str, order_by: str) -> str:
    columns = ",\n    ".join(
        f"{c.name} {c.type} COMMENT {_literal(c.description or '')}" for c in table.columns
    )
    return (
        f"CREATE TABLE {database}.{table.name} (\n    {columns}\n) ENGINE = MergeTree "
        f"ORDER BY {order_by} COMMENT {_literal(table.description or '')}"
    )


def _build_statements(params: _Params, staging: str) -> list[str]:
    schema = demo_schema()
    marker = json.dumps(params.marker(), sort_keys=True)
    return [
        f"DROP DATABASE IF EXISTS {staging} SYNC",
        f"CREATE DATABASE {staging} COMMENT {_literal(marker)}",
        _ddl(schema.table("ecommerce.users"), staging, "user_id"),
        _ddl(schema.table("ecommerce.sessions"), staging, "(action_date, user_id, session_id)"),
    ]


def _uniform(seed: int, tag: str, *keys: str) -> str:
    """SQL for a uniform number in (0, 1), a hash of the seed, a tag and the row keys."""
    args = ", ".join([str(seed), _literal(tag), *keys])
    return f"(((cityHash64({args}) % 1000000) + 0.5) / 1000000)"


def _users_sql(params: _Params) -> str:
    """One row per customer: the stored columns plus the hidden traits sessions depend on."""
    seed = params.seed
    days = (params.end_date - _START).days + 1
    id_base = max(1_000_000, 10 ** len(str(params.users)))

    def u(tag: str) -> str:
        return _uniform(seed, tag, "number")

    return f"""
    SELECT
        number AS idx,
        toUInt64((1 + cityHash64({seed}, 'prefix', number) % 4) * {id_base} + number) AS user_id,
        multiIf({u("country")} < 0.38, 'United Kingdom', {u("country")} < 0.63, 'Germany',
                {u("country")} < 0.84, 'France', 'Netherlands') AS country,
        toUInt8({u("active")} < 0.95) AS is_active,
        toUInt64(18 + intDiv(cityHash64({seed}, 'age1', number) % 72
                             + cityHash64({seed}, 'age2', number) % 72, 2)) AS age,
        toDate('{_START.isoformat()}') + toUInt32(floor({days} * pow({u("signup")}, 0.7)))
            AS signup_date,
        least(signup_date + toUInt32(floor(-{_MEAN_LIFETIME_DAYS} * log({u("lifetime")}))),
              toDate('{params.end_date.isoformat()}')) AS last_date,
        dateDiff('day', signup_date, last_date) + 1 AS span_days,
        span_days * (0.2 + 1.8 * {u("engagement")}) AS weight,
        {u("round")} AS round_u,
        {u("os")} AS os_u,
        {u("browser")} AS browser_u,
        {u("fraudster")} < 0.04 AS fraudster
    FROM numbers({params.users})
    """


def _calibration_sql(params: _Params) -> str:
    return f"SELECT {params.sessions} / sum(weight) FROM ({_users_sql(params)})"


def _os(u: str) -> str:
    return f"multiIf({u} < 0.5, 'Windows', {u} < 0.8, 'Android', 'iOS')"


def _browser(u: str) -> str:
    return f"multiIf({u} < 0.6, 'Chrome', {u} < 0.9, 'Safari', 'Firefox')"


def _insert_statements(params: _Params, staging: str, rate: float) -> list[str]:
    seed = params.seed

    def u(tag: str) -> str:
        return _uniform(seed, tag, "idx", "j")

    users = _users_sql(params)
    insert_users = (
        f"INSERT INTO {staging}.users (user_id, country, is_active, age) "
        f"SELECT user_id, country, is_active, age FROM ({users})"
    )
    # Sessions per customer follow the time they stayed (retention) times their engagement,
    # rounded stochastically so the total is close to the target; ids follow the date order.
    insert_sessions = f"""
    INSERT INTO {staging}.sessions
    SELECT
        user_id,
        toUInt64(row_number() OVER (ORDER BY action_date, idx, j)) AS session_id,
        action_date,
        toUInt64(least(10800, 1 + floor(-240 * log({u("duration")})))) AS session_duration,
        if({u("os_sticky")} < 0.8, {_os("os_u")}, {_os(u("os_any"))}) AS os,
        if({u("browser_sticky")} < 0.8, {_browser("browser_u")}, {_browser(u("browser_any"))})
            AS browser,
        toUInt8(fraudster AND {u("fraud")} < 0.25) AS is_fraud,
        if({u("purchase")} < 0.3, round(0.5 + 9999.5 * pow({u("amount")}, 3), 2), 0.)
            AS revenue
    FROM (
        SELECT *, j, signup_date + toUInt32(cityHash64({seed}, 'day', idx, j) % span_days)
            AS action_date
        FROM (
            SELECT *, toUInt32(floor(weight * {rate!r})
                + (round_u < weight * {rate!r} - floor(weight * {rate!r}))) AS n_sessions
            FROM ({users})
        )
        ARRAY JOIN range(n_sessions) AS j
    )
    """
    return [insert_users, insert_sessions]
