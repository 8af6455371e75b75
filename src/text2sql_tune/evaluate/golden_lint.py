"""Golden-set lint: find the golden cases that would make an evaluation wrong, before it runs.

A golden set is the yardstick; a bent one gives a wrong score however good the model. For each
case :func:`alint_golden` runs the reference query (twice) and reads it, and reports:

| check | severity | what it means |
|---|---|---|
| `reference_failed` | error | the reference fails, is refused by the guard or times out |
| `too_many_rows` | error | more rows than the judge compares, or stopped at the row cap |
| `nondeterministic` | error | two runs of the reference gave different answers |
| `order_tie` | error | rows tie on the `ORDER BY` keys at the `LIMIT` boundary |
| `duplicate_question` | error | the same question twice (exactly, or after normalisation) |
| `empty_result` | warning | no rows: any query that returns nothing matches it |
| `approximate_function` | warning | `median` / `quantile` / `uniq`...: approximate numbers |
| `limit_without_order` | warning | `LIMIT` without `ORDER BY` returns an arbitrary subset |
| `arbitrary_function` | warning | `any()` / `rand()` / `groupArray()`...: values the engine picks |

Which functions are approximate or arbitrary, and how to parse the SQL, comes from the executor's
dialect (:class:`~text2sql_tune.sql.dialects.Dialect`).
| `duplicate_sql` | info | two questions with the same reference SQL |
| `lint_failed` | warning | the lint itself could not read the case (the others go on) |

Every finding has a fix hint. ``text2sql-tune lint-golden`` exits with status 7 when any finding
is an error; ``evaluate`` runs the lint first and prints the findings as warnings.

Example:
    >>> report = lint_golden(read_cases("golden.jsonl"), executor)  # doctest: +SKIP
    >>> [f.check for f in report.errors]  # doctest: +SKIP
    ['order_tie']
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from enum import Enum

import sqlglot
from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table
from sqlglot import exp
from sqlglot.errors import SqlglotError

from .._sync import run_sync
from ..errors import GoldenSetError
from ..interfaces import Judge, SQLExecutor
from ..records import EvalCase, ExecutionOutcome, OutcomeStatus, QueryResult
from ..sql.dialects import Dialect
from ..sql.normalize import normalize_question, normalize_sql
from .judges.compare import MatchRules, cells_match, compare_results
from .judges.ordering import reference_order
from .judges.rewrite import find_approximate_functions

__all__ = [
    "GoldenFinding",
    "GoldenLintReport",
    "Severity",
    "alint_golden",
    "judge_row_limit",
    "lint_golden",
]


class Severity(str, Enum):
    """How bad a finding is: errors make the evaluation wrong, warnings may."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


class GoldenFinding(BaseModel):
    """One problem with one golden case.

    Attributes:
        case: Position of the case in the golden set, from 1.
        question: Its question.
        check: Which check found it (``reference_failed``, ``order_tie``...; see the module).
        severity: error / warning / info.
        message: What is wrong.
        hint: How to fix it.
    """

    model_config = ConfigDict(extra="forbid")

    case: int
    question: str
    check: str
    severity: Severity
    message: str
    hint: str


