"""Schema introspection, annotation (Python, YAML, TOML, JSON) and the prompt text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from text2sql_tune import ChDBExecutor, Column, DatabaseSchema, DataError, Table, demo_schema
from text2sql_tune.schema import friendly_type

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def shop(demo_executor: ChDBExecutor) -> Iterator[DatabaseSchema]:
    """A small ``shop`` database next to the demo one, introspected."""
    admin = demo_executor.execute_admin
    admin("DROP DATABASE IF EXISTS shop SYNC")
    admin("CREATE DATABASE shop")
    admin(
        "CREATE TABLE shop.orders (order_id UInt32, status LowCardinality(String), "
        "amount Nullable(Decimal(10, 2)), placed_at DateTime COMMENT 'when the order was placed',"
        " tags Array(String)) ENGINE = MergeTree ORDER BY order_id COMMENT 'all orders'"
    )
    admin("CREATE TABLE shop.customers (id UInt64, city String) ENGINE = MergeTree ORDER BY id")
    yield demo_executor.get_schema(["shop"])
    admin("DROP DATABASE IF EXISTS shop SYNC")


# --- introspection ------------------------------------------------------------------------------


def test_introspects_the_demo_tables(demo_executor: ChDBExecutor) -> None:
    schema = demo_executor.get_schema(["ecommerce"])
    assert [t.full_name for t in schema.tables] == ["ecommerce.sessions", "ecommerce.users"]
    users = schema.table("ecommerce.users")
    assert [(c.name, c.type) for c in users.columns] == [
        ("user_id", "UInt64"),
        ("country", "String"),
        ("is_active", "UInt8"),
        ("age", "UInt64"),
    ]
    sessions = schema.table("ecommerce.sessions")
    assert [(c.name, c.type) for c in sessions.columns] == [
        ("user_id", "UInt64"),
        ("session_id", "UInt64"),
        ("action_date", "Date"),
        ("session_duration", "UInt64"),
        ("os", "String"),
        ("browser", "String"),
        ("is_fraud", "UInt8"),
        ("revenue", "Float64"),
    ]
    assert schema.databases == ["ecommerce"]


def test_introspects_types_and_comments(shop: DatabaseSchema) -> None:
    orders = shop.table("shop.orders")
    assert orders.description == "all orders"
    assert [friendly_type(c.type) for c in orders.columns] == [
        "integer",
        "string",
        "decimal",
        "datetime",
        "array",
    ]
    assert orders.column("placed_at").comment == "when the order was placed"
    assert orders.column("order_id").comment is None
    assert "- placed_at (datetime) - when the order was placed" in orders.to_prompt()


def test_without_databases_every_user_database_but_no_system_one(
    demo_executor: ChDBExecutor, shop: DatabaseSchema
) -> None:
    databases = demo_executor.get_schema().databases
    assert {"ecommerce", "shop"} <= set(databases)
    assert not {"system", "INFORMATION_SCHEMA", "information_schema"} & set(databases)


def test_lookups_raise_key_error(shop: DatabaseSchema) -> None:
    with pytest.raises(KeyError):
        shop.table("shop.nothing")
    with pytest.raises(KeyError):
        shop.table("shop.orders").column("nothing")


@pytest.mark.parametrize(
    ("clickhouse_type", "word"),
    [
        ("UInt8", "integer"),
        ("Int256", "integer"),
        ("Float32", "float"),
        ("Nullable(Float64)", "float"),
        ("LowCardinality(Nullable(String))", "string"),
        ("FixedString(3)", "string"),
        ("Enum8('a' = 1)", "string"),
        ("Decimal(18, 4)", "decimal"),
        ("Date32", "date"),
        ("DateTime64(3, 'UTC')", "datetime"),
        ("Bool", "boolean"),
        ("UUID", "uuid"),
        ("Map(String, UInt64)", "map"),
        ("Tuple(a UInt8)", "tuple"),
        ("SimpleAggregateFunction(sum, Nullable(UInt64))", "integer"),
        ("IPv4", "ipv4"),
    ],
)
def test_friendly_type(clickhouse_type: str, word: str) -> None:
    assert friendly_type(clickhouse_type) == word


# --- annotation ---------------------------------------------------------------------------------


def _check_annotated(schema: DatabaseSchema) -> None:
    orders = schema.table("shop.orders")
    assert orders.description == "orders placed in the shop"
    assert orders.column("order_id").description == "unique order number"
    assert orders.column("order_id").examples == [17, 2048]
    assert orders.column("status").description == "current state of the order"
    # Examples alone keep the database comment as the description.
    assert orders.column("placed_at").examples == ["2024-05-01 10:00:00"]
    assert orders.column("placed_at").description is None
    assert schema.table("shop.customers").column("city").examples == ["Utrecht", "Leeds"]


@pytest.mark.parametrize("name", ["schema_notes.yaml", "schema_notes.toml", "schema_notes.json"])
def test_annotate_from_file(shop: DatabaseSchema, name: str) -> None:
    annotated = shop.annotate_from_file(DATA / name)
    _check_annotated(annotated)
    assert annotated.table("shop.orders").column("placed_at").to_prompt() == (
        '- placed_at (datetime) - when the order was placed, for example, "2024-05-01 10:00:00"'
    )


def test_annotate_from_python_returns_a_copy(shop: DatabaseSchema) -> None:
    notes = json.loads((DATA / "schema_notes.json").read_text(encoding="utf-8"))
    annotated = shop.annotate(notes)
    _check_annotated(annotated)
    assert shop.table("shop.orders").description == "all orders"  # the original is unchanged
    assert shop.table("shop.orders").column("order_id").examples == []


def test_annotate_accepts_a_single_example(shop: DatabaseSchema) -> None:
    annotated = shop.annotate({"shop.customers": {"columns": {"city": {"examples": "Leeds"}}}})
    assert annotated.table("shop.customers").column("city").examples == ["Leeds"]


@pytest.mark.parametrize(
    ("notes", "message"),
    [
        ({"shop.order": {}}, "unknown table 'shop.order'"),
        ({"shop.orders": {"columns": {"total": "x"}}}, "unknown column shop.orders.total"),
        ({"shop.orders": "orders"}, "must be a mapping"),
        ({"shop.orders": {"columns": ["status"]}}, "'columns' must be a mapping"),
        ({"shop.orders": {"columns": {"status": 3}}}, "must be a description or a mapping"),
    ],
)
def test_annotation_errors(shop: DatabaseSchema, notes: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        shop.annotate(notes)


def test_annotation_file_errors(shop: DatabaseSchema, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        shop.annotate_from_file(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[shop.orders\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot parse"):
        shop.annotate_from_file(broken)
    listed = tmp_path / "listed.YML"
    listed.write_text("- shop.orders\n", encoding="utf-8")
    with pytest.raises(DataError, match="expected a mapping"):
        shop.annotate_from_file(listed)
    typo = tmp_path / "typo.json"
    typo.write_text('{"shop.order": {}}', encoding="utf-8")
    with pytest.raises(DataError, match="unknown table"):
        shop.annotate_from_file(typo)


# --- whole schema files and the prompt ----------------------------------------------------------


def test_from_file_round_trip(tmp_path: Path) -> None:
    schema = demo_schema()
    path = tmp_path / "schema.json"
    path.write_text(schema.model_dump_json(), encoding="utf-8")
    assert DatabaseSchema.from_file(path) == schema
    bad = tmp_path / "bad.json"
    bad.write_text('{"tables": [{"name": "no database"}]}', encoding="utf-8")
    with pytest.raises(DataError, match="not a valid schema"):
        DatabaseSchema.from_file(bad)


def test_demo_prompt_reads_like_the_article() -> None:
    prompt = demo_schema().to_prompt()
    users, sessions = prompt.split("\n\n")
    assert users.splitlines()[:3] == [
        "Table: ecommerce.users",
        "Description: customers registered in the online shop, one row per customer",
        "Fields:",
    ]
    assert (
        "- user_id (integer) - unique identifier of customer, for example, 1000004 or 3000004"
        in users
    )
    assert (
        '- country (string) - country where the customer lives, for example, "Netherlands" or '
        '"United Kingdom"' in users
    )
    assert "- is_active (integer) - 1 if the customer account is still active and 0 otherwise" in (
        users
    )
    assert sessions.startswith("Table: ecommerce.sessions\nDescription: ")
    assert '- action_date (date) - date when the session started, for example, "2021-01-03"' in (
        sessions
    )
    assert "- revenue (float) - " in sessions and "for example, 0.0 or 1506.7" in sessions


def test_column_prompt_variants() -> None:
    assert Column(name="n", type="UInt8").to_prompt() == "- n (integer)"
    assert Column(name="n", type="UInt8", examples=[1, 2]).to_prompt() == (
        "- n (integer) - for example, 1 or 2"
    )
    assert Column(name="s", comment="from the database").to_prompt() == (
        "- s (string) - from the database"
    )
    many = Column(name="s", description="d", examples=["a", "b", "c", "d"])
    assert many.to_prompt() == '- s (string) - d, for example, "a" or "b" or "c"'
    table = Table(database="db", name="t", columns=[Column(name="x")])
    assert table.to_prompt() == "Table: db.t\nFields:\n- x (string)"
