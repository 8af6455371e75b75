"""Test doubles for your own tests: fake provider servers on 127.0.0.1 that speak the real APIs.

- :class:`FakeOpenAIServer`: OpenAI-compatible chat completions (tool calls, usage, scripted
  429 / 5xx / slow / garbage answers, dropped connections, and any wire-level fault you write
  with ``misbehave_next``).
- :class:`FakeLaminiServer`: the Lamini endpoints the ``lamini`` SDK calls.
- :class:`FakeOpenAIFineTuneServer`: OpenAI's files and fine-tuning endpoints (and chat
  completions for the fine-tuned model).
- :func:`build_tiny_llama`: a tiny random Llama with a locally trained tokenizer, for tests of
  local tuning (extra ``local``; nothing is downloaded).
"""

from __future__ import annotations

from .lamini_server import FakeLaminiServer
from .openai_finetune_server import FakeOpenAIFineTuneServer
from .openai_server import (
    FakeOpenAIServer,
    FakeReply,
    ReceivedRequest,
    ScriptedFailure,
    WireWriter,
    text_reply,
    tool_call_reply,
)
from .tiny_model import build_tiny_llama

__all__ = [
    "FakeLaminiServer",
    "FakeOpenAIFineTuneServer",
    "FakeOpenAIServer",
    "FakeReply",
    "ReceivedRequest",
    "ScriptedFailure",
    "WireWriter",
    "build_tiny_llama",
    "text_reply",
    "tool_call_reply",
]