class GoldenLintReport(BaseModel):
    """Everything the lint found.

    Attributes:
        cases: Cases checked.
        findings: The findings, by case and then severity.
        judge_max_rows: The row limit the ``too_many_rows`` check used (``None``: none known).
    """

    model_config = ConfigDict(extra="forbid")

    cases: int
    findings: list[GoldenFinding] = Field(default_factory=list)
    judge_max_rows: int | None = None

    @property
    def errors(self) -> list[GoldenFinding]:
        """Findings of error severity."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[GoldenFinding]:
        """Findings of warning severity."""
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not self.errors

    def summary(self) -> str:
        """One line, e.g. ``"10 cases: 1 error, 2 warnings, 0 notes"``."""
        notes = len(self.findings) - len(self.errors) - len(self.warnings)
        errors, warnings = len(self.errors), len(self.warnings)
        return (
            f"{self.cases} cases: {errors} error{'s' * (errors != 1)}, "
            f"{warnings} warning{'s' * (warnings != 1)}, {notes} note{'s' * (notes != 1)}"
        )

    def raise_for_errors(self) -> None:
        """Raise when any finding is an error.

        Raises:
            GoldenSetError: With the error findings (exit status 7 on the command line).
        """
        if self.errors:
            cases = sorted({f.case for f in self.errors})
            raise GoldenSetError(
                f"the golden set has {len(self.errors)} error-level problem(s) in case(s) "
                f"{', '.join(map(str, cases))}; fix them before trusting an evaluation",
                self.errors,
            )

    def to_table(self) -> Table:
        """The findings as a rich table (case, severity, check, message and hint)."""
        table = Table(title=f"Golden-set lint: {self.summary()}")
        for name in ("case", "severity", "check"):
            table.add_column(name, no_wrap=True)
        for name in ("finding", "fix"):
            table.add_column(name, overflow="fold", ratio=1)
        colours = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}
        for f in self.findings:
            table.add_row(
                str(f.case),
                f"[{colours[f.severity]}]{f.severity.value}[/]",
                f.check,
                f"{f.question}: {f.message}",
                f.hint,
            )
        return table


def judge_row_limit(judge: Judge | None) -> int | None:
    """The most result rows ``judge`` compares (``None`` when it does not say).

    The execution judge compares up to ``rules.max_rows``; the LLM judge shows the model its
    first ``max_rows`` rows; a cascade is limited by its most generous judge.
    """
    from .judges import CascadeJudge, ExecutionMatchJudge, LLMJudge

    if judge is None:
        return MatchRules().max_rows
    if isinstance(judge, ExecutionMatchJudge):
        return judge.rules.max_rows
    if isinstance(judge, LLMJudge):
        return judge.max_rows
    if isinstance(judge, CascadeJudge):
        limits = [judge_row_limit(j) for j in judge.judges]
        known = [n for n in limits if n is not None]
        return max(known) if known else None
    return None


# --- the SQL checks ----------------------------------------------------------------------------


def _arbitrary_calls(sql: str, dialect: Dialect) -> list[str]:
    """The dialect's arbitrary functions ``sql`` calls, as the dialect spells them (sorted)."""
    names = {name.lower(): name for name in dialect.arbitrary_functions}
    if not names:
        return []
    alternatives = "|".join(sorted(map(re.escape, dialect.arbitrary_functions), key=len)[::-1])
    # The canonical text drops comments but writes keywords (the ANY of a join) in capitals.
    found = re.finditer(rf"\b({alternatives})\s*\(", normalize_sql(sql), re.IGNORECASE)
    return sorted({names[m.group(1).lower()] for m in found})


def _first_line(text: str | None) -> str:
    return (text or "unknown error").strip().splitlines()[0][:300]


def _limit_probe(sql: str, read: str) -> tuple[str, int, int] | None:
    """A query returning one row past the ``LIMIT`` with the sort keys appended.

    Returns:
        ``(probe SQL, limit, first key column)`` or ``None`` when the query has no plain
        ``ORDER BY ... LIMIT n`` (``LIMIT BY``, ``WITH TIES``, set operations and ``DISTINCT``
        are left alone: adding columns would change what they return).
    """
    try:
        tree = sqlglot.parse_one(sql, read=read)
    except SqlglotError:
        return None
    limit, order = tree.args.get("limit"), tree.args.get("order")
    if not isinstance(tree, exp.Select) or not isinstance(limit, exp.Limit) or order is None:
        return None
    options = limit.args.get("limit_options")
    if limit.expressions or (options is not None and options.args.get("with_ties")):
        return None
    count = limit.expression
    if not isinstance(count, exp.Literal) or count.is_string or tree.args.get("distinct"):
        return None
    n = int(count.name)
    projections = list(tree.expressions)
    if n < 1 or any(isinstance(p, exp.Star) for p in projections):
        return None
    probe = tree.copy()
    keys = []
    for index, ordered in enumerate(order.expressions):
        target = ordered.this
        if isinstance(target, exp.Literal) and not target.is_string:
            position = int(target.name) - 1
            if not 0 <= position < len(projections):
                return None
            target = projections[position].unalias()
        keys.append(exp.alias_(target.copy(), f"_lint_order_key_{index}"))
    probe.set("expressions", [*probe.expressions, *keys])
    probe.set("limit", exp.Limit(expression=exp.Literal.number(n + 1)))
    try:
        return probe.sql(dialect=read), n, len(projections)
    except SqlglotError:
        return None


def _same_answer(
    sql: str, first: QueryResult, second: QueryResult, dialect: Dialect
) -> bool | None:
    orders, key = reference_order(sql, first.columns, dialect)
    outcome = compare_results(first, second, ordered=orders, order_key=key)
    return outcome.equal


