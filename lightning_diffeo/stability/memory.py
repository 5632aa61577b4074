"""The peak memory of a measurement, estimated before any work, and a plan that fits a budget.

The estimate follows the measurement as it runs (:class:`~.probe.ProbeSession`), from the
per-image sizes of one forward pass (:class:`~.footprint.Footprint`). For N probe images, k
perturbed copies of each (M = k N rows), batches of B images and the layers of one group,
whose coordinates add up to D (the largest layer: D_max), in bytes:

* stored for the whole group: the clean activations, 4 N D (float32);
* the clean pass: a forward pass of B images (``forward`` below);
* the denominators, one layer at a time: for the median a centred copy 4 N D_l, the
  N (N - 1) / 2 pair distances and a block of 1024 rows of them; for the mean two float64
  blocks of at most 2^22 elements;
* drawing the perturbations of one item: about three sets of M perturbed images and the
  sampling grid (more with Gaussian interpolation);
* the numerators: the deformed and noisy images (2 M images), for the median the squared
  differences of every layer of the group, 4 M D, and a batch: its forward pass, then its
  reduction (the probed outputs, the float32 copies the capture makes, and 3 x 4 B D_max for
  the squared differences of one layer and the gathered clean rows: an upper bound, since the
  median forms the squared differences in its buffer and transposes only cache-sized blocks);
* a forward pass of B images: B x (the model's input + 3.5 x its largest module output + the
  probed outputs the hooks keep alive until the end of the pass). The factor is measured: the
  live peak of a bare forward pass is 2.75 (EfficientNet-B0, ConvNeXt-Atto), 3.0 (ViT-B/16),
  3.5 (ResNet-50 at 224 px) and 5.0 (the package's ResNet18 at 32 px) times the largest
  module output; with every stage hooked the sum errs by +0% to +50%.

The peak is the largest of these phases. The plan keeps the measurement as asked when it fits;
otherwise it lowers the batch (halving it), and only when that is not enough splits the layers
into groups measured one after the other, with the same seeded perturbations (the numbers are
the same; the forward passes are repeated per group). In ``init`` mode the batch sets the
batch-norm statistics: there the plan splits the layers first and lowers the batch only when
no grouping fits. Where nothing fits, one ``ValueError`` line gives the estimate and the largest
number of images that fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lightning_diffeo.stability.budget import format_bytes
from lightning_diffeo.stability.denominators import mean_block_rows
from lightning_diffeo.stability.footprint import Footprint

__all__ = ["MemoryPlan", "estimate_peak", "plan_memory"]

_PAIR_CHUNK = 1024  # rows of the pair-distance matrix computed at once (pair_denominators' default)
_FORWARD_FACTOR = 3.5  # the model's own tensors alive during a pass, in units of its largest output (measured: 2.75-5)
_LIBRARIES = 12_000_000  # first-use allocations of torch and numpy kernels during a measurement (measured ~10 MB)
_GRID_BYTES = {"bilinear": 28, "nearest": 28}  # per pixel: sampling planes and the distortion check
_GAUSSIAN_TAPS = 5  # 2 R + 1 window pixels per axis at sigma = 0.4715


@dataclass(frozen=True)
class Peak:
    """Peak bytes of a measurement: ``compute`` where the forward passes run, ``store`` where activations
    are kept and reduced, ``total`` when both share one memory (the CPU, or a device holding both)."""

    compute: int
    store: int
    total: int


def _perturbation_bytes(fp: Footprint, count: int, rows: int, perturbation: str) -> tuple[int, int, int]:
    """(resident, kept, drawing): bytes of the smoothed references (Gaussian), of the perturbed images
    kept during the numerators, and the peak while drawing one item's perturbations."""
    pixels = fp.size * fp.size
    tiled = rows * fp.image if rows > count else 0
    if perturbation == "noise":
        return 0, rows * fp.image + tiled, 3 * rows * fp.image + tiled
    if perturbation == "gaussian":
        padded = 4 * fp.channels * (fp.size + _GAUSSIAN_TAPS) ** 2
        grid = pixels * (_GAUSSIAN_TAPS * (24 + 4 * fp.channels) + 32) + padded
    else:
        grid = _GRID_BYTES.get(perturbation, 28) * pixels
    resident = count * fp.image if perturbation == "gaussian" else 0
    return resident, 2 * rows * fp.image, rows * (3 * fp.image + grid) + tiled


