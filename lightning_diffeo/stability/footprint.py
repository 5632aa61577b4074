"""What one probe image costs in memory, layer by layer: one forward pass of two images through the hooks.

:func:`footprint` runs the probed layers' hooks (as the measurement does) and a hook on every
module, on two probe images (two, so that batch-norm on batch statistics works in ``init``
mode), under ``torch.no_grad`` in the mode the caller entered. It records, per image, each
probed layer's coordinates and bytes, whether the capture must copy it, the largest output of
any module (what the model itself holds during a forward pass) and the bytes of the input.
The peak-memory estimate (:mod:`~lightning_diffeo.stability.memory`) is built from these.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lightning_diffeo.stability.capture import ActivationCapture
from lightning_diffeo.stability.prober import Normalize, check_model_inputs
from lightning_diffeo.stability.settings import OUTPUT

__all__ = ["Footprint", "footprint"]

_SAMPLE = 2  # images in the sizing pass


@dataclass(frozen=True)
class Footprint:
    """Per-image sizes of a model's forward pass and of its probed layers, in bytes unless stated.

    Attributes:
        dims: coordinates D of each probed layer (its flattened output), per image.
        held: bytes of each probed layer's output, in its own dtype, which the hook keeps
            alive until the end of the forward pass.
        copied: bytes of the float32 copy the capture makes of a probed output (an output
            modified in place later in the pass, or not float32); 0 when none is made.
        largest: bytes of the largest tensor any module returns.
        model_input: bytes of a batch after ``normalize`` (what the model receives).
        image: bytes of a probe image ``[C, n, n]`` in its dtype.
        channels: C.
        size: n, the image side in pixels.
        modified_in_place: the probed layers whose outputs a later in-place operation changes.
    """

    dims: dict[str, int]
    held: dict[str, int]
    copied: dict[str, int]
    largest: int
    model_input: int
    image: int
    channels: int
    size: int
    modified_in_place: frozenset[str]


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _first(value: Any) -> torch.Tensor | None:
    return next(_tensors(value), None)


def footprint(model: nn.Module, images: torch.Tensor, layers: list[str], normalize: Normalize | None) -> Footprint:
    """Per-image memory sizes of ``model`` and its probed ``layers`` (checked names) on ``images`` [N, C, n, n].

    Runs one forward pass of the first two images, through ``normalize``, with the caller's
    grad mode and model mode. Raises as the measurement would on a model whose parameters do
    not match its inputs, or a layer that is not called or has no batch dimension.
    """
    sample = images[:_SAMPLE]
    count = sample.shape[0]
    largest = 0
    outputs: dict[str, torch.Tensor] = {}

    def recorder(name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            nonlocal largest
            for tensor in _tensors(output):
                largest = max(largest, tensor.numel() * tensor.element_size())
            first = _first(output)
            if first is not None:
                outputs[name or OUTPUT] = first

        return hook

    handles = [module.register_forward_hook(recorder(name)) for name, module in model.named_modules()]
    try:
        batch = normalize(sample) if normalize is not None else sample
        check_model_inputs(model, batch)
        with ActivationCapture(model, layers, device=None, copy="when_modified") as capture:
            flat = capture(batch, check_finite=False)
            modified = frozenset(capture.modified_in_place)
    finally:
        for handle in handles:
            handle.remove()
    dims = {name: value.shape[1] for name, value in flat.items()}
    held, copied = {}, {}
    for name in layers:
        native = outputs.get(name)
        itemsize = native.element_size() if native is not None else 4
        held[name] = dims[name] * itemsize
        float32 = native is not None and native.dtype == torch.float32
        copied[name] = 0 if float32 and name not in modified else dims[name] * 4
    per_image = lambda total: math.ceil(total / count)  # noqa: E731
    return Footprint(
        dims=dims, held=held, copied=copied, largest=per_image(largest),
        model_input=per_image(batch.numel() * batch.element_size()),
        image=per_image(sample.numel() * sample.element_size()), channels=images.shape[1], size=images.shape[-1],
        modified_in_place=modified,
    )
