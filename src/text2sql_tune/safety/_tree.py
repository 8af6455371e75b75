"""Structural checks on sqlglot's parse tree: statement kind, tables, subqueries, settings.

sqlglot reads a rendering of the query built from ClickHouse's tokens (:mod:`._render`), so the
two cannot disagree about where strings and comments are. Names a query uses without brackets
that the engine would call (``SELECT currentUser``) are checked here, where the tree tells a
column from a table, an alias or a lambda parameter. The
walk is iterative and the guard caps bracket nesting before parsing; a parser recursion that
still runs too deep is reported as a refusal, never as ``RecursionError``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ._functions import IN_FUNCTIONS, FunctionPolicy
from ._statement import RefusalError, SyntaxRefusalError

__all__ = ["check_tree"]

CheckDatabase = Callable[[str], None]


def check_tree(
    rendered: str,
    *,
    dialect: str,
    check_database: CheckDatabase,
    policy: FunctionPolicy,
    table_function_reasons: dict[str, tuple[str, str]],
    allowed_settings: Collection[str],
    default_database_allowed: bool,
) -> None:
    """Parse ``rendered`` and refuse what is not one read-only query of allowed tables.

    Raises:
        SyntaxRefusalError: sqlglot cannot parse the text.
        RefusalError: Not a SELECT, a table function or database that is not allowed, SETTINGS that
            are not allowed, a FORMAT clause inside the query, or nesting too deep to parse.
    """
    try:
        trees = [t for t in sqlglot.parse(rendered, read=dialect) if t is not None]
    except SqlglotError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SyntaxRefusalError(
            f"could not parse the query as {dialect} SQL: {first_line}"
        ) from None
    except RecursionError:
        raise RefusalError("the query is nested too deeply to check") from None
    if len(trees) != 1:
        raise RefusalError("multiple statements are not allowed")
    tree = trees[0]
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    if not isinstance(tree, exp.Select | exp.SetOperation):
        raise RefusalError(f"only SELECT queries are allowed, got {type(tree).__name__.upper()}")
    for node in tree.walk(bfs=True):
        if isinstance(node, exp.DML | exp.DDL | exp.Command | exp.Set | exp.Into):
            raise RefusalError(f"{type(node).__name__.upper()} is not allowed inside a query")
        if isinstance(node, exp.Table):
            _check_table(
                node,
                check_database,
                policy.table_functions,
                table_function_reasons,
                default_database_allowed,
            )
        elif isinstance(node, exp.Column):
            database = node.args.get("db")
            if database is not None:
                check_database(str(database.name))
            if not node.table:
                _check_bare(node, policy)
        elif isinstance(node, exp.CurrentUser):  # sqlglot's reading of bare CURRENT_USER
            reason = policy.refusal("current_user")
            if reason is not None:
                raise RefusalError(reason)
        elif isinstance(node, exp.In):
            _check_in(node, check_database)
        elif isinstance(node, exp.Anonymous):
            _check_anonymous(node, check_database, policy)
        if isinstance(node, exp.Query):
            if node.args.get("format") is not None:
                raise RefusalError("FORMAT is only allowed at the end of the query")
            _check_settings(node, allowed_settings)


def _check_bare(column: exp.Column, policy: FunctionPolicy) -> None:
    name = column.name
    reason = policy.bare_refusal(name)
    if reason is not None and not _shadowed(column, name):
        raise RefusalError(reason)


def _shadowed(node: exp.Expr, name: str) -> bool:
    """Whether ``name`` at ``node`` is a lambda parameter, an alias, a CTE or a derived column.

    Only names the query itself defines count: a column of a stored table may have the name too,
    but the guard cannot see the table's columns.
    """
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.Lambda) and any(p.name == name for p in parent.expressions):
            return True
        if isinstance(parent, exp.Select) and _select_defines(parent, name):
            return True
        if isinstance(parent, exp.Query):
            with_ = parent.args.get("with_")
            if isinstance(with_, exp.With) and any(c.alias == name for c in with_.expressions):
                return True
        parent = parent.parent
    return False


def _select_defines(select: exp.Select, name: str) -> bool:
    for alias in select.find_all(exp.Alias):
        if alias.alias == name and alias.find_ancestor(exp.Select) is select:
            return True
    sources = [select.args.get("from_"), *(select.args.get("joins") or [])]
    for source in sources:
        derived = source.this if source is not None else None
        inner = derived.this if isinstance(derived, exp.Subquery) else None
        if isinstance(inner, exp.Query) and name in inner.named_selects:
            return True
    return False


def _check_anonymous(
    node: exp.Anonymous, check_database: CheckDatabase, policy: FunctionPolicy
) -> None:
    name = str(node.name)
    if name in IN_FUNCTIONS and len(node.expressions) == 2:
        _check_table_like(node.expressions[1], check_database)
    if isinstance(node.parent, exp.Table) or name.lower() not in policy.table_functions:
        return
    # Allowed as a table function only: called as an ordinary function it needs its own right.
    reason = policy.refusal(name, call=False)
    if reason is not None:
        raise RefusalError(reason)


def _check_table(
    table: exp.Table,
    check_database: CheckDatabase,
    allowed: Collection[str],
    reasons: dict[str, tuple[str, str]],
    default_database_allowed: bool,
) -> None:
    source = table.this
    if isinstance(source, exp.Func):
        name = str(source.name) if isinstance(source, exp.Anonymous) else source.sql_name()
        lowered = name.lower()
        if lowered not in allowed:
            # sqlglot names typed functions its own way (FORMAT): show the engine's spelling.
            known = reasons.get(lowered)
            shown, reason = known if known else (name, "not on the table-function allow-list")
            if isinstance(source, exp.Anonymous):
                shown = name
            raise RefusalError(f"table function {shown!r} is not allowed: {reason}")
        return
    parts = [table.args.get("catalog"), table.args.get("db")]
    named = [str(p.name) for p in parts if p is not None and str(p.name)]
    for database in named:
        check_database(database)
    if not named and not default_database_allowed and not _is_cte(table):
        raise RefusalError(
            f"table {table.name!r} is in the default database, which is not allowed; "
            "name its database"
        )


def _is_cte(table: exp.Table) -> bool:
    """Whether an unqualified table names a CTE visible where it is used."""
    name = table.name
    node: exp.Expr | None = table.parent
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if isinstance(with_, exp.With) and any(cte.alias == name for cte in with_.expressions):
            return True
        node = node.parent
    return False


def _check_in(node: exp.In, check_database: CheckDatabase) -> None:
    field = node.args.get("field")
    if field is not None:
        _check_table_like(field, check_database)
    expressions = node.expressions
    if len(expressions) == 1:
        _check_table_like(expressions[0], check_database)


def _check_table_like(node: exp.Expr, check_database: CheckDatabase) -> None:
    """``db.t`` where a table may stand (after IN): its database must be allowed."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column) and node.table:
        check_database(node.args["db"].name if node.args.get("db") else node.table)
    elif isinstance(node, exp.Table):
        database = node.args.get("db")
        if database is not None:
            check_database(str(database.name))


def _check_settings(query: exp.Expr, allowed: Collection[str]) -> None:
    for setting in query.args.get("settings") or []:
        target = setting.this if isinstance(setting, exp.EQ) else setting
        name = target.name if isinstance(target, exp.Expr) else str(target)
        if name.lower() not in allowed:
            raise RefusalError(f"SETTINGS {name} is not allowed (it may loosen limits)")
