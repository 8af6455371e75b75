"""Build a model from a short text spec such as ``"lamini:<model id>"`` (CLI and configuration).

The part before the colon names a ``model`` in the :mod:`~text2sql_tune.registry`; the built-in
ones:

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

A plugin's model factory is called as ``factory(name, schema, *, train, client_options,
chat_client)`` with the text after the colon as ``name`` (and ``model_options=`` when the caller
gives any).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import registry
from ..errors import ConfigurationError
from ..interfaces import Text2SQLModel
from ..llm.protocol import ChatClient
from ..records import QAPair
from ..schema import DatabaseSchema

__all__ = ["MODEL_KINDS", "model_from_spec"]

MODEL_KINDS = registry.builtin_names("model")
"""The built-in model kinds (plugins add more: ``registry.names("model")``)."""

ChatClientFactory = Callable[[str], ChatClient]


def model_from_spec(
    spec: str,
    schema: DatabaseSchema,
    *,
    train: Sequence[QAPair] = (),
    client_options: Mapping[str, Any] | None = None,
    chat_client: ChatClientFactory | None = None,
    model_options: Mapping[str, Any] | None = None,
) -> Text2SQLModel:
    """Build the text-to-SQL model a spec names.

    Args:
        spec: ``retrieval``, or ``<kind>:<model>`` with kind ``lamini``, ``openai``,
            ``zero-shot``, ``few-shot``, ``local`` (a job, adapter or model folder; a job is
            asked with the system prompt it was trained with) or a plugin's.
        schema: The annotated schema (the models' system prompt; use the one the model was
            tuned with).
        train: Training pairs: what ``retrieval`` answers from and ``few-shot`` picks examples
            from.
        client_options: Keyword arguments for the
            :class:`~text2sql_tune.llm.OpenAIChatClient` of ``openai``, ``zero-shot`` and
            ``few-shot`` models (retries, waits, deadlines, ``on_retry``); ``lamini`` takes
            ``max_retries`` and ``attempt_timeout_s`` (as its call time limit) from them.
        chat_client: Makes the chat client for a model name (e.g. one its caller closes);
            default: a new ``OpenAIChatClient`` with ``client_options``.
        model_options: Keyword arguments for the model itself, e.g. ``local``'s
            ``max_new_tokens``, ``batch_size``, ``device`` and ``precision``.

    Returns:
        The model. Keys come from the environment (``OPENAI_API_KEY``, ``LAMINI_API_KEY``).

    Raises:
        ConfigurationError: Unknown kind (the message lists the registered ones), a missing
            model name, or no training pairs where they are needed.
    """
    kind, _, name = spec.partition(":")
    try:
        factory = registry.get("model", kind)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"unknown model {spec!r}; {str(exc).partition('; ')[2]} (as retrieval or "
            "<kind>:<model>, e.g. openai:gpt-4o-mini or local:<job or model folder>)"
        ) from None
    options = dict(client_options or {})
    if chat_client is None:

        def chat_client(model: str) -> ChatClient:
            from ..llm import OpenAIChatClient

            return OpenAIChatClient(model, **options)

    extra = {"model_options": dict(model_options)} if model_options else {}
    return factory(
        name.strip(), schema, train=train, client_options=options, chat_client=chat_client, **extra
    )


def _needs_name(kind: str, name: str) -> str:
    if not name:
        raise ConfigurationError(f"model {kind!r}: name the model after the colon, e.g. {kind}:…")
    return name


def _needs_train(kind: str, train: Sequence[QAPair]) -> list[QAPair]:
    if not train:
        raise ConfigurationError(f"model {kind!r} needs training pairs (e.g. --train clean.jsonl)")
    return list(train)


def retrieval_model(
    name: str, schema: DatabaseSchema, *, train: Sequence[QAPair] = (), **_: Any
) -> Text2SQLModel:
    """``retrieval``: the SQL of the most similar training question (offline)."""
    from .retrieval import RetrievalModel

    return RetrievalModel(_needs_train("retrieval", train))


def lamini_model(
    name: str,
    schema: DatabaseSchema,
    *,
    client_options: Mapping[str, Any] | None = None,
    **_: Any,
) -> Text2SQLModel:
    """``lamini:<model id>``: a tuned (or base) Lamini model."""
    from .lamini import LaminiModel

    options = client_options or {}
    lamini: dict[str, Any] = {}
    if "max_retries" in options:
        lamini["max_retries"] = options["max_retries"]
    if options.get("attempt_timeout_s"):
        lamini["timeout_s"] = options["attempt_timeout_s"]
    return LaminiModel(_needs_name("lamini", name), schema, **lamini)


def local_model(
    name: str, schema: DatabaseSchema, *, model_options: Mapping[str, Any] | None = None, **_: Any
) -> Text2SQLModel:
    """``local:<path>``: a local tuning job, LoRA adapter or model folder."""
    from .local import LocalModel

    return LocalModel.from_path(_needs_name("local", name), schema, **dict(model_options or {}))


def openai_model(
    name: str, schema: DatabaseSchema, *, chat_client: ChatClientFactory, **_: Any
) -> Text2SQLModel:
    """``openai:<model>``: a fine-tuned or any chat model, asked with the training prompt."""
    from .openai import OpenAIText2SQL

    model = _needs_name("openai", name)
    return OpenAIText2SQL(model, schema, client=chat_client(model))


def zero_shot_model(
    name: str, schema: DatabaseSchema, *, chat_client: ChatClientFactory, **_: Any
) -> Text2SQLModel:
    """``zero-shot:<model>``: a chat model given the schema prompt only."""
    from .baselines import ZeroShotModel

    model = _needs_name("zero-shot", name)
    return ZeroShotModel(chat_client(model), schema, model=model)


def few_shot_model(
    name: str,
    schema: DatabaseSchema,
    *,
    train: Sequence[QAPair] = (),
    chat_client: ChatClientFactory,
    **_: Any,
) -> Text2SQLModel:
    """``few-shot:<model>``: a chat model shown the most similar training pairs."""
    from .baselines import FewShotModel

    model = _needs_name("few-shot", name)
    examples = _needs_train("few-shot", train)
    return FewShotModel(chat_client(model), schema, examples, model=model)
