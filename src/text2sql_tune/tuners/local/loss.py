"""The training loss of the local tuner, with logits only where the loss is taken.

The prompt's labels are ``-100``, so only the answer tokens (about a tenth of an example) carry
the loss. A causal LM's forward projects every position onto the whole vocabulary (151,936
columns for Qwen2.5), which dominates the memory of a step and much of its time. Given
``logits_to_keep`` as a boolean ``(batch, sequence)`` mask, transformers runs the model body on
every token but projects only the kept positions through ``lm_head`` (after the final norm, with
the model's own logit scaling or soft-capping), so :func:`causal_lm_loss` asks for the positions
whose *next* token is a label and takes the cross-entropy there: the same mean over the answer
tokens as the full-logits loss, at a fraction of the cost.
"""

from __future__ import annotations

from typing import Any

from ...errors import TuningError
from .runtime import import_local

__all__ = ["answer_positions", "causal_lm_loss"]

IGNORE = -100


def answer_positions(labels: Any) -> tuple[Any, Any]:
    """Which positions predict a label, and the labels they predict.

    Args:
        labels: ``(batch, sequence)`` labels, ``-100`` where no loss is taken.

    Returns:
        A boolean ``(batch, sequence)`` mask of the positions whose next token is a label, and
        those labels in the mask's (row-major) order.
    """
    torch, _ = import_local()
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE
    return keep, labels[:, 1:][keep[:, :-1]]


def causal_lm_loss(model: Any, batch: dict[str, Any], *, answer_only: bool = True) -> Any:
    """The mean next-token cross-entropy over the labelled tokens of a batch.

    Args:
        model: A causal LM (plain, peft-wrapped or accelerate-prepared).
        batch: ``input_ids``, ``labels`` and ``attention_mask`` or ``position_ids`` (packed).
        answer_only: Compute logits only at the positions that carry the loss; ``False`` runs
            the model's own full-logits loss (the reference this is tested against).

    Raises:
        TuningError: The installed transformers does not take a boolean ``logits_to_keep``
            mask (set ``answer_logits_only`` to false).
    """
    # Without a cache: with one, transformers would not read restarting position ids as packed
    # sequences, and packed examples would attend to each other.
    if not answer_only:
        return model(**batch, use_cache=False).loss
    torch, _ = import_local()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    keep, targets = answer_positions(batch["labels"])
    logits = model(**inputs, logits_to_keep=keep, use_cache=False).logits
    if tuple(logits.shape[:-1]) != tuple(targets.shape):
        raise TuningError(
            "this transformers version does not take a logits_to_keep mask (got logits of shape "
            f"{tuple(logits.shape)}); upgrade transformers or set answer_logits_only=false"
        )
    return torch.nn.functional.cross_entropy(logits.float(), targets)
