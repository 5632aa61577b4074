"""Distortion diagnostic Xi of Eq. 12, from the exact gradient of the sine series.

With J = grad tau in unit-square coordinates, Xi = (sqrt(||J||_F^2 - 2 det J) - tr J) / 2.
Xi < 1 everywhere is a sufficient condition for the map s -> s - tau(s) to be injective.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_log_cutoff, check_temperature
from .fields import _cached_sine_basis

__all__ = ["distortion", "distortion_bound", "expected_max_distortion", "is_diffeomorphism", "max_distortion"]


def _bases(coefficients: torch.Tensor, n: int, pixels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """sin(i pi u_k) and its derivative at the chosen pixels k, ``[P, M]`` each (cached bases)."""
    size = coefficients.shape[-1]
    sin = _cached_sine_basis(n, size, False, coefficients.device, coefficients.dtype)
    dsin = _cached_sine_basis(n, size, True, coefficients.device, coefficients.dtype)
    return (sin, dsin) if pixels is None else (sin[pixels], dsin[pixels])


def _x_side(coefficients: torch.Tensor, sin: torch.Tensor, dsin: torch.Tensor) -> torch.Tensor:
    """R[t, (x, f), k, j] = sum_i C[f, k, i, j] b_t(x, i), b_0 = sin, b_1 = d sin: ``[2, P * F, 2, M]``.

    One matrix product for every field, both components and both bases.
    """
    size = coefficients.shape[-1]
    by_i = coefficients.permute(2, 0, 1, 3).reshape(size, -1)  # [i, (f, k, j)]
    return (torch.cat([sin, dsin]) @ by_i).reshape(2, sin.shape[0] * coefficients.shape[0], 2, size)


def _twice_xi(coefficients: torch.Tensor, n: int, pixels: torch.Tensor | None = None) -> torch.Tensor:
    """2 Xi of F fields ``[F, 2, M, M]`` on a grid of pixels, laid out ``[P (x), F, P (y)]``.

    tr J, dxx - dyy and dxy + dyx are linear in the coefficients: the sums over i (x side)
    are one matrix product with [sin; d sin], and the sums over j (y side) four more, each
    writing a contiguous [P * F, P] block, so that the elementwise steps that follow read
    contiguous memory (on strided slices they cost 3-5x more).

    Args:
        coefficients: ``[F, 2, M, M]``.
        n: grid side in pixels (pixel k at u = k / (n - 1)).
        pixels: the pixel indices evaluated along each axis (default all n).
    """
    fields = coefficients.shape[0]
    sin, dsin = _bases(coefficients, n, pixels)
    count = sin.shape[0]
    x_side = _x_side(coefficients, sin, dsin)
    # y side, with R_tk = R[t, :, :, k] as [(x, f), j] matrices (strided rows, no copy):
    # dxx = R_10 sin_y, dyy = R_01 d sin_y, dxy = R_00 d sin_y, dyx = R_11 sin_y.
    dxx = x_side[1, :, 0] @ sin.T
    dyy = x_side[0, :, 1] @ dsin.T
    shear = torch.addmm(x_side[1, :, 1] @ sin.T, x_side[0, :, 0], dsin.T)  # dxy + dyx
    trace = dxx + dyy
    # ||J||_F^2 - 2 det J = (dxx - dyy)^2 + (dxy + dyx)^2: no cancellation inside the root
    # (a third of the cost of torch.hypot, which guards against overflow; the root is taken
    # out of place, as autograd keeps it).
    twice_xi = torch.sqrt(dxx.sub_(dyy).square_().addcmul_(shear, shear)) - trace
    return twice_xi.view(count, fields, count)


def _check_coefficients(coefficients: torch.Tensor) -> None:
    if coefficients.dim() < 3 or coefficients.shape[-3] != 2 or coefficients.shape[-1] != coefficients.shape[-2]:
        raise ValueError(f"coefficients must have shape [..., 2, M, M], got {tuple(coefficients.shape)}")


def distortion(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Xi at every pixel of an n x n grid.

    Args:
        coefficients: ``[..., 2, M, M]`` sine-series coefficients (``sample_coefficients``).
        n: grid side in pixels (pixel k at u = k / (n - 1)).

    Returns:
        Xi ``[..., n, n]`` (dimensionless), indexed ``[..., y, x]``.
    """
    _check_coefficients(coefficients)
    flat = coefficients.reshape(-1, *coefficients.shape[-3:])
    xi = 0.5 * _twice_xi(flat, n).permute(1, 2, 0)  # [x, f, y] -> [f, y, x]
    return xi.reshape(*coefficients.shape[:-3], n, n)


