"""measure_stability: D_f, G_f, R_f of any nn.Module at its output and hidden layers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lightning_diffeo.diffeo import (
    INTERPOLATIONS,
    temperature_from_displacement,
    temperature_range,
    typical_displacement,
)
from lightning_diffeo.stability.capture import ActivationCapture, relative_depths, resolve_layers
from lightning_diffeo.stability.estimators import check_average, pair_denominator, relative_stability
from lightning_diffeo.stability.modes import check_mode, check_positive_int, model_mode
from lightning_diffeo.stability.perturb import check_probe_images, perturb, reference_images
from lightning_diffeo.stability.probe import Prober, check_model_device, new_generator
from lightning_diffeo.stability.result import StabilityResult

__all__ = ["SWEEP_POINTS", "measure_stability", "sweep_temperatures", "work_items"]

SWEEP_POINTS = 30
_DEFAULT_DELTAS = (1.0,)


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, leave=False)


def _as_floats(values: float | Sequence[float], name: str) -> list[float]:
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {values!r}") from None
    if not floats:
        raise ValueError(f"{name} is empty")
    if any(not math.isfinite(v) or v <= 0 for v in floats):
        raise ValueError(f"{name} must be positive and finite, got {floats}")
    return floats


def sweep_temperatures(n: int, cutoff: float, points: int = SWEEP_POINTS) -> list[float]:
    """``points`` temperatures log-spaced from T_min / 15 to 2 T_max (NOTES.md section 4)."""
    t_min, t_max = temperature_range(n, cutoff)
    grid = torch.logspace(math.log10(t_min / 15), math.log10(2 * t_max), points, dtype=torch.float64)
    return grid.tolist()


def work_items(
    n: int,
    cutoffs: float | Sequence[float],
    deltas: float | Sequence[float] | None,
    temperatures: float | Sequence[float] | None,
    sweep: bool,
) -> list[tuple[float, float, float]]:
    """The (cutoff, temperature, typical displacement in pixels) triples to measure.

    Exactly one of ``deltas`` (the default), ``temperatures`` or ``sweep`` chooses the
    temperatures, which apply to every cutoff.
    """
    cutoff_list = _as_floats(cutoffs, "cutoffs")
    if any(c <= 1 for c in cutoff_list):
        raise ValueError(f"every cutoff must be > 1 (ln c > 0), got {cutoff_list}")
    explicit_deltas = deltas is not None and deltas is not _DEFAULT_DELTAS
    chosen = [name for name, on in (("deltas", explicit_deltas), ("temperatures", temperatures is not None), ("sweep", sweep)) if on]
    if len(chosen) > 1:
        raise ValueError(f"give only one of deltas, temperatures or sweep=True, got {chosen}")
    items = []
    for cutoff in cutoff_list:
        if sweep:
            temps = sweep_temperatures(n, cutoff)
        elif temperatures is not None:
            temps = _as_floats(temperatures, "temperatures")
        elif deltas is not None:
            temps = [temperature_from_displacement(d, cutoff, n) for d in _as_floats(deltas, "deltas")]
        else:
            raise ValueError("give deltas, temperatures or sweep=True")
        items.extend((cutoff, t, typical_displacement(t, cutoff, n)) for t in temps)
    return items


def measure_stability(
    model: nn.Module,
    images: torch.Tensor,
    *,
    cutoffs: float | Sequence[float] = (3, 5, 15),
    deltas: float | Sequence[float] | None = _DEFAULT_DELTAS,
    temperatures: float | Sequence[float] | None = None,
    sweep: bool = False,
    interpolation: str = "bilinear",
    layers: str | Sequence[str] | None = None,
    average: str = "median",
    diffeos_per_image: int = 1,
    batch_size: int = 128,
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
    mode: str = "eval",
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> StabilityResult:
    """Relative stability R_f = D_f / G_f of a model's output and hidden layers.

    For each cutoff c and temperature T, every probe image x is deformed ``diffeos_per_image``
    times (tau x) and gets isotropic Gaussian noise eta of the same norm, ``||eta|| =
    ||tau x - x||`` per image (in pixel space); ``normalize`` is applied after perturbing.
    With Gaussian interpolation every comparison uses the smoothed image x~ instead of x.

    Args:
        model: any module; the forward passes run on the images' device.
        images: probe images [N, C, n, n] in [0, 1] pixel space, N >= 2.
        cutoffs: highest modes of the fields, each > 1.
        deltas: typical displacements in pixels, converted to T(delta) per cutoff (default 1).
        temperatures: explicit temperatures instead of ``deltas``.
        sweep: 30 temperatures log-spaced from T_min / 15 to 2 T_max per cutoff instead.
        interpolation: ``"bilinear"``, ``"gaussian"`` or ``"nearest"``.
        layers: None (``model.probe_layers`` if declared, else ``"output"``), ``"output"``,
            or module names as in ``named_modules()``; ``"output"`` is the return value.
        average: ``"median"`` (the authors' estimator) or ``"mean"``.
        diffeos_per_image: diffeomorphisms (and noise draws) per image per temperature.
        batch_size: images per forward pass.
        normalize: callable applied to every batch before the forward pass (e.g. the
            datamodule's normalisation); None feeds images as given.
        mode: ``"eval"`` (trained networks) or ``"init"`` (batch-norm uses batch statistics,
            see :func:`init_mode`); training flags are restored afterwards.
        generator: source of every random draw; the global RNG is never used.
        progress: show a progress bar over (cutoff, temperature) items.

    Returns:
        A :class:`StabilityResult` with one record per (layer, cutoff, temperature).

    Raises:
        ValueError: bad images (not 4-D, not square, fewer than 2), unknown layer names,
            non-finite activations (the message names the layer), bad settings.

    A layer that is constant across images (zero denominator) gets NaN D_f, G_f, R_f with
    a ``RuntimeWarning``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3))
        >>> x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> result = measure_stability(net, x, cutoffs=3, layers=["1", "output"],
        ...                            generator=torch.Generator().manual_seed(0), progress=False)
        >>> result.layers
        ['1', 'output']
    """
    images = check_probe_images(images)
    check_model_device(model, images)
    check_average(average)
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {tuple(INTERPOLATIONS)}, got {interpolation!r}")
    check_mode(mode)
    check_positive_int("diffeos_per_image", diffeos_per_image)
    names = resolve_layers(model, layers)
    depths = dict(zip(names, relative_depths(names)))
    count, channels, size = images.shape[0], images.shape[1], images.shape[-1]
    items = work_items(size, cutoffs, deltas, temperatures, sweep)
    generator, seed = new_generator(generator)

    reference = reference_images(images, interpolation)
    records = []
    with torch.no_grad(), model_mode(model, mode), ActivationCapture(model, names) as capture:
        prober = Prober(capture, batch_size, normalize)
        with _progress(len(items) + 1, progress, "stability") as bar:
            clean = prober.features(reference)
            denominators = {name: pair_denominator(clean[name], average) for name in names}
            bar.update(1)
            for cutoff, temperature, delta in items:
                pert = perturb(
                    images, reference, cutoff=cutoff, temperature=temperature,
                    interpolation=interpolation, repeats=diffeos_per_image, generator=generator,
                )
                num_diffeo = prober.numerators(pert.deformed, clean, average, names)
                num_noise = prober.numerators(pert.noisy, clean, average, names)
                for name in names:
                    values = relative_stability(num_diffeo[name], num_noise[name], denominators[name], name)
                    records.append({
                        "layer": name, "relative_depth": depths[name], "cutoff": cutoff,
                        "temperature": temperature, "delta": delta, **values,
                        "n_images": count, "average": average, "interpolation": interpolation, "mode": mode,
                    })
                bar.update(1)
    metadata = {
        "model": type(model).__name__, "n_images": count, "channels": channels, "image_size": size,
        "seed": seed, "average": average, "interpolation": interpolation, "mode": mode,
        "diffeos_per_image": diffeos_per_image, "batch_size": batch_size, "layers": names,
        "device": str(images.device),
    }
    return StabilityResult(records, metadata)
