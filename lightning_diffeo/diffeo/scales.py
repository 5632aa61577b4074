"""Scales of the maximum-entropy diffeomorphisms: modes, displacement, allowed temperatures.

Formulas of Petrini et al. (2021), appendix B. ``n`` is the image side in pixels, ``T`` the
temperature (variance scale of the sine-series coefficients in unit-square coordinates) and
``c`` the high-frequency cutoff.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_cutoff, check_log_cutoff, check_temperature

__all__ = [
    "max_mode",
    "mode_mask",
    "mean_square_displacement",
    "temperature_from_displacement",
    "temperature_range",
    "typical_displacement",
]


def max_mode(cutoff: float) -> int:
    """Largest mode index i kept for cutoff c: the largest i with sqrt(i^2 + 1) < c + 1/2.

    >>> max_mode(3), max_mode(1)
    (3, 1)
    """
    check_cutoff("cutoff", cutoff)
    bound = (float(cutoff) + 0.5) ** 2 - 1.0
    return max(1, math.ceil(math.sqrt(bound)) - 1) if bound > 0 else 1


def mode_mask(cutoff: float | torch.Tensor, size: int | None = None, device: torch.device | None = None) -> torch.Tensor:
    """Which modes (i, j), i, j >= 1, are kept: sqrt(i^2 + j^2) < c + 1/2 (the authors' rule).

    Args:
        cutoff: c, a number or a tensor ``[B]`` of per-sample cutoffs.
        size: M, the number of mode indices per axis (default: ``max_mode`` of the largest c).
        device: where to build the mask.

    Returns:
        Boolean mask ``[M, M]`` (``[B, M, M]`` for a tensor of cutoffs), entry ``[i-1, j-1]``.
    """
    check_cutoff("cutoff", cutoff)
    c = torch.as_tensor(cutoff, dtype=torch.float64, device=device)
    if size is None:
        size = max_mode(float(c.max()))
    k = torch.arange(1, size + 1, dtype=torch.float64, device=c.device)
    radius = (k[:, None] ** 2 + k[None, :] ** 2).sqrt()
    return radius < c.reshape(c.shape + (1, 1)) + 0.5


def _inverse_square_sum(cutoff: float) -> float:
    mask = mode_mask(cutoff)
    k = torch.arange(1, mask.shape[-1] + 1, dtype=torch.float64)
    return float((mask / (k[:, None] ** 2 + k[None, :] ** 2)).sum())


def mean_square_displacement(temperature: float, cutoff: float, n: int) -> float:
    """Expected mean square displacement of the kept modes, exact for the finite sum.

    delta^2 = (T n^2 / 2) sum_{kept (i, j)} 1 / (i^2 + j^2), in pixels^2, averaged over the
    continuous unit square (the pixel grid's average is slightly lower).
    """
    check_temperature("temperature", temperature)
    return float(temperature) * n**2 / 2.0 * _inverse_square_sum(cutoff)


def typical_displacement(temperature: float, cutoff: float, n: int) -> float:
    """Typical displacement delta = sqrt(pi/4 n^2 T ln c) in pixels (large-c asymptote).

    >>> round(typical_displacement(temperature_from_displacement(1.0, 3, 32), 3, 32), 6)
    1.0
    """
    check_temperature("temperature", temperature)
    check_log_cutoff("cutoff", cutoff)
    return math.sqrt(math.pi / 4.0 * n**2 * float(temperature) * math.log(cutoff))


def _log(cutoff: float | torch.Tensor) -> float | torch.Tensor:
    return cutoff.log() if isinstance(cutoff, torch.Tensor) else math.log(cutoff)


def temperature_from_displacement(delta: float, cutoff: float | torch.Tensor, n: int) -> float | torch.Tensor:
    """Temperature giving typical displacement delta (pixels): T = 4 delta^2 / (pi n^2 ln c).

    ``cutoff`` may be a tensor of per-sample cutoffs; the result then has its shape.
    """
    check_temperature("delta", delta)
    check_log_cutoff("cutoff", cutoff)
    return 4.0 * float(delta) ** 2 / (math.pi * n**2 * _log(cutoff))


def temperature_range(n: int, cutoff: float | torch.Tensor) -> tuple[float, float]:
    """Allowed temperatures (T_min, T_max) for an n x n image and cutoff c.

    T_min = 1 / (pi n^2 ln c) gives delta = 1/2 pixel; above T_max = 4 / (pi^3 c^2 ln c) the map
    typically stops being a diffeomorphism. Both need c > 1. ``cutoff`` may be a tensor of
    per-sample cutoffs; both bounds then have its shape.

    >>> t_min, t_max = temperature_range(32, 3)
    >>> t_min < t_max
    True
    """
    check_log_cutoff("cutoff", cutoff)
    if int(n) < 2:
        raise ValueError(f"n must be an image side of at least 2 pixels, got {n!r}")
    log_c = _log(cutoff)
    return 1.0 / (math.pi * n**2 * log_c), 4.0 / (math.pi**3 * cutoff**2 * log_c)
