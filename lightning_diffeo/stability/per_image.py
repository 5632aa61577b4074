"""Which images break: each probe image's terms at the output, from the measurement's own forward passes.

With ``measure_stability(..., per_image=True)``, for every (cutoff, temperature) item and every
probe image x_i, the squared distances at the model's output averaged over the image's k draws:

    numerator_diffeo_i = 1/k sum_j ||f(tau_j x_i) - f(x_i)||^2,
    numerator_noise_i  = 1/k sum_j ||f(x_i + eta_j) - f(x_i)||^2.

They are the row sums the mean numerator adds up anyway (float32 per row, float64 per image):
no extra forward pass, O(N) memory per item, and their mean over the images is the mean
average's numerator. Divided by the mean pair denominator (the mean average's, computed at the
output whichever averages were asked), they read as a per-image D_f_i and G_f_i whose means over
the images are the mean average's D_f and G_f; R_f_i = numerator_diffeo_i / numerator_noise_i.
Only the layer group of the memory plan holding the output records them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lightning_diffeo.stability.denominators import pair_denominator
from lightning_diffeo.stability.perturb import replay_deformations
from lightning_diffeo.stability.settings import OUTPUT

__all__ = ["PER_IMAGE_KEYS", "PerImageTerms", "first_item", "measured_deformations"]

PER_IMAGE_KEYS = ("image", "cutoff", "temperature", "delta", "numerator_diffeo", "numerator_noise", "denominator",
                  "D_f", "G_f", "R_f")
"""The keys of a per-image record, in order (``image``: the index in the probe images)."""


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


class PerImageTerms:
    """The per-image terms of one layer (the output), item by item, during ``measure_stability``.

    Args:
        count: N, the number of probe images.
        draws: k, deformations (and noise draws) per image and item.
        layer: the layer whose terms are kept.
    """

    def __init__(self, count: int, draws: int, layer: str = OUTPUT) -> None:
        self.count, self.draws, self.layer = count, draws, layer
        self.denominator = math.nan
        self._sums: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def check_layers(self, names: Sequence[str]) -> None:
        """Raise unless the layer is among the measured ``names`` (before any forward pass)."""
        if self.layer not in names:
            raise ValueError(f"per_image=True keeps the terms at the output: add {self.layer!r} to layers, "
                             f"got layers={list(names)}")

    def begin(self, group: Sequence[str], denominators: Mapping[str, Mapping[str, float]],
              clean: Mapping[str, torch.Tensor]) -> bool:
        """Whether ``group`` (of the memory plan) holds the layer; if so, take its mean pair denominator."""
        if self.layer not in group:
            return False
        known = denominators[self.layer]
        self.denominator = known["mean"] if "mean" in known else pair_denominator(clean[self.layer], "mean")
        return True

    def sinks(self, index: int, device: torch.device) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Zeroed float64 [N] buffers of item ``index`` for the deformed and the noisy numerators."""
        diffeo, noise = (torch.zeros(self.count, dtype=torch.float64, device=device) for _ in range(2))
        self._sums[index] = diffeo, noise
        return {self.layer: diffeo}, {self.layer: noise}

    def records(self, items: Sequence[tuple[float, float, float]]) -> list[dict[str, Any]]:
        """One record per (item, image) with :data:`PER_IMAGE_KEYS`; ``items``: (cutoff, T, delta) in order."""
        out = []
        for index, (cutoff, temperature, delta) in enumerate(items):
            diffeo, noise = (sums.cpu().div(self.draws).tolist() for sums in self._sums[index])
            for image, (num_diffeo, num_noise) in enumerate(zip(diffeo, noise)):
                out.append({
                    "image": image, "cutoff": cutoff, "temperature": temperature, "delta": delta,
                    "numerator_diffeo": num_diffeo, "numerator_noise": num_noise, "denominator": self.denominator,
                    "D_f": _ratio(num_diffeo, self.denominator), "G_f": _ratio(num_noise, self.denominator),
                    "R_f": _ratio(num_diffeo, num_noise),
                })
        return out


def first_item(per_image: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The per-image records of the first (cutoff, temperature) item, by image index."""
    if not per_image:
        raise ValueError("no per-image records: measure with per_image=True")
    first = per_image[0]
    rows = [dict(r) for r in per_image if r["cutoff"] == first["cutoff"] and r["temperature"] == first["temperature"]]
    return sorted(rows, key=lambda r: r["image"])


def measured_deformations(
    images: torch.Tensor, metadata: Mapping[str, Any], per_image: Sequence[Mapping[str, Any]], indices: Sequence[int]
) -> torch.Tensor:
    """The first deformation tau x_i of images ``indices`` at the first item, as the measurement drew it.

    Replays the draws of the first (cutoff, temperature) item from the recorded seed
    (:func:`~lightning_diffeo.stability.perturb.replay_deformations`): the deformation that was
    measured when the measurement's generator was freshly seeded (as ``lightning-diffeo probe``
    does), else one of the same cutoff and temperature.

    Args:
        images: the probe images [N, C, n, n] in [0, 1] that were measured.
        metadata: the result's metadata (``seed``, ``interpolation``, ``diffeos_per_image``).
        per_image: the result's per-image records.
        indices: image indices.

    Returns:
        tau x_i, [len(indices), C, n, n] in [0, 1].
    """
    item = first_item(per_image)[0]
    interpolation = metadata.get("interpolation", "bilinear")
    generator = torch.Generator().manual_seed(int(metadata["seed"]))
    return replay_deformations(
        images, list(indices), cutoff=item["cutoff"], temperature=item["temperature"], interpolation=interpolation,
        repeats=int(metadata.get("diffeos_per_image", 1)), generator=generator,
    )
