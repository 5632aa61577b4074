"""Forward passes of a measurement: images in balanced batches through the activation hooks.

A :class:`Prober` turns clean images into captured activations and perturbed images into the
numerators of every requested average, from the same forward passes. It takes settings checked
by the caller (:class:`~lightning_diffeo.stability.probe.ProbeSession`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from lightning_diffeo.stability.capture import ActivationCapture
from lightning_diffeo.stability.numerators import NumeratorAccumulator

__all__ = ["Prober", "batch_slices", "check_model_inputs"]

Normalize = Callable[[torch.Tensor], torch.Tensor]


def batch_slices(total: int, batch_size: int) -> list[slice]:
    """ceil(total / batch_size) contiguous slices of near-equal size covering ``range(total)``.

    Balanced sizes avoid a trailing batch of one image, which batch statistics
    (initialisation mode) cannot normalise. ``batch_size``: a checked positive integer.
    """
    count = max(1, math.ceil(total / batch_size))
    base, extra = divmod(total, count)
    slices, start = [], 0
    for i in range(count):
        stop = start + base + (1 if i < extra else 0)
        slices.append(slice(start, stop))
        start = stop
    return slices


def check_model_inputs(model: nn.Module, batch: torch.Tensor) -> None:
    """Raise if the model's floating parameters differ in device or dtype from its input batch.

    ``batch`` is what the model receives (the probe images after ``normalize``).
    """
    parameter = next((p for p in model.parameters() if p.is_floating_point()), None)
    if parameter is None:
        return
    if parameter.device != batch.device:
        raise ValueError(
            f"the model's parameters are on {parameter.device} but its inputs are on {batch.device}: "
            f"move the images (or the model) to one device"
        )
    if parameter.dtype != batch.dtype:
        raise ValueError(
            f"the model's parameters are {parameter.dtype} but its inputs are {batch.dtype}: convert one of them "
            f"(e.g. model.to({batch.dtype}) or images.to({parameter.dtype})), or cast in normalize"
        )


class Prober:
    """Forward images in chunks through an :class:`ActivationCapture` (settings checked by the caller).

    Args:
        capture: an entered activation capture.
        batch_size: images per forward pass, >= 1.
        normalize: applied to every batch before the forward pass (None: identity).
        store: device of the stored activations and buffers (default: where computed).
    """

    def __init__(
        self,
        capture: ActivationCapture,
        batch_size: int,
        normalize: Normalize | None,
        store: torch.device | str | None = None,
    ) -> None:
        self.capture = capture
        self.batch_size = batch_size
        self.normalize = normalize
        self.store = None if store is None else torch.device(store)
        self._checked = False

    def _forward(self, batch: torch.Tensor, check_finite: bool) -> dict[str, torch.Tensor]:
        if self.normalize is not None:
            batch = self.normalize(batch)
        if not self._checked:
            check_model_inputs(self.capture.model, batch)
            self._checked = True
        return self.capture(batch, check_finite=check_finite)

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations of every probed layer, ``{name: [M, D] float32}`` (checked finite).

        Each layer's [M, D] buffer is allocated once, at the first batch, and filled batch by
        batch: the activations are never held twice (as a list and its concatenation).
        """
        out: dict[str, torch.Tensor] = {}
        slices = batch_slices(images.shape[0], self.batch_size)
        for part in slices:
            for name, value in self._forward(images[part], check_finite=True).items():
                if len(slices) == 1:
                    out[name] = value.to(self.store or value.device)
                    continue
                if name not in out:
                    shape = (images.shape[0], value.shape[1])
                    out[name] = torch.empty(shape, dtype=torch.float32, device=self.store or value.device)
                out[name][part].copy_(value)
        return out

    def numerators(
        self,
        images: torch.Tensor,
        clean: dict[str, torch.Tensor],
        averages: tuple[str, ...],
        layers: Sequence[str],
        per_image: Mapping[str, torch.Tensor] | None = None,
    ) -> dict[str, dict[str, float]]:
        """Numerators ``< ||f(x') - f(x)||^2 >`` per layer and average for perturbed images x' [k * N, ...].

        Row r of ``images`` is compared with row r % N of ``clean``. Returns
        ``{layer: {average: numerator}}``; every average comes from the same forward passes.
        ``per_image``: ``{layer: float64 [N] buffer}`` (layers among ``layers``, buffers on the
        store device) into which each image's squared distances, summed over its k rows, are added.
        """
        count = next(iter(clean.values())).shape[0]
        accumulators: dict[str, NumeratorAccumulator] = {}
        for part in batch_slices(images.shape[0], self.batch_size):
            activations = self._forward(images[part], check_finite=False)
            first = part.start % count
            if first + (part.stop - part.start) <= count:
                rows: slice | torch.Tensor = slice(first, first + part.stop - part.start)
            else:
                rows = torch.arange(part.start, part.stop, device=clean[layers[0]].device) % count
            for name in layers:
                value = activations[name]
                if name not in accumulators:
                    device = clean[name].device
                    accumulators[name] = NumeratorAccumulator(averages, images.shape[0], value.shape[1], device,
                                                              per_image=(per_image or {}).get(name))
                accumulators[name].add(value, clean[name][rows])
            del activations
        out = {}
        for name in layers:
            try:
                out[name] = accumulators[name].values()
            except ValueError as error:
                raise ValueError(f"layer {name!r} produced non-finite values (NaN or inf): {error}") from None
        return out
