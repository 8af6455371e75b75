"""Training batches of the local tuner: the data order, length grouping, padding and packing.

- :class:`EpochOrder` is the sampler: a permutation of the examples seeded by ``seed + epoch``,
  so a resumed run sees exactly the batches an uninterrupted one would. With length grouping,
  the permutation is cut into windows of ``batch_size * GROUP_WINDOW`` examples, each window is
  sorted by length and cut into batches, and the batches are shuffled (same seed): a batch holds
  examples of similar length, so little of it is padding, and the order stays random.
- :func:`collate` pads a batch to its longest example (right padding, ``attention_mask``), or
  packs it into one row: the examples one after another, each with its own position ids from 0,
  and no attention mask, which transformers reads as separate sequences (a block-diagonal causal
  mask: no token attends to another example). The first label of every packed example is
  ``-100``, so no token is trained to predict the start of the next example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .runtime import import_local

__all__ = ["GROUP_WINDOW", "EpochOrder", "Example", "collate"]

GROUP_WINDOW = 32
"""Batches per window that length grouping sorts within (larger: less padding, less random)."""

Example = tuple[list[int], list[int]]
"""One encoded example: token ids and labels (``-100`` where no loss is taken)."""


class EpochOrder:
    """A sampler: the examples of each epoch in an order seeded by ``seed + epoch``.

    Args:
        lengths: Token count of each example.
        seed: The run's seed.
        batch_size: Examples per micro-batch (the grouping unit).
        group_by_length: Put examples of similar length in the same micro-batch.

    Attributes:
        epoch: The epoch whose order is drawn next (set it before iterating).
    """

    def __init__(
        self, lengths: Sequence[int], seed: int, *, batch_size: int = 1, group_by_length: bool
    ) -> None:
        self.lengths = list(lengths)
        self.seed = seed
        self.batch_size = batch_size
        self.group_by_length = group_by_length
        self.epoch = 0

    def order(self) -> list[int]:
        """The example indices of the current epoch, in training order."""
        torch, _ = import_local()
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order: list[int] = torch.randperm(len(self.lengths), generator=generator).tolist()
        if not self.group_by_length or self.batch_size == 1:
            return order
        window = self.batch_size * GROUP_WINDOW
        batches: list[list[int]] = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda i: -self.lengths[i])
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        # Only the last batch may be short; it stays last so every other batch is full.
        full, last = batches, []
        if len(batches[-1]) < self.batch_size:
            full, last = batches[:-1], batches[-1:]
        shuffled = torch.randperm(len(full), generator=generator).tolist()
        return [i for b in [full[n] for n in shuffled] + last for i in b]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order())

    def __len__(self) -> int:
        return len(self.lengths)


def collate(pad_id: int, *, packing: bool = False) -> Callable[[list[Example]], dict[str, Any]]:
    """The DataLoader's ``collate_fn``: tensors of one micro-batch, padded or packed.

    Args:
        pad_id: The tokenizer's pad token id.
        packing: Pack the batch into one row (position ids restart at every example) instead
            of padding every example to the longest.
    """
    torch, _ = import_local()

    def padded(batch: list[Example]) -> dict[str, Any]:
        width = max(len(ids) for ids, _ in batch)
        input_ids = [ids + [pad_id] * (width - len(ids)) for ids, _ in batch]
        labels = [lab + [-100] * (width - len(lab)) for _, lab in batch]
        mask = [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch]
        return {
            "input_ids": torch.tensor(input_ids),
            "attention_mask": torch.tensor(mask),
            "labels": torch.tensor(labels),
        }

    def packed(batch: list[Example]) -> dict[str, Any]:
        input_ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        for ids, labs in batch:
            input_ids += ids
            labels += [-100, *labs[1:]]
            positions += range(len(ids))
        return {
            "input_ids": torch.tensor([input_ids]),
            "position_ids": torch.tensor([positions]),
            "labels": torch.tensor([labels]),
        }

    return packed if packing else padded
