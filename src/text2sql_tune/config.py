"""Pipeline configuration: one typed model, loadable from a TOML file.

Example ``pipeline.toml``::

    [run]
    dir = "runs/first"
    database = "chdb:///data/shop"        # omit for the demo database

    [generate]
    generator = "openai"                  # or "template" (offline), or a plugin's generator
    n = 300
    seed_examples = "seeds.jsonl"
    model = "gpt-4o"

    [clean]
    max_rows = 100
    eval_set = "golden.jsonl"             # pairs leaking the golden set are dropped
    filters = ["my_filter"]               # more filters (by name) after the default chain
    without = ["near_duplicate"]          # default filters to leave out
    [clean.filter_options.my_filter]      # keyword arguments of one filter
    max_words = 30

    [export]
    formats = ["lamini", "openai"]

    [tune]
    tuner = "lamini"                      # omit to skip tuning
    max_steps = 50
    learning_rate = 0.0001

    [evaluate]
    dev = "golden_dev.jsonl"              # what the loop may read (analysis, targets)
    test = "golden_test.jsonl"            # scored only (or: golden = ..., test_fraction = 0.3)
    model = "retrieval"                   # "tuned", "zero-shot", "few-shot", "none", "kind:model"
    judge = "execution"

    [llm]                                 # every LLM call of the run (all optional)
    max_retries = 6
    max_wait_s = 120                      # cap on a Retry-After wait
    timeout_s = 180                       # one HTTP attempt, a trickle included
    call_timeout_s = 300                  # one call with all its retries
    max_failures = 5                      # calls in a row without an answer: stop, exit 4
    [next]                                # used when [run] parent is set (or --next-from)
    n = 200                               # targeted pairs for the gaps the analysis finds
    min_examples = 3

Relative paths in the file are resolved against the file's folder. Component names (generators,
filters, tuners, models, judges) are those of the :mod:`~text2sql_tune.registry`, plugins' included,
and are checked when the file is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from . import registry
from ._defaults import LLM_DEFAULTS, MAX_SQL_LENGTH
from .errors import ConfigurationError, DataError
from .io.decode import TOMLDecodeError, parse_toml, read_text
from .io.validation_errors import describe_validation_error

__all__ = [
    "CleanConfig",
    "EvaluateConfig",
    "ExportConfig",
    "GenerateConfig",
    "LLMConfig",
    "NextConfig",
    "PipelineConfig",
    "RunConfig",
    "TuneConfig",
    "load_config",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _registered(kind: registry.Kind, also: Iterable[str] = ()) -> Callable[[str], str]:
    """A validator: the value is a name of ``kind`` in the registry (or one of ``also``)."""
    accepted = tuple(also)

    def check(value: str) -> str:
        try:
            return registry.check(kind, value, also=accepted)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None

    return check


def _model_spec(value: str) -> str:
    kind, colon, name = value.partition(":")
    kind = _registered("model", ("tuned", "none"))(kind)
    if colon and kind in ("tuned", "none"):
        raise ValueError(f"{kind!r} takes no model name")
    return f"{kind}{colon}{name.strip()}"


def _default_filter(value: str) -> str:
    from .filters.chain import DEFAULT_FILTERS

    if value.strip().lower() not in DEFAULT_FILTERS:
        raise ValueError(
            f"{value!r} is not a default filter; the default chain: {', '.join(DEFAULT_FILTERS)}"
        )
    return value.strip().lower()


def _builtins(kind: registry.Kind, *also: str) -> list[str]:
    return [*registry.builtin_names(kind), *also]


GeneratorName = Annotated[str, AfterValidator(_registered("generator", ("none",)))]
FilterName = Annotated[str, AfterValidator(_registered("filter"))]
TunerName = Annotated[str, AfterValidator(_registered("tuner"))]
JudgeName = Annotated[str, AfterValidator(_registered("judge"))]


class RunConfig(_Section):
    """Where the run lives and which database it uses.

    Attributes:
        dir: The run directory (created; a stopped run resumes from it).
        database: Database URL; ``None`` means the embedded demo database.
        schema_notes: YAML/TOML/JSON file with table/column descriptions and example values.
        concurrency: Queries run at once during validation and evaluation.
        parent: Make this run the next iteration of that run directory: start from its kept
            pairs, add pairs targeted at what the analysis of its evaluation found (``[next]``),
            clean and evaluate again.
    """

    dir: Path = Path("runs/latest")
    database: str | None = None
    schema_notes: Path | None = None
    concurrency: int = Field(default=4, ge=1)
    parent: Path | None = None


class GenerateConfig(_Section):
    """Step 1: generating question/SQL pairs.

    Attributes:
        generator: ``"template"`` (offline, schema-driven), ``"openai"`` (any OpenAI-compatible
            endpoint) or a plugin's generator; ``"none"`` uses only the seed examples.
        n: Generation attempts.
        seed_examples: Few-shot examples file; default for the demo database: the bundled ones.
        include_seed_examples: Add the seed examples to the training data too.
        model: Chat model for the OpenAI generator.
        base_url: OpenAI-compatible endpoint (default: OpenAI, or ``OPENAI_BASE_URL``).
        api_key_env: Environment variable holding the API key.
        concurrency: Generation calls in flight.
        temperature: Sampling temperature.
        k: Seed examples shown per call.
        seed: Random seed (template generator and example sampling).
        mode: How the OpenAI generator asks for structured answers: ``tools`` (a tool call) or
            ``json_schema``.
    """

    generator: GeneratorName = Field(default="template", examples=_builtins("generator", "none"))
    n: int = Field(default=300, ge=0)
    seed_examples: Path | None = None
    include_seed_examples: bool = True
    model: str = "gpt-4o"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(default=8, ge=1)
    temperature: float = 0.5
    k: int = Field(default=3, ge=0)
    seed: int = 0
    mode: Literal["tools", "json_schema"] = "tools"


class CleanConfig(_Section):
    """Steps 2–3: validation bounds and filters.

    The cleaning chain is the default one (``sql_length``, ``safety``, ``valid_sql``,
    ``row_count``, ``duplicate_question``, ``duplicate_sql``, ``near_duplicate``, ``leakage``)
    less ``without``, then ``filters``: the list *extends* the default chain, it does not
    replace it.

    Attributes:
        min_rows: Fewest result rows a kept pair may return.
        max_rows: Most result rows a kept pair may return.
        near_dup_threshold: Question similarity above which pairs count as near duplicates.
        max_sql_length: Longest SQL kept, in characters (``sql_length``).
        eval_set: Golden set whose questions and SQL must not leak into training data
            (default: the ``[evaluate]`` dev set); the ``[evaluate]`` test set is always added.
        filters: More filters, by registry name (a plugin's too), run after the default ones.
        without: Default filters to leave out, by name.
        filter_options: Filter name -> keyword arguments for it (``[clean.filter_options.X]``);
            they override the settings above for that filter. A filter also gets the settings
            above whose names its constructor takes (``min_rows``, ``max_rows``,
            ``near_dup_threshold``, ``max_sql_length``, ``eval_cases``) and the run's database
            (``executor``).
    """

    min_rows: int = Field(default=1, ge=0)
    max_rows: int = Field(default=100, ge=1)
    near_dup_threshold: float = Field(default=0.9, gt=0, le=1)
    max_sql_length: int = Field(default=MAX_SQL_LENGTH, ge=1)
    eval_set: Path | None = None
    filters: list[FilterName] = Field(default_factory=list, examples=[_builtins("filter")])
    without: list[Annotated[str, AfterValidator(_default_filter)]] = Field(default_factory=list)
    filter_options: dict[FilterName, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options_for_filters_that_run(self) -> CleanConfig:
        from .filters.chain import DEFAULT_FILTERS

        running = {*DEFAULT_FILTERS, *self.filters} - set(self.without)
        unused = sorted(set(self.filter_options) - running)
        if unused:
            raise ValueError(f"filter_options for {', '.join(unused)}, which is not in the chain")
        return self


class ExportConfig(_Section):
    """Step 4: formatting for tuning.

    Attributes:
        formats: Any of ``lamini``, ``openai``, ``hf``, ``jsonl``.
        validation_fraction: Share of pairs held out as a validation file.
        seed: Split seed.
    """

    formats: list[Literal["lamini", "openai", "hf", "jsonl"]] = ["lamini", "openai"]
    validation_fraction: float = Field(default=0.0, ge=0, lt=1)
    seed: int = 0


class TuneConfig(_Section):
    """Step 5: tuning (skipped when ``tuner`` is ``None``).

    Attributes:
        tuner: ``"lamini"``, ``"openai"``, ``"local"`` (LoRA on this machine; it trains
            during the run, so the tuned model is evaluated in the same run) or a plugin's.
        base_model: Model to tune (provider default when omitted; a model folder or hub id for
            ``local``, where it is required).
        max_steps: Lamini ``max_steps``.
        learning_rate: Learning rate.
        extra_args: More provider arguments (Lamini ``finetune_args``, OpenAI hyperparameters).
        wait: Wait for the job to finish (and evaluate the tuned model).
        poll_interval_s: First polling interval while waiting.
        output_dir: Local: where job folders go (default ``<run dir>/tuning``).
        recipe: Local: ``standard`` or ``memory`` (train to near-zero loss, measure recall).
        device: Local: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        api_url: Lamini API URL / OpenAI base URL (default: the environment's, else public).
        name: Lamini custom model name / OpenAI model suffix.
    """

    tuner: TunerName | None = Field(default=None, examples=_builtins("tuner"))
    base_model: str | None = None
    max_steps: int | None = Field(default=None, ge=1)
    learning_rate: float | None = Field(default=None, gt=0)
    extra_args: dict[str, Any] = Field(default_factory=dict)
    wait: bool = False
    poll_interval_s: float = Field(default=30.0, gt=0)
    output_dir: Path | None = None
    recipe: Literal["standard", "memory"] = "standard"
    device: str = "auto"
    api_url: str | None = None
    name: str | None = None


class EvaluateConfig(_Section):
    """Step 6: evaluation (skipped without a golden set or with ``model = "none"``).

    The golden set has a **dev** part, which the analysis, the targeted generation of a next
    iteration and the seed examples may read, and a **test** part, which is only scored (see
    :mod:`~text2sql_tune.evaluate.splits`). Give the two files (``dev`` and ``test``), or one
    file (``golden``) with ``test_fraction`` to split it; ``golden`` alone is all dev (no test
    set: every score is on cases the loop reads). The demo database defaults to its bundled dev
    and test sets.

    Attributes:
        golden: Golden set file (dev, or split with ``test_fraction``); default for the demo
            database: the bundled dev set.
        dev: The dev part, as its own file (another name for ``golden``; give one of the two).
        test: The test part, as its own file; default for the demo database: the bundled one.
        test_fraction: Split ``golden`` (``dev``) into dev and test: this share of its cases,
            stratified by tag (else query shape), becomes test.
        split_seed: Seed of the ``test_fraction`` split (recorded in ``golden_split.json``).
        model: ``retrieval`` (offline: answers with the SQL of the most similar training
            question), ``tuned`` (the model from the tuning step), ``zero-shot`` / ``few-shot``
            (prompting ``llm_model`` through the OpenAI-compatible API), ``none``, or any model
            spec ``kind:name`` of the registry (``openai:ft:...``, ``local:<folder>``, a
            plugin's); a kind without ``:name`` is given ``llm_model`` as its name.
        llm_model: Chat model for the prompt-only baselines.
        judge: ``execution`` (deterministic), ``llm``, ``cascade`` (execution, then LLM) or a
            plugin's judge.
        judge_model: Chat model for the LLM judge.
        judge_cache: JSONL file caching LLM verdicts (default: the run's ``judge_cache.jsonl``).
        html: Also write an HTML report with the validity/accuracy chart.
    """

    golden: Path | None = None
    dev: Path | None = None
    test: Path | None = None
    test_fraction: float | None = Field(default=None, gt=0, lt=1)
    split_seed: int = 0
    model: Annotated[str, AfterValidator(_model_spec)] = Field(
        default="retrieval", examples=_builtins("model", "tuned", "none")
    )
    llm_model: str = "gpt-4o-mini"
    judge: JudgeName = Field(default="execution", examples=_builtins("judge"))
    judge_model: str = "gpt-4o"
    judge_cache: Path | None = None
    html: bool = True

    @model_validator(mode="after")
    def _one_golden_source(self) -> EvaluateConfig:
        if self.golden is not None and self.dev is not None:
            raise ValueError("give golden or dev (two names for the dev set), not both")
        if self.test_fraction is not None and self.test is not None:
            raise ValueError("give test (a file) or test_fraction (split golden), not both")
        return self


class LLMConfig(_Section):
    """How every LLM call of the run (generator, LLM judge, prompt-only models) copes with faults.

    Attributes:
        max_retries: Retries per call after a 429, 5xx, timeout or unreadable answer.
        max_wait_s: Longest wait honoured from a ``Retry-After`` header (longer ones are capped).
        timeout_s: Longest one HTTP attempt may take in all, a slow trickle included.
        call_timeout_s: Longest one call may take with all its retries and waits.
        max_failures: Calls in a row that get no answer (the provider is down) before the run
            stops with exit code 4; everything completed is kept and a re-run resumes.
    """

    max_retries: int = Field(default=LLM_DEFAULTS.max_retries, ge=0)
    max_wait_s: float = Field(default=LLM_DEFAULTS.max_wait_s, ge=0)
    timeout_s: float = Field(default=LLM_DEFAULTS.timeout_s, gt=0)
    call_timeout_s: float = Field(default=LLM_DEFAULTS.call_timeout_s, gt=0)
    max_failures: int = Field(default=LLM_DEFAULTS.max_failures, ge=1)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~text2sql_tune.llm.OpenAIChatClient`."""
        return {
            "max_retries": self.max_retries,
            "max_retry_after_s": self.max_wait_s,
            "attempt_timeout_s": self.timeout_s,
            "call_timeout_s": self.call_timeout_s,
        }


class NextConfig(_Section):
    """A next iteration (``[run] parent``): what to generate for the analysis's targets.

    Attributes:
        n: Targeted pairs to generate (validated and cleaned like the rest).
        generator: A generator name (``"template"``, ``"openai"``, a plugin's); default: the
            ``[generate]`` generator (the template generator when that is ``"none"``).
        min_examples: Training pairs a golden concept needs to count as covered.
        max_targets: Most generation targets (default: every gap and inconsistency).
    """

    n: int = Field(default=200, ge=0)
    generator: Annotated[str, AfterValidator(_registered("generator"))] | None = None
    min_examples: int = Field(default=3, ge=1)
    max_targets: int | None = Field(default=None, ge=1)


class PipelineConfig(_Section):
    """The whole pipeline, section by section (see the module docstring for a TOML example)."""

    run: RunConfig = Field(default_factory=RunConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    next: NextConfig = Field(default_factory=NextConfig)

    def resolve_paths(self, base: Path) -> PipelineConfig:
        """Return a copy with relative file paths made absolute against ``base``."""
        config = self.model_copy(deep=True)

        def fix(path: Path | None) -> Path | None:
            return path if path is None or path.is_absolute() else base / path

        config.run.dir = fix(config.run.dir) or config.run.dir
        config.run.schema_notes = fix(config.run.schema_notes)
        config.run.parent = fix(config.run.parent)
        config.generate.seed_examples = fix(config.generate.seed_examples)
        config.clean.eval_set = fix(config.clean.eval_set)
        config.evaluate.golden = fix(config.evaluate.golden)
        config.evaluate.dev = fix(config.evaluate.dev)
        config.evaluate.test = fix(config.evaluate.test)
        config.evaluate.judge_cache = fix(config.evaluate.judge_cache)
        config.tune.output_dir = fix(config.tune.output_dir)
        return config


def load_config(path: str | Path) -> PipelineConfig:
    """Read a pipeline configuration from a TOML file (or a run's ``config.json`` snapshot).

    Args:
        path: The TOML file; relative paths inside are resolved against its folder. A ``.json``
            file is read as JSON (the snapshot every run directory keeps).

    Raises:
        ConfigurationError: The file is missing, empty, not TOML, or has unknown or invalid
            settings (one line naming the setting).
    """
    path = Path(path)
    try:
        text = read_text(path)
        data = json.loads(text) if path.suffix == ".json" else parse_toml(text)
    except DataError as exc:
        raise ConfigurationError(str(exc)) from None
    except TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid JSON: {exc}") from exc
    if not data:
        raise ConfigurationError(
            f"{path}: no settings in it (an empty file?); a pipeline configuration is a TOML file "
            "with at least one [section]; `text2sql-tune demo` runs with every default"
        )
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(
            f"{path}: invalid configuration: {describe_validation_error(exc)}"
        ) from None
    return config.resolve_paths(path.parent.resolve())
