"""Validation helpers shared by the diffeo modules: clear errors for bad input."""

from __future__ import annotations

import torch

__all__ = [
    "check_cutoff",
    "check_images",
    "check_interpolation",
    "check_log_cutoff",
    "check_temperature",
    "INTERPOLATIONS",
]

INTERPOLATIONS: tuple[str, ...] = ("bilinear", "gaussian", "nearest")


def check_images(images: torch.Tensor, name: str = "images") -> int:
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


def check_temperature(temperature: float | torch.Tensor, name: str = "temperature") -> None:
    """Temperatures must be finite and non-negative (scalar or tensor)."""
    values = torch.as_tensor(temperature, dtype=torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} must be finite, got {_show(temperature)}")
    if bool((values < 0).any()):
        raise ValueError(f"{name} must be >= 0, got {_show(temperature)}")


def check_cutoff(cutoff: float | torch.Tensor, name: str = "cutoff") -> None:
    """A mode count needs c >= 1 (the mode (1, 1) is kept from c = 1 on)."""
    values = torch.as_tensor(cutoff, dtype=torch.float64)
    if not bool(torch.isfinite(values).all()) or bool((values < 1).any()):
        raise ValueError(f"{name} must be a finite number >= 1, got {_show(cutoff)}")


def check_log_cutoff(cutoff: float | torch.Tensor, name: str = "cutoff") -> None:
    """Formulas with ln c (typical displacement, allowed temperatures) need c > 1."""
    values = torch.as_tensor(cutoff, dtype=torch.float64)
    if not bool(torch.isfinite(values).all()) or bool((values <= 1).any()):
        raise ValueError(
            f"{name} must be > 1 here because the formula uses ln({name}), got {_show(cutoff)}; "
            "for c = 1 give an explicit temperature instead of a typical displacement"
        )


def check_interpolation(interpolation: str) -> str:
    """Return the interpolation name if known, else raise listing the known ones."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; expected one of {', '.join(INTERPOLATIONS)}")
    return interpolation


def _show(value: float | torch.Tensor) -> str:
    if isinstance(value, torch.Tensor) and value.numel() > 1:
        return f"a tensor with min {value.min().item():g} and max {value.max().item():g}"
    return repr(float(value)) if isinstance(value, torch.Tensor) else repr(value)
