"""Batched augmentations and the per-batch transform the datamodules' datasets apply.

Every image of a batch gets its own random parameters; no Python loop over images.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from .splits import derive_seed

__all__ = [
    "random_crop",
    "random_horizontal_flip",
    "normalize",
    "to_unit_float",
    "check_diffeo_options",
    "BatchTransform",
]


def random_crop(images: Tensor, padding: int = 4, generator: torch.Generator | None = None) -> Tensor:
    """Random translation: zero-pad by ``padding`` pixels, crop back to the original size.

    Equivalent to torchvision's ``RandomCrop(n, padding=padding)`` applied to each image.

    Args:
        images: ``[B, C, H, W]``.
        padding: Pixels of zero padding on each side; offsets are uniform in ``[0, 2 padding]``.
        generator: Source of the per-image offsets.

    Returns:
        ``[B, C, H, W]``, same dtype and device.
    """
    if images.ndim != 4:
        raise ValueError(f"random_crop expects images [B, C, H, W], got shape {tuple(images.shape)}")
    b, _, h, w = images.shape
    padded = nn.functional.pad(images, (padding,) * 4)
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(images.device)
    rows = offsets[0, :, None] + torch.arange(h, device=images.device)  # [B, H]
    cols = offsets[1, :, None] + torch.arange(w, device=images.device)  # [B, W]
    batch = torch.arange(b, device=images.device)[:, None, None]
    # Advanced indices separated by a slice put the batch dims first: [B, H, W, C].
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def random_horizontal_flip(images: Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Flip each image of ``[B, C, H, W]`` left-right with probability ``p``."""
    flip = torch.rand(images.shape[0], generator=generator) < p
    return torch.where(flip.to(images.device)[:, None, None, None], images.flip(-1), images)


def to_unit_float(images: Tensor) -> Tensor:
    """The working dtype of the datamodules: float32 in [0, 1].

    uint8 ``[..., C, H, W]`` in 0..255 is scaled by 1/255 (torchvision's
    ``to_dtype(scale=True)``); floating images are assumed in [0, 1] already and only cast.
    """
    return TF.to_dtype(images, torch.float32, scale=True)


def normalize(images: Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> Tensor:
    """``(images - mean) / std`` per channel of floating ``[..., C, H, W]``; identity when ``mean`` is None.

    torchvision's ``v2.functional.normalize``; the input is never modified in place.
    """
    if mean is None or std is None:
        return images
    return TF.normalize(images, list(mean), list(std))


def _diffeo_class() -> type[nn.Module]:
    from lightning_diffeo.diffeo import Diffeo

    return Diffeo


def _as_tuples(value: Any) -> Any:
    # YAML and the CLI give lists where Diffeo expects tuples, e.g. cutoff: [3, 15].
    return tuple(value) if isinstance(value, list) else value


def check_diffeo_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate keyword arguments for ``lightning_diffeo.diffeo.Diffeo``.

    Lists become tuples. The generator is managed by the datamodule (seeded by its
    ``seed``), so ``generator`` is refused.

    Raises:
        ValueError: An unknown option, or a value ``Diffeo`` rejects.
        TypeError: ``options`` is not a mapping.
    """
    if not isinstance(options, Mapping):
        raise TypeError(f"diffeo must be a dict of Diffeo options or None, got {type(options).__name__}")
    diffeo_cls = _diffeo_class()
    allowed = set(inspect.signature(diffeo_cls).parameters) - {"generator", "self"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"unknown diffeo option(s) {unknown}; Diffeo accepts {sorted(allowed)} "
            "(the generator is seeded by the datamodule's seed)"
        )
    kwargs = {key: _as_tuples(value) for key, value in options.items()}
    try:
        diffeo_cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid diffeo options {kwargs}: {error}") from error
    return kwargs


class BatchTransform:
    """uint8 or float images ``[B, C, n, n]`` -> float32 augmented, normalised images.

    Order: random crop, horizontal flip, diffeomorphism (in [0, 1] pixel space), normalisation.
    In the main process the draws come from a generator seeded with ``seed``; in a
    DataLoader worker from one seeded with the worker's seed (itself drawn from the
    DataLoader's seeded generator), so runs are reproducible for a fixed ``num_workers``.

    Args:
        mean: Per-channel mean, or None for no normalisation.
        std: Per-channel standard deviation, or None.
        random_crop: Random translation by up to 4 pixels (zero padding).
        horizontal_flip: Left-right flip with probability 1/2.
        diffeo: Keyword arguments of ``Diffeo``, or None.
        seed: Seed of the augmentation stream.
    """

    def __init__(
        self,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        *,
        random_crop: bool = False,
        horizontal_flip: bool = False,
        diffeo: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.mean = None if mean is None else tuple(mean)
        self.std = None if std is None else tuple(std)
        self.random_crop = random_crop
        self.horizontal_flip = horizontal_flip
        self.diffeo_options = None if diffeo is None else dict(diffeo)
        self.seed = seed
        self.epoch: int | None = None
        self._generator: torch.Generator | None = None
        self._generator_key: object = None
        self._diffeo: nn.Module | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Workers build their own generator (and Diffeo) from their seed.
        state = self.__dict__.copy()
        state.update(_generator=None, _generator_key=None, _diffeo=None)
        return state

    @property
    def augments(self) -> bool:
        """Whether any random augmentation is on."""
        return self.random_crop or self.horizontal_flip or self.diffeo_options is not None

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's augmentation from a stream seeded by (``seed``, ``epoch``).

        A run resumed at epoch k then augments it as an uninterrupted run does (in the main
        process; workers draw from their own seeds).
        """
        self.epoch = epoch
        self._generator = None

    def _get_generator(self) -> torch.Generator:
        info = torch.utils.data.get_worker_info()
        key = None if info is None else (info.id, info.seed)
        if self._generator is None or key != self._generator_key:
            if info is not None:
                seed = info.seed
            else:
                seed = self.seed if self.epoch is None else derive_seed(self.seed, f"augment-epoch{self.epoch}")
            self._generator = torch.Generator().manual_seed(seed)
            self._generator_key = key
            self._diffeo = None
        return self._generator

    def __call__(self, images: Tensor) -> Tensor:
        x = to_unit_float(images)
        if self.augments:
            generator = self._get_generator()
            if self.random_crop:
                x = random_crop(x, 4, generator)
            if self.horizontal_flip:
                x = random_horizontal_flip(x, 0.5, generator)
            if self.diffeo_options is not None:
                if self._diffeo is None:
                    self._diffeo = _diffeo_class()(**self.diffeo_options, generator=generator)
                with torch.no_grad():
                    x = self._diffeo(x)
        return normalize(x, self.mean, self.std)
