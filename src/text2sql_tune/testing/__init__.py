"""Test doubles for your own tests: fake provider servers on 127.0.0.1 that speak the real APIs.

- :class:`FakeOpenAIServer`: OpenAI-compatible chat completions (tool calls, usage, scripted
  429 / 5xx / slow / garbage answers, and the wire-level faults of :data:`FAULT_MODES`).
- :class:`FakeLaminiServer`: the Lamini endpoints the ``lamini`` SDK calls.
- :class:`FakeOpenAIFineTuneServer`: OpenAI's files and fine-tuning endpoints (and chat
  completions for the fine-tuned model).
- :func:`build_tiny_llama`: a tiny random Llama with a locally trained tokenizer, for tests of
  local tuning (extra ``local``; nothing is downloaded).
"""

from __future__ import annotations

from ._faults import FAULT_MODES, FaultContext, FaultMode
from .lamini_server import FakeLaminiServer
from .openai_finetune_server import FakeOpenAIFineTuneServer
from .openai_server import (
    FakeOpenAIServer,
    FakeReply,
    ReceivedRequest,
    ScriptedFailure,
    text_reply,
    tool_call_reply,
)
from .tiny_model import build_tiny_llama

__all__ = [
    "FAULT_MODES",
    "FakeLaminiServer",
    "FakeOpenAIFineTuneServer",
    "FakeOpenAIServer",
    "FakeReply",
    "FaultContext",
    "FaultMode",
    "ReceivedRequest",
    "ScriptedFailure",
    "build_tiny_llama",
    "text_reply",
    "tool_call_reply",
]
