"""Deforming batches of images: the functional kernels under the ``Diffeo`` transform."""

from __future__ import annotations

import math

import torch

from ._checks import check_images, check_interpolation
from .fields import displacement_from_coefficients, sample_coefficients, sampling_grid
from .interpolation import remap, resample_grid
from .scales import temperature_from_displacement

__all__ = ["deform", "deform_with_coefficients", "field_dtype", "image_count"]


def image_count(images: torch.Tensor) -> int:
    """Number of images in ``[..., C, n, n]``: the product of the leading dimensions."""
    return math.prod(images.shape[:-3])


def field_dtype(images: torch.Tensor) -> torch.dtype:
    """Dtype the fields of these images are drawn and applied in (float32 unless the images are float64)."""
    return images.dtype if images.dtype in (torch.float32, torch.float64) else torch.float32


def deform(
    images: torch.Tensor,
    *,
    cutoff: float,
    temperature: float | None = None,
    delta: float | None = None,
    interpolation: str = "bilinear",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply an independent random diffeomorphism to every image of a batch.

    Args:
        images: ``[..., C, n, n]`` floating images in [0, 1]; every leading index is one image.
        cutoff: c, highest mode (>= 1; > 1 when ``delta`` is given).
        temperature: T; give exactly one of ``temperature`` and ``delta``.
        delta: typical displacement in pixels, converted with ``temperature_from_displacement``.
        interpolation: ``"bilinear"``, ``"gaussian"`` or ``"nearest"``.
        generator: source of randomness (default: the global RNG).

    Returns:
        Deformed images ``[..., C, n, n]``.

    >>> g = torch.Generator().manual_seed(0)
    >>> deform(torch.rand(16, 3, 32, 32), cutoff=3, delta=1.0, generator=g).shape
    torch.Size([16, 3, 32, 32])
    """
    n = check_images("images", images)
    check_interpolation("interpolation", interpolation)
    if (temperature is None) == (delta is None):
        raise ValueError("give exactly one of temperature and delta")
    if delta is not None:
        temperature = temperature_from_displacement(delta, cutoff, n)
    coefficients = sample_coefficients(
        image_count(images), temperature, cutoff, generator=generator, device=images.device, dtype=field_dtype(images)
    )
    return deform_with_coefficients(images, coefficients, interpolation)


def deform_with_coefficients(images: torch.Tensor, coefficients: torch.Tensor, interpolation: str = "bilinear") -> torch.Tensor:
    """Deform ``[..., C, n, n]`` images by the fields of ``[B, 2, M, M]`` coefficients, B = images per batch.

    Bilinear and nearest go straight from the coefficients to ``grid_sample``'s sampling grid;
    Gaussian goes through the displacement field.
    """
    n = check_images("images", images)
    check_interpolation("interpolation", interpolation)
    leading, channels = images.shape[:-3], images.shape[-3]
    if coefficients.shape[0] != image_count(images):
        raise ValueError(f"{coefficients.shape[0]} fields for {image_count(images)} images")
    coefficients = coefficients.to(device=images.device, dtype=field_dtype(images))
    if interpolation == "gaussian":
        displacement = displacement_from_coefficients(coefficients, n).reshape(*leading, 2, n, n)
        return remap(images, displacement, interpolation)
    batch = images.reshape(-1, channels, n, n)
    out = resample_grid(batch.to(coefficients.dtype), sampling_grid(coefficients, n), interpolation)
    return out.reshape(images.shape).to(images.dtype)