def _pair_bytes(count: int, dim: int, averages: Sequence[str]) -> int:
    """Peak of one layer's pair denominators (beyond its stored activations)."""
    block = mean_block_rows(count, dim, _PAIR_CHUNK) * dim  # elements of a block of rows
    total = 0
    if "median" in averages:  # the centred copy, the squared norms' block, the pair distances, a Gram block
        total += 4 * (count * dim + block + count * (count - 1) // 2 + 2 * min(_PAIR_CHUNK, count) * count + count)
    if "mean" in averages:  # a float64 block and its centred copy
        total = max(total, 16 * block)
    return total + 8 * dim


def estimate_peak(
    fp: Footprint,
    layers: Sequence[str],
    *,
    count: int,
    rows_per_image: int,
    batch_size: int,
    averages: Sequence[str],
    perturbation: str,
    store_apart: bool = False,
) -> Peak:
    """Peak bytes of measuring ``layers`` together (one group) on ``count`` images.

    Args:
        fp: per-image sizes from :func:`~.footprint.footprint`.
        layers: the probed layers measured together.
        count: N, probe images.
        rows_per_image: k, perturbed copies of each image per quantity (deformed or noisy).
        batch_size: B, images per forward pass.
        averages: the averages computed (``"median"`` keeps the squared differences).
        perturbation: the interpolation of the diffeomorphisms, or ``"noise"`` (noise only).
        store_apart: activations stored on another device than the forward passes (the host).
    """
    rows, batch = count * rows_per_image, min(batch_size, count * rows_per_image)
    dims = [fp.dims[name] for name in layers]
    coordinates, widest = sum(dims), max(dims)
    held = sum(fp.held[name] for name in layers)
    own = fp.model_input + int(_FORWARD_FACTOR * fp.largest)  # the model's own tensors during a pass
    copies = sum(4 * fp.dims[name] if store_apart else fp.copied[name] for name in layers)
    stored = 4 * count * coordinates
    buffers = 4 * rows * coordinates if "median" in averages else 0
    pairs = max(_pair_bytes(count, dim, averages) for dim in dims)
    resident, kept, drawing = _perturbation_bytes(fp, count, rows, perturbation)
    resident += _LIBRARIES
    clean = min(batch, count)
    phases = [  # (compute, store) of each phase
        (resident + clean * (own + held), stored + clean * copies),  # a clean batch's forward pass
        (resident, stored + pairs),  # the denominators
        (resident + drawing, stored),  # drawing one item's perturbations
        (resident + kept + batch * (own + held), stored + buffers + batch * copies),  # a perturbed batch's pass
        # its reduction: squared differences of one layer and gathered clean rows (an upper bound, see above)
        (resident + kept + batch * held, stored + buffers + batch * (copies + 3 * 4 * widest)),
    ]
    return Peak(
        compute=max(c for c, _ in phases), store=max(s for _, s in phases), total=max(c + s for c, s in phases)
    )


@dataclass(frozen=True)
class MemoryPlan:
    """How a measurement runs within its memory budget.

    Attributes:
        batch_size: images per forward pass.
        groups: the layers measured together, group by group (one group: as asked).
        estimate: planned peak in bytes (in the budgeted memory).
        requested: the estimate of the measurement as asked (one group, the asked batch).
        budget: the budget in bytes (None: no limit known).
        requested_batch_size: the batch asked for (or the mode's default).
    """

    batch_size: int
    groups: tuple[tuple[str, ...], ...]
    estimate: int
    requested: int
    budget: int | None
    requested_batch_size: int

    @property
    def kind(self) -> str:
        """``"as requested"``, ``"smaller batch"``, ``"layer groups"`` or ``"smaller batch, layer groups"``."""
        parts = (["smaller batch"] if self.batch_size < self.requested_batch_size else []) + (
            ["layer groups"] if len(self.groups) > 1 else [])
        return ", ".join(parts) or "as requested"

    def metadata(self, passes: int) -> dict[str, Any]:
        """The plan as the result records it; ``passes``: forward passes over the N images per group."""
        return {
            "max_memory": self.budget, "estimate": self.estimate, "estimate_as_requested": self.requested,
            "plan": self.kind, "groups": [list(group) for group in self.groups],
            "forward_passes": passes * len(self.groups), "forward_passes_as_requested": passes,
        }


def _batches(batch_size: int, smallest: int) -> list[int]:
    sizes = [batch_size]
    while sizes[-1] > smallest:
        sizes.append(max(smallest, sizes[-1] // 2))
    return sizes


def _pack(names: Sequence[str], cost, budget: int) -> list[tuple[str, ...]] | None:
    """Layers in as few groups as fit (first fit, widest layers first), each group in probe order."""
    order = {name: i for i, name in enumerate(names)}
    groups: list[list[str]] = []
    for name in sorted(names, key=lambda n: -cost([n])):
        if cost([name]) > budget:
            return None
        for group in groups:
            if cost(group + [name]) <= budget:
                group.append(name)
                break
        else:
            groups.append([name])
    return sorted((tuple(sorted(g, key=order.__getitem__)) for g in groups), key=lambda g: order[g[0]])


def plan_memory(
    fp: Footprint,
    names: Sequence[str],
    *,
    count: int,
    rows_per_image: int,
    batch_size: int,
    averages: Sequence[str],
    perturbation: str,
    budget: int | None,
    keep_batch: bool = False,
    measure=None,
) -> MemoryPlan:
    """The plan of the fewest groups (then the largest batch) whose estimate fits ``budget``.

    Args:
        fp, count, rows_per_image, averages, perturbation: as :func:`estimate_peak` takes them.
        names: every probed layer, in probe order.
        batch_size: the batch asked for (or the mode's default).
        budget: bytes; None plans the measurement as asked.
        keep_batch: prefer the asked batch with layer groups over a smaller batch (``init`` mode).
        measure: ``(layers, batch_size, count) -> bytes`` to compare with the budget (default:
            :func:`estimate_peak`'s total).

    Raises:
        ValueError: one line, when no plan fits: the estimate and the largest N that fits.
    """
    def peak(layers: Sequence[str], batch: int, images: int = count) -> int:
        if measure is not None:
            return measure(layers, batch, images)
        return estimate_peak(fp, layers, count=images, rows_per_image=rows_per_image, batch_size=batch,
                             averages=averages, perturbation=perturbation).total

    requested = peak(names, batch_size)
    if budget is None or requested <= budget:
        return MemoryPlan(batch_size, (tuple(names),), requested, requested, budget, batch_size)
    smallest = 2 if keep_batch else 1
    options = []
    for batch in _batches(batch_size, smallest):
        groups = _pack(names, lambda layers, b=batch: peak(layers, b), budget)
        if groups is not None:
            options.append((batch != batch_size if keep_batch else False, len(groups), -batch, batch, groups))
    if options:
        *_, batch, groups = min(options)
        estimate = max(peak(group, batch) for group in groups)
        return MemoryPlan(batch, tuple(groups), estimate, requested, budget, batch_size)
    least = lambda images: max(peak([name], smallest, images) for name in names)  # noqa: E731
    low, high = 1, count  # least(low) fits or low == 1; least(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if least(middle) <= budget else (low, middle)
    fits = f"at most {low} images fit" if low >= 2 else "not even 2 images fit"
    raise ValueError(
        f"max_memory={format_bytes(budget)} is too small for this measurement: it needs about "
        f"{format_bytes(requested)} as asked ({count} images, {len(names)} layers, batches of {batch_size}) and "
        f"{format_bytes(least(count))} with one layer at a time in batches of {smallest}; {fits} "
        f"(give fewer images or layers, or a larger max_memory)"
    )
