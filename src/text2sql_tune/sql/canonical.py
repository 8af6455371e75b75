"""Canonical SQL: one text for the same query written with other names, order or literals.

:func:`normalize_sql` makes spelling equal (whitespace, keyword case, quoting). A query can also
be *rewritten* without changing what it computes, and a training pair that rewrites an evaluation
query still gives its answer away. :func:`canonical_sql` parses the statement with sqlglot and
rewrites it into one form:

- **column aliases resolved**: a reference to a projection alias (in ``WHERE``, ``GROUP BY``,
  ``HAVING``, ``ORDER BY`` and the other projections, as ClickHouse resolves them) becomes the
  aliased expression, positional ``GROUP BY 1`` / ``ORDER BY 2`` become the projection, and the
  aliases of the outer query are dropped (``sum(revenue) AS revenue ... ORDER BY revenue`` and
  ``sum(revenue) AS total_revenue ... ORDER BY total_revenue`` read the same); the columns of a
  subquery in ``FROM`` are renamed by position, and their uses with them;
- **table aliases resolved**: ``s.revenue`` becomes ``sessions.revenue`` (bare ``revenue`` when
  the query reads one table), and the aliases themselves are dropped;
- **commutative operands sorted**: the operands of ``AND`` / ``OR`` chains (parentheses that only
  group them are dropped), of ``=`` / ``!=``, and ``IN`` lists; ``a < b`` is written ``b > a``;
- **one spelling of the same thing**: ``count()`` / ``count(1)`` = ``count(*)``, ``JOIN`` =
  ``INNER JOIN``, ``ORDER BY x ASC`` = ``ORDER BY x``, ``toDate('2024-03-01')`` /
  ``DATE '2024-03-01'`` = ``'2024-03-01'``, ``1000.0`` / ``1e3`` = ``1000``, quoted identifiers
  that need no quotes written bare, and a trailing ``FORMAT`` clause dropped.

Two statements with the same canonical text compute the same thing on any data (the form is a
comparison key, not SQL to run). Different canonical texts prove nothing: compare results for
that (:class:`~text2sql_tune.filters.LeakageFilter` does both).

Example:
    >>> a = canonical_sql("select os, count() as n from ecommerce.sessions group by os order by n")
    >>> b = canonical_sql("SELECT s.os, COUNT(*) AS sessions FROM ecommerce.sessions AS s "
    ...                   "GROUP BY s.os ORDER BY sessions ASC")
    >>> a == b
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from functools import lru_cache, reduce
from typing import TypeVar

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.tokenizer_core import TokenType

from .._defaults import MAX_SQL_LENGTH
from .dialects import Dialect
from .profile import profile_sql
from .tokens import DEFAULT_DIALECT, tokenize

__all__ = ["canonical_sql", "string_literals"]

_E = TypeVar("_E", bound=exp.Expr)

_DATE_FUNCTIONS = frozenset({"todate", "todate32", "todatetime", "todatetime64", "date"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")  # a literal in the profile's one quoting style
_CLAUSES = ("where", "group", "having", "order", "qualify")
_SYMMETRIC = (exp.EQ, exp.NEQ, exp.NullSafeEQ)


def canonical_sql(sql: str, dialect: Dialect | str = DEFAULT_DIALECT) -> str | None:
    """The canonical text of one statement (see the module docstring), or ``None``.

    Args:
        sql: One statement.
        dialect: The SQL's dialect (:class:`~text2sql_tune.sql.dialects.Dialect` or its name;
            default ClickHouse).

    Returns:
        The canonical text; ``None`` when sqlglot cannot parse the statement or it is longer
        than ``MAX_SQL_LENGTH`` characters.
    """
    if len(sql) > MAX_SQL_LENGTH:
        return None
    return _canonical(sql, Dialect.get(dialect).sqlglot_dialect)


@lru_cache(maxsize=1 << 14)
def _canonical(sql: str, dialect: str) -> str | None:
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        if tree is None:
            return None
        tree.set("format", None)
        scopes = list(traverse_scope(tree))
        for scope in scopes:
            if isinstance(scope.expression, exp.Select):
                _expand_aliases(scope.expression)
        for scope in scopes:
            if scope.is_derived_table and isinstance(scope.expression, exp.Select):
                _number_columns(scope.expression)
        for scope in scopes:
            if isinstance(scope.expression, exp.Select):
                _resolve_tables(scope.expression)
        for select in tree.find_all(exp.Select):
            if not _is_derived(select):
                _drop_aliases(select)
        tree = _respell(tree)
        _sort_connectors(tree)
        return tree.sql(dialect=dialect, normalize_functions="lower")
    except (SqlglotError, RecursionError, ValueError, TypeError, AttributeError):
        # A tree this rewrite cannot read has no canonical form: "not provably equal" is safe.
        return None


def string_literals(sql: str, dialect: Dialect | str = DEFAULT_DIALECT) -> frozenset[str] | None:
    """The string literals of a statement (its tokens, no parse), or ``None`` if unreadable.

    Statements with the same :func:`canonical_sql` have the same string literals, so comparing
    these first spares most parses. ClickHouse SQL is read from its cached
    :func:`~text2sql_tune.sql.profile.profile_sql` (the filters have lexed it already).
    """
    if len(sql) > MAX_SQL_LENGTH:
        return None
    name = Dialect.get(dialect).sqlglot_dialect
    if name == DEFAULT_DIALECT:
        profile = profile_sql(sql)
        return frozenset(_STRING.findall(profile.normalized)) if profile.parsed else None
    try:
        tokens = tokenize(sql, name)
    except SqlglotError:
        return None
    return frozenset(t.text for t in tokens if t.token_type is TokenType.STRING)


# --- names --------------------------------------------------------------------------------------


def _own(select: exp.Select, kind: type[_E]) -> Iterator[_E]:
    """The ``kind`` nodes of ``select`` itself, not of the queries nested in it."""
    for node in select.find_all(kind):
        if node.find_ancestor(exp.Select) is select:
            yield node


def _is_derived(select: exp.Select) -> bool:
    """A SELECT read as a table: a subquery in FROM / JOIN (its column names are used)."""
    parent = select.parent
    return isinstance(parent, exp.Subquery) and isinstance(parent.parent, (exp.From, exp.Join))


def _alias_definitions(select: exp.Select) -> dict[str, exp.Expr]:
    """Projection alias -> the expression it names, other aliases in it expanded."""
    raw = {a.alias: a.this for a in select.expressions if isinstance(a, exp.Alias) and a.alias}

    def expand(name: str, visiting: frozenset[str]) -> exp.Expr:
        tree: exp.Expr = raw[name].copy()
        for column in list(tree.find_all(exp.Column)):
            other = column.name
            if column.table or other not in raw or other in visiting | {name}:
                continue  # a column named like its own alias is the column
            column.replace(expand(other, visiting | {name}))
        return tree

    return {name: expand(name, frozenset()) for name in raw}


def _expand_aliases(select: exp.Select) -> None:
    """Write each use of a projection alias or position as the expression it stands for."""
    definitions = _alias_definitions(select)
    projections = [p.this if isinstance(p, exp.Alias) else p for p in select.expressions]
    for key in ("group", "order"):
        clause = select.args.get(key)
        if clause is None:
            continue
        for item in clause.expressions:
            target = item.this if isinstance(item, exp.Ordered) else item
            if isinstance(target, exp.Literal) and not target.is_string:
                position = int(Decimal(target.name)) if target.name.isdigit() else 0
                if 1 <= position <= len(projections):
                    target.replace(projections[position - 1].copy())
    if not definitions:
        return
    for projection in select.expressions:
        own = projection.alias if isinstance(projection, exp.Alias) else None
        body = projection.this if isinstance(projection, exp.Alias) else projection
        _substitute(select, body, definitions, skip=own)
    for key in _CLAUSES:
        clause = select.args.get(key)
        if clause is not None:
            _substitute(select, clause, definitions)


def _substitute(
    select: exp.Select,
    tree: exp.Expr,
    definitions: dict[str, exp.Expr],
    skip: str | None = None,
) -> None:
    for column in list(tree.find_all(exp.Column)):
        name = column.name
        if column.table or name == skip or name not in definitions:
            continue
        if column.find_ancestor(exp.Select) is not select:
            continue
        column.replace(definitions[name].copy())


def _number_columns(select: exp.Select) -> None:
    """Name a FROM subquery's columns by position (``_c0``...) and rename their uses outside."""
    subquery = select.parent
    outer = subquery.find_ancestor(exp.Select) if subquery is not None else None
    if not isinstance(subquery, exp.Subquery) or outer is None:
        return
    names: dict[str, str] = {}
    for position, projection in enumerate(select.expressions):
        name = projection.alias_or_name
        numbered = f"_c{position}"
        if name and name != "*" and name not in names:
            names[name] = numbered
        if isinstance(projection, exp.Alias):
            projection.set("alias", exp.to_identifier(numbered))
        elif name != "*":
            projection.replace(exp.alias_(projection.copy(), numbered))
    sources = _sources(outer)
    alias = subquery.alias
    for column in _own(outer, exp.Column):
        qualified = column.table
        if column.name not in names:
            continue
        if (qualified and qualified == alias) or (not qualified and len(sources) == 1):
            column.set("this", exp.to_identifier(names[column.name]))


