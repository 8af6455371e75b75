"""What the local tuner and the local model share: lazy imports, devices, loading, chat prompts.

torch, transformers, peft and accelerate come from the ``local`` extra and are imported only when
a local model is loaded or tuned, so the rest of the library starts without them.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigurationError, MissingExtraError
from ...prompts import chat_messages

__all__ = [
    "ChatFormat",
    "available_cpus",
    "cpu_has_native_bf16",
    "import_local",
    "load_base_model",
    "load_tokenizer",
    "release_free_memory",
    "resolve_device",
    "resolve_dtype",
    "set_training_threads",
]

logger = logging.getLogger("text2sql_tune")

_FALLBACK_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- message['role'] + ':\\n' + message['content'] + '\\n\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- 'assistant:\\n' }}{%- endif %}"
)
# End-of-turn tokens of common chat formats (Llama 3, ChatML/Qwen, Phi, Gemma): generation stops
# on any that the tokenizer knows, besides its own eos token.
_END_OF_TURN = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


def import_local() -> tuple[Any, Any]:
    """Import torch and transformers, or raise the error that names the ``local`` extra."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingExtraError(exc.name or "torch", "local") from exc
    transformers.utils.logging.disable_progress_bar()
    return torch, transformers


def import_peft() -> Any:
    """Import peft, or raise the error that names the ``local`` extra."""
    try:
        import peft
    except ImportError as exc:
        raise MissingExtraError(exc.name or "peft", "local") from exc
    return peft


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``mps`` on Apple silicon, else ``cpu``.

    Raises:
        ConfigurationError: A CUDA device was asked for and none is visible.
    """
    torch, _ = import_local()
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigurationError(
            f"device {device!r} was asked for but torch sees no CUDA GPU "
            f"(torch {torch.__version__}); install a CUDA build of torch or use device='cpu'"
        )
    return device


# CPU features with bfloat16 arithmetic in hardware: AVX-512 BF16 and AMX (x86), BF16 (Arm).
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            lines = [line for line in info if line.startswith(("flags", "Features"))]
    except OSError:
        return set()
    return {flag for line in lines for flag in line.partition(":")[2].split()}


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes in bfloat16 in hardware (AVX-512 BF16, AMX or Arm BF16).

    Such CPUs train a LoRA faster under bfloat16 autocast than in float32 (1.5x measured on an
    AVX-512 BF16 + AMX EPYC); elsewhere bfloat16 is emulated and slower. torch's own CPU
    capabilities are asked first (torch 2.8 and newer), then ``/proc/cpuinfo``.
    """
    torch, _ = import_local()
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        found = capabilities()
        if any(found.get(flag) for flag in ("avx512_bf16", "amx_bf16")):
            return True
    return bool(_BF16_CPU_FLAGS & _cpu_flags())


def resolve_dtype(precision: str, device: str) -> Any:
    """The torch dtype for ``precision`` (``auto``, ``bf16``, ``fp16``, ``fp32``) on ``device``.

    ``auto`` is bfloat16 on a GPU that supports it and on a CPU with bfloat16 in hardware
    (:func:`cpu_has_native_bf16`), where it is the fastest and, measured on the tuning loss, as
    accurate as float32; float32 everywhere else (Apple's MPS, CPUs that would emulate it).

    Raises:
        ConfigurationError: An unknown precision, or bf16 on a GPU without bf16 support.
    """
    torch, _ = import_local()
    cuda = device.startswith("cuda")
    if precision == "auto":
        if cuda:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.bfloat16 if device == "cpu" and cpu_has_native_bf16() else torch.float32
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if precision not in dtypes:
        raise ConfigurationError(f"precision must be auto, bf16, fp16 or fp32, not {precision!r}")
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigurationError("this GPU does not support bfloat16; use precision='fp16'")
    return dtypes[precision]


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (containers)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = count or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="utf-8") as limit:
            quota, _, period = limit.read().partition(" ")
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


def release_free_memory() -> None:
    """Hand the memory freed by the last step back to the OS (glibc on Linux; elsewhere nothing).

    glibc keeps freed blocks for reuse, but a step's tensors change shape with every batch and
    fit the kept holes badly, so the resident memory of a CPU training run creeps up step after
    step (Qwen2.5 0.5B, batch 4: 5.1 GiB after the first step, 8.2 GiB after the third).
    ``malloc_trim`` after each step holds it near what the largest batch needs, for about a
    second of page faults per step.
    """
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl)
        return
    libc.malloc_trim(0)


def set_training_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads for training and return how many it uses.

    Args:
        threads: The number to use; ``None`` keeps torch's choice (its physical cores) unless
            it exceeds :func:`available_cpus`, as it does in a container given fewer CPUs than
            the host has (more threads than CPUs makes every matmul wait for the slowest).
    """
    torch, _ = import_local()
    wanted = threads or min(torch.get_num_threads(), available_cpus())
    if wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)
    return int(torch.get_num_threads())


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of a model folder (or hub id, when the hub is reachable), ready to pad.

    A tokenizer without a pad token pads with its eos token (padding is masked out, so it never
    trains or generates), and one without a chat template gets a plain one (with a warning).

    Raises:
        ConfigurationError: The folder has no tokenizer.
    """
    _, transformers = import_local()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load a tokenizer from {path}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        logger.warning("%s has no chat template; using a plain role: text template", path)
        tokenizer.chat_template = _FALLBACK_TEMPLATE
    return tokenizer


