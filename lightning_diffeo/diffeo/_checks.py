"""Domain checks of the diffeo modules, on top of ``lightning_diffeo.validation``.

Every check takes ``(name, value)`` like the shared helpers. Temperatures and cutoffs may be
Python numbers or tensors (one value per image); numbers go through
``validation.check_number``, tensors are checked element-wise with the same message.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

from lightning_diffeo.validation import check_choice, check_number

__all__ = [
    "INTERPOLATIONS",
    "Interpolation",
    "check_cutoff",
    "check_images",
    "check_interpolation",
    "check_log_cutoff",
    "check_temperature",
]

Interpolation = Literal["bilinear", "gaussian", "nearest"]
"""How deformed images are resampled (see ``remap``)."""
INTERPOLATIONS: tuple[str, ...] = get_args(Interpolation)


def check_images(name: str, images: torch.Tensor) -> int:
    """Check a batch of square floating images ``[..., C, n, n]`` and return n."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [..., C, n, n], got {type(images).__name__}")
    if images.dim() < 3:
        raise ValueError(
            f"{name} must have at least 3 dimensions [..., C, n, n], got shape {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise TypeError(
            f"{name} must be a floating tensor with values in [0, 1], got dtype {images.dtype}; "
            "convert with images.float() / 255 (or torchvision.transforms.v2.ToDtype(torch.float32, scale=True))"
        )
    height, width = images.shape[-2:]
    if height != width:
        raise ValueError(
            f"{name} must be square [..., C, n, n]; got height {height} and width {width} "
            f"(shape {tuple(images.shape)}); crop or resize them to a square first"
        )
    if height < 2:
        raise ValueError(f"{name} must be at least 2x2 pixels, got {height}x{width}")
    return int(height)


def check_temperature(name: str, temperature: float | torch.Tensor) -> None:
    """Temperatures must be finite and >= 0 (a number or a tensor of them)."""
    _check_bound(name, temperature, minimum=0.0, exclusive=False, what="a finite number >= 0")


def check_cutoff(name: str, cutoff: float | torch.Tensor) -> None:
    """A mode count needs c >= 1 (the mode (1, 1) is kept from c = 1 on)."""
    _check_bound(name, cutoff, minimum=1.0, exclusive=False, what="a finite number >= 1")


def check_log_cutoff(name: str, cutoff: float | torch.Tensor) -> None:
    """Formulas with ln c (typical displacement, allowed temperatures) need c > 1."""
    _check_bound(
        name, cutoff, minimum=1.0, exclusive=True,
        what=f"a finite number > 1 here because the formula uses ln({name})",
        hint="; for c = 1 give an explicit temperature instead of a typical displacement",
    )


def check_interpolation(name: str, interpolation: str) -> str:
    """Return the interpolation name if it is one of ``INTERPOLATIONS``, else raise."""
    return check_choice(name, interpolation, INTERPOLATIONS)


def _check_bound(
    name: str, value: float | torch.Tensor, minimum: float, exclusive: bool, what: str, hint: str = ""
) -> None:
    if not isinstance(value, torch.Tensor) or value.numel() == 1:
        try:
            if exclusive:
                check_number(name, value, exclusive_minimum=minimum)
            else:
                check_number(name, value, minimum=minimum)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name} must be {what}, got {_show(value)}{hint}") from None
        return
    if value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must be {what}, got a tensor of dtype {value.dtype}")
    values = value.detach().to(torch.float64)
    bad = ~torch.isfinite(values) | ((values <= minimum) if exclusive else (values < minimum))
    if bool(bad.any()):
        raise ValueError(f"{name} must be {what}, got {_show(value)}{hint}")


def _show(value: object) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() > 1:
            return f"a tensor with min {value.min().item():g} and max {value.max().item():g}"
        return repr(value.item())
    return repr(value)