def _sources(select: exp.Select) -> list[exp.Expr]:
    found: list[exp.Expr] = []
    source = select.args.get("from") or select.args.get("from_")
    if source is not None and source.this is not None:
        found.append(source.this)
    found += [join.this for join in select.args.get("joins") or []]
    return found


def _resolve_tables(select: exp.Select) -> None:
    """Qualify columns by table name instead of alias (not at all when one table is read)."""
    sources = _sources(select)
    if not sources:
        return
    if len(sources) == 1:
        for column in _own(select, exp.Column):
            for part in ("table", "db", "catalog"):
                column.set(part, None)
        sources[0].set("alias", None)
        return
    names = [s.name for s in sources if isinstance(s, exp.Table)]
    renamed: dict[str, str] = {}
    for source in sources:
        if isinstance(source, exp.Table) and names.count(source.name) == 1:
            if source.alias:
                renamed[source.alias] = source.name
            source.set("alias", None)
    for column in _own(select, exp.Column):
        qualifier = column.table
        if qualifier in renamed:
            column.set("table", exp.to_identifier(renamed[qualifier]))
        if column.table and column.args.get("db") is not None:
            column.set("db", None)
            column.set("catalog", None)


def _drop_aliases(select: exp.Select) -> None:
    for projection in list(select.expressions):
        if isinstance(projection, exp.Alias):
            projection.replace(projection.this)


