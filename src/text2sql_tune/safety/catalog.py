"""The function catalog: which ClickHouse functions a query may call, generated from the engine.

The guard is closed: a function is allowed only when it is on the allow-list in
``text2sql_tune/data/clickhouse_functions.json``. That file is generated from ``system.functions``,
``system.table_functions``, ``system.aggregate_function_combinators``,
``system.data_type_families`` and ``system.settings`` of the bundled chDB engine (and from asking
it which functions answer without brackets) by applying the review policy below: every function
is allowed unless its category or its name is denied, with the reason kept for the error message.
Functions an engine adds later are *not reviewed*: they are written as denied until someone looks
at them and, if they are pure, adds them with ``--accept``.

Regenerate after upgrading chDB (a test fails when the installed engine knows a function the
file does not classify)::

    python -m text2sql_tune.safety.catalog            # show what changed
    python -m text2sql_tune.safety.catalog --write    # rewrite the data file
    python -m text2sql_tune.safety.catalog --write --accept newPureFunction

Run it in a fresh process: it opens chDB in memory, and chDB allows one data path per process.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, cast

__all__ = [
    "CATALOG_FILE",
    "FunctionCatalog",
    "build_catalog",
    "engine_rows",
    "load_catalog",
    "main",
]

CATALOG_FILE = "clickhouse_functions.json"
"""The data file's name inside ``text2sql_tune/data``."""

# --- the review policy -------------------------------------------------------------------------

DENIED_CATEGORIES: dict[str, str] = {
    "Introspection": "introspects the server process (addresses, symbols, threads, its log)",
    "Internal": "internal to the query planner, not meant for queries",
    "AI": "calls an external AI provider configured on the server",
}

_HOST = "reveals details of the server host"
_CONFIG = "reveals the server's configuration or the request's headers"
_SESSION = "reveals the session, its user or its roles"

DENIED_NAMES: dict[str, str] = {
    "file": "reads a file on the database host",
    "sleep": "only stalls a worker",
    "sleepEachRow": "only stalls a worker",
    "generateSerialID": "writes a counter to ZooKeeper/Keeper",
    "getMaxTableNameLengthForDatabase": "inspects a database by name",
    "showCertificate": "reveals the server's TLS certificate",
    **dict.fromkeys(
        (
            "hostName",
            "FQDN",
            "displayName",
            "getOSKernelVersion",
            "buildId",
            "uptime",
            "serverUUID",
            "getServerPort",
            "tcpPort",
            "filesystemAvailable",
            "filesystemCapacity",
            "filesystemUnreserved",
            "zookeeperSessionUptime",
            "hasThreadFuzzer",
            "version",
            "revision",
        ),
        _HOST,
    ),
    **dict.fromkeys(
        (
            "getSetting",
            "getSettingOrDefault",
            "getServerSetting",
            "getMergeTreeSetting",
            "getMacro",
            "getClientHTTPHeader",
            "currentRequestURL",
            "currentHandler",
        ),
        _CONFIG,
    ),
    **dict.fromkeys(
        (
            "currentUser",
            "authenticatedUser",
            "currentProfiles",
            "currentRoles",
            "defaultProfiles",
            "defaultRoles",
            "enabledProfiles",
            "enabledRoles",
            "pgGetUserById",
            "connectionId",
            "currentQueryID",
            "queryID",
            "initialQueryID",
            "initialQueryStartTime",
        ),
        _SESSION,
    ),
}
"""Functions denied by name (their aliases follow them, matched as the engine matches them)."""

PARSER_FUNCTIONS: dict[str, str] = {
    **dict.fromkeys(("cast", "extract", "substring", "position", "exists", "grouping"), "itself"),
    "trim": "trimBoth",
    "ltrim": "trimLeft",
    "rtrim": "trimRight",
    **dict.fromkeys(("dateadd", "date_add", "timestampadd", "timestamp_add"), "plus"),
    **dict.fromkeys(("datesub", "date_sub", "timestampsub", "timestamp_sub"), "minus"),
    **dict.fromkeys(("datediff", "date_diff", "timestampdiff", "timestamp_diff"), "dateDiff"),
}
"""Calls ClickHouse's parser rewrites itself, in any letter case (``DATE_ADD(DAY, 1, d)`` becomes
``plus(d, toIntervalDay(1))``): lower-case name -> the function it becomes. From the parser's
``getFunctionLayer`` (ClickHouse 26.9); their arguments are checked like any others."""

