"""Perturbed probe images: diffeomorphisms and isotropic noise of the same norm."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lightning_diffeo.diffeo import (
    deform_with_coefficients,
    gaussian_smooth,
    is_diffeomorphism,
    sample_coefficients,
    working_dtype,
)

__all__ = [
    "Perturbations",
    "check_probe_images",
    "matched_noise",
    "perturb",
    "reference_images",
    "replay_deformations",
    "scaled_noise",
]


_MAX_PIXEL = 1.5  # above this the images are taken for [0, 255] pixels


def check_probe_images(images: object, name: str = "images") -> torch.Tensor:
    """Check probe images: a floating tensor [N, C, n, n] with N >= 2, finite, in [0, 1].

    Args:
        images: the value to check.
        name: the option's name in messages (``probe_images`` for ``StabilityCallback``).

    Returns:
        The images.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: not 4-D, not square, fewer than 2 images (the denominator needs pairs),
            NaN or inf values, or a maximum above 1.5 (images in [0, 255], or already
            normalised: the perturbations are defined in [0, 1] pixel space).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a tensor [N, C, n, n] (4-D), got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"{name} must be a tensor [N, C, n, n] (4-D), got shape {tuple(images.shape)}")
    count, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    if height != width:
        raise ValueError(f"{name} must be square [N, C, n, n], got height {height} and width {width}")
    if count < 2:
        raise ValueError(f"{name} must hold at least 2 images (the denominator averages over pairs), got {count}")
    if not images.is_floating_point():
        raise TypeError(f"{name} must be floating point in [0, 1], got dtype {images.dtype}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} must be finite, but the probe images contain NaN/inf")
    largest = float(images.max())
    if largest > _MAX_PIXEL:
        raise ValueError(
            f"{name} must be in [0, 1] pixel space, got a maximum of {largest:g} "
            f"(images in [0, 255]? divide by 255; normalised images? pass the raw ones and normalize=...)"
        )
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
    eta, scale = _noise_and_scale(like, norms, generator)
    return eta * scale


def _noise_and_scale(
    like: torch.Tensor, norms: torch.Tensor, generator: torch.Generator | None, out: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian draws eta [M, ...] and per-image factors [M, 1, ...] giving ``||eta * factor|| = norms``.

    ``out``: a contiguous tensor like ``like`` to draw into when the generator is on its device.
    """
    draw_device = generator.device if generator is not None else like.device
    if out is not None and out.device == torch.device(draw_device) and out.is_contiguous():
        eta = out.normal_(generator=generator)  # the same draws as torch.randn, without a new buffer
    else:
        eta = torch.randn(like.shape, generator=generator, device=draw_device, dtype=like.dtype).to(like.device)
    current = torch.linalg.vector_norm(eta.flatten(1), dim=1).clamp_min(torch.finfo(eta.dtype).tiny)
    return eta, (norms.to(eta) / current).reshape(-1, *([1] * (eta.dim() - 1)))


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
        fraction_diffeomorphic: fraction of the k * N sampled fields with max Xi < 1 on the
            n x n grid (the sufficient condition for a diffeomorphism, Eq. 12).
    """

    deformed: torch.Tensor
    noisy: torch.Tensor
    norms: torch.Tensor
    fraction_diffeomorphic: float = float("nan")


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
        The deformed and noisy images, the perturbation norms and the fraction of fields with
        max Xi < 1.

    Random draws, in order: the fields' coefficients (as ``deform``), then the noise.
    """
    count = images.shape[0]
    tiled = images if repeats == 1 else images.repeat(repeats, 1, 1, 1)  # grid_sample needs a batch per field
    coefficients = _coefficients(images, cutoff, temperature, repeats, generator)
    deformed = deform_with_coefficients(tiled, coefficients, interpolation)
    fraction = float(is_diffeomorphism(coefficients, images.shape[-1]).float().mean())
    # One buffer holds tau x - x_ref, then the noise, then x_ref + eta; the reference is
    # broadcast over the k repeats ([k, N, ...] views), never copied.
    by_repeat = (repeats, count, *images.shape[1:])
    buffer = torch.sub(deformed.view(by_repeat), reference).view_as(deformed)
    norms = torch.linalg.vector_norm(buffer.flatten(1), dim=1)
    eta, scale = _noise_and_scale(deformed, norms, generator, out=buffer)
    noisy = torch.addcmul(reference, eta.view(by_repeat), scale.view(repeats, count, 1, 1, 1), out=eta.view(by_repeat))
    return Perturbations(deformed=deformed, noisy=noisy.view_as(deformed), norms=norms, fraction_diffeomorphic=fraction)


def _coefficients(
    images: torch.Tensor, cutoff: float, temperature: float, repeats: int, generator: torch.Generator | None
) -> torch.Tensor:
    """The fields' coefficients of :func:`perturb`: one set per row of the k * N deformed images."""
    return sample_coefficients(repeats * images.shape[0], temperature, cutoff, generator=generator,
                               device=images.device, dtype=working_dtype(images.dtype))


def replay_deformations(
    images: torch.Tensor,
    rows: torch.Tensor | list[int],
    *,
    cutoff: float,
    temperature: float,
    interpolation: str = "bilinear",
    repeats: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rows of :func:`perturb`'s ``deformed`` drawn from the same generator state, deforming only those.

    Args:
        images: the probe images x [N, C, n, n] that ``perturb`` was given.
        rows: indices into the k * N deformed images (row r deforms image r % N).
        cutoff, temperature, interpolation, repeats: as given to ``perturb``.
        generator: in the state ``perturb`` started from.

    Returns:
        tau x of those rows, [len(rows), C, n, n], equal to ``perturb(...).deformed[rows]`` to
        float rounding (the same coefficients; no noise is drawn).
    """
    rows = torch.as_tensor(rows, dtype=torch.long)
    coefficients = _coefficients(images, cutoff, temperature, repeats, generator)
    picked = rows.to(images.device) % images.shape[0]
    return deform_with_coefficients(images[picked], coefficients[rows.to(coefficients.device)], interpolation)
