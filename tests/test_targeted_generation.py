"""Targeted generation: templates picked by concept, the extended templates, the LLM prompt."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from text2sql_tune import (
    ChDBExecutor,
    OutcomeStatus,
    demo_schema,
    load_golden_set,
    load_seed_examples,
    validate_pairs,
)
from text2sql_tune.analysis import GenerationTarget, SQLPattern, analyze
from text2sql_tune.generators import OpenAIQAGenerator, TemplateQAGenerator
from text2sql_tune.llm import OpenAIChatClient
from text2sql_tune.testing import FakeOpenAIServer

DATA = Path(__file__).parent / "data"
RANGE = (dt.date(2021, 1, 1), dt.date(2025, 6, 30))


def target(
    *concepts: str, reason: str = "missing", weight: float = 1.0, **pattern: object
) -> GenerationTarget:
    return GenerationTarget(
        reason=reason,  # type: ignore[arg-type]
        concepts=list(concepts),
        pattern=SQLPattern.model_validate(pattern),
        case="case",
        weight=weight,
    )


# -- the standard mix is frozen -------------------------------------------------------------------


def test_a_seed_keeps_producing_the_pairs_it_produced_before() -> None:
    # Recorded before the extended templates and targeting existed: resumed runs rely on it.
    recorded = [
        json.loads(line)
        for line in (DATA / "template_pairs_seed3.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    generator = TemplateQAGenerator(demo_schema(), seed=3, date_range=RANGE)
    now = [
        {"question": p.question, "sql": p.sql, "template": p.metadata["template"]}
        for p in generator.pairs(len(recorded))
    ]
    assert now == recorded


def test_extended_templates_only_when_asked() -> None:
    standard = {p.metadata["template"] for p in TemplateQAGenerator(demo_schema()).pairs(300)}
    extended = TemplateQAGenerator(demo_schema(), extended=True, date_range=RANGE).pairs(400)
    names = {p.metadata["template"] for p in extended}
    new = {"percentiles", "totals", "first_last_span", "entity_share", "distinct_paying"}
    assert new <= names and not new & standard
    # the extended shapes use what the standard mix lacks
    sqls = " ".join(p.sql for p in extended)
    for fragment in ("uniqExactIf(", "quantile(", "with totals", "having count() >=", "limit 1"):
        assert fragment in sqls


async def test_extended_templates_with_values_from_the_database(
    demo_executor: ChDBExecutor,
) -> None:
    generator = await TemplateQAGenerator.afrom_database(
        demo_executor, demo_schema(), extended=True
    )
    assert generator.extended
    assert set(generator.values["ecommerce.users.country"]) >= {"France", "Germany"}
    assert any(p.metadata["template"] == "percentiles" for p in generator.pairs(200))


def test_relative_windows_only_when_the_data_reaches_today() -> None:
    today = dt.date.today()
    recent = TemplateQAGenerator(demo_schema(), extended=True, date_range=(RANGE[0], today))
    old = TemplateQAGenerator(demo_schema(), extended=True, date_range=RANGE)
    assert any("today()" in p.sql for p in recent.pairs(300))
    assert not any("today()" in p.sql for p in old.pairs(300))


# -- targeting ------------------------------------------------------------------------------------


def test_targeted_pairs_use_the_targets_concepts() -> None:
    targets = [
        target("function:quantile", "function:median", groups=["os"], columns=["os"]),
        target(
            "function:uniqExactIf",
            "period:year",
            periods=["year"],
            columns=["user_id", "revenue", "action_date"],
            weight=2.0,
        ),
    ]
    generator = TemplateQAGenerator(demo_schema(), seed=1, date_range=RANGE).targeted(targets)
    pairs = generator.pairs(20)
    assert generator.name == "template:targeted" and len(pairs) == 20
    assert all(p.ok and p.source == "template:targeted" for p in pairs)
    assert len({p.sql for p in pairs}) == 20
    assert {p.metadata["reason"] for p in pairs} == {"missing"}
    quantiles = [p for p in pairs if "quantile(" in p.sql]
    conditional = [p for p in pairs if "uniqExactIf(" in p.sql]
    assert len(quantiles) + len(conditional) == 20
    assert len(conditional) > len(quantiles)  # twice the weight
    # the pattern narrows the values: year windows and the os column
    assert all("toStartOfYear(" in p.sql for p in conditional if "where" in p.sql)
    assert all("group by os" in p.sql for p in quantiles)


def test_targeted_generation_is_deterministic_and_resumes() -> None:
    targets = [target("feature:with_totals", columns=["browser"], periods=["month"])]
    make = TemplateQAGenerator(demo_schema(), seed=5, date_range=RANGE).targeted
    first = make(targets).pairs(12)
    assert make(targets).pairs(12) == first
    resumed = make(targets)
    resumed.resume_after(5)
    assert resumed.generate(7) == first[5:]
    assert all("with totals" in p.sql and "browser" in p.sql for p in first)


def test_a_target_no_template_serves_gives_rejected_records_and_others_take_over() -> None:
    nothing = target("function:arrayJoin")
    only = TemplateQAGenerator(demo_schema(), date_range=RANGE).targeted([nothing]).pairs(3)
    assert [p.rejected for p in only] == ["no template uses the concepts of any target"] * 3
    small = target("feature:having", "filter:count() >= ?")  # few distinct pairs exist
    mixed = (
        TemplateQAGenerator(demo_schema(), date_range=RANGE)
        .targeted([nothing, small, target("function:median", weight=0.1, periods=["month"])])
        .pairs(20)
    )
    assert all(p.ok for p in mixed)  # the median target fills what the others leave
    assert sum("having" in p.sql for p in mixed) <= 4


def test_targeted_pairs_for_the_demo_analysis_run_on_the_database(
    demo_executor: ChDBExecutor,
) -> None:
    golden = load_golden_set()
    analysis = analyze(golden, load_seed_examples()[:8])
    start = dt.date(2021, 1, 1)
    generator = TemplateQAGenerator(
        demo_schema(), date_range=(start, dt.datetime.now(dt.timezone.utc).date())
    ).targeted(analysis.targets)
    pairs = generator.pairs(60)
    assert all(p.ok for p in pairs)
    validated = validate_pairs(pairs, demo_executor)
    statuses = Counter(p.validation.status for p in validated if p.validation is not None)
    assert statuses[OutcomeStatus.ERROR] == 0 and statuses[OutcomeStatus.UNSAFE] == 0
    golden_questions = {c.question.lower() for c in golden}
    assert not golden_questions & {p.question.lower() for p in pairs}


# -- the LLM generator ----------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def test_the_llm_prompt_names_the_target_and_never_a_golden_question(
    server: FakeOpenAIServer,
) -> None:
    golden = load_golden_set()
    seeds = load_seed_examples()
    analysis = analyze(golden, seeds[:6])
    client = OpenAIChatClient("gpt-4o", base_url=server.url, api_key="sk-fake")
    base = OpenAIQAGenerator(client, demo_schema(), seeds, k=2, rng_seed=3)
    generator = base.targeted(analysis.targets)
    assert generator.name == "openai:gpt-4o:targeted"
    pairs = generator.generate(80)  # more than one whole rotation
    assert all(p.ok and p.metadata.get("reason") for p in pairs)
    prompts = [r.body["messages"][1]["content"] for r in server.chat_requests]
    assert len(prompts) == 80
    for prompt in prompts:
        assert "must teach it" in prompt and "Follow this query pattern" in prompt
        for case in golden:
            assert case.question not in prompt
    # every target is asked for in a rotation
    asked = Counter(p.metadata["target"] for p in pairs)
    assert set(asked) == {t.case or t.term for t in analysis.targets}
    # the examples shown are the seeds closest to the target
    quantile_prompt = next(p for p in prompts if "function quantile" in p)
    shown = [line for line in quantile_prompt.splitlines() if line.startswith("question: ")]
    assert any("percentile" in line or "median" in line for line in shown)


def test_the_llm_rotation_follows_the_weights_and_resumes(server: FakeOpenAIServer) -> None:
    client = OpenAIChatClient("gpt-4o", base_url=server.url, api_key="sk-fake", concurrency=1)
    heavy, light = target("function:median", weight=3.0), target("function:max", weight=1.0)
    heavy.case, light.case = "heavy", "light"
    generator = OpenAIQAGenerator(client, demo_schema(), load_seed_examples(), k=1).targeted(
        [heavy, light]
    )
    asked = Counter(p.metadata["target"] for p in generator.generate(40))
    assert asked["heavy"] == 30 and asked["light"] == 10
    again = OpenAIQAGenerator(client, demo_schema(), [], k=0).targeted([heavy, light])
    again.resume_after(1)
    assert [p.metadata["target"] for p in again.generate(1)] == ["heavy"]
    prompt = server.chat_requests[-1].body["messages"][1]["content"]
    assert "Examples of questions" not in prompt  # k = 0: no examples section
