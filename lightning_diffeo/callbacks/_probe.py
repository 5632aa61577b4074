"""The StabilityCallback's probe: its images and the transform its batches go through."""

from __future__ import annotations

from collections.abc import Callable

import torch
from lightning import Trainer

__all__ = ["Normalize", "input_transform", "resolve_probe"]

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
