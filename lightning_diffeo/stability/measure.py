"""measure_stability: D_f, G_f, R_f of any nn.Module at its output and hidden layers."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lightning_diffeo.diffeo import temperature_from_displacement, temperature_range, typical_displacement
from lightning_diffeo.stability.estimators import relative_stability
from lightning_diffeo.stability.per_image import PerImageTerms
from lightning_diffeo.stability.perturb import check_probe_images, perturb, reference_images
from lightning_diffeo.stability.probe import ProbeSession, new_generator
from lightning_diffeo.stability.result import StabilityResult
from lightning_diffeo.stability.settings import (
    DEFAULT_AVERAGE,
    DEFAULT_CUTOFFS,
    DEFAULT_DELTAS,
    DEFAULT_DIFFEOS_PER_IMAGE,
    DEFAULT_INTERPOLATION,
    DEFAULT_MAX_MEMORY,
    DEFAULT_MODE,
    DEFAULT_PER_IMAGE,
    DEFAULT_STORE,
    SWEEP_POINTS,
    Average,
    Interpolation,
    Mode,
    Sizes,
    Store,
    check_cutoffs,
    check_diffeos_per_image,
    check_interpolation,
    check_per_image,
    check_sizes,
)

__all__ = ["SWEEP_POINTS", "measure_stability", "sweep_temperatures", "temperature_items", "work_items"]


def sweep_temperatures(n: int, cutoff: float, points: int = SWEEP_POINTS) -> list[float]:
    """``points`` temperatures log-spaced from T_min / 15 to 2 T_max (docs/science.md section 4)."""
    t_min, t_max = temperature_range(n, cutoff)
    grid = torch.logspace(math.log10(t_min / 15), math.log10(2 * t_max), points, dtype=torch.float64)
    return grid.tolist()


def temperature_items(n: int, cutoffs: Sequence[float], sizes: Sizes) -> list[tuple[float, float, float]]:
    """The (cutoff, temperature, typical displacement in pixels) triples to measure on n x n images.

    Takes checked values (:func:`~.settings.check_cutoffs`, :func:`~.settings.check_sizes`);
    the temperatures apply to every cutoff. Typical displacements become temperatures here,
    once the image size is known.
    """
    items = []
    for cutoff in cutoffs:
        if sizes.sweep:
            temps = sweep_temperatures(n, cutoff)
        elif sizes.temperatures is not None:
            temps = list(sizes.temperatures)
        else:
            temps = [temperature_from_displacement(d, cutoff, n) for d in sizes.deltas]
        items.extend((cutoff, t, typical_displacement(t, cutoff, n)) for t in temps)
    return items


def work_items(
    n: int,
    cutoffs: float | Sequence[float],
    deltas: float | Sequence[float] | None,
    temperatures: float | Sequence[float] | None,
    sweep: bool,
) -> list[tuple[float, float, float]]:
    """:func:`temperature_items` of options as ``measure_stability`` takes them, checked first.

    Exactly one of ``deltas`` (the default), ``temperatures`` or ``sweep`` chooses the
    temperatures, which apply to every cutoff.
    """
    return temperature_items(n, check_cutoffs(cutoffs), check_sizes(deltas, temperatures, sweep))


def _warn_above_t_max(items: list[tuple[float, float, float]], n: int) -> None:
    """One warning listing the requested (cutoff, T) with T > T_max(c), as ``Diffeo`` does."""
    above = [(c, t) for c, t, _ in items if t > temperature_range(n, c)[1]]
    if above:
        shown = ", ".join(f"(c={c:g}, T={t:.3g} > T_max={temperature_range(n, c)[1]:.3g})" for c, t in above)
        warnings.warn(
            f"temperature above T_max(c) for {shown}: the maps may not be diffeomorphisms "
            "(see fraction_diffeomorphic in the records)",
            RuntimeWarning,
            stacklevel=3,
        )


def measure_stability(
    model: nn.Module,
    images: torch.Tensor,
    *,
    cutoffs: float | Sequence[float] = DEFAULT_CUTOFFS,
    deltas: float | Sequence[float] | None = DEFAULT_DELTAS,
    temperatures: float | Sequence[float] | None = None,
    sweep: bool = False,
    interpolation: Interpolation = DEFAULT_INTERPOLATION,
    layers: str | Sequence[str] | None = None,
    average: Average | Sequence[Average] = DEFAULT_AVERAGE,
    diffeos_per_image: int = DEFAULT_DIFFEOS_PER_IMAGE,
    batch_size: int | None = None,
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
    mode: Mode = DEFAULT_MODE,
    generator: torch.Generator | None = None,
    progress: bool = True,
    store: Store = DEFAULT_STORE,
    max_memory: int | str | None = DEFAULT_MAX_MEMORY,
    per_image: bool = DEFAULT_PER_IMAGE,
) -> StabilityResult:
    """Relative stability R_f = D_f / G_f of a model's output and hidden layers.

    For each cutoff c and temperature T, every probe image x is deformed ``diffeos_per_image``
    times (tau x) and gets isotropic Gaussian noise eta of the same norm, ``||eta|| =
    ||tau x - x||`` per image (in pixel space); ``normalize`` is applied after perturbing.
    With Gaussian interpolation every comparison uses the smoothed image x~ instead of x.
    Every requested average is computed from the same forward passes.

    Args:
        model: any module; the forward passes run on the images' device.
        images: probe images [N, C, n, n] in [0, 1] pixel space, N >= 2, finite.
        cutoffs: highest modes of the fields, each > 1.
        deltas: typical displacements in pixels, converted to T(delta) per cutoff (default 1).
        temperatures: explicit temperatures instead of ``deltas``.
        sweep: 30 temperatures log-spaced from T_min / 15 to 2 T_max per cutoff instead.
        interpolation: ``"bilinear"``, ``"gaussian"`` or ``"nearest"``.
        layers: None (``model.probe_layers`` if declared, else ``"output"``), ``"output"``,
            or module names as in ``named_modules()``; ``"output"`` is the return value.
        average: ``"median"`` (the authors' estimator), ``"mean"``, or a list of them
            (default both; see docs/stability.md for when each is meaningful).
        diffeos_per_image: diffeomorphisms (and noise draws) per image per temperature.
        batch_size: images per forward pass; None: 128 in ``eval`` mode, and in ``init`` mode
            the whole probe set (batch-norm statistics over all N images, as the authors do).
        normalize: callable applied to every batch before the forward pass (e.g. the
            datamodule's normalisation); None feeds images as given.
        mode: ``"eval"`` (trained networks) or ``"init"`` (batch-norm uses batch statistics,
            see :func:`init_mode`); training flags are restored afterwards.
        generator: source of every random draw; the global RNG is never used.
        progress: show a progress bar over (cutoff, temperature) items.
        store: where activations are kept and reduced when the images are on an accelerator:
            ``"auto"`` (on the device if the buffers fit, else the host), ``"device"``, ``"host"``.
        max_memory: the memory the measurement may use, in bytes or as a string such as
            ``"4GB"`` or ``"512MiB"``; None: 70% of the available RAM (on a CUDA device, 80% of its
            free memory). Before any work the peak is estimated from one forward pass of two
            images and the measurement planned to fit: as asked, with a smaller batch, or with
            the layers measured in groups (the same seeded perturbations for each group: the
            same numbers, more forward passes). ``result.metadata["memory"]`` records the plan.
        per_image: also keep, at the output (which must be among the layers), each image's
            ``||f(tau x) - f(x)||^2`` and ``||f(x + eta) - f(x)||^2`` averaged over its draws, in
            ``result.per_image`` (:mod:`~lightning_diffeo.stability.per_image`); the records are
            the same either way.

    Returns:
        A :class:`StabilityResult` with one record per (layer, cutoff, temperature, average),
        each with ``fraction_diffeomorphic``: the fraction of sampled fields with max Xi < 1;
        with ``per_image``, ``result.per_image`` holds one record per (cutoff, temperature, image).

    Raises:
        ValueError: bad images (not 4-D, not square, fewer than 2, NaN/inf, not in [0, 1]),
            a measurement that fits no plan within ``max_memory`` (one line, before any work,
            with the estimate and the largest number of images that fits),
            a model on another device or of another dtype than its inputs, unknown layer
            names, non-finite activations (the message names the layer), bad settings
            (each checked by its function in :mod:`~lightning_diffeo.stability.settings`).

    Warns:
        RuntimeWarning: once, when requested temperatures (or deltas) exceed T_max(c).

    A layer that is constant across images (zero denominator) gets NaN D_f, G_f, R_f with
    a ``RuntimeWarning``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3))
        >>> x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> result = measure_stability(net, x, cutoffs=3, layers=["1", "output"],
        ...                            generator=torch.Generator().manual_seed(0), progress=False)
        >>> result.layers, sorted({r["average"] for r in result.records})
        (['1', 'output'], ['mean', 'median'])
    """
    images = check_probe_images(images)
    interpolation = check_interpolation(interpolation)
    diffeos_per_image = check_diffeos_per_image(diffeos_per_image)
    terms = PerImageTerms(images.shape[0], diffeos_per_image) if check_per_image(per_image) else None
    cutoffs, sizes = check_cutoffs(cutoffs), check_sizes(deltas, temperatures, sweep)
    count, size = images.shape[0], images.shape[-1]
    items = temperature_items(size, cutoffs, sizes)
    reference = reference_images(images, interpolation)
    session = ProbeSession(
        model, images, layers=layers, average=average, mode=mode, batch_size=batch_size, normalize=normalize,
        store=store, progress=progress, steps=len(items), desc="stability", reference=reference,
        rows_per_image=diffeos_per_image, max_memory=max_memory, perturbation=interpolation,
    )
    if terms is not None:
        terms.check_layers(session.names)
    generator, seed = new_generator(generator)
    if not sizes.sweep:
        _warn_above_t_max(items, size)
    start = generator.get_state()
    numerators: dict[tuple[int, str], tuple[dict[str, float], dict[str, float]]] = {}
    fractions: dict[int, float] = {}
    with session:
        for group in session.plan.groups:
            session.begin(group)
            tracked = terms is not None and terms.begin(group, session.denominators, session.clean)
            generator.set_state(start)  # every group sees the same perturbations
            for index, (cutoff, temperature, _) in enumerate(items):
                pert = perturb(
                    images, reference, cutoff=cutoff, temperature=temperature,
                    interpolation=interpolation, repeats=diffeos_per_image, generator=generator,
                )
                fractions[index] = pert.fraction_diffeomorphic
                sinks = terms.sinks(index, session.store_device) if terms and tracked else (None, None)
                num_diffeo = session.numerators(pert.deformed, sinks[0])
                num_noise = session.numerators(pert.noisy, sinks[1])
                del pert  # before the next item's perturbations are drawn
                for name in group:
                    numerators[index, name] = num_diffeo[name], num_noise[name]
                session.step()
    records = []
    for index, (cutoff, temperature, delta) in enumerate(items):
        for name in session.names:
            for avg in session.averages:
                num_diffeo, num_noise = numerators[index, name]
                values = relative_stability(num_diffeo[avg], num_noise[avg], session.denominators[name][avg], name)
                records.append({
                    "layer": name, "relative_depth": session.depths[name], "cutoff": cutoff,
                    "temperature": temperature, "delta": delta, **values,
                    "fraction_diffeomorphic": fractions[index],
                    "n_images": count, "average": avg, "interpolation": interpolation, "mode": mode,
                })
    metadata = session.metadata(seed=seed, interpolation=interpolation, diffeos_per_image=diffeos_per_image)
    return StabilityResult(records, metadata, per_image=None if terms is None else terms.records(items))
