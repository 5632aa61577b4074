"""Chunked forward passes that turn probe images into per-layer activations or numerators."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lightning_diffeo.stability.capture import ActivationCapture
from lightning_diffeo.stability.estimators import NumeratorAccumulator

__all__ = ["Prober", "batch_slices", "check_model_device", "new_generator"]

Normalize = Callable[[torch.Tensor], torch.Tensor]


def batch_slices(total: int, batch_size: int) -> list[slice]:
    """ceil(total / batch_size) contiguous slices of near-equal size covering ``range(total)``.

    Balanced sizes avoid a trailing batch of one image, which batch statistics
    (initialisation mode) cannot normalise.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    count = max(1, math.ceil(total / batch_size))
    base, extra = divmod(total, count)
    slices, start = [], 0
    for i in range(count):
        stop = start + base + (1 if i < extra else 0)
        slices.append(slice(start, stop))
        start = stop
    return slices


def check_model_device(model: nn.Module, images: torch.Tensor) -> None:
    """Raise if the model's parameters live on another device than the images."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device != images.device:
        raise ValueError(
            f"images are on {images.device} but the model's parameters are on {parameter.device}: "
            f"move the images (or the model) to one device"
        )


def new_generator(generator: torch.Generator | None) -> tuple[torch.Generator, int]:
    """The caller's generator, or a fresh non-deterministically seeded CPU one (never the global RNG)."""
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator, generator.initial_seed()


class Prober:
    """Forward images in chunks through an :class:`ActivationCapture`.

    Args:
        capture: an entered activation capture.
        batch_size: images per forward pass.
        normalize: applied to every batch before the forward pass (None: identity).
    """

    def __init__(self, capture: ActivationCapture, batch_size: int, normalize: Normalize | None) -> None:
        if normalize is not None and not callable(normalize):
            raise TypeError(f"normalize must be callable or None, got {type(normalize).__name__}")
        self.capture = capture
        self.batch_size = batch_size
        self.normalize = normalize

    def _forward(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.normalize is not None:
            batch = self.normalize(batch)
        return self.capture(batch)

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations of every probed layer, ``{name: [M, D] float32 CPU}``."""
        parts: dict[str, list[torch.Tensor]] = {}
        for part in batch_slices(images.shape[0], self.batch_size):
            for name, value in self._forward(images[part]).items():
                parts.setdefault(name, []).append(value)
        return {name: torch.cat(values) if len(values) > 1 else values[0] for name, values in parts.items()}

    def numerators(
        self, images: torch.Tensor, clean: dict[str, torch.Tensor], average: str, layers: Sequence[str]
    ) -> dict[str, float]:
        """Numerator ``< ||f(x') - f(x)||^2 >`` per layer for perturbed images x' [k * N, ...].

        Row r of ``images`` is compared with row r % N of ``clean``.
        """
        count = next(iter(clean.values())).shape[0]
        accumulators: dict[str, NumeratorAccumulator] = {}
        for part in batch_slices(images.shape[0], self.batch_size):
            activations = self._forward(images[part])
            first = part.start % count
            if first + (part.stop - part.start) <= count:
                rows: slice | torch.Tensor = slice(first, first + part.stop - part.start)
            else:
                rows = torch.arange(part.start, part.stop) % count
            for name in layers:
                value = activations[name]
                if name not in accumulators:
                    accumulators[name] = NumeratorAccumulator(average, images.shape[0], value.shape[1], value.device)
                accumulators[name].add(value, clean[name][rows])
            del activations
        return {name: accumulators[name].value() for name in layers}
