"""Build the generators, tuners and judges that a configuration or a command names.

Names are looked up in the :mod:`~text2sql_tune.registry`; the factory registered under a
``generator``, ``tuner`` or ``judge`` name is called with a :class:`BuildContext`, which carries
the configuration (each factory reads its own section: ``[generate]``, ``[tune]``,
``[evaluate]``, and ``[llm]``), the open database, the schema, the seed examples, and makes the
chat clients, closing them with the run. The built-in factories below are registered by
reference (``text2sql_tune.run.components:openai_generator``), the way a plugin's are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import registry
from ..config import PipelineConfig, TuneConfig
from ..errors import ConfigurationError
from ..interfaces import Judge, QAGenerator, SQLExecutor, Tuner
from ..records import QAPair
from ..schema import DatabaseSchema
from .paths import RunPaths

if TYPE_CHECKING:
    from ..llm import OpenAIChatClient

__all__ = [
    "BuildContext",
    "abuild_generator",
    "build_judge",
    "build_tuner",
    "cascade_judge",
    "execution_judge",
    "lamini_tuner",
    "llm_judge",
    "local_tuner",
    "openai_generator",
    "openai_tuner",
    "template_generator",
]


@dataclass
class BuildContext:
    """What the factory of a generator, tuner or judge is given.

    Attributes:
        config: The configuration; a factory reads its own section and ``[llm]``.
        executor: The open database (``None`` where nothing needs one, e.g. following a job).
        schema: The annotated schema.
        seeds: Few-shot examples (seed pairs).
        system_prompt: The answering prompt a tuner formats with, when there is no schema (a
            file already formatted, a job being followed).
        client_options: More :class:`~text2sql_tune.llm.OpenAIChatClient` keyword arguments
            for :meth:`chat_client` (``on_retry``, rate limits, ``prices``).
        clients: The chat clients made so far (closed by :meth:`aclose`).
    """

    config: PipelineConfig = field(default_factory=PipelineConfig)
    executor: SQLExecutor | None = None
    schema: DatabaseSchema | None = None
    seeds: Sequence[QAPair] = ()
    system_prompt: str | None = None
    client_options: Mapping[str, Any] = field(default_factory=dict)
    clients: list[OpenAIChatClient] = field(default_factory=list, init=False)

    def need_executor(self, what: str) -> SQLExecutor:
        """The executor, or a ``ConfigurationError`` saying that ``what`` needs one."""
        if self.executor is None:
            raise ConfigurationError(f"{what} needs a database")
        return self.executor

    def need_schema(self, what: str) -> DatabaseSchema:
        """The schema, or a ``ConfigurationError`` saying that ``what`` needs one."""
        if self.schema is None:
            raise ConfigurationError(f"{what} needs the database schema")
        return self.schema

    @property
    def prompt_source(self) -> str | DatabaseSchema:
        """What a tuner takes its system prompt from: ``system_prompt``, else the schema."""
        if self.system_prompt is not None:
            return self.system_prompt
        return self.need_schema("a tuner")

    def chat_client(self, model: str, *, concurrency: int = 8) -> OpenAIChatClient:
        """A chat client for ``model`` with the key, URL and fault settings of the config.

        The key is read from ``[generate] api_key_env``, the endpoint is ``[generate]
        base_url``, retries and deadlines come from ``[llm]``; the client is closed by
        :meth:`aclose`.

        Raises:
            ConfigurationError: ``api_key_env`` names a variable that is not set.
        """
        from ..llm import OpenAIChatClient

        generate = self.config.generate
        env = generate.api_key_env
        api_key = os.environ.get(env) or None
        if api_key is None and env != "OPENAI_API_KEY":  # the client explains a missing default
            raise ConfigurationError(
                f"the API key variable {env} (api_key_env, --api-key-env) is not set"
            )
        options = {**self.config.llm.client_options(), **self.client_options}
        client = OpenAIChatClient(
            model, api_key=api_key, base_url=generate.base_url, concurrency=concurrency, **options
        )
        self.clients.append(client)
        return client

    async def aclose(self) -> None:
        """Close every chat client made so far."""
        while self.clients:
            await self.clients.pop().aclose()


async def abuild_generator(context: BuildContext, name: str | None = None) -> QAGenerator | None:
    """The generator ``name`` (default: ``[generate] generator``); ``None`` for ``"none"``.

    Raises:
        ConfigurationError: Unknown name, or the generator cannot be built from the context.
    """
    name = name or context.config.generate.generator
    if registry.check("generator", name, also=("none",)) == "none":
        return None
    built = registry.get("generator", name)(context)
    if isinstance(built, QAGenerator):
        return built
    return await built


def build_tuner(context: BuildContext, name: str | None = None) -> Tuner | None:
    """The tuner ``name`` (default: ``[tune] tuner``); ``None`` when neither names one."""
    name = name or context.config.tune.tuner
    return None if name is None else registry.get("tuner", name)(context)


def build_judge(context: BuildContext, name: str | None = None) -> Judge:
    """The judge ``name`` (default: ``[evaluate] judge``)."""
    return registry.get("judge", name or context.config.evaluate.judge)(context)


async def template_generator(context: BuildContext) -> QAGenerator:
    """``template``: questions and SQL from templates over the schema and the data (offline)."""
    from ..generators import TemplateQAGenerator

    return await TemplateQAGenerator.afrom_database(
        context.need_executor("the template generator"),
        context.need_schema("the template generator"),
        seed=context.config.generate.seed,
    )


def openai_generator(context: BuildContext) -> QAGenerator:
    """``openai``: an OpenAI-compatible chat model shown ``k`` seed examples per call."""
    from ..generators import OpenAIQAGenerator

    generate = context.config.generate
    if not context.seeds and generate.k > 0:
        raise ConfigurationError(
            "the openai generator needs few-shot examples: give seed examples ([generate] "
            "seed_examples, --seed-examples: JSONL with question and sql) or set k to 0"
        )
    return OpenAIQAGenerator(
        context.chat_client(generate.model, concurrency=generate.concurrency),
        context.need_schema("the openai generator"),
        list(context.seeds),
        k=generate.k,
        temperature=generate.temperature,
        rng_seed=generate.seed,
        mode=generate.mode,
        max_consecutive_failures=context.config.llm.max_failures,
        dialect="ClickHouse" if context.executor is None else context.executor.dialect,
    )


def _finetune_args(tune: TuneConfig) -> dict[str, Any]:
    args = dict(tune.extra_args)
    if tune.max_steps is not None:
        args["max_steps"] = tune.max_steps
    if tune.learning_rate is not None:
        args["learning_rate"] = tune.learning_rate
    return args


def _base_model(tune: TuneConfig) -> dict[str, Any]:
    return {"base_model": tune.base_model} if tune.base_model else {}


def lamini_tuner(context: BuildContext) -> Tuner:
    """``lamini``: a tuning job at Lamini (``max_steps``, ``learning_rate``, ``extra_args``)."""
    from ..tuners.lamini import LaminiTuner

    tune = context.config.tune
    return LaminiTuner(
        context.prompt_source,
        finetune_args=_finetune_args(tune),
        api_url=tune.api_url,
        custom_model_name=tune.name,
        **_base_model(tune),
    )


def openai_tuner(context: BuildContext) -> Tuner:
    """``openai``: a fine-tuning job at OpenAI (hyperparameters in ``extra_args``)."""
    from ..tuners.openai import OpenAITuner

    tune = context.config.tune
    if tune.max_steps is not None or tune.learning_rate is not None:
        raise ConfigurationError(
            "[tune] max_steps and learning_rate are Lamini settings; for OpenAI put "
            "n_epochs / batch_size / learning_rate_multiplier in extra_args"
        )
    return OpenAITuner(
        context.prompt_source,
        hyperparameters=tune.extra_args,
        base_url=tune.api_url,
        suffix=tune.name,
        **_base_model(tune),
    )


def local_tuner(context: BuildContext) -> Tuner:
    """``local``: LoRA on this machine (``base_model`` required; extra ``local``)."""
    from ..evaluate.judges import ExecutionMatchJudge
    from ..tuners.local.tuner import LocalLoRATuner

    tune = context.config.tune
    if not tune.base_model:
        raise ConfigurationError(
            '[tune] tuner = "local" needs base_model: a model folder (or a hub id)'
        )
    judge = ExecutionMatchJudge(context.executor) if context.executor is not None else None
    return LocalLoRATuner(
        context.prompt_source,
        base_model=tune.base_model,
        output_dir=tune.output_dir or RunPaths(context.config.run.dir).tuning,
        finetune_args=_finetune_args(tune),
        recipe=tune.recipe,
        device=tune.device,
        recall_judge=judge,  # the recall check compares results on the run's database
    )


def execution_judge(context: BuildContext) -> Judge:
    """``execution``: runs both queries and compares their results (deterministic)."""
    from ..evaluate.judges import ExecutionMatchJudge

    return ExecutionMatchJudge(context.need_executor("the execution judge"))


def llm_judge(context: BuildContext) -> Judge:
    """``llm``: asks ``[evaluate] judge_model``, caching verdicts in ``judge_cache``."""
    from ..evaluate.judges import LLMJudge

    evaluate = context.config.evaluate
    client = context.chat_client(evaluate.judge_model)
    return LLMJudge(client, executor=context.executor, cache=evaluate.judge_cache)


def cascade_judge(context: BuildContext) -> Judge:
    """``cascade``: the execution judge, then the LLM judge where it cannot decide."""
    from ..evaluate.judges import CascadeJudge

    return CascadeJudge([execution_judge(context), llm_judge(context)])
