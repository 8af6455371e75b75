"""The embedded demo: an e-commerce database built with chDB, its schema, seeds and golden set."""

from __future__ import annotations

from .database import (
    DEMO_DATABASE,
    DemoBuild,
    abuild_demo_database,
    adefault_database_url,
    build_demo_database,
    default_database_path,
    default_database_url,
    demo_schema,
    load_golden_set,
    load_seed_examples,
)

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
