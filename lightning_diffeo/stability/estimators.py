"""Estimators of D_f, G_f and R_f from activations (docs/science.md section 3).

Averages ``< . >`` are either the authors' median estimator or plain means:

* ``median``: numerators ``sum_k median_x (f_k(x') - f_k(x))^2`` (median over images, and
  over diffeomorphisms when there are several per image, for each coordinate k, then summed
  over coordinates); denominator ``median over pairs x != z of ||f(x) - f(z)||^2``.
* ``mean``: numerators ``mean_x ||f(x') - f(x)||^2``; denominator the mean over pairs
  x != z of ``||f(x) - f(z)||^2``.

Both can be computed from the same activations: the squared differences are formed once and
only the reduction differs. Medians are lower medians (the smaller of the two middle values
for an even count), as in the authors' code (``torch.median``); they are computed by
selection (``numpy.partition``, split over threads) on the CPU and by ``torch.kthvalue`` on
other devices, which picks the same element. Squared differences and squared distances are
never negative, and non-negative IEEE floats order as their bit patterns do: those buffers
are selected as integers (``nonnegative=True``), about twice as fast as a float selection,
which must order NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from lightning_diffeo.validation import check_choice

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

AVERAGES = ("median", "mean")
_MIN_PARALLEL_ELEMENTS = 1 << 20  # below ~4 MB a thread pool costs more than it saves
_MIN_STAGED_TRANSPOSE = 2048  # layers this wide are transposed through a contiguous copy (measured)
_AS_INTEGERS = {torch.float32: np.int32, torch.float64: np.int64}


def check_average(average: str) -> str:
    """Validate the name of one average."""
    return check_choice("average", average, AVERAGES)


def check_averages(average: str | Sequence[str]) -> tuple[str, ...]:
    """One average or a non-empty sequence of them, as a tuple without duplicates.

    >>> check_averages("mean"), check_averages(["median", "mean", "median"])
    (('mean',), ('median', 'mean'))
    """
    if isinstance(average, str):
        return (check_average(average),)
    try:
        names = tuple(dict.fromkeys(average))
    except TypeError:
        raise TypeError(f"average must be 'median', 'mean' or a list of them, got {average!r}") from None
    if not names:
        raise ValueError(f"average must be 'median', 'mean' or a non-empty list of them, got {average!r}")
    return tuple(check_average(name) for name in names)


def _check_features(features: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{name} must be a 2-D tensor [images, coordinates], got {shape}")
    return features


def _partition_rows(rows: np.ndarray, kth: int) -> np.ndarray:
    rows.partition(kth, axis=1)  # in place: no copy of the buffer
    return rows[:, kth].copy()


def lower_median_rows(values: torch.Tensor, *, destroy: bool = False, nonnegative: bool = False) -> torch.Tensor:
    """Lower median of every row of ``values`` [D, M]: the ((M - 1) // 2)-th smallest entry.

    Equal, element for element, to ``values.median(dim=1).values`` (which also computes
    indices and runs on one thread). On the CPU the rows are split over
    ``torch.get_num_threads()`` threads, each running ``numpy.partition``.

    Args:
        values: [D, M] floating tensor without NaN, rows contiguous for speed.
        destroy: allow reordering ``values`` in place (saves a copy of the buffer).
        nonnegative: the caller guarantees every entry is >= 0 (or -0.0): the rows are then
            selected on the integer view of their bits, which orders them the same way.

    Returns:
        [D] medians, same dtype and device as ``values``.
    """
    count = values.shape[1]
    kth = (count - 1) // 2
    if values.device.type != "cpu" or values.dtype not in (torch.float32, torch.float64):
        return values.kthvalue(kth + 1, dim=1).values
    work = values if destroy and values.is_contiguous() else values.contiguous().clone()
    floats = work.numpy()
    array = floats.view(_AS_INTEGERS[values.dtype]) if nonnegative else floats
    threads = min(torch.get_num_threads(), array.shape[0])
    if threads <= 1 or array.size < _MIN_PARALLEL_ELEMENTS:
        medians = _partition_rows(array, kth)
    else:
        chunks = np.array_split(array, threads)  # views: each thread partitions its own rows
        with ThreadPoolExecutor(threads) as pool:
            medians = np.concatenate(list(pool.map(_partition_rows, chunks, [kth] * threads)))
    return torch.from_numpy(medians.view(floats.dtype))


def pair_denominators(
    features: torch.Tensor, average: str | Sequence[str] = "median", chunk_size: int = 1024
) -> dict[str, float]:
    """Average over pairs of distinct images of ``||f(x) - f(z)||^2``, for each average.

    The features are centred first (mean accumulated in float64, no float64 copy of [N, D]),
    which keeps ``||a||^2 + ||b||^2 - 2 a.b`` free of catastrophic cancellation.

    * ``mean``: exact identity ``mean_{i != j} ||f_i - f_j||^2 = 2 / (N - 1) sum_i ||f_i - mu||^2``,
      centred and summed in float64 one block of ``chunk_size`` rows at a time: O(N D) time.
    * ``median``: exact lower median of the N (N - 1) / 2 distances of the strict upper
      triangle, computed block by block (``chunk_size`` rows of the Gram matrix at a time,
      memory ~ chunk_size * N floats) into one float32 buffer of the N (N - 1) / 2 values,
      then selected by partition: O(N^2 D) for the products plus O(N^2) for the selection.
      At N = 5000 the buffer is 50 MB.

    Args:
        features: clean activations [N, D], N >= 2.
        average: ``"median"``, ``"mean"`` or a sequence of them.
        chunk_size: rows of the distance matrix computed at once.

    Returns:
        ``{average: denominator}`` (same units as squared activations).
    """
    features = _check_features(features, "features")
    averages = check_averages(average)
    count = features.shape[0]
    if count < 2:
        raise ValueError(f"need at least 2 images to form pairs, got {count}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    work = features if features.dtype == torch.float32 else features.float()
    centre = work.sum(dim=0, dtype=torch.float64) / count
    centred = work - centre.to(work.dtype)
    out: dict[str, float] = {}
    for name in averages:
        if name == "mean":
            total = sum(
                float((work[s:s + chunk_size].double() - centre).square_().sum())
                for s in range(0, count, chunk_size)
            )
            out[name] = 2.0 * total / (count - 1)
        else:
            out[name] = _median_pair_distance(centred, chunk_size)
    return out


def _median_pair_distance(centred: torch.Tensor, chunk_size: int) -> float:
    count = centred.shape[0]
    norms = centred.square().sum(dim=1)
    values = torch.empty(count * (count - 1) // 2, dtype=centred.dtype, device=centred.device)
    filled = 0
    for start in range(0, count - 1, chunk_size):
        stop = min(start + chunk_size, count - 1)
        # rows start..stop-1 against columns start+1..N-1: only the strict upper triangle.
        block = torch.addmm(norms[start + 1:][None, :], centred[start:stop], centred[start + 1:].T, alpha=-2.0)
        block += norms[start:stop, None]
        for row in range(stop - start):
            width = count - 1 - start - row
            values[filled:filled + width] = block[row, row:]
            filled += width
    values.clamp_min_(0.0)  # -0.0 may remain: it selects as a zero, and + 0.0 below makes it +0.0
    return float(lower_median_rows(values[None], destroy=True, nonnegative=True)[0]) + 0.0


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
    return pair_denominators(features, check_average(average), chunk_size)[average]


class NumeratorAccumulator:
    """Numerators of D_f or G_f for one or both averages, built from batches.

    The squared differences of a batch are formed once. ``median`` keeps them all, transposed
    ([D, M] float32 on ``device``, so the final per-coordinate selection reads contiguous rows);
    ``mean`` only needs their running sum (float32 per row, float64 across rows; kept on
    ``device``: no host sync per batch), which also detects NaN and inf.

    Args:
        average: ``"median"``, ``"mean"`` or a sequence of them.
        rows: M, number of perturbed images (images x perturbations per image).
        dim: D, number of coordinates of the layer.
        device: where the squared differences are stored.
    """

    def __init__(self, average: str | Sequence[str], rows: int, dim: int, device: torch.device | str = "cpu") -> None:
        self.averages = check_averages(average)
        self.rows = rows
        self._filled = 0
        self._sum = torch.zeros((), dtype=torch.float64, device=device)
        self._buffer = torch.empty(dim, rows, dtype=torch.float32, device=device) if "median" in self.averages else None
        self._values: dict[str, float] | None = None

    @property
    def average(self) -> str:
        """The first (or only) average."""
        return self.averages[0]

    def add(self, perturbed: torch.Tensor, reference: torch.Tensor) -> None:
        """Append one batch: ``perturbed`` and ``reference`` activations [B, D] (rows in order)."""
        stop = self._filled + perturbed.shape[0]
        if stop > self.rows:
            raise ValueError(f"accumulator holds {self.rows} rows, got {stop}")
        device = self._sum.device
        squares = torch.sub(perturbed.to(device, torch.float32), reference.to(device, torch.float32)).square_()
        # float32 row sums (torch sums them pairwise) added up in float64: a float64 sum of the
        # whole batch would convert every element and cost more than the rest of the reduction.
        self._sum += squares.sum(dim=1).sum(dtype=torch.float64)
        if self._buffer is not None:
            target = self._buffer[:, self._filled:stop]
            if squares.shape[1] >= _MIN_STAGED_TRANSPOSE and squares.device.type == "cpu":
                # A strided copy into the [D, M] buffer is slow for large layers; a blocked
                # transpose into contiguous memory and a row-wise copy are 2-3x faster.
                target.copy_(squares.T.contiguous())
            else:
                target.copy_(squares.T)
        self._filled = stop
        self._values = None

    def values(self) -> dict[str, float]:
        """``{average: numerator}`` once every row has been added (the buffer is consumed)."""
        if self._filled != self.rows:
            raise ValueError(f"accumulator expected {self.rows} rows, got {self._filled}")
        if self._values is None:
            total = float(self._sum)  # one host sync per layer and measurement
            if not math.isfinite(total):
                raise ValueError("non-finite activations (NaN or inf)")
            values = {}
            for name in self.averages:
                if name == "mean":
                    values[name] = total / self.rows
                else:
                    medians = lower_median_rows(self._buffer, destroy=True, nonnegative=True)
                    values[name] = float(medians.double().sum())
            self._buffer = None
            self._values = values
        return dict(self._values)

    def value(self, average: str | None = None) -> float:
        """The numerator for ``average`` (default: the first one given)."""
        average = self.average if average is None else check_average(average)
        if average not in self.averages:
            raise ValueError(f"this accumulator computes {self.averages}, not {average!r}")
        return self.values()[average]


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
    perturbed = _check_features(perturbed, name)
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
    clean = _check_features(clean, "clean")
    averages = (check_average(average),)
    numerator_diffeo = _numerators(deformed, clean, averages, "deformed")[average]
    numerator_noise = _numerators(noisy, clean, averages, "noisy")[average]
    denominator = pair_denominator(clean, average)
    return relative_stability(numerator_diffeo, numerator_noise, denominator, layer)
