"""Estimators of D_f, G_f and R_f from activations (docs/science.md section 3).

Averages ``< . >`` are either the authors' median estimator or plain means:

* ``median``: numerators ``sum_k median_x (f_k(x') - f_k(x))^2`` (median over images, and
  over diffeomorphisms when there are several per image, for each coordinate k, then summed
  over coordinates); denominator ``median over pairs x != z of ||f(x) - f(z)||^2``.
* ``mean``: numerators ``mean_x ||f(x') - f(x)||^2``; denominator the mean over pairs
  x != z of ``||f(x) - f(z)||^2``.

Both can be computed from the same activations: the squared differences are formed once and
only the reduction differs. Medians are lower medians, as in the authors' code
(``torch.median``). The pieces live in their own modules: ``medians`` (selection),
``denominators`` (pairs of images), ``numerators`` (batches of perturbed images); this module
combines them into D_f, G_f and R_f.
"""

from __future__ import annotations

import math
import warnings

import torch

from lightning_diffeo.stability.denominators import check_features, pair_denominator, pair_denominators
from lightning_diffeo.stability.medians import lower_median_rows
from lightning_diffeo.stability.numerators import NumeratorAccumulator
from lightning_diffeo.stability.settings import AVERAGES, check_average, check_averages

__all__ = [
    "AVERAGES",
    "NumeratorAccumulator",
    "check_averages",
    "lower_median_rows",
    "pair_denominator",
    "pair_denominators",
    "relative_stability",
    "stability_from_features",
]


def relative_stability(
    numerator_diffeo: float, numerator_noise: float, denominator: float, layer: str = "output"
) -> dict[str, float]:
    """D_f, G_f and R_f from the two numerators and the denominator.

    A zero denominator (the layer is constant across images) makes D_f, G_f and R_f NaN, and a
    zero noise numerator makes R_f NaN, each with a ``RuntimeWarning``: never a silent inf.

    Returns:
        ``{"D_f", "G_f", "R_f", "denominator", "numerator_diffeo", "numerator_noise"}``.
    """
    nan = math.nan
    if not denominator > 0.0:
        warnings.warn(
            f"layer {layer!r} is constant across the probe images (denominator {denominator}): D_f, G_f, R_f are NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        d_f = g_f = r_f = nan
    else:
        d_f = numerator_diffeo / denominator
        g_f = numerator_noise / denominator
        if g_f > 0.0:
            r_f = d_f / g_f
        else:
            warnings.warn(f"layer {layer!r}: G_f is 0, R_f is NaN", RuntimeWarning, stacklevel=2)
            r_f = nan
    return {
        "D_f": d_f,
        "G_f": g_f,
        "R_f": r_f,
        "denominator": denominator,
        "numerator_diffeo": numerator_diffeo,
        "numerator_noise": numerator_noise,
    }


def _numerators(perturbed: torch.Tensor, clean: torch.Tensor, averages: tuple[str, ...], name: str) -> dict[str, float]:
    perturbed = check_features(perturbed, name)
    if perturbed.shape[1] != clean.shape[1] or perturbed.shape[0] % clean.shape[0] != 0:
        raise ValueError(
            f"{name} must be [k * N, D] with clean [N, D] = {tuple(clean.shape)}, got {tuple(perturbed.shape)}"
        )
    accumulator = NumeratorAccumulator(averages, perturbed.shape[0], perturbed.shape[1], device=perturbed.device)
    count = clean.shape[0]
    for start in range(0, perturbed.shape[0], count):
        accumulator.add(perturbed[start:start + count], clean)
    return accumulator.values()


def stability_from_features(
    clean: torch.Tensor,
    deformed: torch.Tensor,
    noisy: torch.Tensor,
    average: str = "median",
    layer: str = "output",
) -> dict[str, float]:
    """D_f, G_f, R_f from precomputed activations f(x), f(tau x), f(x + eta).

    Args:
        clean: f(x) [N, D] (with Gaussian interpolation, f of the smoothed images).
        deformed: f(tau x) [k * N, D]; row r belongs to image r % N.
        noisy: f(x + eta) [k * N, D], rows as for ``deformed``.
        average: ``"median"`` or ``"mean"``.
        layer: name used in warnings.

    Returns:
        ``{"D_f", "G_f", "R_f", "denominator", "numerator_diffeo", "numerator_noise"}``.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [3.0]])
        >>> out = stability_from_features(x, x + 0.5, x + 1.0, average="mean")
        >>> round(out["R_f"], 6)
        0.25
    """
    clean = check_features(clean, "clean")
    averages = (check_average(average),)
    numerator_diffeo = _numerators(deformed, clean, averages, "deformed")[average]
    numerator_noise = _numerators(noisy, clean, averages, "noisy")[average]
    denominator = pair_denominator(clean, average)
    return relative_stability(numerator_diffeo, numerator_noise, denominator, layer)
