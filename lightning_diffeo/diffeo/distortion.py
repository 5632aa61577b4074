"""Distortion diagnostic Xi of Eq. 12, from the exact gradient of the sine series.

With J = grad tau in unit-square coordinates, Xi = (sqrt(||J||_F^2 - 2 det J) - tr J) / 2.
Xi < 1 everywhere is a sufficient condition for the map s -> s - tau(s) to be injective.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_log_cutoff, check_temperature
from .fields import sine_basis

__all__ = ["distortion", "distortion_bound", "expected_max_distortion", "is_diffeomorphism", "max_distortion"]


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


def distortion_bound(coefficients: torch.Tensor) -> torch.Tensor:
    """An upper bound of Xi over the whole unit square, per field: ``[..., 2, M, M]`` -> ``[...]``.

    Each partial derivative of the sine series is bounded by the sum of its coefficients'
    magnitudes times pi i (or pi j), so |dxx| + |dyy| <= A = pi sum(i |C_ij| + j |D_ij|) and
    |dxy| + |dyx| <= B = pi sum(j |C_ij| + i |D_ij|); with sqrt(p^2 + q^2) <= |p| + |q|,
    Xi <= (A + B + A) / 2 = A + B / 2. Costs O(M^2) per field instead of O(n^2 M).
    """
    size = coefficients.shape[-1]
    k = torch.arange(1, size + 1, device=coefficients.device, dtype=coefficients.dtype) * math.pi
    magnitude = coefficients.abs()
    c_x, c_y = magnitude[..., 0, :, :], magnitude[..., 1, :, :]
    by_i = lambda c: (c * k[:, None]).sum((-2, -1))  # noqa: E731 - sum of pi i |c_ij|
    by_j = lambda c: (c * k[None, :]).sum((-2, -1))  # noqa: E731 - sum of pi j |c_ij|
    return by_i(c_x) + by_j(c_y) + (by_j(c_x) + by_i(c_y)) / 2


def is_diffeomorphism(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Whether the sufficient condition max Xi < 1 holds on the n x n grid, per field: ``[...]`` booleans.

    Fields whose :func:`distortion_bound` is below 1 (with a margin for rounding) qualify
    without evaluating Xi on the grid; only the others are evaluated.
    """
    if coefficients.dim() < 3 or coefficients.shape[-3] != 2 or coefficients.shape[-1] != coefficients.shape[-2]:
        raise ValueError(f"coefficients must have shape [..., 2, M, M], got {tuple(coefficients.shape)}")
    flat = coefficients.reshape(-1, *coefficients.shape[-3:])
    result = distortion_bound(flat) < _BOUND_MARGIN
    unsure = (~result).nonzero().flatten()
    if unsure.numel():
        result[unsure] = max_distortion(flat[unsure], n) < 1
    return result.reshape(coefficients.shape[:-3])


_BOUND_MARGIN = 1.0 - 1e-3  # a bound this far below 1 is below 1 whatever the rounding


def expected_max_distortion(temperature: float, cutoff: float) -> float:
    """Eq. 13: median over draws of max_s Xi ~ (c / 2) sqrt(pi^3 T ln c), for c > 1."""
    check_temperature("temperature", temperature)
    check_log_cutoff("cutoff", cutoff)
    return cutoff / 2.0 * math.sqrt(math.pi**3 * float(temperature) * math.log(cutoff))
