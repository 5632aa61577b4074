"""Float32 rounding bounds for results of BLAS work, which differ in their last bits between CPUs.

The matrix products in ``pair_denominators`` (``||a||^2 + ||b||^2 - 2 a.b``) are float32 sums
whose order, blocking and use of FMA the BLAS kernel chooses: they differ between CPUs (AVX2 on
an AMD EPYC, AVX-512 on an Intel Xeon), and may differ between shapes of the same product on
one CPU. Tests compare such results within the bounds below, never bit for bit.
"""

from __future__ import annotations

import torch

EPS32 = torch.finfo(torch.float32).eps  # 2^-23; unit roundoff u = EPS32 / 2


def centred_squared_norms(features: torch.Tensor) -> torch.Tensor:
    """``||f_i - mean||^2`` per row, in float64: the magnitudes the float32 Gram blocks round."""
    centred = features.double() - features.double().mean(dim=0, keepdim=True)
    return centred.square().sum(dim=1)


def pair_distance_rounding(dim: int, norm_sum: float) -> float:
    """Bound on the float32 rounding of ``||a||^2 + ||b||^2 - 2 a.b`` for pairs with
    ``||a||^2 + ||b||^2 <= norm_sum``, in ``dim`` coordinates.

    Each of ||a||^2, ||b||^2 and a.b is a float32 sum of ``dim`` products, in any order and
    with or without FMA: within ``dim * u`` times the sum of its terms' magnitudes, so the
    three together (|a.b| <= norm_sum / 2) are within ``2 dim u norm_sum``; the two additions
    (operands at most ``2 norm_sum``) add ``2 u norm_sum`` each. Against the exact distance:
    ``(2 dim + 4) u norm_sum = (dim + 2) EPS32 norm_sum``. Two float32 evaluations that share
    the norms differ by twice the a.b and addition terms at most: ``(dim + 4) EPS32 norm_sum``,
    returned here, which covers both. Lower medians (and ``clamp_min``) are 1-Lipschitz in the
    largest difference of their inputs, so the bound carries over to the median pair distance.
    """
    return (dim + 4) * EPS32 * float(norm_sum)
