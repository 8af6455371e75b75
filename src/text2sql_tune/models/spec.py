"""Build a model from a short text spec such as ``"lamini:<model id>"`` (CLI and configuration).

========================  ==================================================================
spec                      model
========================  ==================================================================
``retrieval``             :class:`~text2sql_tune.models.retrieval.RetrievalModel` over ``train``
``lamini:<model id>``     :class:`LaminiModel`: a tuned (or base) Lamini model
``openai:<model>``        :class:`OpenAIText2SQL`: a fine-tuned or any chat model, asked with
                          the training prompt
``zero-shot:<model>``     :class:`ZeroShotModel`: schema prompt only
``few-shot:<model>``      :class:`FewShotModel`: the most similar ``train`` pairs as examples
``local:<path>``          :class:`LocalModel`: a local tuning job (its folder or job file), a
                          LoRA adapter folder, or a model folder (extra ``local``)
========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError
from ..interfaces import Text2SQLModel
from ..records import QAPair
from ..schema import DatabaseSchema

__all__ = ["MODEL_KINDS", "model_from_spec"]

MODEL_KINDS = ("retrieval", "lamini", "openai", "zero-shot", "few-shot", "local")


def model_from_spec(
    spec: str,
    schema: DatabaseSchema,
    *,
    train: Sequence[QAPair] = (),
    client_options: Mapping[str, Any] | None = None,
) -> Text2SQLModel:
    """Build the text-to-SQL model a spec names.

    Args:
        spec: ``retrieval``, or ``<kind>:<model>`` with kind ``lamini``, ``openai``,
            ``zero-shot``, ``few-shot`` or ``local`` (a job, adapter or model folder; a job is
            asked with the system prompt it was trained with).
        schema: The annotated schema (the models' system prompt; use the one the model was
            tuned with).
        train: Training pairs: what ``retrieval`` answers from and ``few-shot`` picks examples
            from.
        client_options: Keyword arguments for the
            :class:`~text2sql_tune.llm.OpenAIChatClient` of ``openai``, ``zero-shot`` and
            ``few-shot`` models (retries, waits, deadlines, ``on_retry``); ``lamini`` takes
            ``max_retries`` and ``attempt_timeout_s`` (as its call time limit) from them.

    Returns:
        The model. Keys come from the environment (``OPENAI_API_KEY``, ``LAMINI_API_KEY``).

    Raises:
        ConfigurationError: Unknown kind, a missing model name, or no training pairs where they
            are needed.
    """
    kind, _, name = spec.partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if kind not in MODEL_KINDS:
        raise ConfigurationError(
            f"unknown model {spec!r}: use retrieval, lamini:<model id>, openai:<model>, "
            "zero-shot:<model>, few-shot:<model> or local:<job or model folder>"
        )
    if kind in ("retrieval", "few-shot") and not train:
        raise ConfigurationError(f"model {kind!r} needs training pairs (e.g. --train clean.jsonl)")
    if kind == "retrieval":
        from .retrieval import RetrievalModel

        return RetrievalModel(train)
    if not name:
        raise ConfigurationError(f"model {spec!r}: name the model after the colon, e.g. {kind}:…")
    options = dict(client_options or {})
    if kind == "lamini":
        from .lamini import LaminiModel

        lamini: dict[str, Any] = {}
        if "max_retries" in options:
            lamini["max_retries"] = options["max_retries"]
        if options.get("attempt_timeout_s"):
            lamini["timeout_s"] = options["attempt_timeout_s"]
        return LaminiModel(name, schema, **lamini)
    if kind == "local":
        from .local import LocalModel

        return LocalModel.from_path(name, schema)
    from ..llm import OpenAIChatClient

    client = OpenAIChatClient(name, **options)
    if kind == "openai":
        from .openai import OpenAIText2SQL

        return OpenAIText2SQL(name, schema, client=client)
    from .baselines import FewShotModel, ZeroShotModel

    if kind == "zero-shot":
        return ZeroShotModel(client, schema, model=name)
    return FewShotModel(client, schema, list(train), model=name)