def load_base_model(
    path: str | Path,
    *,
    dtype: Any,
    device: str,
    quantization: str | None = None,
    gguf_file: str | None = None,
) -> Any:
    """Load a causal LM from a folder (or hub id) in ``dtype``, on ``device``.

    Args:
        path: The model folder or hub id.
        dtype: torch dtype of the weights.
        device: Where the weights go (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
        quantization: ``"4bit"`` (QLoRA, NF4) or ``"8bit"`` through bitsandbytes, CUDA only.
        gguf_file: A GGUF file inside ``path`` to de-quantise (transformers' ``gguf_file=``).

    Raises:
        ConfigurationError: The folder holds no causal LM, or quantization was asked for without
            CUDA and bitsandbytes.
    """
    _, transformers = import_local()
    options: dict[str, Any] = {"dtype": dtype}
    if gguf_file:
        options["gguf_file"] = gguf_file
    if quantization:
        if not device.startswith("cuda"):
            raise ConfigurationError(
                f"quantization={quantization!r} (QLoRA) needs a CUDA GPU and bitsandbytes; "
                "tune without quantization on this device"
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError("bitsandbytes", "local") from exc
        if quantization == "4bit":
            options["quantization_config"] = transformers.BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=dtype,
                bnb_4bit_use_double_quant=True,
            )
        elif quantization == "8bit":
            options["quantization_config"] = transformers.BitsAndBytesConfig(load_in_8bit=True)
        else:
            raise ConfigurationError(f"quantization must be 4bit or 8bit, not {quantization!r}")
        options["device_map"] = {"": device}
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path), **options)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load a causal language model from {path}: {exc}") from exc
    if not quantization:
        model = model.to(device)
    return model


@dataclass(frozen=True)
class ChatFormat:
    """Renders the answering turn with a tokenizer's own chat template.

    Args:
        tokenizer: A Hugging Face tokenizer with a chat template.
        system_prompt: The answering system prompt (schema + instructions).
    """

    tokenizer: Any
    system_prompt: str

    def prompt(self, question: str, system_prompt: str | None = None) -> str:
        """The prompt text up to where the assistant's answer starts.

        Args:
            question: The user's question.
            system_prompt: Overrides the format's system prompt (e.g. a pruned schema).
        """
        text: str = self.tokenizer.apply_chat_template(
            chat_messages(question, system_prompt or self.system_prompt),
            tokenize=False,
            add_generation_prompt=True,
        )
        return text

    def answer_suffix(self, question: str, sql: str) -> str:
        """What follows the prompt in a training example: the SQL and the end-of-turn marker."""
        prompt = self.prompt(question)
        full: str = self.tokenizer.apply_chat_template(
            chat_messages(question, self.system_prompt, sql), tokenize=False
        )
        if full.startswith(prompt):
            return full[len(prompt) :]
        # Templates that rewrite earlier turns once an answer exists: answer + eos after the
        # generation prompt, which is what the model sees at inference time.
        return sql + (self.tokenizer.eos_token or "")

    def encode(self, question: str, sql: str) -> tuple[list[int], list[int]]:
        """Token ids of one example and its labels (``-100`` on the prompt: loss on the answer).

        The prompt and the answer are tokenized apart so the prompt's tokens are exactly those
        the model is given when asked the question later.
        """
        prompt_ids = self._ids(self.prompt(question))
        answer_ids = self._ids(self.answer_suffix(question, sql))
        return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids

    def _ids(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def stop_token_ids(self) -> list[int]:
        """Token ids that end an answer: eos and any end-of-turn token of the vocabulary."""
        ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[token] for token in _END_OF_TURN if token in vocab)
        return sorted(ids)


@dataclass(frozen=True)
class GeneratedAnswer:
    """One greedy answer: its text and token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    stop_token_ids: list[int],
    max_new_tokens: int = 256,
    batch_size: int = 8,
) -> list[GeneratedAnswer]:
    """Greedy answers to ``prompts``, generated in left-padded batches of similar length.

    Args:
        model: A causal LM (plain, peft-wrapped or merged) in eval mode.
        tokenizer: Its tokenizer (with a pad token).
        prompts: Fully rendered prompts (chat template applied).
        stop_token_ids: Tokens that end an answer.
        max_new_tokens: Longest answer.
        batch_size: Prompts generated at once.

    Returns:
        One answer per prompt, in input order.
    """
    torch, transformers = import_local()
    config = transformers.GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=stop_token_ids,
    )
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    answers: dict[int, GeneratedAnswer] = {}
    device = next(model.parameters()).device
    stops = set(stop_token_ids)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        ids = [[tokenizer.pad_token_id] * (width - len(encoded[i])) + encoded[i] for i in chunk]
        mask = [[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in chunk]
        with torch.inference_mode():
            output = model.generate(
                input_ids=torch.tensor(ids, device=device),
                attention_mask=torch.tensor(mask, device=device),
                generation_config=config,
            )
        for row, index in zip(output[:, width:].tolist(), chunk, strict=True):
            end = next((n for n, token in enumerate(row) if token in stops), len(row))
            answers[index] = GeneratedAnswer(
                text=tokenizer.decode(row[:end], skip_special_tokens=True),
                prompt_tokens=len(encoded[index]),
                completion_tokens=min(end + 1, len(row)),
            )
    return [answers[i] for i in range(len(prompts))]
