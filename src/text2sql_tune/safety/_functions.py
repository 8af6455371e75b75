"""Token-level checks: every function called or passed by name, and names of tables in strings.

These run on ClickHouse's own tokens (see :mod:`._lexer`), so no syntax hides a call from them:

- every ``name(`` is a call (bare or quoted name; keywords such as ``IN (`` or ``AS (`` aside) and
  ``name`` must be allowed: on the allow-list, an aggregate plus combinators (``sumIf``), a data
  type (``Nullable(String)``) or an allowed table function;
- a function passed by name to a higher-order function (``arrayMap(file, ...)``) or to a column
  transformer (``* APPLY(file)``, ``COLUMNS(...) APPLY file``) must be allowed too;
- a string naming an aggregate function (``arrayReduce('sum', ...)``) must name an allowed one;
- a string naming a dictionary or table (``dictGet('db.d', ...)``, ``joinGet``,
  ``hasColumnInTable``) and a table after ``IN`` in any form (``x IN db.t``, ``x IN (db.t)``,
  ``notIn(x, db.t)``...) must be in an allowed database; written without a database (``x IN t``,
  ``dictGet('d', ...)``) it is in the default database, which must be allowed too, unless the
  query defines that name itself (an alias, a CTE);
- the calls ClickHouse's parser rewrites (``DATE_ADD``, ``RTRIM``... in any case) and
  ``untuple`` are allowed; their arguments are checked like any others;
- ``system.`` / ``INFORMATION_SCHEMA.`` anywhere (unless allowed) is refused as a backstop.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ._lexer import Kind, Token
from ._names import Databases, defined_names, is_plain_name, lambda_parameters
from ._statement import NAMES, RefusalError, UnknownFunctionRefusalError
from .catalog import ANALYZER_FUNCTIONS, PARSER_FUNCTIONS, FunctionCatalog

__all__ = ["FunctionPolicy", "check_tokens"]

# Words that may stand before "(" without being a function call.
STRUCTURAL_WORDS = frozenset(
    {
        "SELECT", "FROM", "WHERE", "PREWHERE", "HAVING", "QUALIFY", "AND", "OR", "NOT", "IN",
        "AS", "ON", "USING", "OVER", "BY", "WITH", "RECURSIVE", "UNION", "ALL", "DISTINCT",
        "EXCEPT", "INTERSECT", "EXISTS", "ANY", "SOME", "WHEN", "THEN", "ELSE", "CASE", "LIMIT",
        "OFFSET", "IS", "LIKE", "ILIKE", "BETWEEN", "INTERVAL", "VALUES", "FILTER", "WITHIN",
        "JOIN", "APPLY", "REPLACE", "COLUMNS", "WINDOW", "PARTITION", "ROWS", "RANGE",
        "GROUPS", "SAMPLE", "FINAL", "ARRAY", "GLOBAL", "ROLLUP", "CUBE", "SETS", "STEP",
        "TO", "FILL", "INTERPOLATE", "LAMBDA", "EXTRACT", "TRIM", "GROUPING", "TOP", "TIES",
        "STRICT",
    }
)  # fmt: skip

IN_FUNCTIONS = frozenset(
    {
        "in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn", "globalNullIn",
        "globalNotNullIn", "inIgnoreSet", "notInIgnoreSet", "globalInIgnoreSet",
        "globalNotInIgnoreSet", "nullInIgnoreSet", "notNullInIgnoreSet",
        "globalNullInIgnoreSet", "globalNotNullInIgnoreSet",
    }
)  # fmt: skip
"""Function forms of ``IN``: their second argument may be a table."""

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
_AGGREGATE_SPEC = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(.*\))?\s*", re.DOTALL)


class FunctionPolicy:
    """Which function names a query may use.

    Args:
        catalog: The engine's function catalog (reasons, aggregates, combinators...).
        allowed: Allowed names, exact (case-insensitive ClickHouse names match in any case).
        denied: Names refused whatever else says (compared exactly and case-insensitively).
        table_functions: Table functions the guard allows (lower case); the parse tree checks
            that they are only called where a table stands.
        closed: Refuse every name not allowed (ClickHouse). ``False`` refuses only ``denied``
            names: the catalog describes ClickHouse, not other dialects.
    """

    def __init__(
        self,
        catalog: FunctionCatalog,
        allowed: frozenset[str],
        denied: frozenset[str],
        table_functions: frozenset[str],
        *,
        closed: bool = True,
    ) -> None:
        ci = catalog.case_insensitive
        self.catalog = catalog
        self.closed = closed
        self.allowed = allowed
        self.denied = denied
        self._allowed_ci = {n.lower() for n in allowed if n in ci}
        self._denied_lower = {n.lower() for n in denied}
        self._types = {t.lower() for t in catalog.data_types}
        self.table_functions = frozenset(t.lower() for t in table_functions)
        self._aggregates = {a for a in catalog.aggregates if a in allowed}
        self._aggregates_ci = {a.lower() for a in self._aggregates if a in ci}
        self._known_ci = {n.lower() for n in catalog.known if n in ci}
        self._denied_reasons = {n.lower(): r for n, r in catalog.denied.items()}
        self._table_reasons = {n.lower(): r for n, r in catalog.table_functions_denied.items()}
        self.higher_order = catalog.higher_order | {n.lower() for n in catalog.higher_order}
        self._bare = catalog.bare_callable
        self._bare_ci = {n.lower() for n in catalog.bare_callable if n in ci}

    def refusal(self, name: str, *, call: bool = True, table: bool = False) -> str | None:
        """Why ``name`` may not be used as a function, or ``None`` when it may.

        Args:
            name: The function name as written.
            call: Whether it is called (``name(``); a call may also be a data type or a table
                function, a function passed by name may not.
            table: Whether it stands where a table does (after ``FROM`` or ``JOIN``).
        """
        lowered = name.lower()
        if name in self.denied or lowered in self._denied_lower:
            return self._why(name, table)
        if not self.closed:
            return None
        if name in self.allowed or lowered in self._allowed_ci or self.is_aggregate(name):
            return None
        if call and (lowered in self._types or lowered in self.table_functions):
            return None
        if call and (lowered in PARSER_FUNCTIONS or name in ANALYZER_FUNCTIONS):
            return None
        return self._why(name, table)

    def bare_refusal(self, name: str) -> str | None:
        """Why the engine may not read ``name`` written without brackets as a function call.

        ClickHouse calls a few functions named without brackets (``SELECT currentUser``), when
        no column or alias has that name; such a name is checked like a call.
        """
        if name not in self._bare and name.lower() not in self._bare_ci:
            return None
        reason = self.refusal(name, call=False)
        if reason is None:
            return None
        return f"{reason} (named without brackets it is a call; qualify a column of that name)"

    def is_aggregate(self, name: str) -> bool:
        """Whether ``name`` is an allowed aggregate function, combinators included."""
        for _ in range(6):  # combinators stack: uniqArrayIfState...
            if name in self._aggregates or name.lower() in self._aggregates_ci:
                return True
            for suffix in self.catalog.combinators:
                if name.endswith(suffix) and len(name) > len(suffix):
                    name = name[: -len(suffix)]
                    break
            else:
                return False
        return False

    def unknown(self, name: str) -> bool:
        """Whether nothing at all knows ``name``: not the engine, nor a deny-list."""
        lowered = name.lower()
        return not (
            self.known(name) or lowered in self._denied_lower or lowered in self._table_reasons
        )

    def known(self, name: str) -> bool:
        """Whether the engine knows ``name`` as a function (allowed or not)."""
        return name in self.catalog.known or name.lower() in self._known_ci

    def _why(self, name: str, table: bool = False) -> str:
        lowered = name.lower()
        scalar = self.known(name)
        if (table or not scalar) and lowered in self._table_reasons:
            return f"table function {name!r} is not allowed: {self._table_reasons[lowered]}"
        reason = self.catalog.denied.get(name) or self._denied_reasons.get(lowered)
        if reason is not None:
            return f"function {name!r} is not allowed: {reason}"
        if self.known(name) or name in self.denied:
            return f"function {name!r} is not allowed"
        return f"function {name!r} is not on the allow-list of pure ClickHouse functions"


def _arguments(code: list[Token], open_at: int, close: Mapping[int, int]) -> list[list[Token]]:
    """The top-level arguments of the call whose ``(`` is at ``open_at``."""
    end = close[open_at]
    args: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    for token in code[open_at + 1 : end]:
        if token.kind is Kind.PUNCT and token.text in "([{":
            depth += 1
        elif token.kind is Kind.PUNCT and token.text in ")]}":
            depth -= 1
        if depth == 0 and token.kind is Kind.PUNCT and token.text == ",":
            args.append(current)
            current = []
        else:
            current.append(token)
    if current or args:
        args.append(current)
    return args


def _unwrap(arg: list[Token]) -> list[Token]:
    while len(arg) >= 2 and arg[0].text == "(" and arg[-1].text == ")":
        arg = arg[1:-1]
    return arg


def _qualified(arg: list[Token]) -> tuple[str, str] | None:
    """``(db, name)`` for an argument that is exactly ``name`` or ``db.name``."""
    arg = _unwrap(arg)
    if len(arg) == 3 and arg[0].kind in NAMES and arg[1].text == "." and arg[2].kind in NAMES:
        return arg[0].name(), arg[2].name()
    if len(arg) == 1 and arg[0].kind in NAMES:
        return "", arg[0].name()
    return None


def _string_value(arg: list[Token]) -> str | None:
    arg = _unwrap(arg)
    if len(arg) == 1 and arg[0].kind is Kind.STRING and arg[0].text.startswith("'"):
        return arg[0].name()
    return None


def _closers(code: list[Token]) -> dict[int, int]:
    close: dict[int, int] = {}
    stack: list[int] = []
    for i, token in enumerate(code):
        if token.kind is not Kind.PUNCT:
            continue
        if token.text in "([{":
            stack.append(i)
        elif token.text in ")]}" and stack:
            close[stack.pop()] = i
    return close


def _is_call(code: list[Token], i: int) -> bool:
    token = code[i]
    if token.kind not in NAMES or i + 1 >= len(code) or code[i + 1].text != "(":
        return False
    return not (token.kind is Kind.WORD and token.upper in STRUCTURAL_WORDS)


def _standalone_name(code: list[Token], i: int, params: Collection[int] = ()) -> bool:
    """A bare or quoted name that is not called, qualified, a qualifier or a lambda parameter."""
    token = code[i]
    if token.kind not in NAMES or i in params:
        return False
    after = code[i + 1].text if i + 1 < len(code) else ""
    before = code[i - 1].text if i > 0 else ""
    if after in ("(", ".", "->") or before == ".":
        return False
    return not (before.upper() == "AS" and code[i - 1].kind is Kind.WORD)


def check_tokens(
    code: list[Token],
    policy: FunctionPolicy,
    databases: Databases,
    allowed_system: Collection[str],
) -> None:
    """Run every token-level check on the query's significant tokens.

    Args:
        code: The significant tokens of the query (no FORMAT clause, no EXPLAIN prefix).
        policy: The function allow-list.
        databases: Which databases the query may name, with or without a database.
        allowed_system: System databases the guard allows (lower case).

    Raises:
        RefusalError: The first rule the query breaks.
    """
    close = _closers(code)
    catalog = policy.catalog
    params = lambda_parameters(code, close)
    defined = defined_names(code, close)
    for i, token in enumerate(code):
        if token.kind is Kind.WORD and token.upper == "APPLY":
            _check_apply(code, i, policy)
        elif token.kind is Kind.WORD and token.upper == "IN":
            # Operator (x IN db.t, x IN (db.t)) or function (in(x, db.t)): check both readings.
            _check_in_operator(code, i, databases, defined)
            if i + 1 < len(code) and code[i + 1].text == "(":
                _check_in_function(_arguments(code, i + 1, close), databases, defined)
        elif token.kind in NAMES and i + 2 < len(code) and code[i + 1].text == ".":
            _check_system_prefix(code, i, allowed_system)
        if not _is_call(code, i):
            continue
        name = token.name()
        table = i > 0 and code[i - 1].kind is Kind.WORD and code[i - 1].upper in ("FROM", "JOIN")
        reason = policy.refusal(name, table=table)
        if reason is not None:
            if policy.unknown(name):
                raise UnknownFunctionRefusalError(reason, name)
            raise RefusalError(reason)
        args = _arguments(code, i + 1, close)
        if name in policy.higher_order or name.lower() in policy.higher_order:
            _check_higher_order(code, i + 1, close, args, name, policy, params)
        if name in IN_FUNCTIONS:
            _check_in_function(args, databases, defined)
        kind = catalog.name_arguments.get(name)
        if kind is not None:
            _check_name_argument(name, kind, args, databases)
        if name in catalog.aggregate_name_arguments and args:
            _check_aggregate_name(name, args[0], policy)


def _check_in_function(
    args: list[list[Token]], databases: Databases, defined: Collection[str]
) -> None:
    if len(args) != 2:
        return
    table = _qualified(args[1])
    if table is None:
        return
    database, name = table
    if database or (name not in defined and is_plain_name(_unwrap(args[1])[-1])):
        databases.table_name(database, name)


def _check_apply(code: list[Token], i: int, policy: FunctionPolicy) -> None:
    """``APPLY fn``, ``APPLY(fn)``: the function must be allowed (calls are checked as calls)."""
    j = i + 1
    if j < len(code) and code[j].text == "(":
        j += 1
    if j >= len(code) or code[j].kind not in NAMES:
        return
    after = code[j + 1].text if j + 1 < len(code) else ""
    if after in ("(", "->", "."):
        return
    reason = policy.refusal(code[j].name(), call=False)
    if reason is not None:
        raise RefusalError(f"{reason} (passed to APPLY)")


def _check_higher_order(
    code: list[Token],
    open_at: int,
    close: Mapping[int, int],
    args: list[list[Token]],
    name: str,
    policy: FunctionPolicy,
    params: Collection[int],
) -> None:
    first = args[0] if args else []
    if len(first) >= 3 and first[-2].kind is Kind.WORD and first[-2].upper == "AS":
        first = first[:-2]  # arrayMap(f AS alias, ...) passes f all the same
    first = _unwrap(first)
    lambda_param = len(first) == 1 and code.index(first[0], open_at) in params
    if len(args) >= 2 and len(first) == 1 and first[0].kind in NAMES and not lambda_param:
        reason = policy.refusal(first[0].name(), call=False)
        if reason is not None:
            raise RefusalError(
                f"{reason} (passed by name to {name}; pass a lambda such as x -> f(x))"
            )
    inside = range(open_at + 1, close[open_at])
    parameters = {code[j].name() for j in inside if j in params}
    for j in inside:
        if code[j].kind in NAMES and code[j].name() in parameters:
            continue  # x -> f(x): a lambda's parameter, whatever function shares its name
        if _standalone_name(code, j, params) and policy.known(code[j].name()):
            reason = policy.refusal(code[j].name(), call=False)
            if reason is not None:
                raise RefusalError(f"{reason} (passed by name to {name})")


def _check_in_operator(
    code: list[Token], i: int, databases: Databases, defined: Collection[str]
) -> None:
    """``x [NOT] IN [(]db.t[)]`` and ``x IN [(]t[)]``: where the table is must be allowed."""
    j = i + 1
    opened = 0
    while j < len(code) and code[j].text == "(":
        opened, j = opened + 1, j + 1
    rhs = code[j : j + 3]
    if len(rhs) == 3 and rhs[0].kind in NAMES and rhs[1].text == "." and rhs[2].kind in NAMES:
        rest = code[j + 3 : j + 3 + opened]
        if all(t.text == ")" for t in rest) and len(rest) == opened:
            databases.check(rhs[0].name())
        return
    if rhs and is_plain_name(rhs[0]) and rhs[0].name() not in defined:
        rest = code[j + 1 : j + 1 + opened]
        after = code[j + 1 + opened] if j + 1 + opened < len(code) else None
        closed = len(rest) == opened and all(t.text == ")" for t in rest)
        if closed and (after is None or after.text not in ("(", ".")):
            databases.unqualified(rhs[0].name(), "table")


def _check_system_prefix(code: list[Token], i: int, allowed_system: Collection[str]) -> None:
    if i > 0 and code[i - 1].text == ".":
        return
    if code[i + 2].kind not in NAMES:
        return
    database = code[i].name()
    if database.lower() in ("system", "information_schema") and database.lower() not in (
        allowed_system
    ):
        raise RefusalError(f"database {database!r} is not allowed")


def _check_name_argument(
    name: str, kind: str, args: list[list[Token]], databases: Databases
) -> None:
    if not args:
        return
    value = _string_value(args[0])
    if value is None:
        raise RefusalError(f"the {kind} name given to {name} must be a string literal")
    if kind == "database":  # hasColumnInTable('db', 'table', 'column'); more args name a host
        if len(args) != 3:
            raise RefusalError(f"{name} with a host name (another server) is not allowed")
        if not _PLAIN_NAME.fullmatch(value) or "." in value:
            raise RefusalError(f"the database name given to {name} must be a plain name")
        databases.check(value)
        return
    if not _PLAIN_NAME.fullmatch(value):
        raise RefusalError(f"the {kind} name given to {name} must be a plain name or db.name")
    database, _, table = value.rpartition(".")
    databases.table_name(database, table, kind)


def _check_aggregate_name(name: str, arg: list[Token], policy: FunctionPolicy) -> None:
    value = _string_value(arg)
    if value is None:
        raise RefusalError(f"the aggregate function given to {name} must be a string literal")
    match = _AGGREGATE_SPEC.fullmatch(value)
    if match is None or not policy.is_aggregate(match.group(1)):
        shown = match.group(1) if match else value
        raise RefusalError(f"{shown!r} given to {name} is not an allowed aggregate function")
