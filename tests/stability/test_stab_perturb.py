"""The perturbed probe images: one buffer for the noise, the reference broadcast over repeats."""

from __future__ import annotations

import pytest
import torch

from lightning_diffeo.diffeo import deform_with_coefficients, is_diffeomorphism, sample_coefficients
from lightning_diffeo.stability.perturb import perturb, reference_images


def _tiled_perturbations(images, reference, cutoff, temperature, interpolation, repeats, seed):
    """The straightforward computation: images and reference tiled k times, fresh noise tensors."""
    generator = torch.Generator().manual_seed(seed)
    tiled, tiled_reference = images.repeat(repeats, 1, 1, 1), reference.repeat(repeats, 1, 1, 1)
    coefficients = sample_coefficients(tiled.shape[0], temperature, cutoff, generator=generator)
    deformed = deform_with_coefficients(tiled, coefficients, interpolation)
    norms = torch.linalg.vector_norm((deformed - tiled_reference).flatten(1), dim=1)
    eta = torch.randn(deformed.shape, generator=generator)
    scale = (norms / torch.linalg.vector_norm(eta.flatten(1), dim=1)).reshape(-1, 1, 1, 1)
    fraction = float(is_diffeomorphism(coefficients, images.shape[-1]).float().mean())
    return deformed, torch.addcmul(tiled_reference, eta, scale), norms, fraction


@pytest.mark.parametrize("repeats, interpolation", [(1, "bilinear"), (3, "bilinear"), (2, "gaussian")])
def test_perturbations_equal_the_tiled_computation_bit_for_bit(repeats, interpolation):
    images = torch.rand(9, 2, 12, 12, generator=torch.Generator().manual_seed(1))
    reference = reference_images(images, interpolation)
    result = perturb(images, reference, cutoff=4, temperature=3e-3, interpolation=interpolation, repeats=repeats,
                     generator=torch.Generator().manual_seed(2))
    deformed, noisy, norms, fraction = _tiled_perturbations(images, reference, 4, 3e-3, interpolation, repeats, 2)
    assert torch.equal(result.deformed, deformed)
    assert torch.equal(result.norms, norms)
    assert torch.equal(result.noisy, noisy)
    assert result.fraction_diffeomorphic == fraction
    assert result.noisy.shape == (9 * repeats, 2, 12, 12)
    # the noise has the perturbation's norm, row by row, against the row's own image
    eta = result.noisy - reference.repeat(repeats, 1, 1, 1)
    torch.testing.assert_close(torch.linalg.vector_norm(eta.flatten(1), dim=1), norms, rtol=1e-5, atol=0)


def test_perturbations_leave_the_images_untouched():
    images = torch.rand(5, 1, 10, 10, generator=torch.Generator().manual_seed(3))
    before = images.clone()
    perturb(images, images, cutoff=3, temperature=1e-3, repeats=2, generator=torch.Generator().manual_seed(4))
    assert torch.equal(images, before)
