"""The SQL safety guard: refuse anything but one read-only query before it reaches the engine.

Model-written SQL is untrusted input. :class:`SQLGuard` is the first of two fences (the second is
the executor's locked-down session, see ``docs/safety.md``). It reads the text with a lexer that
splits it exactly where ClickHouse's own lexer does, and then with sqlglot's ClickHouse parser,
and it is *closed*: it accepts exactly one ``SELECT`` / ``WITH ... SELECT`` / set operation of
selects in which every function called or passed by name is on an allow-list of pure ClickHouse
functions (generated from the bundled engine: :mod:`text2sql_tune.safety.catalog`), every table
function only makes data in memory, every table or dictionary is in an allowed database, and
settings never loosen limits. ``INTO OUTFILE``, several statements, control characters and
nesting deeper than ``max_depth`` are refused.

The check is a pure function of the text, linear in its length: well under a millisecond for
typical queries.

Example:
    >>> from text2sql_tune import SQLGuard
    >>> SQLGuard().check("SELECT count() FROM ecommerce.users FORMAT TabSeparatedWithNames;")
    'SELECT count() FROM ecommerce.users'
"""

from __future__ import annotations

from ._statement import split_settings_clause, strip_format_clause
from .catalog import FunctionCatalog, load_catalog
from .guard import (
    ALLOWED_FUNCTIONS,
    DEFAULT_ALLOWED_SETTINGS,
    DEFAULT_ALLOWED_TABLE_FUNCTIONS,
    DEFAULT_MAX_DEPTH,
    DEFAULT_SETTING_BOUNDS,
    DENIED_FUNCTIONS,
    SYSTEM_DATABASES,
    SQLGuard,
)

__all__ = [
    "ALLOWED_FUNCTIONS",
    "DEFAULT_ALLOWED_SETTINGS",
    "DEFAULT_ALLOWED_TABLE_FUNCTIONS",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_SETTING_BOUNDS",
    "DENIED_FUNCTIONS",
    "SYSTEM_DATABASES",
    "FunctionCatalog",
    "SQLGuard",
    "load_catalog",
    "split_settings_clause",
    "strip_format_clause",
]
