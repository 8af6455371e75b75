"""Filters, the chain and its report: the article's cleaning cases on the demo database; units."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from text2sql_tune import (
    ChDBExecutor,
    DatasetFilter,
    EvalCase,
    FilterChain,
    FilterDecision,
    FunctionFilter,
    OutcomeStatus,
    QAPair,
    SQLGuard,
    default_filters,
    validate_pairs,
)
from text2sql_tune.analysis.dataset_stats import dataset_stats
from text2sql_tune.filters import (
    DuplicateQuestionFilter,
    DuplicateSQLFilter,
    FilterReport,
    LeakageFilter,
    NearDuplicateQuestionFilter,
    RowCountFilter,
    SafetyFilter,
    ValidSQLFilter,
    distinguishing_tokens,
)
from text2sql_tune.records import ValidationInfo
from text2sql_tune.sql import normalize_question
from text2sql_tune.sql.normalize import question_tokens
from text2sql_tune.text.index import JaccardIndex, jaccard, token_order

GOLDEN = [
    EvalCase(
        question="How many active customers are there?",
        sql="SELECT countIf(is_active = 1) FROM ecommerce.users",
    ),
    EvalCase(
        question="Which country has the most customers registered in the shop?",
        sql="select country from ecommerce.users group by country order by count() desc limit 1",
    ),
]


def ok(rows: int = 5) -> ValidationInfo:
    return ValidationInfo(status=OutcomeStatus.OK, row_count=rows)


def qa(question: str, sql: str = "SELECT 1", validation: ValidationInfo | None = None) -> QAPair:
    return QAPair(question=question, sql=sql, validation=validation or ok())


def reasons(decisions: Sequence[FilterDecision]) -> list[str | None]:
    return [d.reason for d in decisions]


# -- the article's cases, end to end on the demo database ------------------------------------


@pytest.fixture(scope="module")
def article_pairs(demo_executor: ChDBExecutor) -> list[QAPair]:
    raw = [
        # 0, 1: one question, two answers; the first does not run, the second does
        ("How many customers live in Germany?", "SELECT count() FROM ecommerce.users WHERE "
         "contry = 'Germany'"),
        ("how many customers live in Germany", "SELECT count() FROM ecommerce.users WHERE "
         "country = 'Germany'"),
        # 2: 1,000+ rows; 3: only a header
        ("List every customer id.", "SELECT user_id FROM ecommerce.users"),
        ("Which customers are older than 200?", "SELECT user_id FROM ecommerce.users WHERE "
         "age > 200"),
        # 4: a golden question; 5: a rewording of one; 6: golden SQL under another question
        ("How many active customers are there?", "SELECT count() FROM ecommerce.users WHERE "
         "is_active = 1"),
        ("Which country has the most customers registered in our shop?", "SELECT country, "
         "count() AS n FROM ecommerce.users GROUP BY country ORDER BY n DESC LIMIT 1"),
        ("What number of users are active?", "select countIf(is_active = 1)\nfrom "
         "ecommerce.users"),
        # 7: fine
        ("What is the average age of customers?", "SELECT avg(age) FROM ecommerce.users"),
    ]  # fmt: skip
    pairs = [QAPair(question=q, sql=s, source="test") for q, s in raw]
    pairs.append(QAPair(rejected="no tool call in the answer", source="test"))  # 8
    return validate_pairs(pairs, demo_executor)


def test_article_cleaning_cases(article_pairs: list[QAPair]) -> None:
    kept, report = FilterChain(default_filters(eval_cases=GOLDEN)).apply(article_pairs)

    assert [p.question for p in kept] == [
        "how many customers live in Germany",
        "What is the average age of customers?",
    ]
    dropped = {d.index: (d.decision.filter, d.decision.reason) for d in report.dropped}
    assert dropped == {
        0: ("valid_sql", "invalid_sql"),
        2: ("row_count", "too_many_rows"),
        3: ("row_count", "no_rows"),
        4: ("leakage", "leaks_eval_question"),
        5: ("leakage", "leaks_eval_question"),
        6: ("leakage", "leaks_eval_sql"),
        8: ("generator", "rejected_by_generator"),
    }
    details = {d.index: d.decision.detail or "" for d in report.dropped}
    assert "UNKNOWN_IDENTIFIER" in details[0]
    assert GOLDEN[0].question in details[4]
    assert GOLDEN[1].question in details[5] and "0.90 similar" in details[5]
    assert GOLDEN[0].question in details[6]
    assert details[8] == "no tool call in the answer"
    assert report.input_count == 9 and report.kept_count == 2 and report.dropped_count == 7
    assert report.by_reason["leaks_eval_question"] == 2


def test_duplicate_question_keeps_the_answer_that_ran(article_pairs: list[QAPair]) -> None:
    first, second = article_pairs[0], article_pairs[1]
    assert first.validation is not None and first.validation.status is OutcomeStatus.ERROR
    decisions = DuplicateQuestionFilter().decide([first, second])
    assert [d.keep for d in decisions] == [False, True]
    assert decisions[0].reason == "duplicate_question"
    assert second.sql in (decisions[0].detail or "")


def test_duplicate_question_keeps_the_first_when_both_ran() -> None:
    pairs = [qa("Sessions per OS?", "SELECT 1"), qa("sessions per os", "SELECT 2")]
    assert [d.keep for d in DuplicateQuestionFilter().decide(pairs)] == [True, False]
    unvalidated = [QAPair(question="A?", sql="SELECT 1"), QAPair(question="a", sql="SELECT 2")]
    assert [d.keep for d in DuplicateQuestionFilter().decide(unvalidated)] == [True, False]


# -- single filters --------------------------------------------------------------------------


def test_valid_sql_filter_reasons() -> None:
    def info(status: OutcomeStatus, **kw: object) -> ValidationInfo:
        return ValidationInfo.model_validate({"status": status, **kw})

    pairs = [
        qa("a", validation=info(OutcomeStatus.OK, row_count=3)),
        qa("b", validation=info(OutcomeStatus.EMPTY, row_count=0)),
        qa("c", validation=info(OutcomeStatus.TOO_MANY_ROWS)),
        qa("d", validation=info(OutcomeStatus.ERROR, error="bad", error_name="SYNTAX_ERROR")),
        qa("e", validation=info(OutcomeStatus.UNSAFE, error="DROP is not allowed")),
        qa("f", validation=info(OutcomeStatus.TIMEOUT, error="too slow")),
        QAPair(question="g", sql="SELECT 1"),
    ]
    decisions = ValidSQLFilter().decide(pairs)
    assert reasons(decisions) == [
        None, None, None, "invalid_sql", "unsafe", "timeout", "not_validated",
    ]  # fmt: skip
    assert decisions[3].detail == "SYNTAX_ERROR: bad"
    assert all(d.filter == "valid_sql" for d in decisions)


@pytest.mark.parametrize(
    ("validation", "reason"),
    [
        (ValidationInfo(status=OutcomeStatus.EMPTY, row_count=0), "no_rows"),
        (ValidationInfo(status=OutcomeStatus.OK, row_count=1), None),
        (ValidationInfo(status=OutcomeStatus.OK, row_count=100), None),
        (ValidationInfo(status=OutcomeStatus.OK, row_count=101), "too_many_rows"),
        (ValidationInfo(status=OutcomeStatus.OK, row_count=1500), "too_many_rows"),
        (ValidationInfo(status=OutcomeStatus.TOO_MANY_ROWS), "too_many_rows"),
        (ValidationInfo(status=OutcomeStatus.TOO_MANY_ROWS, row_count=10_000), "too_many_rows"),
        (ValidationInfo(status=OutcomeStatus.ERROR), None),  # not its job
    ],
)
def test_row_count_filter(validation: ValidationInfo, reason: str | None) -> None:
    (decision,) = RowCountFilter(min_rows=1, max_rows=100).decide([qa("q", validation=validation)])
    assert decision.reason == reason
    assert decision.keep is (reason is None)


def test_row_count_filter_bounds() -> None:
    empty = qa("q", validation=ValidationInfo(status=OutcomeStatus.EMPTY, row_count=0))
    assert RowCountFilter(min_rows=0, max_rows=10).decide([empty])[0].keep
    assert not RowCountFilter(min_rows=5, max_rows=10).decide([qa("q", validation=ok(4))])[0].keep
    with pytest.raises(ValueError):
        RowCountFilter(min_rows=10, max_rows=5)


def test_duplicate_sql_filter_ignores_layout_but_not_literals() -> None:
    pairs = [
        qa("Revenue by OS?", "SELECT os, sum(revenue) FROM ecommerce.sessions GROUP BY os"),
        qa(
            "Total revenue per OS?",
            "select os,\n  SUM(revenue)\nfrom ecommerce.sessions -- x\ngroup by os;",
        ),
        qa("iOS sessions?", "SELECT count() FROM ecommerce.sessions WHERE os = 'iOS'"),
        qa("Android sessions?", "SELECT count() FROM ecommerce.sessions WHERE os = 'Android'"),
    ]
    decisions = DuplicateSQLFilter().decide(pairs)
    assert [d.keep for d in decisions] == [True, False, True, True]
    assert decisions[1].reason == "duplicate_sql"
    assert decisions[1].detail == "same SQL as: Revenue by OS?"


def test_near_duplicate_questions() -> None:
    pairs = [
        qa("How many sessions in total used the Firefox browser on Windows?"),
        qa("How many sessions in total used the Firefox web browser on Windows?"),  # 11/12
        qa("How many sessions in total used the Chrome browser on Windows?"),  # 10/12
        qa("How many sessions were there in March 2024?"),
        qa("How many sessions were there in March 2023?"),  # another number: another question
        qa("Completely unrelated: the average age of customers in France"),
    ]
    decisions = NearDuplicateQuestionFilter(threshold=0.9).decide(pairs)
    assert [d.keep for d in decisions] == [True, False, True, True, True, True]
    assert decisions[1].reason == "near_duplicate_question"
    assert decisions[1].detail == f"0.92 similar to: {pairs[0].question}"
    looser = NearDuplicateQuestionFilter(threshold=0.7).decide(pairs)
    assert [d.keep for d in looser] == [True, False, False, True, True, True]
    with pytest.raises(ValueError):
        NearDuplicateQuestionFilter(threshold=0.0)


NEAR_DUPLICATES: dict[str, object] = yaml.safe_load(
    (Path(__file__).parent / "data" / "near_duplicates.yaml").read_text(encoding="utf-8")
)
NEAR_THRESHOLD = float(NEAR_DUPLICATES["threshold"])  # type: ignore[arg-type]


def fixture_pairs(kind: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in NEAR_DUPLICATES[kind]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["distinct", "duplicates"])
def test_every_fixture_pair_is_similar_enough_to_exercise_the_rule(kind: str) -> None:
    for first, second in fixture_pairs(kind):
        assert jaccard(question_tokens(first), question_tokens(second)) >= NEAR_THRESHOLD


@pytest.mark.parametrize(("first", "second"), fixture_pairs("distinct"))
def test_questions_differing_in_a_date_or_number_are_both_kept(first: str, second: str) -> None:
    near = NearDuplicateQuestionFilter(threshold=NEAR_THRESHOLD)
    assert [d.keep for d in near.decide([qa(first), qa(second)])] == [True, True]
    assert [d.keep for d in near.decide([qa(second), qa(first)])] == [True, True]
    # ... and a training question that differs from a golden one there does not leak it
    leakage = LeakageFilter([EvalCase(question=first, sql="SELECT 1")], NEAR_THRESHOLD)
    assert leakage.decide([qa(second, "SELECT 2")])[0].keep


@pytest.mark.parametrize(("first", "second"), fixture_pairs("duplicates"))
def test_rewordings_with_the_same_dates_are_still_near_duplicates(first: str, second: str) -> None:
    decisions = NearDuplicateQuestionFilter(threshold=NEAR_THRESHOLD).decide(
        [qa(first), qa(second)]
    )
    assert [d.reason for d in decisions] == [None, "near_duplicate_question"]
    leakage = LeakageFilter([EvalCase(question=first, sql="SELECT 1")], NEAR_THRESHOLD)
    assert leakage.decide([qa(second, "SELECT 2")])[0].reason == "leaks_eval_question"


def test_distinguishing_tokens() -> None:
    tokens = question_tokens("How many sessions on Monday, in Q3 2024 and last week, top five?")
    assert distinguishing_tokens(tokens) == {"monday", "q3", "2024", "last", "week", "five"}
    assert distinguishing_tokens(question_tokens("How many customers use Chrome?")) == set()


def naive_best(
    probe: frozenset[str], indexed: list[tuple[int, frozenset[str]]], threshold: float
) -> tuple[int, float] | None:
    best: tuple[int, float] | None = None
    for key, tokens in indexed:
        similarity = jaccard(probe, tokens)
        same = distinguishing_tokens(tokens) == distinguishing_tokens(probe)
        matches = similarity >= threshold - 1e-9 and same
        if matches and (best is None or similarity > best[1]):
            best = (key, similarity)
    return best


@pytest.mark.parametrize("threshold", [1.0, 0.9, 0.8, 0.7, 0.5, 0.3])
def test_jaccard_index_finds_exactly_what_a_full_scan_finds(threshold: float) -> None:
    rng = random.Random(int(threshold * 100))
    vocabulary = [f"w{i}" for i in range(40)] + ["2023", "2024", "march", "yesterday"]
    sets: list[frozenset[str]] = []
    for _ in range(600):
        if sets and rng.random() < 0.4:  # a small edit of an earlier set
            base = set(rng.choice(sets))
            for _ in range(rng.randint(1, 2)):
                if base and rng.random() < 0.5:
                    base.discard(rng.choice(sorted(base)))
                else:
                    base.add(rng.choice(vocabulary))
            sets.append(frozenset(base))
        else:
            sets.append(frozenset(rng.sample(vocabulary, rng.randint(1, 24))))
    index = JaccardIndex(threshold, token_order(sets))
    indexed: list[tuple[int, frozenset[str]]] = []
    matches = 0
    for key, tokens in enumerate(sets):
        expected = naive_best(tokens, indexed, threshold)
        found = index.best(tokens)
        assert found == expected, (key, sorted(tokens))
        if found is None:
            index.add(key, tokens)
            indexed.append((key, tokens))
        else:
            matches += 1
    assert matches > 20  # the test exercises matches, not only misses


def test_leakage_filter_without_cases_keeps_everything() -> None:
    pairs = [qa(GOLDEN[0].question, GOLDEN[0].sql)]
    assert LeakageFilter([]).decide(pairs)[0].keep
    assert not LeakageFilter(GOLDEN).decide(pairs)[0].keep


def test_leakage_prefers_the_question_reason_and_names_the_golden_question() -> None:
    pairs = [
        qa("  how many ACTIVE customers are there  ", "SELECT 2"),
        qa("Something else entirely?", "SELECT countIf(is_active = 1) FROM ecommerce.users"),
    ]
    decisions = LeakageFilter(GOLDEN).decide(pairs)
    assert reasons(decisions) == ["leaks_eval_question", "leaks_eval_sql"]
    assert decisions[0].detail == f"golden question: {GOLDEN[0].question}"


def test_safety_filter() -> None:
    drop = QAPair(question="Drop it", sql="DROP TABLE ecommerce.users")
    fine = QAPair(question="Count", sql="SELECT count() FROM ecommerce.users")
    validated_unsafe = qa("x", "SELECT 1", ValidationInfo(status=OutcomeStatus.UNSAFE, error="no"))
    decisions = SafetyFilter().decide([drop, fine, validated_unsafe])
    assert reasons(decisions) == ["unsafe_sql", None, "unsafe_sql"]
    assert "DROP" in (decisions[0].detail or "")

    strict = SafetyFilter(SQLGuard(allowed_databases={"shop"}))
    validated_fine = qa("y", "SELECT count() FROM ecommerce.users", ok())
    (decision,) = strict.decide([validated_fine])  # a given guard checks validated pairs too
    assert decision.reason == "unsafe_sql" and "ecommerce" in (decision.detail or "")
    assert SafetyFilter(trust_validation=False).decide([validated_unsafe])[0].keep


# -- the chain -------------------------------------------------------------------------------


class Recorder(DatasetFilter):
    """Drops the pairs whose question is in ``drop``; records what it saw."""

    def __init__(self, name: str, drop: set[str]) -> None:
        self.name = name
        self.drop = drop
        self.seen: list[str] = []

    def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
        self.seen = [p.question for p in pairs]
        return [
            FilterDecision(keep=False, filter=self.name, reason="mine")
            if p.question in self.drop
            else FilterDecision(keep=True, filter=self.name)
            for p in pairs
        ]


def test_chain_runs_filters_on_survivors_and_records_the_first_drop() -> None:
    pairs = [qa("a"), QAPair(rejected="boom"), qa("b"), qa("c"), qa("d")]
    first, second = Recorder("first", {"b"}), Recorder("second", {"b", "c"})
    kept, report = FilterChain([first, second]).apply(pairs)

    assert [p.question for p in kept] == ["a", "d"]
    assert first.seen == ["a", "b", "c", "d"]
    assert second.seen == ["a", "c", "d"]
    assert [(d.index, d.decision.filter) for d in report.dropped] == [
        (1, "generator"), (2, "first"), (3, "second"),
    ]  # fmt: skip
    assert [(s.name, s.input, s.kept, s.dropped) for s in report.steps] == [
        ("generator", 5, 4, 1), ("first", 4, 3, 1), ("second", 3, 2, 1),
    ]  # fmt: skip
    assert report.steps[1].reasons == {"mine": 1}


def test_chain_fills_a_missing_reason_and_checks_decision_counts() -> None:
    unnamed = FunctionFilter(lambda p: p.question != "b", name="no_b")
    _, report = FilterChain([unnamed]).apply([qa("a"), qa("b")])
    assert report.dropped[0].decision.reason == "no_b"

    class Broken(DatasetFilter):
        name = "broken"

        def decide(self, pairs: Sequence[QAPair]) -> list[FilterDecision]:
            return []

    with pytest.raises(ValueError, match="broken"):
        FilterChain([Broken()]).apply([qa("a")])


async def test_async_chain_matches_the_sync_one(article_pairs: list[QAPair]) -> None:
    chain = FilterChain(default_filters(eval_cases=GOLDEN))
    kept, report = chain.apply(article_pairs)
    akept, areport = await chain.aapply(article_pairs)
    assert akept == kept
    assert areport.dropped == report.dropped
    assert [s.model_dump(exclude={"elapsed_s"}) for s in areport.steps] == [
        s.model_dump(exclude={"elapsed_s"}) for s in report.steps
    ]


def test_default_filters_order() -> None:
    names = [f.name for f in default_filters()]
    assert names == [
        "sql_length", "safety", "valid_sql", "row_count", "duplicate_question", "duplicate_sql",
        "near_duplicate",
    ]  # fmt: skip
    assert default_filters(max_sql_length=None)[0].name == "safety"
    with_leakage = default_filters(min_rows=2, max_rows=50, eval_cases=GOLDEN)
    assert [f.name for f in with_leakage][-1] == "leakage"
    rows = with_leakage[3]
    assert isinstance(rows, RowCountFilter) and (rows.min_rows, rows.max_rows) == (2, 50)


# -- the report ------------------------------------------------------------------------------


def test_report_round_trips_with_and_without_a_dropped_file(
    article_pairs: list[QAPair], tmp_path: Path
) -> None:
    _, report = FilterChain(default_filters(eval_cases=GOLDEN)).apply(article_pairs)

    inline = tmp_path / "inline.json"
    report.save(inline)
    assert FilterReport.load(inline) == report

    path, dropped = tmp_path / "out" / "clean.report.json", tmp_path / "out" / "dropped.jsonl"
    report.save(path, dropped_path=dropped)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["dropped"] == [] and data["dropped_path"] == "dropped.jsonl"
    assert data["kept_count"] == 2 and data["stats"]["count"] == 2
    lines = [json.loads(line) for line in dropped.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == report.dropped_count == 7
    assert lines[0]["filter"] == "valid_sql" and lines[0]["reason"] == "invalid_sql"
    assert lines[0]["question"] == article_pairs[0].question and "detail" in lines[0]
    loaded = FilterReport.load(path)
    assert loaded.dropped == report.dropped
    assert loaded.model_dump(exclude={"dropped_path"}) == report.model_dump(
        exclude={"dropped_path"}
    )


def test_report_table_lists_every_step(article_pairs: list[QAPair]) -> None:
    _, report = FilterChain(default_filters(eval_cases=GOLDEN)).apply(article_pairs)
    console = Console(record=True, width=140)
    console.print(report.to_table())
    console.print(report.stats.to_table())
    text = console.export_text()
    for step in ("generator", "safety", "valid_sql", "row_count", "leakage"):
        assert step in text
    assert "leaks_eval_question 2" in text
    assert "9 pairs -> 2 kept" in text


# -- statistics and normalisation ------------------------------------------------------------


def test_dataset_stats() -> None:
    pairs = [
        QAPair(question="How many customers per country?", source="seed",
               sql="SELECT country, count() FROM ecommerce.users GROUP BY country"),
        QAPair(question="Distinct buyers in March 2024?", source="openai:gpt-4o",
               sql="SELECT uniqExact(user_id) FROM ecommerce.sessions WHERE "
               "toStartOfMonth(action_date) = '2024-03-01' AND revenue > 0"),
        QAPair(question="Top 3 countries by revenue with their running total?",
               source="openai:gpt-4o",
               sql="SELECT u.country, sum(s.revenue) AS r, sum(r) OVER (ORDER BY r DESC) "
               "FROM ecommerce.sessions AS s JOIN ecommerce.users AS u USING (user_id) "
               "GROUP BY u.country ORDER BY r DESC LIMIT 3"),
    ]  # fmt: skip
    stats = dataset_stats(pairs)
    assert stats.count == 3
    assert stats.tables == {"ecommerce.users": 2, "ecommerce.sessions": 2}
    assert stats.columns["country"] == 2 and stats.columns["revenue"] == 2
    assert "r" not in stats.columns  # an alias, not a column
    assert stats.features["group_by"] == 2 and stats.features["join"] == 1
    assert stats.features["window"] == 1 and stats.features["date_function"] == 1
    assert stats.features["subquery"] == 0 and stats.features["cte"] == 0
    assert stats.aggregates == {"sum": 1, "count": 1, "uniq": 1}
    assert (stats.question_words.min, stats.question_words.max) == (5, 9)
    assert stats.question_words.mean == pytest.approx(19 / 3)
    assert stats.sources == {"openai:gpt-4o": 2, "seed": 1}
    assert dataset_stats([]).count == 0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How many users?", "  how many   USERS ?? "),
        ("Straße?", "STRASSE"),
        ("Revenue in 2024.", "revenue in 2024"),
    ],
)
def test_normalize_question(a: str, b: str) -> None:
    assert normalize_question(a) == normalize_question(b)


def test_question_tokens() -> None:
    assert question_tokens("How many users, in 2024?") == {"how", "many", "users", "in", "2024"}
    assert question_tokens("?!") == frozenset()
    assert normalize_question("Users in 2024?") != normalize_question("Users in 2023?")


def test_pairs_of_identical_sets_are_found_at_every_threshold() -> None:
    sets = [frozenset({"a", "b", "c"}), frozenset({"c", "b", "a"})]
    for threshold in (0.1, 0.5, 1.0):
        index = JaccardIndex(threshold, token_order(sets))
        index.add(0, sets[0])
        assert index.best(sets[1]) == (0, 1.0)


def test_default_chain_checks_unvalidated_pairs_in_the_executors_dialect() -> None:
    from text2sql_tune.safety import SQLGuard

    sqlite_guard = SQLGuard(dialect="sqlite")
    (safety,) = [f for f in default_filters(guard=sqlite_guard) if f.name == "safety"]
    assert isinstance(safety, SafetyFilter)
    assert safety.guard is sqlite_guard
    assert safety.trust_validation is True
    # SQLite's strftime is no ClickHouse function: the ClickHouse guard would refuse the pair.
    pair = QAPair(question="Orders per month?", sql="SELECT strftime('%m', d), count(*) FROM t")
    assert safety.decide([pair])[0].keep
    (clickhouse_safety,) = [f for f in default_filters() if f.name == "safety"]
    assert not clickhouse_safety.decide([pair])[0].keep