class _CaseLint:
    """The findings of one case (a small helper so each check stays readable)."""

    def __init__(self, number: int, case: EvalCase) -> None:
        self.number = number
        self.case = case
        self.findings: list[GoldenFinding] = []

    def add(self, check: str, severity: Severity, message: str, hint: str) -> None:
        self.findings.append(
            GoldenFinding(
                case=self.number,
                question=self.case.question,
                check=check,
                severity=severity,
                message=message,
                hint=hint,
            )
        )


async def _lint_case(
    lint: _CaseLint, executor: SQLExecutor, max_rows: int | None, rerun: bool
) -> None:
    sql, dialect = lint.case.sql, executor.dialect
    approximate = sorted(set(find_approximate_functions(sql, dialect)))
    if approximate:
        exact = {dialect.approximate_to_exact.get(name, "") for name in approximate} - {""}
        lint.add(
            "approximate_function",
            Severity.WARNING,
            f"uses approximate function(s) {', '.join(approximate)}: the numbers can change "
            "from run to run",
            f"use the exact variants ({', '.join(sorted(exact)) or 'none known'}); the execution "
            "judge rewrites both queries to exact variants, an LLM judge sees the approximate "
            "numbers",
        )
    arbitrary = _arbitrary_calls(sql, dialect)
    if arbitrary:
        forms = {f"{dialect.arbitrary_functions[name]} instead of {name}" for name in arbitrary}
        lint.add(
            "arbitrary_function",
            Severity.WARNING,
            f"calls {', '.join(arbitrary)}: the engine may pick other values or another order",
            f"use a deterministic form ({'; '.join(sorted(forms))})",
        )
    first = await executor.atry_execute(sql, min_rows=1)
    if not _check_outcome(lint, first, max_rows) or first.result is None:
        return
    _check_limit_without_order(lint, sql, dialect.sqlglot_dialect)
    if rerun:
        second = await executor.atry_execute(sql, min_rows=0)
        if (
            second.result is not None
            and _same_answer(sql, first.result, second.result, dialect) is False
        ):
            if approximate:
                lint.add(
                    "approximate_function",
                    Severity.WARNING,
                    "two runs gave different numbers (approximate functions)",
                    "use the exact variants so the golden answer is fixed",
                )
            else:
                lint.add(
                    "nondeterministic",
                    Severity.ERROR,
                    "two runs of the reference gave different answers",
                    "make the answer deterministic: a total ORDER BY, exact functions, no "
                    "any()/rand(), a fixed date instead of now() if the data moves",
                )
    await _check_order_tie(lint, executor, sql)


def _check_outcome(lint: _CaseLint, outcome: ExecutionOutcome, max_rows: int | None) -> bool:
    """Checks on the first run; False when the reference did not run (nothing else to check)."""
    status = outcome.status
    if status in (OutcomeStatus.ERROR, OutcomeStatus.UNSAFE, OutcomeStatus.TIMEOUT):
        what = {
            OutcomeStatus.ERROR: "fails",
            OutcomeStatus.UNSAFE: "is refused by the safety guard",
            OutcomeStatus.TIMEOUT: "runs past the time limit",
        }[status]
        lint.add(
            "reference_failed",
            Severity.ERROR,
            f"the reference query {what}: {_first_line(outcome.error)}",
            "fix the reference SQL (run it with `text2sql-tune sql`); every prediction for this "
            "question is undecided until then",
        )
        return False
    rows = outcome.result.row_count if outcome.result is not None else None
    if status is OutcomeStatus.TOO_MANY_ROWS:
        lint.add(
            "too_many_rows",
            Severity.ERROR,
            "the reference is stopped at the executor's row cap",
            "aggregate or add a LIMIT: an answer too big to return cannot be compared",
        )
        return False
    if status is OutcomeStatus.EMPTY:
        lint.add(
            "empty_result",
            Severity.WARNING,
            "the reference returns no rows, so any query that returns nothing matches it",
            "check the filters and dates against the data, or ask for a count or a sum "
            "(which returns 0, not nothing)",
        )
    if rows is not None and max_rows is not None and rows > max_rows:
        lint.add(
            "too_many_rows",
            Severity.ERROR,
            f"the reference returns {rows} rows, more than the {max_rows} the judge compares",
            "aggregate, filter or LIMIT the answer; the judge leaves such cases undecided "
            "(or, for an LLM judge, sees only the first rows)",
        )
    return True


