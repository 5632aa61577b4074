"""G_f as a function of the noise norm alone (appendix D, Fig. 11)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lightning_diffeo.stability.capture import ActivationCapture, relative_depths, resolve_layers
from lightning_diffeo.stability.estimators import check_average, pair_denominator
from lightning_diffeo.stability.measure import _progress
from lightning_diffeo.stability.modes import check_mode, check_positive_int, model_mode
from lightning_diffeo.stability.perturb import check_probe_images, scaled_noise
from lightning_diffeo.stability.probe import Prober, check_model_device, new_generator
from lightning_diffeo.stability.result import StabilityResult

__all__ = ["measure_noise_stability"]


def measure_noise_stability(
    model: nn.Module,
    images: torch.Tensor,
    noise_norms: float | Sequence[float],
    *,
    layers: str | Sequence[str] | None = None,
    average: str = "median",
    noise_per_image: int = 1,
    batch_size: int = 128,
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
    mode: str = "eval",
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> StabilityResult:
    """G_f = < ||f(x + eta) - f(x)||^2 > / < ||f(x) - f(z)||^2 > for given noise norms.

    eta is isotropic Gaussian rescaled per image to exactly ``||eta||`` (L2 over all channels
    and pixels, in [0, 1] pixel space, before ``normalize``). For small noise G_f grows like
    ``||eta||^2``.

    Args:
        model: any module.
        images: probe images [N, C, n, n] in [0, 1] pixel space, N >= 2.
        noise_norms: one or more positive noise norms.
        layers, average, batch_size, normalize, mode, generator, progress: as in
            :func:`measure_stability`.
        noise_per_image: noise draws per image and norm.

    Returns:
        A :class:`StabilityResult` with one record per (layer, noise norm) holding
        ``layer, relative_depth, noise_norm, G_f, denominator, numerator_noise, n_images,
        average, mode``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> x = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> r = measure_noise_stability(net, x, [0.1, 1.0], generator=torch.Generator().manual_seed(0),
        ...                             progress=False)
        >>> r.get("G_f", noise_norm=0.1) < r.get("G_f", noise_norm=1.0)
        True
    """
    images = check_probe_images(images)
    check_model_device(model, images)
    check_average(average)
    check_mode(mode)
    check_positive_int("noise_per_image", noise_per_image)
    norms = [float(noise_norms)] if isinstance(noise_norms, (int, float)) else [float(v) for v in noise_norms]
    if not norms or any(not math.isfinite(v) or v <= 0 for v in norms):
        raise ValueError(f"noise_norms must be positive and finite, got {norms}")
    names = resolve_layers(model, layers)
    depths = dict(zip(names, relative_depths(names)))
    generator, seed = new_generator(generator)
    count = images.shape[0]
    tiled = images.repeat(noise_per_image, 1, 1, 1)
    records = []
    with torch.no_grad(), model_mode(model, mode), ActivationCapture(model, names) as capture:
        prober = Prober(capture, batch_size, normalize)
        with _progress(len(norms) + 1, progress, "noise stability") as bar:
            clean = prober.features(images)
            denominators = {name: pair_denominator(clean[name], average) for name in names}
            bar.update(1)
            for norm in norms:
                target = torch.full((tiled.shape[0],), norm, dtype=images.dtype, device=images.device)
                noisy = tiled + scaled_noise(tiled, target, generator)
                numerators = prober.numerators(noisy, clean, average, names)
                for name in names:
                    denominator = denominators[name]
                    g_f = numerators[name] / denominator if denominator > 0 else math.nan
                    if not denominator > 0:
                        warnings.warn(f"layer {name!r} is constant across the probe images: G_f is NaN", RuntimeWarning, stacklevel=2)
                    records.append({
                        "layer": name, "relative_depth": depths[name], "noise_norm": norm, "G_f": g_f,
                        "denominator": denominator, "numerator_noise": numerators[name],
                        "n_images": count, "average": average, "mode": mode,
                    })
                bar.update(1)
    metadata = {
        "model": type(model).__name__, "n_images": count, "channels": images.shape[1],
        "image_size": images.shape[-1], "seed": seed, "average": average, "mode": mode,
        "noise_per_image": noise_per_image, "batch_size": batch_size, "layers": names,
        "device": str(images.device), "kind": "noise",
    }
    return StabilityResult(records, metadata)
