"""Pipeline configuration: one typed model, loadable from a TOML file.

Example ``pipeline.toml``::

    [run]
    dir = "runs/first"
    database = "chdb:///data/shop"        # omit for the demo database

    [generate]
    generator = "openai"                  # or "template" (offline)
    n = 300
    seed_examples = "seeds.jsonl"
    model = "gpt-4o"

    [clean]
    max_rows = 100
    eval_set = "golden.jsonl"             # pairs leaking the golden set are dropped

    [export]
    formats = ["lamini", "openai"]

    [tune]
    tuner = "lamini"                      # omit to skip tuning
    max_steps = 50
    learning_rate = 0.0001

    [evaluate]
    golden = "golden.jsonl"
    model = "retrieval"                   # "tuned", "zero-shot", "few-shot" or "none"
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

Relative paths in the file are resolved against the file's folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._defaults import LLM_DEFAULTS
from .errors import ConfigurationError, DataError
from .io.decode import read_text
from .io.validation_errors import describe_validation_error

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

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
        generator: ``"template"`` (offline, schema-driven) or ``"openai"`` (any OpenAI-compatible
            endpoint); ``"none"`` uses only the seed examples.
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
    """

    generator: Literal["template", "openai", "none"] = "template"
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


class CleanConfig(_Section):
    """Steps 2–3: validation bounds and filters.

    Attributes:
        min_rows: Fewest result rows a kept pair may return.
        max_rows: Most result rows a kept pair may return.
        near_dup_threshold: Question similarity above which pairs count as near duplicates.
        eval_set: Golden set whose questions and SQL must not leak into training data
            (default: the ``[evaluate]`` golden set).
    """

    min_rows: int = Field(default=1, ge=0)
    max_rows: int = Field(default=100, ge=1)
    near_dup_threshold: float = Field(default=0.9, gt=0, le=1)
    eval_set: Path | None = None


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
        tuner: ``"lamini"``, ``"openai"`` or ``"local"`` (LoRA on this machine; it trains
            during the run, so the tuned model is evaluated in the same run).
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
    """

    tuner: Literal["lamini", "openai", "local"] | None = None
    base_model: str | None = None
    max_steps: int | None = Field(default=None, ge=1)
    learning_rate: float | None = Field(default=None, gt=0)
    extra_args: dict[str, Any] = Field(default_factory=dict)
    wait: bool = False
    poll_interval_s: float = Field(default=30.0, gt=0)
    output_dir: Path | None = None
    recipe: Literal["standard", "memory"] = "standard"
    device: str = "auto"


class EvaluateConfig(_Section):
    """Step 6: evaluation (skipped without a golden set or with ``model = "none"``).

    Attributes:
        golden: Golden set file; default for the demo database: the bundled one.
        model: ``retrieval`` (offline: answers with the SQL of the most similar training
            question), ``tuned`` (the model from the tuning step), ``zero-shot`` / ``few-shot``
            (prompting ``llm_model`` through the OpenAI-compatible API) or ``none``.
        llm_model: Chat model for the prompt-only baselines.
        judge: ``execution`` (deterministic), ``llm`` or ``cascade`` (execution, then LLM).
        judge_model: Chat model for the LLM judge.
        html: Also write an HTML report with the validity/accuracy chart.
    """

    golden: Path | None = None
    model: Literal["retrieval", "tuned", "zero-shot", "few-shot", "none"] = "retrieval"
    llm_model: str = "gpt-4o-mini"
    judge: Literal["execution", "llm", "cascade"] = "execution"
    judge_model: str = "gpt-4o"
    html: bool = True


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
        generator: ``"template"`` or ``"openai"``; default: the ``[generate]`` generator (the
            template generator when that is ``"none"``).
        min_examples: Training pairs a golden concept needs to count as covered.
        max_targets: Most generation targets (default: every gap and inconsistency).
    """

    n: int = Field(default=200, ge=0)
    generator: Literal["template", "openai"] | None = None
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
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except DataError as exc:
        raise ConfigurationError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
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