def _check_limit_without_order(lint: _CaseLint, sql: str, read: str) -> None:
    try:
        tree = sqlglot.parse_one(sql, read=read)
    except SqlglotError:
        return
    if tree.args.get("limit") is not None and tree.args.get("order") is None:
        lint.add(
            "limit_without_order",
            Severity.WARNING,
            "LIMIT without ORDER BY returns whichever rows the engine reads first",
            "add an ORDER BY that fixes which rows are kept",
        )


async def _check_order_tie(lint: _CaseLint, executor: SQLExecutor, sql: str) -> None:
    probe = _limit_probe(sql, executor.dialect.sqlglot_dialect)
    if probe is None:
        return
    probe_sql, limit, first_key = probe
    outcome = await executor.atry_execute(probe_sql, min_rows=0)
    result = outcome.result
    if result is None or len(result.rows) <= limit:
        return
    inside, outside = result.rows[limit - 1], result.rows[limit]
    keys = range(first_key, len(result.columns))
    if all(cells_match(inside[k], outside[k]) for k in keys):
        shown = ", ".join(str(inside[k]) for k in keys)
        lint.add(
            "order_tie",
            Severity.ERROR,
            f"row {limit} and row {limit + 1} tie on the ORDER BY keys ({shown}): which one "
            f"makes the LIMIT {limit} is arbitrary",
            "add a tie-breaker to the ORDER BY (e.g. the grouping key), or ask for all tied rows",
        )


def _duplicates(cases: Sequence[EvalCase]) -> list[GoldenFinding]:
    findings: list[GoldenFinding] = []
    exact: dict[str, int] = {}
    normal: dict[str, int] = {}
    sqls: dict[str, int] = {}
    for index, case in enumerate(cases):
        lint = _CaseLint(index + 1, case)
        text = case.question.strip()
        key = normalize_question(case.question)
        earlier = exact.get(text, normal.get(key))
        if earlier is not None:
            how = "exactly" if text in exact else "after normalisation (case, spacing, punctuation)"
            same_sql = normalize_sql(cases[earlier].sql) == normalize_sql(case.sql)
            lint.add(
                "duplicate_question",
                Severity.ERROR,
                f"the same question as case {earlier + 1}, {how}"
                + ("" if same_sql else ", with a different reference SQL"),
                "remove one of them (or reword it if it asks something else): predictions are "
                "matched by question, so both cases get the same answer",
            )
        else:
            sql_key = normalize_sql(case.sql)
            if sql_key in sqls:
                lint.add(
                    "duplicate_sql",
                    Severity.INFO,
                    f"the same reference SQL as case {sqls[sql_key] + 1}",
                    "fine for paraphrases; otherwise one of the two references is wrong",
                )
            sqls.setdefault(sql_key, index)
        exact.setdefault(text, index)
        normal.setdefault(key, index)
        findings += lint.findings
    return findings


async def alint_golden(
    cases: Sequence[EvalCase],
    executor: SQLExecutor,
    *,
    judge: Judge | None = None,
    max_rows: int | None = None,
    rerun: bool = True,
) -> GoldenLintReport:
    """Check a golden set on the database before it is used to evaluate.

    Args:
        cases: The golden set.
        executor: The database the evaluation will run on.
        judge: The judge that will be used (sets the row limit; default: execution judge).
        max_rows: Override the row limit the judge compares.
        rerun: Run each reference twice to catch answers that change.

    Returns:
        The findings, by case then severity.
    """
    limit = max_rows if max_rows is not None else judge_row_limit(judge)
    lints = [_CaseLint(i + 1, case) for i, case in enumerate(cases)]

    async def one(lint: _CaseLint) -> None:
        try:
            await _lint_case(lint, executor, limit, rerun)
        except Exception as exc:  # one case the lint cannot read must not stop the others
            lint.add(
                "lint_failed",
                Severity.WARNING,
                f"the lint could not check this case: {type(exc).__name__}: {exc}",
                "check the reference by hand (and report the SQL that broke the lint)",
            )

    await asyncio.gather(*(one(lint) for lint in lints))
    findings = _duplicates(cases) + [f for lint in lints for f in lint.findings]
    findings.sort(key=lambda f: (f.case, _RANK[f.severity], f.check))
    return GoldenLintReport(cases=len(cases), findings=findings, judge_max_rows=limit)


def lint_golden(
    cases: Sequence[EvalCase],
    executor: SQLExecutor,
    *,
    judge: Judge | None = None,
    max_rows: int | None = None,
    rerun: bool = True,
) -> GoldenLintReport:
    """Sync twin of :func:`alint_golden`."""
    return run_sync(alint_golden(cases, executor, judge=judge, max_rows=max_rows, rerun=rerun))
