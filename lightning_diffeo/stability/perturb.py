"""Perturbed probe images: diffeomorphisms and isotropic noise of the same norm."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lightning_diffeo.diffeo import deform, gaussian_smooth

__all__ = ["Perturbations", "check_probe_images", "matched_noise", "perturb", "reference_images", "scaled_noise"]


def check_probe_images(images: object) -> torch.Tensor:
    """Validate probe images: a floating tensor [N, C, n, n] with N >= 2.

    Returns:
        The images.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: not 4-D, not square, or fewer than 2 images (the denominator needs pairs).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor [N, C, n, n], got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must be 4-D [N, C, n, n], got shape {tuple(images.shape)}")
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images must be square [N, C, n, n], got height {images.shape[-2]} and width {images.shape[-1]}")
    if images.shape[0] < 2:
        raise ValueError(f"need at least 2 images (the denominator averages over pairs), got {images.shape[0]}")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point in [0, 1], got dtype {images.dtype}")
    return images


def reference_images(images: torch.Tensor, interpolation: str) -> torch.Tensor:
    """The images every comparison uses: x, or the smoothed x~ with Gaussian interpolation."""
    return gaussian_smooth(images) if interpolation == "gaussian" else images


def scaled_noise(
    like: torch.Tensor, norms: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Isotropic Gaussian noise rescaled per image to exactly the given L2 norms.

    Args:
        like: tensor [M, ...] giving shape, dtype and device.
        norms: target norms [M] (pixel units: L2 over all channels and pixels).
        generator: source of randomness (its device is where the draw happens).

    Returns:
        Noise [M, ...] with ``eta[i].norm() == norms[i]`` (to rounding).
    """
    draw_device = generator.device if generator is not None else like.device
    eta = torch.randn(like.shape, generator=generator, device=draw_device, dtype=like.dtype).to(like.device)
    current = eta.flatten(1).norm(dim=1).clamp_min(torch.finfo(eta.dtype).tiny)
    scale = (norms.to(eta) / current).reshape(-1, *([1] * (eta.dim() - 1)))
    return eta * scale


def matched_noise(
    reference: torch.Tensor, deformed: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Noise eta with ``||eta|| = ||tau x - x_ref||`` per image (both [M, C, n, n])."""
    norms = (deformed - reference).flatten(1).norm(dim=1)
    return scaled_noise(deformed, norms, generator)


@dataclass
class Perturbations:
    """One (cutoff, temperature) worth of perturbed probe images, in pixel space.

    Attributes:
        deformed: tau x, [k * N, C, n, n]; row r is a deformation of image r % N.
        noisy: x_ref + eta with ``||eta|| = ||tau x - x_ref||`` per row, [k * N, C, n, n].
        norms: ``||tau x - x_ref||`` per row [k * N] (pixel units).
    """

    deformed: torch.Tensor
    noisy: torch.Tensor
    norms: torch.Tensor


def perturb(
    images: torch.Tensor,
    reference: torch.Tensor,
    *,
    cutoff: float,
    temperature: float,
    interpolation: str = "bilinear",
    repeats: int = 1,
    generator: torch.Generator | None = None,
) -> Perturbations:
    """Deform every image ``repeats`` times and draw matching noise.

    Args:
        images: probe images x [N, C, n, n] in [0, 1] pixel space.
        reference: x_ref [N, C, n, n]: x, or x~ with Gaussian interpolation.
        cutoff: highest mode of the field (> 1).
        temperature: field temperature T.
        interpolation: ``"bilinear"``, ``"gaussian"`` or ``"nearest"``.
        repeats: diffeomorphisms per image, k.
        generator: source of randomness for fields and noise.

    Returns:
        The deformed and noisy images, and the perturbation norms.
    """
    tiled = images.repeat(repeats, 1, 1, 1)
    tiled_reference = reference.repeat(repeats, 1, 1, 1)
    deformed = deform(tiled, cutoff=cutoff, temperature=temperature, interpolation=interpolation, generator=generator)
    norms = (deformed - tiled_reference).flatten(1).norm(dim=1)
    noisy = tiled_reference + scaled_noise(deformed, norms, generator)
    return Perturbations(deformed=deformed, noisy=noisy, norms=norms)
