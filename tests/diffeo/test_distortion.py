"""Distortion Xi (Eq. 12) and the participation-ratio derivation of sigma."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_diffeo.diffeo import (
    GAUSSIAN_SIGMA,
    average_participation_bilinear,
    average_participation_gaussian,
    derive_gaussian_sigma,
    displacement_from_coefficients,
    distortion,
    distortion_bound,
    expected_max_distortion,
    is_diffeomorphism,
    max_distortion,
    participation_ratio,
    sample_coefficients,
    temperature_range,
)


def test_xi_matches_finite_differences_of_the_field():
    g = torch.Generator().manual_seed(0)
    coefficients = sample_coefficients(3, 0.01, 5, generator=g, dtype=torch.float64)
    n = 401
    tau = displacement_from_coefficients(coefficients, n) / n  # unit-square units
    step = 1.0 / (n - 1)
    # central differences: d/dx along the last axis, d/dy along the second to last
    dx = (tau[..., 1:-1, 2:] - tau[..., 1:-1, :-2]) / (2 * step)
    dy = (tau[..., 2:, 1:-1] - tau[..., :-2, 1:-1]) / (2 * step)
    a, b, c, d = dx[:, 0], dy[:, 0], dx[:, 1], dy[:, 1]  # J = [[a, b], [c, d]]
    frobenius = a**2 + b**2 + c**2 + d**2
    xi = 0.5 * (torch.sqrt(frobenius - 2 * (a * d - b * c)) - (a + d))
    exact = distortion(coefficients, n)[..., 1:-1, 1:-1]
    torch.testing.assert_close(exact, xi, rtol=0, atol=1e-3 * xi.abs().max().item())


def test_xi_of_no_field_is_zero():
    assert (distortion(torch.zeros(1, 2, 3, 3), 16) == 0).all()


def test_xi_is_homogeneous_so_max_xi_scales_as_sqrt_temperature():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    low = max_distortion(sample_coefficients(50, 1e-4, 5, generator=g1, dtype=torch.float64), 32)
    high = max_distortion(sample_coefficients(50, 4e-4, 5, generator=g2, dtype=torch.float64), 32)
    torch.testing.assert_close(high, 2 * low)


@pytest.mark.parametrize("cutoff", [3, 5, 15])
def test_median_max_xi_follows_eq13(cutoff):
    # Eq. 13 is the authors' fit of the median of max_s Xi; on a 64-pixel grid our exact Xi sits
    # within 20% below it for c in 3..15 (the fit is for c ~ 3-20). 1500 draws put the median's
    # relative standard error near 1%, so the band cannot flake.
    n, draws = 64, 1500
    _, t_max = temperature_range(n, cutoff)
    g = torch.Generator().manual_seed(cutoff)
    for temperature in (t_max / 10, t_max):
        coefficients = sample_coefficients(draws, temperature, cutoff, generator=g, dtype=torch.float64)
        ratio = max_distortion(coefficients, n).median().item() / expected_max_distortion(temperature, cutoff)
        assert 0.8 < ratio < 1.0


def test_is_diffeomorphism_below_and_far_above_t_max():
    n, cutoff = 32, 5
    _, t_max = temperature_range(n, cutoff)
    g = torch.Generator().manual_seed(1)
    calm = is_diffeomorphism(sample_coefficients(200, t_max / 100, cutoff, generator=g), n)
    wild = is_diffeomorphism(sample_coefficients(200, t_max * 100, cutoff, generator=g), n)
    assert calm.all() and not wild.any()


def test_participation_ratio_counts_equal_weights():
    assert participation_ratio(torch.ones(7)).item() == pytest.approx(7)
    assert participation_ratio(torch.tensor([1.0, 0.0, 0.0])).item() == pytest.approx(1)


def test_bilinear_average_participation_is_1821():
    assert average_participation_bilinear() == pytest.approx(1.821, abs=5e-4)


def test_bilinear_average_equals_a_direct_2d_average():
    q = 200
    u = (torch.arange(q, dtype=torch.float64) + 0.5) / q
    uu, vv = torch.meshgrid(u, u, indexing="ij")
    weights = torch.stack([(1 - uu) * (1 - vv), uu * (1 - vv), (1 - uu) * vv, uu * vv], -1)
    direct = participation_ratio(weights).mean().item()
    assert direct == pytest.approx(average_participation_bilinear(), rel=1e-4)


def test_gaussian_at_pixel_centre_tends_to_four_for_small_sigma():
    lattice = torch.arange(-6, 8, dtype=torch.float64)
    centre = torch.exp(-((0.5 - lattice) ** 2) / (2 * GAUSSIAN_SIGMA**2))
    assert participation_ratio(centre).item() ** 2 == pytest.approx(4.002, abs=1e-3)


def test_derived_sigma_is_04715():
    sigma = derive_gaussian_sigma()
    assert round(sigma, 4) == GAUSSIAN_SIGMA
    assert average_participation_gaussian(sigma) == pytest.approx(average_participation_bilinear(), rel=1e-8)


@pytest.mark.parametrize("cutoff", [3, 8, 15])
def test_bound_is_above_xi_and_the_shortcut_changes_no_decision(cutoff):
    g = torch.Generator().manual_seed(20 + cutoff)
    t_max = temperature_range(24, cutoff)[1]
    temperatures = torch.logspace(math.log10(t_max / 300), math.log10(4 * t_max), 64, dtype=torch.float64)
    coefficients = sample_coefficients(64, temperatures, cutoff, generator=g, dtype=torch.float64)
    xi = max_distortion(coefficients, 24)
    bound = distortion_bound(coefficients)
    assert (bound >= xi).all()
    # a fine grid gets closer to the supremum of Xi, which the bound must still exceed
    assert (bound >= max_distortion(coefficients, 97)).all()
    decisions = is_diffeomorphism(coefficients, 24)
    assert torch.equal(decisions, xi < 1)
    assert decisions.any() and not decisions.all()  # both branches of the shortcut are used
    assert (bound < 1).any()


@pytest.mark.parametrize("cutoff", [3, 8, 15])
def test_column_bound_lies_between_xi_on_the_grid_and_the_global_bound(cutoff):
    """The bound per grid column (exact along x, bounded along y) that settles most fields of a sweep."""
    from lightning_diffeo.diffeo.distortion import _column_bound

    n = 24
    t_max = temperature_range(n, cutoff)[1]
    temperatures = torch.logspace(math.log10(t_max / 300), math.log10(4 * t_max), 256, dtype=torch.float64)
    coefficients = sample_coefficients(256, temperatures, cutoff, generator=torch.Generator().manual_seed(cutoff), dtype=torch.float64)
    xi = max_distortion(coefficients, n)
    column = _column_bound(coefficients, n)
    assert (column >= xi).all()
    assert (column < distortion_bound(coefficients)).all()  # exact along x: strictly tighter


def _einsum_xi(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Xi from the four partial derivatives, each an einsum of the sine series (float64)."""
    from lightning_diffeo.diffeo import sine_basis

    size = coefficients.shape[-1]
    sin = sine_basis(n, size, dtype=torch.float64)
    dsin = sine_basis(n, size, derivative=True, dtype=torch.float64)
    c_x, c_y = coefficients[..., 0, :, :].double(), coefficients[..., 1, :, :].double()
    dxx = torch.einsum("...ij,xi,yj->...yx", c_x, dsin, sin)
    dxy = torch.einsum("...ij,xi,yj->...yx", c_x, sin, dsin)
    dyx = torch.einsum("...ij,xi,yj->...yx", c_y, dsin, sin)
    dyy = torch.einsum("...ij,xi,yj->...yx", c_y, sin, dsin)
    frobenius = dxx**2 + dxy**2 + dyx**2 + dyy**2
    determinant = dxx * dyy - dxy * dyx
    return 0.5 * (torch.sqrt((frobenius - 2 * determinant).clamp_min(0)) - dxx - dyy)


