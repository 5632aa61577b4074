"""G_f as a function of the noise norm alone (appendix D, Fig. 11)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from lightning_diffeo.stability.perturb import check_probe_images, scaled_noise
from lightning_diffeo.stability.probe import ProbeSession, new_generator
from lightning_diffeo.stability.result import StabilityResult
from lightning_diffeo.stability.settings import (
    DEFAULT_AVERAGE,
    DEFAULT_MAX_MEMORY,
    DEFAULT_MODE,
    DEFAULT_STORE,
    Average,
    Mode,
    Store,
)
from lightning_diffeo.validation import as_float_list, check_positive_int

__all__ = ["measure_noise_stability"]


def measure_noise_stability(
    model: nn.Module,
    images: torch.Tensor,
    noise_norms: float | Sequence[float],
    *,
    layers: str | Sequence[str] | None = None,
    average: Average | Sequence[Average] = DEFAULT_AVERAGE,
    noise_per_image: int = 1,
    batch_size: int | None = None,
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
    mode: Mode = DEFAULT_MODE,
    generator: torch.Generator | None = None,
    progress: bool = True,
    store: Store = DEFAULT_STORE,
    max_memory: int | str | None = DEFAULT_MAX_MEMORY,
) -> StabilityResult:
    """G_f = < ||f(x + eta) - f(x)||^2 > / < ||f(x) - f(z)||^2 > for given noise norms.

    eta is isotropic Gaussian rescaled per image to exactly ``||eta||`` (L2 over all channels
    and pixels, in [0, 1] pixel space, before ``normalize``). For small noise G_f grows like
    ``||eta||^2``.

    Args:
        model: any module.
        images: probe images [N, C, n, n] in [0, 1] pixel space, N >= 2.
        noise_norms: one or more positive noise norms.
        layers, average, batch_size, normalize, mode, generator, progress, store, max_memory: as in
            :func:`measure_stability`.
        noise_per_image: noise draws per image and norm.

    Returns:
        A :class:`StabilityResult` with one record per (layer, noise norm, average) holding
        ``layer, relative_depth, noise_norm, G_f, denominator, numerator_noise, n_images,
        average, mode``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> x = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> r = measure_noise_stability(net, x, [0.1, 1.0], average="median",
        ...                             generator=torch.Generator().manual_seed(0), progress=False)
        >>> r.get("G_f", noise_norm=0.1) < r.get("G_f", noise_norm=1.0)
        True
    """
    images = check_probe_images(images)
    check_positive_int("noise_per_image", noise_per_image)
    norms = as_float_list("noise_norms", noise_norms, positive=True)
    session = ProbeSession(
        model, images, layers=layers, average=average, mode=mode, batch_size=batch_size, normalize=normalize,
        store=store, progress=progress, steps=len(norms), desc="noise stability", rows_per_image=noise_per_image,
        max_memory=max_memory, perturbation="noise", quantities=1,
    )
    generator, seed = new_generator(generator)
    start = generator.get_state()
    tiled = images if noise_per_image == 1 else images.repeat(noise_per_image, 1, 1, 1)
    numerators: dict[tuple[int, str], dict[str, float]] = {}
    with session:
        for group in session.plan.groups:
            session.begin(group)
            generator.set_state(start)  # every group sees the same noise
            for index, norm in enumerate(norms):
                target = torch.full((tiled.shape[0],), norm, dtype=images.dtype, device=images.device)
                noisy = tiled + scaled_noise(tiled, target, generator)
                numerators.update({(index, name): value for name, value in session.numerators(noisy).items()})
                del noisy
                session.step()
    records = []
    for index, norm in enumerate(norms):
        for name in session.names:
            for avg in session.averages:
                denominator = session.denominators[name][avg]
                numerator = numerators[index, name][avg]
                g_f = numerator / denominator if denominator > 0 else math.nan
                if not denominator > 0:
                    warnings.warn(f"layer {name!r} is constant across the probe images: G_f is NaN", RuntimeWarning, stacklevel=2)
                records.append({
                    "layer": name, "relative_depth": session.depths[name], "noise_norm": norm, "G_f": g_f,
                    "denominator": denominator, "numerator_noise": numerator,
                    "n_images": session.count, "average": avg, "mode": session.mode,
                })
    metadata = session.metadata(seed=seed, noise_per_image=noise_per_image, kind="noise")
    return StabilityResult(records, metadata)
