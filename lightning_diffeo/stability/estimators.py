"""Estimators of D_f, G_f and R_f from activations (NOTES.md section 3).

Averages ``< . >`` are either the authors' median estimator or plain means:

* ``median``: numerators ``sum_k median_x (f_k(x') - f_k(x))^2`` (median over images, and
  over diffeomorphisms when there are several per image, for each coordinate k, then summed
  over coordinates); denominator ``median over pairs x != z of ||f(x) - f(z)||^2``.
* ``mean``: numerators ``mean_x ||f(x') - f(x)||^2``; denominator the mean over pairs
  x != z of ``||f(x) - f(z)||^2``.

Medians are lower medians (``torch.median``: the smaller of the two middle values for an even
count), as in the authors' code.
"""

from __future__ import annotations

import math
import warnings

import torch

__all__ = [
    "AVERAGES",
    "NumeratorAccumulator",
    "pair_denominator",
    "relative_stability",
    "stability_from_features",
]

AVERAGES = ("median", "mean")


def check_average(average: str) -> str:
    """Validate the name of an average."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    return average


def _check_features(features: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{name} must be a 2-D tensor [images, coordinates], got {shape}")
    return features


def pair_denominator(features: torch.Tensor, average: str = "median", chunk_size: int = 1024) -> float:
    """Average over pairs of distinct images of the squared distance ``||f(x) - f(z)||^2``.

    Args:
        features: clean activations [N, D], N >= 2.
        average: ``"median"`` (lower median over the N (N - 1) / 2 unordered pairs) or
            ``"mean"``.
        chunk_size: rows of the distance matrix computed at once (memory ~ chunk_size * N).

    Returns:
        The denominator (same units as squared activations).

    Example:
        >>> pair_denominator(torch.tensor([[0.0], [1.0], [3.0]]), "median")
        4.0
    """
    features = _check_features(features, "features")
    check_average(average)
    count = features.shape[0]
    if count < 2:
        raise ValueError(f"need at least 2 images to form pairs, got {count}")
    # Centering keeps ||a||^2 + ||b||^2 - 2 a.b free of catastrophic cancellation.
    centred = features.double() - features.double().mean(dim=0, keepdim=True)
    if average == "mean":
        # mean_{i != j} ||f_i - f_j||^2 = 2 / (N - 1) * sum_i ||f_i - mean||^2
        return float(2.0 * centred.square().sum() / (count - 1))
    centred = centred.float()
    norms = centred.square().sum(dim=1)
    upper = []
    for start in range(0, count - 1, chunk_size):
        stop = min(start + chunk_size, count - 1)
        block = norms[start:stop, None] + norms[None, :] - 2.0 * centred[start:stop] @ centred.T
        rows = torch.arange(start, stop)[:, None]
        mask = torch.arange(count)[None, :] > rows
        upper.append(block[mask].clamp_min_(0.0))
    return float(torch.cat(upper).median())


class NumeratorAccumulator:
    """Numerator of D_f or G_f built from batches of squared differences.

    ``median`` keeps all squared differences [M, D] (float32, on ``device``) and reduces at
    the end; ``mean`` keeps one float64 running sum.

    Args:
        average: ``"median"`` or ``"mean"``.
        rows: M, number of perturbed images (images x perturbations per image).
        dim: D, number of coordinates of the layer.
        device: where the squared differences are stored.
    """

    def __init__(self, average: str, rows: int, dim: int, device: torch.device | str = "cpu") -> None:
        self.average = check_average(average)
        self.rows = rows
        self._filled = 0
        self._sum = 0.0
        self._buffer = torch.empty(rows, dim, dtype=torch.float32, device=device) if average == "median" else None

    def add(self, perturbed: torch.Tensor, reference: torch.Tensor) -> None:
        """Append one batch: ``perturbed`` and ``reference`` activations [B, D] (rows in order)."""
        stop = self._filled + perturbed.shape[0]
        if stop > self.rows:
            raise ValueError(f"accumulator holds {self.rows} rows, got {stop}")
        if self._buffer is None:
            self._sum += float(torch.sub(perturbed, reference).double().square_().sum())
        else:
            target = self._buffer[self._filled:stop]
            torch.sub(perturbed.to(target.device), reference.to(target.device), out=target)
            target.square_()
        self._filled = stop

    def value(self) -> float:
        """The numerator once every row has been added."""
        if self._filled != self.rows:
            raise ValueError(f"accumulator expected {self.rows} rows, got {self._filled}")
        if self._buffer is None:
            return self._sum / self.rows
        return float(self._buffer.median(dim=0).values.double().sum())


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


def _numerator(perturbed: torch.Tensor, clean: torch.Tensor, average: str, name: str) -> float:
    perturbed = _check_features(perturbed, name)
    if perturbed.shape[1] != clean.shape[1] or perturbed.shape[0] % clean.shape[0] != 0:
        raise ValueError(
            f"{name} must be [k * N, D] with clean [N, D] = {tuple(clean.shape)}, got {tuple(perturbed.shape)}"
        )
    repeats = perturbed.shape[0] // clean.shape[0]
    accumulator = NumeratorAccumulator(average, perturbed.shape[0], perturbed.shape[1], device=perturbed.device)
    accumulator.add(perturbed.float(), clean.float().repeat(repeats, 1))
    return accumulator.value()


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
    clean = _check_features(clean, "clean")
    numerator_diffeo = _numerator(deformed, clean, average, "deformed")
    numerator_noise = _numerator(noisy, clean, average, "noisy")
    denominator = pair_denominator(clean, average)
    return relative_stability(numerator_diffeo, numerator_noise, denominator, layer)
