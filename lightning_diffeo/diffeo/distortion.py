"""Distortion diagnostic Xi of Eq. 12, from the exact gradient of the sine series.

With J = grad tau in unit-square coordinates, Xi = (sqrt(||J||_F^2 - 2 det J) - tr J) / 2.
Xi < 1 everywhere is a sufficient condition for the map s -> s - tau(s) to be injective.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_log_cutoff, check_temperature
from .fields import sine_basis

__all__ = ["distortion", "expected_max_distortion", "is_diffeomorphism", "max_distortion"]


def distortion(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Xi at every pixel of an n x n grid.

    Args:
        coefficients: ``[..., 2, M, M]`` sine-series coefficients (``sample_coefficients``).
        n: grid side in pixels (pixel k at u = k / (n - 1)).

    Returns:
        Xi ``[..., n, n]`` (dimensionless), indexed ``[..., y, x]``.
    """
    if coefficients.dim() < 3 or coefficients.shape[-3] != 2 or coefficients.shape[-1] != coefficients.shape[-2]:
        raise ValueError(f"coefficients must have shape [..., 2, M, M], got {tuple(coefficients.shape)}")
    size = coefficients.shape[-1]
    kwargs = {"device": coefficients.device, "dtype": coefficients.dtype}
    sin = sine_basis(n, size, **kwargs)
    dsin = sine_basis(n, size, derivative=True, **kwargs)
    c_x, c_y = coefficients[..., 0, :, :], coefficients[..., 1, :, :]
    # d/du of sum_ij C_ij sin(i pi u) sin(j pi v) = sum_ij C_ij i pi cos(i pi u) sin(j pi v)
    dxx = torch.einsum("...ij,xi,yj->...yx", c_x, dsin, sin)
    dxy = torch.einsum("...ij,xi,yj->...yx", c_x, sin, dsin)
    dyx = torch.einsum("...ij,xi,yj->...yx", c_y, dsin, sin)
    dyy = torch.einsum("...ij,xi,yj->...yx", c_y, sin, dsin)
    # ||J||_F^2 - 2 det J = (dxx - dyy)^2 + (dxy + dyx)^2: no cancellation inside the root.
    root = torch.sqrt((dxx - dyy) ** 2 + (dxy + dyx) ** 2)
    return 0.5 * (root - dxx - dyy)


def max_distortion(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Maximum of Xi over the n x n grid, per field: ``[..., 2, M, M]`` -> ``[...]``."""
    return distortion(coefficients, n).flatten(-2).amax(-1)


def is_diffeomorphism(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Whether the sufficient condition max Xi < 1 holds, per field: ``[...]`` booleans."""
    return max_distortion(coefficients, n) < 1


def expected_max_distortion(temperature: float, cutoff: float) -> float:
    """Eq. 13: median over draws of max_s Xi ~ (c / 2) sqrt(pi^3 T ln c), for c > 1."""
    check_temperature("temperature", temperature)
    check_log_cutoff("cutoff", cutoff)
    return cutoff / 2.0 * math.sqrt(math.pi**3 * float(temperature) * math.log(cutoff))
