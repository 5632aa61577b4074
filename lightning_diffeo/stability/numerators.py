"""The numerators of D_f and G_f, built batch by batch from squared differences of activations."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lightning_diffeo.stability.medians import lower_median_columns
from lightning_diffeo.stability.settings import check_average, check_averages

__all__ = ["NumeratorAccumulator"]


class NumeratorAccumulator:
    """Numerators of D_f or G_f for one or both averages, built from batches.

    The squared differences of a batch are formed once. ``median`` keeps them all, formed in
    place in their rows of one [M, D] float32 buffer on ``device`` (when one batch holds all M
    rows, its squared differences are that buffer); the per-coordinate selection transposes
    cache-sized blocks of columns (:func:`~.medians.lower_median_columns`), never the buffer;
    ``mean`` only needs their running sum (float32 per row, float64 across rows; kept on
    ``device``: no host sync per batch), which also detects NaN and inf. With ``per_image``, each
    row's squared distance ``||f(x'_r) - f(x_r)||^2`` is also added to its image's entry (the same
    float32 row sums, O(N) memory).

    Args:
        average: ``"median"``, ``"mean"`` or a sequence of them.
        rows: M, number of perturbed images (images x perturbations per image).
        dim: D, number of coordinates of the layer.
        device: where the squared differences are stored.
        per_image: None, or a float64 buffer [N] on ``device``: row r is added to entry r % N.
    """

    def __init__(
        self, average: str | Sequence[str], rows: int, dim: int, device: torch.device | str = "cpu",
        per_image: torch.Tensor | None = None,
    ) -> None:
        self.averages = check_averages(average)
        self.rows = rows
        self._filled = 0
        self._sum = torch.zeros((), dtype=torch.float64, device=device)
        self._per_image = per_image
        self._dim = dim
        self._median = "median" in self.averages
        self._buffer: torch.Tensor | None = None  # [M, D], allocated at the first batch (or that batch)
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
        if perturbed.shape[1:] != (self._dim,):
            raise ValueError(f"accumulator holds {self._dim} coordinates, got shape {tuple(perturbed.shape)}")
        device = self._sum.device
        perturbed, reference = perturbed.to(device, torch.float32), reference.to(device, torch.float32)
        if self._median and not (self._filled == 0 and stop == self.rows):
            if self._buffer is None:
                self._buffer = torch.empty(self.rows, self._dim, dtype=torch.float32, device=device)
            # the squared differences are formed in their rows of the buffer (no temporary)
            squares = torch.sub(perturbed, reference, out=self._buffer[self._filled:stop]).square_()
        else:
            squares = torch.sub(perturbed, reference).square_()
            if self._median:  # one batch holds every row: it is the buffer
                self._buffer = squares
        # float32 row sums (torch sums them pairwise) added up in float64: a float64 sum of the
        # whole batch would convert every element and cost more than the rest of the reduction.
        distances = squares.sum(dim=1)
        self._sum += distances.sum(dtype=torch.float64)
        if self._per_image is not None:
            images = torch.arange(self._filled, stop, device=device) % self._per_image.shape[0]
            self._per_image.index_add_(0, images, distances.to(self._per_image.dtype))
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
                    medians = lower_median_columns(self._buffer, nonnegative=True)
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