# --- spelling -----------------------------------------------------------------------------------


def _number(text: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if not value.is_finite():
        return text
    written = format(value.normalize(), "f")
    return "0" if written in ("-0", "0") else written


def _respell(tree: exp.Expr) -> exp.Expr:
    """Every node in its canonical spelling, children before their parent."""
    for node in reversed(list(tree.dfs())):  # pre-order reversed: descendants come first
        respelled = _spelling(node)
        if respelled is node:
            continue
        if node is tree:
            tree = respelled
        else:
            node.replace(respelled)
    return tree


def _spelling(node: exp.Expr) -> exp.Expr:
    """One node in its canonical spelling (its children are canonical already)."""
    if isinstance(node, exp.Count):
        argument = node.this
        if argument is None or (
            isinstance(argument, exp.Literal) and not argument.is_string and argument.name == "1"
        ):
            node.set("this", exp.Star())
    elif isinstance(node, exp.Join):
        kind = (node.args.get("kind") or "").upper()
        if kind == "INNER" or (kind == "OUTER" and node.args.get("side")):
            node.set("kind", None)
    elif isinstance(node, exp.Ordered):
        if not node.args.get("desc"):
            node.set("desc", None)
    elif isinstance(node, exp.Literal) and not node.is_string:
        return exp.Literal.number(_number(node.name))
    elif isinstance(node, exp.Identifier) and node.quoted and _PLAIN_NAME.fullmatch(node.name):
        node.set("quoted", False)
    elif isinstance(node, (exp.Anonymous, exp.Cast)):
        return _date_literal(node) or node
    elif isinstance(node, (exp.LT, exp.LTE)):
        swapped = exp.GT if isinstance(node, exp.LT) else exp.GTE
        return swapped(this=node.expression, expression=node.this)
    elif isinstance(node, _SYMMETRIC):
        left, right = node.this, node.expression
        if left.sql() > right.sql():
            return type(node)(this=right, expression=left)
    elif isinstance(node, exp.In) and node.expressions:
        unique = {item.sql(): item for item in node.expressions}
        node.set("expressions", [unique[key] for key in sorted(unique)])
    elif isinstance(node, exp.Paren) and _atomic(node.this):
        inner: exp.Expr = node.this
        return inner
    return node


def _date_literal(node: exp.Expr) -> exp.Expr | None:
    """``toDate('2024-03-01')`` / ``DATE '2024-03-01'`` -> ``'2024-03-01'``."""
    if isinstance(node, exp.Anonymous):
        if str(node.this).lower() not in _DATE_FUNCTIONS or len(node.expressions) != 1:
            return None
        argument = node.expressions[0]
    else:
        to = node.args.get("to")
        if not isinstance(to, exp.DataType) or not to.is_type(*exp.DataType.TEMPORAL_TYPES):
            return None
        argument = node.this
    if (
        isinstance(argument, exp.Literal)
        and argument.is_string
        and _ISO_DATE.fullmatch(argument.name)
    ):
        return exp.Literal.string(argument.name)
    return None


def _atomic(node: exp.Expr) -> bool:
    """Parentheses around this change nothing (arithmetic and AND/OR keep theirs here)."""
    return isinstance(
        node, (exp.Predicate, exp.Column, exp.Literal, exp.Func, exp.Paren, exp.Boolean, exp.Not)
    )


def _chain_operands(node: exp.Connector) -> list[exp.Expr]:
    """The operands of an AND (OR) chain, through the parentheses that only group it."""
    kind = type(node)
    operands: list[exp.Expr] = []
    pending: list[exp.Expr] = [node.this, node.expression]
    while pending:
        item = pending.pop()
        inner = item
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if type(inner) is kind:
            pending += [inner.this, inner.expression]
        elif isinstance(inner, exp.Connector):
            operands.append(exp.Paren(this=inner))
        else:
            operands.append(inner)
    return operands


def _sort_connectors(tree: exp.Expr) -> None:
    """Sort the operands of every AND / OR chain, innermost chains first."""
    chains = [node for node in tree.find_all(exp.Connector)]
    for node in reversed(chains):  # breadth-first reversed: the deepest come first
        parent = node.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if type(parent) is type(node) or (node.parent is None and node is not tree):
            continue  # inside a longer chain of the same kind: the chain's top sorts it
        operands = sorted(_chain_operands(node), key=lambda operand: operand.sql())
        kind = type(node)
        rebuilt = reduce(lambda left, right: kind(this=left, expression=right), operands)
        outer = node.parent
        if isinstance(outer, exp.Paren) and not isinstance(
            outer.parent, (exp.Connector, exp.Not, exp.Binary)
        ):
            outer.replace(rebuilt)  # (a AND b) as a whole clause: the parentheses group nothing
        else:
            node.replace(rebuilt)
