"""A tiny, randomly initialised Llama with a locally trained tokenizer: a real model, no download.

:func:`build_tiny_llama` writes a Hugging Face model folder (``config.json``, safetensors weights,
``tokenizer.json`` with a Llama 3 chat template) that loads with ``AutoModelForCausalLM`` and
``AutoTokenizer`` like any model from the hub. It is small enough to LoRA-tune on a CPU in
seconds, so tests of the local tuner train, checkpoint, resume and generate for real. It needs
the ``local`` extra (torch, transformers) and the ``tokenizers`` library that transformers brings.

Example:
    >>> from text2sql_tune.testing import build_tiny_llama
    >>> path = build_tiny_llama("tiny-model", corpus=["SELECT count() FROM ecommerce.users"])
    ... # doctest: +SKIP
    >>> LocalLoRATuner("Answer with SQL.", base_model=str(path))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigurationError, MissingExtraError

__all__ = ["LLAMA3_CHAT_TEMPLATE", "LLAMA3_SPECIAL_TOKENS", "build_tiny_llama"]

LLAMA3_SPECIAL_TOKENS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
)
"""The special tokens of the Llama 3 chat format (the tiny tokenizer has each as one token)."""

LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)
"""A Jinja chat template that renders exactly what :func:`text2sql_tune.prompts.llama3_prompt`
writes (Meta's Llama 3 format, without trimming the messages)."""


def build_tiny_llama(
    path: str | Path,
    *,
    corpus: Iterable[str],
    vocab_size: int = 768,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate_size: int = 128,
    max_positions: int = 1024,
    lm_head_std: float = 0.5,
    seed: int = 0,
) -> Path:
    """Write a tiny random Llama and a BPE tokenizer trained on ``corpus`` to ``path``.

    The tokenizer is byte-level BPE (any text round-trips), trained here with the ``tokenizers``
    library on ``corpus`` (e.g. your questions, SQL and system prompt), with the Llama 3 special
    tokens and chat template. The model is a ``LlamaForCausalLM`` with random weights from
    ``seed``; it knows nothing until you tune it.

    Args:
        path: The folder to write (created; an existing model there is overwritten).
        corpus: Texts the tokenizer learns its merges from.
        vocab_size: Tokenizer vocabulary size (fewer merges are learnt from a small corpus).
        hidden_size: Model width.
        layers: Decoder layers.
        heads: Attention heads.
        kv_heads: Key/value heads (grouped-query attention as in Llama 3).
        intermediate_size: MLP width.
        max_positions: Longest sequence, in tokens.
        lm_head_std: Standard deviation of the output layer's random weights.
        seed: Seed of the random weights.

    Returns:
        The model folder, ready for ``from_pretrained``.

    Raises:
        MissingExtraError: torch or transformers is missing (``text2sql-tune[local]``).
        ConfigurationError: The corpus is empty.
    """
    try:
        import torch
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    except ImportError as exc:
        raise MissingExtraError(exc.name or "transformers", "local") from exc
    texts = [text for text in corpus if text]
    if not texts:
        raise ConfigurationError("build_tiny_llama needs a non-empty corpus to train a tokenizer")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    special = [*LLAMA3_SPECIAL_TOKENS, "<|pad|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|pad|>",
        model_max_length=max_positions,
    )
    tokenizer.chat_template = LLAMA3_CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    config = LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # A random model's output layer is tiny (std 0.02), so its logits stay near uniform and
        # LoRA on the other layers could never drive the loss near zero: give it a real scale.
        model.lm_head.weight.normal_(0.0, lm_head_std)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    return folder