ANALYZER_FUNCTIONS = frozenset({"untuple"})
"""Calls the query analyzer resolves itself (exact case; not in ``system.functions``)."""

NAME_ARGUMENT_FUNCTIONS: dict[str, str] = {
    "joinGet": "table",
    "joinGetOrNull": "table",
    "hasColumnInTable": "database",
    "naiveBayesClassifier": "dictionary",
    "naiveBayesClassifierWithProb": "dictionary",
    "naiveBayesClassifierWithAllProbs": "dictionary",
}
"""Allowed functions whose first argument names a table or dictionary (plus the ``Dictionary``
category): the guard checks that name against the allowed databases."""

AGGREGATE_NAME_ARGUMENT_FUNCTIONS = ("arrayReduce", "arrayReduceInRanges", "initializeAggregation")
"""Functions whose first argument is the name of an aggregate function, as a string."""

ALLOWED_TABLE_FUNCTIONS: dict[str, str] = {
    "numbers": "counts in memory",
    "numbers_mt": "counts in memory",
    "generate_series": "counts in memory",
    "generateSeries": "counts in memory",
    "values": "rows written in the query",
    "null": "an empty table",
}
"""Table functions that only make data in memory (and that a ``readonly=1`` session runs)."""

_TABLE_FUNCTION_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("file", "filesystem", "python", "executable", "input", "arrowstream"), "reads the host"),
    (("url", "s3", "gcs", "oss", "cosn", "hdfs", "azure", "bigquery"), "reaches a URL or store"),
    (("iceberg", "deltalake", "hudi", "paimon"), "reads a data lake"),
    (("remote", "cluster", "mysql", "postgres", "jdbc", "odbc", "sqlite"), "reaches a server"),
    (("mongo", "redis", "ytsaurus", "prometheus", "timeseries"), "reaches a server"),
    (("merge", "view", "dictionary", "loop", "eval"), "reads tables by name or runs a query"),
)


HARMLESS_SETTINGS: dict[str, str] = {
    **dict.fromkeys(
        (
            "join_use_nulls",
            "aggregate_functions_null_for_empty",
            "prefer_column_name_to_alias",
            "joined_subquery_requires_alias",
            "cast_keep_nullable",
            "group_by_use_nulls",
            "transform_null_in",
            "count_distinct_implementation",
            "any_join_distinct_right_table_keys",
            "join_default_strictness",
            "join_any_take_last_row",
            "final",
            "extremes",
            "totals_mode",
            "totals_auto_threshold",
        ),
        "changes what a query returns",
    ),
    **dict.fromkeys(
        (
            "join_algorithm",
            "enable_analyzer",
            "allow_experimental_analyzer",
            "enable_positional_arguments",
            "enable_global_with_statement",
            "enable_scopes_for_with_statement",
            "enable_order_by_all",
            "enable_optimize_predicate_expression",
            "enable_optimize_predicate_expression_to_final_subquery",
            "short_circuit_function_evaluation",
            "cross_to_inner_join_rewrite",
            "convert_query_to_cnf",
            "use_index_for_in_with_subqueries",
            "do_not_merge_across_partitions_select_final",
            "compile_expressions",
        ),
        "changes how a query is planned",
    ),
    **dict.fromkeys(
        ("limit", "offset", "force_primary_key", "force_index_by_date"),
        "only narrows what a query reads or returns",
    ),
    "log_comment": "a comment for the query log",
}
"""Settings reviewed as harmless in a query's own ``SETTINGS``: they change results or the plan,
never a limit, a permission, storage or another server."""

