"""Structural checks on sqlglot's parse tree: statement kind, tables, subqueries, settings.

sqlglot reads a rendering of the query built from ClickHouse's tokens (comments blanked,
heredocs as plain strings), so the two cannot disagree about where strings and comments are. The
walk is iterative and the guard caps bracket nesting before parsing; a parser recursion that
still runs too deep is reported as a refusal, never as ``RecursionError``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ._functions import IN_FUNCTIONS, FunctionPolicy
from ._lexer import Kind, Token
from ._statement import RefusalError, SyntaxRefusalError

__all__ = ["check_tree", "render_for_parser"]

CheckDatabase = Callable[[str], None]


def render_for_parser(text: str, tokens: list[Token], body: list[Token]) -> str:
    """The text of ``body`` for sqlglot: comments blanked, heredocs as quoted strings.

    Args:
        text: The original statement.
        tokens: All its tokens (comments included).
        body: The significant tokens to render, in order (a subsequence of ``tokens``).
    """
    if not body:
        return ""
    keep = {id(t) for t in body}
    first, last = body[0].start, body[-1].end
    parts: list[str] = []
    for token in tokens:
        if token.end <= first or token.start >= last:
            continue
        if token.kind is Kind.COMMENT or (token.kind is not Kind.SPACE and id(token) not in keep):
            parts.append(" ")
        elif token.kind is Kind.HEREDOC:
            tag = token.text[: token.text.index("$", 1) + 1]
            value = token.text[len(tag) : -len(tag)]
            parts.append("'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'")
        elif token.kind is Kind.NUMBER and "_" in token.text:
            parts.append(token.text.replace("_", ""))
        else:
            parts.append(token.text)
    return "".join(parts)


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
        elif isinstance(node, exp.In):
            _check_in(node, check_database)
        elif isinstance(node, exp.Anonymous):
            _check_anonymous(node, check_database, policy)
        if isinstance(node, exp.Query):
            if node.args.get("format") is not None:
                raise RefusalError("FORMAT is only allowed at the end of the query")
            _check_settings(node, allowed_settings)


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
