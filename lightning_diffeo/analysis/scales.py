"""Allowed temperatures of maximum-entropy diffeomorphisms, without torch.

The same formulas as ``lightning_diffeo.diffeo.temperature_range`` (docs/science.md section 1,
appendix B), restated here so that ``lightning_diffeo.analysis`` stays free of torch.
"""

from __future__ import annotations

import math

__all__ = ["temperature_bounds", "is_allowed"]


def temperature_bounds(n: int, cutoff: float) -> tuple[float, float]:
    """(T_min, T_max) for an n x n image and cutoff c.

    T_min = 1 / (pi n^2 ln c) gives a typical displacement of 1/2 pixel; above
    T_max = 4 / (pi^3 c^2 ln c) the map typically stops being a diffeomorphism.

    >>> t_min, t_max = temperature_bounds(32, 3)
    >>> round(t_min, 6), round(t_max, 6)
    (0.000283, 0.013047)

    Raises:
        ValueError: n < 2 or c <= 1 (ln c <= 0 leaves both undefined).
    """
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 2):
        raise ValueError(f"n must be an image side of at least 2 pixels, got {n!r}")
    if not (isinstance(cutoff, (int, float)) and not isinstance(cutoff, bool) and math.isfinite(cutoff) and cutoff > 1):
        raise ValueError(f"cutoff must be a number greater than 1, got {cutoff!r}")
    log_c = math.log(cutoff)
    return 1.0 / (math.pi * n**2 * log_c), 4.0 / (math.pi**3 * cutoff**2 * log_c)


def is_allowed(n: int, cutoff: float, temperature: float) -> bool:
    """Whether T_min <= temperature <= T_max for an n x n image and cutoff c (False for c <= 1).

    The bounds are widened by a relative 1e-9 so that a temperature computed for delta = 1/2
    pixel (exactly T_min on paper) counts as allowed whatever its last bit.
    """
    if not (math.isfinite(cutoff) and cutoff > 1):
        return False
    t_min, t_max = temperature_bounds(n, float(cutoff))
    return t_min * (1 - 1e-9) <= temperature <= t_max * (1 + 1e-9)