HARMLESS_SETTING_PREFIXES = ("optimize_", "query_plan_")
"""Families of planner switches: allowed when the engine rates them ``Production`` and their name
names nothing in :data:`RISKY_SETTING_WORDS`."""

RISKY_SETTING_WORDS = (
    "max_", "min_", "limit", "overflow", "timeout", "memory", "insert", "write", "mutation",
    "file", "disk", "cache", "log", "s3", "hdfs", "azure", "url", "http", "remote", "shard",
    "distributed", "replica", "throw",
)  # fmt: skip
"""Words that keep a setting of a harmless family off the list (limits, storage, other servers)."""


def _harmless_setting(name: str, tier: str) -> bool:
    if name in HARMLESS_SETTINGS:
        return True
    family = name.startswith(HARMLESS_SETTING_PREFIXES)
    risky = any(word in name for word in RISKY_SETTING_WORDS)
    return family and not risky and tier == "Production"


def _table_function_reason(name: str) -> str:
    lowered = name.lower()
    for fragments, reason in _TABLE_FUNCTION_REASONS:
        if any(fragment in lowered for fragment in fragments):
            return reason
    return "not on the table-function allow-list"


NOT_REVIEWED = "not reviewed yet (new in this engine version)"

# --- the catalog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionCatalog:
    """The bundled classification of every function of one engine version.

    Attributes:
        engine: The engine the catalog was generated from.
        allowed: Functions (and aliases) a query may call, by exact name.
        denied: Functions refused, with the reason.
        case_insensitive: Names ClickHouse also matches case-insensitively.
        aggregates: Aggregate functions (combinators apply to them).
        combinators: Aggregate combinator suffixes (``If``, ``Array``, ``State``...).
        higher_order: Functions whose arguments may be functions passed by name.
        name_arguments: Functions whose first argument names a table or dictionary.
        aggregate_name_arguments: Functions whose first argument names an aggregate function.
        table_functions_allowed: Table functions a query may read from.
        table_functions_denied: Other table functions, with the reason.
        data_types: Data type names (they may be written like calls: ``Nullable(String)``).
        bare_callable: Functions the engine also calls when they are named without brackets
            (``SELECT currentUser`` is ``currentUser()``).
        settings_allowed: Settings a query's own ``SETTINGS`` clause may change.
    """

    engine: str
    allowed: frozenset[str]
    denied: Mapping[str, str]
    case_insensitive: frozenset[str]
    aggregates: frozenset[str]
    combinators: tuple[str, ...]
    higher_order: frozenset[str]
    name_arguments: Mapping[str, str]
    aggregate_name_arguments: frozenset[str]
    table_functions_allowed: frozenset[str]
    table_functions_denied: Mapping[str, str]
    data_types: frozenset[str]
    bare_callable: frozenset[str] = frozenset()
    settings_allowed: frozenset[str] = frozenset()

    @property
    def known(self) -> frozenset[str]:
        """Every function name the engine knows."""
        return self.allowed | frozenset(self.denied)

    def to_json(self) -> dict[str, Any]:
        """The data file's content."""
        return {
            "engine": self.engine,
            "generated_by": "python -m text2sql_tune.safety.catalog --write",
            "functions": {
                "allowed": sorted(self.allowed),
                "denied": dict(sorted(self.denied.items())),
            },
            "case_insensitive": sorted(self.case_insensitive),
            "aggregates": sorted(self.aggregates),
            "combinators": list(self.combinators),
            "higher_order": sorted(self.higher_order),
            "name_arguments": dict(sorted(self.name_arguments.items())),
            "aggregate_name_arguments": sorted(self.aggregate_name_arguments),
            "table_functions": {
                "allowed": sorted(self.table_functions_allowed),
                "denied": dict(sorted(self.table_functions_denied.items())),
            },
            "data_types": sorted(self.data_types),
            "bare_callable": sorted(self.bare_callable),
            "settings_allowed": sorted(self.settings_allowed),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FunctionCatalog:
        """Read the data file's content."""
        return cls(
            engine=str(data["engine"]),
            allowed=frozenset(data["functions"]["allowed"]),
            denied=dict(data["functions"]["denied"]),
            case_insensitive=frozenset(data["case_insensitive"]),
            aggregates=frozenset(data["aggregates"]),
            combinators=tuple(data["combinators"]),
            higher_order=frozenset(data["higher_order"]),
            name_arguments=dict(data["name_arguments"]),
            aggregate_name_arguments=frozenset(data["aggregate_name_arguments"]),
            table_functions_allowed=frozenset(data["table_functions"]["allowed"]),
            table_functions_denied=dict(data["table_functions"]["denied"]),
            data_types=frozenset(data["data_types"]),
            bare_callable=frozenset(data.get("bare_callable", ())),
            settings_allowed=frozenset(data.get("settings_allowed", ())),
        )


def _data_file() -> Any:
    return resources.files("text2sql_tune").joinpath("data").joinpath(CATALOG_FILE)


@lru_cache(maxsize=1)
def load_catalog() -> FunctionCatalog:
    """The bundled catalog (read once)."""
    return FunctionCatalog.from_json(json.loads(_data_file().read_text("utf-8")))


@dataclass(frozen=True)
class EngineRows:
    """What the generator reads from an engine's system tables."""

    version: str
    functions: Sequence[Mapping[str, Any]]
    table_functions: Sequence[str]
    combinators: Sequence[str]
    data_types: Sequence[str]
    settings: Sequence[tuple[str, str]] = ()
    """Every setting as (name, tier)."""
    bare_callable: Sequence[str] = ()
    """Functions the engine resolves when named without brackets (probed one by one)."""


_FUNCTIONS_SQL = (
    "SELECT name, is_aggregate, case_insensitive, alias_to, categories, higher_order, origin "
    "FROM system.functions ORDER BY name"
)


def engine_rows(query: Any) -> EngineRows:
    """Read the system tables the catalog is built from.

    Args:
        query: A callable that runs one trusted statement and returns rows as lists (e.g.
            ``lambda sql: executor.execute_admin(sql).rows``).
    """
    columns = ("name", "is_aggregate", "case_insensitive", "alias_to", "categories")
    functions = [
        dict(zip((*columns, "higher_order", "origin"), row, strict=True))
        for row in query(_FUNCTIONS_SQL)
    ]
    settings = [(str(r[0]), str(r[1])) for r in query("SELECT name, tier FROM system.settings")]
    return EngineRows(
        version=str(query("SELECT version()")[0][0]),
        functions=functions,
        table_functions=[str(r[0]) for r in query("SELECT name FROM system.table_functions")],
        combinators=[
            str(r[0]) for r in query("SELECT name FROM system.aggregate_function_combinators")
        ],
        data_types=[str(r[0]) for r in query("SELECT name FROM system.data_type_families")],
        settings=settings,
        bare_callable=[str(f["name"]) for f in functions if _resolves_bare(query, str(f["name"]))],
    )


def _resolves_bare(query: Any, name: str) -> bool:
    """Whether ``SELECT `name``` reaches the function: any answer but an unknown identifier."""
    try:
        query(f"SELECT `{name}`")
    except Exception as exc:  # the engine's error, whichever runner raised it
        return "UNKNOWN_IDENTIFIER" not in str(exc)
    return True


def build_catalog(
    rows: EngineRows,
    *,
    previous: FunctionCatalog | None = None,
    accept: Iterable[str] = (),
) -> FunctionCatalog:
    """Classify every function of an engine with the review policy.

    Args:
        rows: The engine's system tables (:func:`engine_rows`).
        previous: The catalog so far; a function it does not know is new, and a new function
            that no rule denies is denied as not reviewed, unless it is in ``accept``.
        accept: New functions reviewed as pure, to allow.

    Returns:
        The catalog.
    """
    accepted = set(accept)
    builtin = [f for f in rows.functions if str(f["origin"]) == "System"]
    by_name = {str(f["name"]): f for f in builtin}

    ci_names = {n.lower(): n for n, r in by_name.items() if int(r["case_insensitive"])}

    def verdict(name: str) -> str | None:
        """``None`` for allowed, else the reason it is denied."""
        row = by_name[name]
        written = str(row["alias_to"] or "")
        # alias_to is spelled as written at registration: connection_id -> connectionID.
        target = written if written in by_name else ci_names.get(written.lower(), "")
        if target and target != name:
            return verdict(target)
        if name in DENIED_NAMES:
            return DENIED_NAMES[name]
        if str(row["categories"]) in DENIED_CATEGORIES:
            return DENIED_CATEGORIES[str(row["categories"])]
        if name in accepted or previous is None:
            return None
        if name not in previous.known:
            return NOT_REVIEWED
        return previous.denied.get(name)

    allowed: set[str] = set()
    denied: dict[str, str] = {}
    for name in by_name:
        reason = verdict(name)
        if reason is None:
            allowed.add(name)
        else:
            denied[name] = reason
    dictionary = {
        name: "dictionary"
        for name, row in by_name.items()
        if str(row["categories"]) == "Dictionary" and name in allowed
    }
    table_allowed = {t for t in rows.table_functions if t in ALLOWED_TABLE_FUNCTIONS}
    return FunctionCatalog(
        engine=rows.version,
        allowed=frozenset(allowed),
        denied=denied,
        case_insensitive=frozenset(n for n, r in by_name.items() if int(r["case_insensitive"])),
        aggregates=frozenset(n for n, r in by_name.items() if int(r["is_aggregate"])),
        combinators=tuple(sorted(rows.combinators, key=lambda c: (-len(c), c))),
        higher_order=frozenset(n for n, r in by_name.items() if r["higher_order"] == 1),
        name_arguments={**dictionary, **NAME_ARGUMENT_FUNCTIONS},
        aggregate_name_arguments=frozenset(AGGREGATE_NAME_ARGUMENT_FUNCTIONS),
        table_functions_allowed=frozenset(table_allowed),
        table_functions_denied={
            t: _table_function_reason(t) for t in rows.table_functions if t not in table_allowed
        },
        data_types=frozenset(rows.data_types),
        bare_callable=frozenset(rows.bare_callable),
        settings_allowed=frozenset(n for n, tier in rows.settings if _harmless_setting(n, tier)),
    )


def _chdb_runner() -> Any:
    from chdb.session import Session

    session: Any = cast(Any, Session)(":memory:")

    def query(sql: str) -> list[list[Any]]:
        raw: Any = session.query(sql, "JSONCompact")
        return [list(row) for row in json.loads(raw.bytes() or b'{"data": []}')["data"]]

    return query


def main(argv: Sequence[str] | None = None) -> int:
    """Compare the bundled catalog with the installed chDB engine, and optionally rewrite it."""
    parser = argparse.ArgumentParser(
        prog="python -m text2sql_tune.safety.catalog", description=main.__doc__
    )
    parser.add_argument("--write", action="store_true", help="rewrite the bundled data file")
    parser.add_argument(
        "--accept", nargs="*", default=[], metavar="NAME", help="new functions reviewed as pure"
    )
    args = parser.parse_args(argv)
    previous = load_catalog() if _data_file().is_file() else None
    catalog = build_catalog(engine_rows(_chdb_runner()), previous=previous, accept=args.accept)
    known = previous.known if previous is not None else frozenset()
    added = sorted(catalog.known - known)
    removed = sorted(known - catalog.known)
    unreviewed = sorted(n for n, r in catalog.denied.items() if r == NOT_REVIEWED)
    print(f"engine {catalog.engine}: {len(catalog.allowed)} allowed, {len(catalog.denied)} denied")
    for label, names in (("new", added), ("gone", removed), ("not reviewed", unreviewed)):
        if names:
            print(f"{label} ({len(names)}): {', '.join(names)}")
    if args.write:
        target = _data_file()
        text = json.dumps(catalog.to_json(), indent=1, ensure_ascii=False) + "\n"
        with resources.as_file(target) as path:
            path.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    sys.exit(main())
