"""The StabilityCallback's probe: its images and the transform its batches go through."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import torch
from lightning import Trainer
from torch import nn

__all__ = ["Normalize", "float32_module", "input_transform", "resolve_probe"]

Normalize = Callable[[torch.Tensor], torch.Tensor]


def resolve_probe(
    trainer: Trainer, images: torch.Tensor | None, normalize: Normalize | None, probe_size: int
) -> tuple[torch.Tensor, Normalize | None]:
    """The probe images and their normalisation: the given ones, else the datamodule's.

    Without ``images``: the trainer's datamodule's ``probe_set(probe_size)``, normalised by
    ``normalize`` or else by the datamodule's ``normalize_images`` when it has one.
    """
    if images is not None:
        return images, normalize
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is None or not hasattr(datamodule, "probe_set"):
        raise ValueError(
            "StabilityCallback needs probe images: pass probe_images=... or use a datamodule with a "
            "probe_set(size) method (every lightning_diffeo datamodule has one)"
        )
    if normalize is None:
        normalize = getattr(datamodule, "normalize_images", None)
    return datamodule.probe_set(probe_size)[0], normalize


def input_transform(normalize: Normalize | None, parameter: torch.Tensor | None) -> Normalize | None:
    """``normalize``, then a cast to the parameters' dtype (e.g. ``precision="bf16-true"``)."""
    if parameter is None or not parameter.is_floating_point() or parameter.dtype == torch.float32:
        return normalize
    dtype = parameter.dtype
    return lambda images: (normalize(images) if normalize is not None else images).to(dtype)


@contextmanager
def float32_module(module: nn.Module) -> Iterator[nn.Module]:
    """The module to measure in float32, whatever the trainer's precision; ``module`` is left untouched.

    Autocast (``precision="bf16-mixed"`` or ``"16-mixed"``) is switched off on the CPU and on the
    module's device for the duration of the context. A module whose floating-point parameters
    and buffers are all float32 is yielded as it is (``measure_stability`` restores its state
    exactly); any other (``precision="bf16-true"``) is measured as a float32 copy, so the
    training module's parameters, buffers and dtype are never changed. The copy holds the
    module's values exactly (every bf16 or fp16 number is a float32 number).

    Example:
        >>> net = nn.Linear(3, 2).to(torch.bfloat16)
        >>> with torch.autocast("cpu", dtype=torch.bfloat16), float32_module(net) as measured:
        ...     measured(torch.ones(1, 3)).dtype, net.weight.dtype
        (torch.float32, torch.bfloat16)
    """
    tensors = itertools.chain(module.parameters(), module.buffers())
    floating = [t for t in tensors if t.is_floating_point()]
    devices = {"cpu", *(t.device.type for t in floating)}
    with ExitStack() as stack:
        for device in sorted(devices):
            stack.enter_context(torch.autocast(device, enabled=False))
        if all(t.dtype == torch.float32 for t in floating):
            yield module
        else:
            # LightningModule's pickling leaves its trainer out of the copy.
            yield copy.deepcopy(module).float()
