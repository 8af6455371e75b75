"""Dev and test: the split of a golden set, its record, and the refusal to read test cases."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from text2sql_tune import EvalCase, QAPair, load_golden_set, load_seed_examples
from text2sql_tune.cli import exit_code_for
from text2sql_tune.errors import HeldOutSetError
from text2sql_tune.evaluate.golden_lint import lint_golden
from text2sql_tune.evaluate.splits import (
    GoldenSplit,
    HeldOutSet,
    SplitRecord,
    case_set_hash,
    split_golden,
    stratum,
)
from text2sql_tune.executors import ChDBExecutor
from text2sql_tune.filters import LeakageFilter

ALL = load_golden_set("all")


def test_the_bundled_golden_set_has_a_dev_and_a_test_part() -> None:
    dev, test = load_golden_set("dev"), load_golden_set("test")
    assert load_golden_set() == dev  # the call without a split is the set it always was
    assert (len(dev), len(test)) == (10, 36)
    assert dev + test == ALL
    assert len({c.id for c in ALL}) == len(ALL)
    with pytest.raises(ValueError, match="split must be"):
        load_golden_set("train")  # type: ignore[arg-type]


def test_the_bundled_test_set_asks_nothing_dev_or_the_seeds_already_ask(
    demo_executor: ChDBExecutor,
) -> None:
    test = load_golden_set("test")
    known = [QAPair(question=c.question, sql=c.sql) for c in load_golden_set("dev")]
    known += load_seed_examples()
    HeldOutSet.of(test).check(known, "the seed examples and the dev set")  # nothing shared
    decisions = LeakageFilter(test, executor=demo_executor).decide(known)
    assert [d.detail for d in decisions if not d.keep] == []  # not even by meaning


def test_the_bundled_test_set_passes_the_golden_lint(demo_executor: ChDBExecutor) -> None:
    found = lint_golden(load_golden_set("test"), demo_executor)
    assert found.errors == [] and found.warnings == [], found.summary()


def test_a_split_is_deterministic_stratified_and_independent_of_file_order() -> None:
    split = split_golden(ALL, 0.3, seed=7)
    assert (len(split.dev), len(split.test)) == (32, 14)
    assert split.method == "fraction" and (split.test_fraction, split.seed) == (0.3, 7)
    shuffled = ALL[:]
    random.Random(1).shuffle(shuffled)
    again = split_golden(shuffled, 0.3, seed=7)
    assert {c.id for c in again.test} == {c.id for c in split.test}
    assert [c.id for c in split.dev] == [c.id for c in ALL if c not in split.test]  # file order
    other = split_golden(ALL, 0.3, seed=8)
    assert {c.id for c in other.test} != {c.id for c in split.test}
    # every stratum with enough cases gives test its share, within one case
    strata, tested = Counter(map(stratum, ALL)), Counter(map(stratum, split.test))
    for key, size in strata.items():
        assert abs(tested[key] - 0.3 * size) <= 1, key


def test_cases_with_the_same_query_stay_on_one_side() -> None:
    sql = "select count() from ecommerce.users"
    cases = [
        EvalCase(id="a", question="How many customers are there?", sql=sql),
        EvalCase(
            id="b",
            question="How many users are registered?",
            sql="SELECT COUNT(*) FROM ecommerce.users",
        ),
        *(EvalCase(id=f"c{i}", question=f"Question {i}?", sql=f"select {i}") for i in range(8)),
    ]
    for seed in range(10):
        split = split_golden(cases, 0.5, seed=seed)
        sides = {c.id for c in split.test} & {"a", "b"}
        assert sides in (set(), {"a", "b"})


def test_a_case_is_stratified_by_its_first_tag_else_by_its_shape() -> None:
    assert stratum(EvalCase(question="q", sql="select 1", tags=["join", "count"])) == "tag:join"
    joined = "select count() from a join b on a.x = b.x"
    assert stratum(EvalCase(question="q", sql=joined)) == "shape:join"
    assert stratum(EvalCase(question="q", sql="select count() from a")) == "shape:simple"


def test_bad_fractions_and_tiny_sets_are_refused() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        split_golden(ALL, 1.0)
    with pytest.raises(ValueError, match="at least two"):
        split_golden(ALL[:1], 0.5)
    two = split_golden(ALL[:2], 0.01)
    assert (len(two.dev), len(two.test)) == (1, 1)  # at least one case on each side


def test_the_set_hash_ignores_order_and_formatting_but_not_content() -> None:
    test = load_golden_set("test")
    spaced = [c.sql.replace("select ", "SELECT  ").replace(" from ", "\n  FROM ") for c in test]
    reformatted = [c.model_copy(update={"sql": sql}) for c, sql in zip(test, spaced, strict=True)]
    assert case_set_hash(test[::-1]) == case_set_hash(test)
    assert case_set_hash(reformatted) == case_set_hash(test)  # keyword case, spacing
    edited = [test[0].model_copy(update={"question": "Another question?"}), *test[1:]]
    assert case_set_hash(edited) != case_set_hash(test)


def test_test_cases_are_refused_by_question_or_by_query(tmp_path: Path) -> None:
    split = GoldenSplit.of(load_golden_set("dev"), load_golden_set("test"))
    held = SplitRecord.load(split.record().save(tmp_path / "golden_split.json")).held_out()
    case = load_golden_set("test")[1]  # t02: select sum(revenue) as revenue from ...
    reworded = QAPair(question="Anything else?", sql=case.sql.replace(" as ", " AS x_"))
    held.check(load_golden_set("dev") + load_seed_examples(), "the seed examples")
    with pytest.raises(HeldOutSetError, match="the analysis would read 1 test-set case") as exc:
        held.check([*load_golden_set("dev"), case], "the analysis")
    assert exc.value.cases == [case.id]
    assert exit_code_for(exc.value) == 7
    with pytest.raises(HeldOutSetError):
        held.check([reworded], "the seed examples")  # the same query, another alias
    rejected = QAPair(rejected="no answer", source="openai")
    held.check([rejected], "the seed examples")  # nothing to read in a rejected record


def test_dev_and_test_may_not_share_a_case() -> None:
    dev = load_golden_set("dev")
    with pytest.raises(HeldOutSetError, match="the dev set would read 1"):
        GoldenSplit.of(dev, [dev[3]])


def test_the_record_keeps_counts_and_hashes_but_no_test_text() -> None:
    split = GoldenSplit.of(load_golden_set("dev"), load_golden_set("test"))
    record = split.record()
    assert (record.method, record.dev_cases, record.test_cases) == ("files", 10, 36)
    assert record.test_hash == case_set_hash(load_golden_set("test"))
    text = record.model_dump_json()
    assert all(c.question not in text for c in split.test)
    assert GoldenSplit.of(load_golden_set("dev")).record().method == "dev_only"
