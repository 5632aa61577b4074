"""Participation ratio (Eq. 17) and the derivation of the Gaussian width sigma = 0.4715.

n(s) = (sum_i Psi_i^2)^2 / sum_i Psi_i^4 counts how many pixels contribute to a new pixel at s.
At the centre of four pixels the Gaussian's n tends to 4 for every small sigma, so matching
bilinear's n = 4 there fixes nothing. Averaging n over the position of the new pixel, uniform in
the unit square between four pixels, gives about 1.821 for bilinear weights; the Gaussian's
position-averaged n equals it at sigma = 0.4715. Both kernels are separable and so is n
(n = n_x n_y), so the 2-D average is the square of the 1-D one.
"""

from __future__ import annotations

import torch

__all__ = [
    "average_participation_bilinear",
    "average_participation_gaussian",
    "derive_gaussian_sigma",
    "participation_ratio",
]

_QUADRATURE_POINTS = 4096
_LATTICE_RADIUS = 12  # Gaussian weights beyond 12 pixels are ~0 for any sigma below 2


def participation_ratio(weights: torch.Tensor, dim: int | tuple[int, ...] = -1) -> torch.Tensor:
    """Eq. 17: (sum Psi^2)^2 / sum Psi^4 over ``dim`` (unnormalised weights are fine).

    >>> float(participation_ratio(torch.full((4,), 0.25)))
    4.0
    """
    squares = weights**2
    return squares.sum(dim) ** 2 / (squares**2).sum(dim)


def _positions() -> torch.Tensor:
    # Midpoint rule on [0, 1]: the integrands are smooth, so 4096 points give ~1e-8 accuracy.
    return (torch.arange(_QUADRATURE_POINTS, dtype=torch.float64) + 0.5) / _QUADRATURE_POINTS


def average_participation_bilinear() -> float:
    """Participation ratio of bilinear weights averaged over a uniform position (about 1.821)."""
    u = _positions()
    weights_1d = torch.stack([1 - u, u], dim=-1)
    return float(participation_ratio(weights_1d).mean()) ** 2


def average_participation_gaussian(sigma: float) -> float:
    """Participation ratio of Gaussian weights on the pixel lattice, averaged over position.

    Args:
        sigma: kernel width in pixels.
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma!r}")
    u = _positions()
    lattice = torch.arange(-_LATTICE_RADIUS, _LATTICE_RADIUS + 2, dtype=torch.float64)
    weights_1d = torch.exp(-((u[:, None] - lattice[None, :]) ** 2) / (2 * sigma**2))
    return float(participation_ratio(weights_1d).mean()) ** 2


def derive_gaussian_sigma(tolerance: float = 1e-10) -> float:
    """Solve average_participation_gaussian(sigma) = average_participation_bilinear() by bisection.

    The Gaussian's averaged participation grows monotonically with sigma (1 at sigma -> 0).

    >>> round(derive_gaussian_sigma(), 4)
    0.4715
    """
    target = average_participation_bilinear()
    low, high = 0.05, 2.0
    while high - low > tolerance:
        middle = 0.5 * (low + high)
        if average_participation_gaussian(middle) < target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)
