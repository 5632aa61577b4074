"""The denominator of D_f and G_f: the average over pairs of distinct probe images of ``||f(x) - f(z)||^2``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lightning_diffeo.stability.medians import lower_median_rows
from lightning_diffeo.stability.settings import check_average, check_averages

__all__ = ["check_features", "mean_block_rows", "pair_denominator", "pair_denominators"]

_MEAN_BLOCK_ELEMENTS = 1 << 22  # float64 elements of one block of the mean (32 MB): wide layers take fewer rows


def mean_block_rows(count: int, dim: int, chunk_size: int) -> int:
    """Rows of [N, D] activations centred at once in float64 by the mean pair denominator."""
    return max(1, min(chunk_size, count, _MEAN_BLOCK_ELEMENTS // max(dim, 1)))


def check_features(features: torch.Tensor, name: str) -> torch.Tensor:
    """Return ``features`` if it is a 2-D tensor [images, coordinates], else raise naming ``name``."""
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{name} must be a 2-D tensor [images, coordinates], got {shape}")
    return features


def pair_denominators(
    features: torch.Tensor, average: str | Sequence[str] = "median", chunk_size: int = 1024
) -> dict[str, float]:
    """Average over pairs of distinct images of ``||f(x) - f(z)||^2``, for each average.

    The features are centred first (mean accumulated in float64, no float64 copy of [N, D]),
    which keeps ``||a||^2 + ||b||^2 - 2 a.b`` free of catastrophic cancellation.

    * ``mean``: exact identity ``mean_{i != j} ||f_i - f_j||^2 = 2 / (N - 1) sum_i ||f_i - mu||^2``,
      centred and summed in float64 one block of ``chunk_size`` rows at a time (fewer for wide
      layers: at most 2^22 elements, :func:`mean_block_rows`): O(N D) time.
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
    features = check_features(features, "features")
    averages = check_averages(average)
    count = features.shape[0]
    if count < 2:
        raise ValueError(f"need at least 2 images to form pairs, got {count}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    work = features if features.dtype == torch.float32 else features.float()
    rows = mean_block_rows(count, work.shape[1], chunk_size)
    # float64 sums block by block: a float64 sum of the whole [N, D] would convert all of it first
    centre = sum(work[s:s + rows].sum(dim=0, dtype=torch.float64) for s in range(0, count, rows)) / count
    out: dict[str, float] = {}
    for name in averages:
        if name == "mean":
            total = sum(float((work[s:s + rows].double() - centre).square_().sum()) for s in range(0, count, rows))
            out[name] = 2.0 * total / (count - 1)
        else:
            out[name] = _median_pair_distance(work - centre.to(work.dtype), chunk_size)
    return out


def _median_pair_distance(centred: torch.Tensor, chunk_size: int) -> float:
    count = centred.shape[0]
    rows = mean_block_rows(count, centred.shape[1], chunk_size)  # no [N, D] temporary of squares
    norms = torch.cat([centred[s:s + rows].square().sum(dim=1) for s in range(0, count, rows)])
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