def max_distortion(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Maximum of Xi over the n x n grid, per field: ``[..., 2, M, M]`` -> ``[...]``."""
    _check_coefficients(coefficients)
    flat = coefficients.reshape(-1, *coefficients.shape[-3:])
    return (0.5 * _twice_xi(flat, n).amax(dim=(0, 2))).reshape(coefficients.shape[:-3])


def distortion_bound(coefficients: torch.Tensor) -> torch.Tensor:
    """An upper bound of Xi over the whole unit square, per field: ``[..., 2, M, M]`` -> ``[...]``.

    Each partial derivative of the sine series is bounded by the sum of its coefficients'
    magnitudes times pi i (or pi j), so |dxx| + |dyy| <= A = pi sum(i |C_ij| + j |D_ij|) and
    |dxy| + |dyx| <= B = pi sum(j |C_ij| + i |D_ij|). Both |tr J| and |dxx - dyy| are at most A
    and |dxy + dyx| at most B, so Xi <= (sqrt(A^2 + B^2) + A) / 2. Costs O(M^2) per field
    instead of O(n^2 M).
    """
    size = coefficients.shape[-1]
    k = torch.arange(1, size + 1, device=coefficients.device, dtype=coefficients.dtype) * math.pi
    magnitude = coefficients.abs()
    c_x, c_y = magnitude[..., 0, :, :], magnitude[..., 1, :, :]
    by_i = lambda c: (c * k[:, None]).sum((-2, -1))  # noqa: E731 - sum of pi i |c_ij|
    by_j = lambda c: (c * k[None, :]).sum((-2, -1))  # noqa: E731 - sum of pi j |c_ij|
    a, b = by_i(c_x) + by_j(c_y), by_j(c_x) + by_i(c_y)
    return (torch.hypot(a, b) + a) / 2


def _column_bound(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """An upper bound of Xi on the n x n grid, per field ``[F, 2, M, M]`` -> ``[F]``, tighter than
    :func:`distortion_bound`.

    The x-side sums R_tk(x) are exact at each grid column x; only the sums over j are bounded,
    by |sin(j pi v)| <= 1 and |j pi cos(j pi v)| <= pi j: |dxx| + |dyy| <= sum_j |R_10j(x)| +
    pi j |R_01j(x)| and |dxy| + |dyx| <= sum_j pi j |R_00j(x)| + |R_11j(x)|. Costs O(n M^2)
    per field.
    """
    sin, dsin = _bases(coefficients, n, None)
    magnitude = _x_side(coefficients, sin, dsin).abs_()  # [2, (x, f), 2, M]
    k = torch.arange(1, sin.shape[1] + 1, device=coefficients.device, dtype=coefficients.dtype) * math.pi
    a = torch.addmv(magnitude[1, :, 0].sum(-1), magnitude[0, :, 1], k)  # [(x, f)]
    b = torch.addmv(magnitude[1, :, 1].sum(-1), magnitude[0, :, 0], k)
    return ((torch.hypot(a, b) + a) / 2).view(n, coefficients.shape[0]).amax(0)


def is_diffeomorphism(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Whether the sufficient condition max Xi < 1 holds on the n x n grid, per field: ``[...]`` booleans.

    Exact, and cheaper than evaluating every field on the grid: fields whose
    :func:`distortion_bound`, then whose bound per grid column (exact along x, bounded along
    y), is below 1 qualify; of the others, those with Xi above 1 on every fourth pixel (a
    subset of the grid) do not; only the rest are evaluated on the whole grid. Every shortcut
    keeps a margin for rounding.
    """
    _check_coefficients(coefficients)
    flat = coefficients.reshape(-1, *coefficients.shape[-3:])
    result = distortion_bound(flat) < _BOUND_MARGIN
    unsure = (~result).nonzero().flatten()
    if unsure.numel():
        below = _column_bound(flat[unsure], n) < _BOUND_MARGIN
        result[unsure[below]] = True
        unsure = unsure[~below]
    if unsure.numel() and n > _COARSE_STEP:
        coarse = torch.arange(0, n, _COARSE_STEP, device=flat.device)
        far_above = _twice_xi(flat[unsure], n, coarse).amax(dim=(0, 2)) >= 2 * _COARSE_MARGIN
        unsure = unsure[~far_above]
    if unsure.numel():
        result[unsure] = max_distortion(flat[unsure], n) < 1
    return result.reshape(coefficients.shape[:-3])


_BOUND_MARGIN = 1.0 - 1e-3  # a bound this far below 1 is below 1 whatever the rounding
_COARSE_STEP = 4  # pixels between the points of the coarse check
_COARSE_MARGIN = 1.0 + 1e-3  # a Xi this far above 1 on a subset of the grid is above 1 on the grid


def expected_max_distortion(temperature: float, cutoff: float) -> float:
    """Eq. 13: median over draws of max_s Xi ~ (c / 2) sqrt(pi^3 T ln c), for c > 1."""
    check_temperature("temperature", temperature)
    check_log_cutoff("cutoff", cutoff)
    return cutoff / 2.0 * math.sqrt(math.pi**3 * float(temperature) * math.log(cutoff))
