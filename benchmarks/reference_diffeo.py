"""Straightforward per-image implementation of the diffeomorphism math, the benchmark baseline.

One field per call, the whole image resampled per call, dense Gaussian interpolation (Eq. 16
summed over every pixel, O(n^4)): the way research scripts usually do it. Same formulas as
``lightning_diffeo.diffeo``.
"""

from __future__ import annotations

import math

import torch


def reference_field(n: int, temperature: float, cutoff: float, generator: torch.Generator) -> torch.Tensor:
    """One displacement field ``[2, n, n]`` in pixels."""
    size = int(cutoff) + 1
    k = torch.arange(1, size + 1, dtype=torch.float32)
    energy = k[:, None] ** 2 + k[None, :] ** 2
    keep = energy.sqrt() < cutoff + 0.5
    coefficients = torch.randn(2, size, size, generator=generator) * (temperature / energy).sqrt() * keep
    u = torch.arange(n, dtype=torch.float32) / (n - 1)
    basis = torch.sin(math.pi * u[:, None] * k[None, :])
    return n * torch.einsum("kij,xi,yj->kyx", coefficients, basis, basis)


def reference_bilinear(image: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """Eq. 15 with clamped coordinates: ``[C, n, n]`` and ``[2, n, n]`` -> ``[C, n, n]``."""
    n = image.shape[-1]
    y, x = torch.meshgrid(torch.arange(n, dtype=field.dtype), torch.arange(n, dtype=field.dtype), indexing="ij")
    x = (x - field[0]).clamp(0, n - 1)
    y = (y - field[1]).clamp(0, n - 1)
    x0, y0 = x.floor().long().clamp(max=n - 2), y.floor().long().clamp(max=n - 2)
    wx, wy = x - x0, y - y0
    return (
        image[:, y0, x0] * (1 - wx) * (1 - wy)
        + image[:, y0, x0 + 1] * wx * (1 - wy)
        + image[:, y0 + 1, x0] * (1 - wx) * wy
        + image[:, y0 + 1, x0 + 1] * wx * wy
    )


def reference_gaussian(image: torch.Tensor, field: torch.Tensor, sigma: float = 0.4715) -> torch.Tensor:
    """Eq. 16 summed densely over all n^2 pixels for each of the n^2 outputs."""
    c, n = image.shape[0], image.shape[-1]
    y, x = torch.meshgrid(torch.arange(n, dtype=field.dtype), torch.arange(n, dtype=field.dtype), indexing="ij")
    sx = (x - field[0]).clamp(0, n - 1).reshape(-1)
    sy = (y - field[1]).clamp(0, n - 1).reshape(-1)
    squared = (sx[:, None] - x.reshape(1, -1)) ** 2 + (sy[:, None] - y.reshape(1, -1)) ** 2
    weights = torch.exp(-squared / (2 * sigma**2))  # [n^2 outputs, n^2 pixels]
    out = weights @ image.reshape(c, -1).T / weights.sum(1, keepdim=True)
    return out.T.reshape(c, n, n)


def reference_deform(
    image: torch.Tensor, temperature: float, cutoff: float, interpolation: str, generator: torch.Generator
) -> torch.Tensor:
    """Deform one ``[C, n, n]`` image with a fresh field."""
    field = reference_field(image.shape[-1], temperature, cutoff, generator)
    if interpolation == "gaussian":
        return reference_gaussian(image, field)
    return reference_bilinear(image, field)
