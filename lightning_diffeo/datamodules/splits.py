"""Seeded index splits, the constant-steps rule and the batch samplers of the datamodules."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = [
    "MAX_RESCALED_EPOCHS",
    "derive_seed",
    "make_generator",
    "split_indices",
    "epoch_repeats",
    "RandomBatchSampler",
    "SequentialBatchSampler",
]

MAX_RESCALED_EPOCHS = 5000
"""Cap on the rescaled number of epochs under constant optimizer steps (authors' code)."""


def derive_seed(seed: int, tag: str) -> int:
    """A 63-bit seed derived from ``seed`` and a purpose ``tag``.

    Different tags give independent streams, so e.g. the validation split and the
    training subset never share draws.
    """
    digest = hashlib.sha256(f"{int(seed)}:{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_generator(seed: int, tag: str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(seed, tag)``."""
    return torch.Generator().manual_seed(derive_seed(seed, tag))


def _check_size(name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of images, got {value}")


def split_indices(
    num_available: int, train_size: int | None, val_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validation indices, then a training subset drawn from the rest.

    The validation indices depend only on ``(num_available, val_size, seed)``; the
    training subset is the first ``train_size`` entries of an independent permutation of
    the remaining indices, so subsets of growing size are nested for a fixed seed.

    Args:
        num_available: Size of the official training split.
        train_size: P, the number of training images; None for all that remain.
        val_size: Number of images held out for validation.
        seed: Split seed.

    Returns:
        ``(train_indices [P], val_indices [val_size])``, int64, disjoint.

    Raises:
        ValueError: A size is non-positive or the sizes do not fit in ``num_available``.
    """
    _check_size("train_size", train_size)
    _check_size("val_size", val_size)
    if val_size >= num_available:
        raise ValueError(
            f"val_size={val_size} leaves no training images: the training split has {num_available} images"
        )
    p_max = num_available - val_size
    if train_size is not None and train_size > p_max:
        raise ValueError(
            f"train_size={train_size} is larger than the {p_max} images available: the training split has "
            f"{num_available} images and val_size={val_size} of them are held out "
            f"(train_size + val_size must be at most {num_available})"
        )
    order = torch.randperm(num_available, generator=make_generator(seed, "val-split"))
    val, rest = order[:val_size], order[val_size:]
    pick = torch.randperm(p_max, generator=make_generator(seed, "train-subset"))
    train = rest[pick[: p_max if train_size is None else train_size]]
    return train, val


def epoch_repeats(train_size: int, p_max: int, max_epochs: int | None) -> float:
    """Passes over the training subset per Lightning epoch under constant optimizer steps.

    ``min(p_max / train_size, MAX_RESCALED_EPOCHS / max_epochs)``, at least 1; with
    ``max_epochs`` None (or negative: unlimited) no cap applies.
    """
    repeats = p_max / train_size
    if max_epochs is not None and max_epochs > 0:
        repeats = min(repeats, MAX_RESCALED_EPOCHS / max_epochs)
    return max(1.0, repeats)


class RandomBatchSampler(Sampler[list[int]]):
    """Batches of shuffled indices, ``num_samples`` indices per epoch.

    The indices are concatenated random permutations of ``range(num_items)`` cut at
    ``num_samples``: every item is seen ``num_samples / num_items`` times per epoch up
    to one. Yields lists of indices so that the dataset gathers a whole batch at once.
    """

    def __init__(
        self, num_items: int, batch_size: int, num_samples: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.num_items = num_items
        self.batch_size = batch_size
        self.num_samples = num_items if num_samples is None else num_samples
        self.generator = generator

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        passes = math.ceil(self.num_samples / self.num_items)
        order = torch.cat([torch.randperm(self.num_items, generator=self.generator) for _ in range(passes)])
        yield from (chunk.tolist() for chunk in order[: self.num_samples].split(self.batch_size))


class SequentialBatchSampler(Sampler[list[int]]):
    """Batches of ``range(num_items)`` in order (evaluation)."""

    def __init__(self, num_items: int, batch_size: int) -> None:
        self.num_items = num_items
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(self.num_items / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        yield from (chunk.tolist() for chunk in torch.arange(self.num_items).split(self.batch_size))