@pytest.mark.parametrize("cutoff, n, shape", [(3, 9, (4,)), (7.5, 20, (2, 3)), (15, 32, (5,))])
def test_xi_equals_the_four_einsums_in_any_layout(cutoff, n, shape):
    coefficients = sample_coefficients(math.prod(shape), 2e-3, cutoff, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    coefficients = coefficients.reshape(*shape, *coefficients.shape[1:])
    expected = _einsum_xi(coefficients, n)
    xi = distortion(coefficients, n)
    assert xi.shape == (*shape, n, n)
    torch.testing.assert_close(xi, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(max_distortion(coefficients, n), expected.flatten(-2).amax(-1), rtol=0, atol=1e-12)
    # float32 coefficients: float32 rounding of the same values
    torch.testing.assert_close(distortion(coefficients.float(), n).double(), expected, rtol=0, atol=1e-5 * expected.abs().max().item())


@pytest.mark.parametrize(("n", "cutoff"), [(4, 5), (24, 5), (32, 5), (32, 3), (32, 15)])
def test_every_shortcut_of_is_diffeomorphism_is_exact(n, cutoff):
    """Below, near and far above T_max: the bounds, the coarse check and the whole grid all decide."""
    t_max = temperature_range(32, cutoff)[1]
    temperatures = torch.logspace(math.log10(t_max / 100), math.log10(20 * t_max), 400, dtype=torch.float64)
    coefficients = sample_coefficients(400, temperatures, cutoff, generator=torch.Generator().manual_seed(n))
    xi = max_distortion(coefficients, n)
    decisions = is_diffeomorphism(coefficients, n)
    assert torch.equal(decisions, xi < 1)
    assert decisions[:50].all() and not decisions[-50:].any()
    bounded = distortion_bound(coefficients) < 1 - 1e-3
    coarse = torch.arange(0, n, 4)
    on_coarse = _einsum_xi(coefficients, n)[..., coarse[:, None], coarse[None, :]].flatten(-2).amax(-1)
    if n > 4:
        assert bounded.any() and (on_coarse >= 1.001).any()  # both shortcuts are taken
        assert ((~bounded) & (on_coarse < 1.001)).any()  # and some fields need the whole grid
