"""Sampling of maximum-entropy fields: modes, variances, borders, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_diffeo.diffeo import (
    displacement_from_coefficients,
    max_distortion,
    max_mode,
    mean_square_displacement,
    mode_mask,
    sample_coefficients,
    sample_displacement,
    sampling_grid,
    temperature_from_displacement,
    temperature_range,
    typical_displacement,
)


def _modes_by_rule(cutoff: float) -> set[tuple[int, int]]:
    top = int(cutoff) + 2
    return {(i, j) for i in range(1, top) for j in range(1, top) if math.sqrt(i * i + j * j) < cutoff + 0.5}


@pytest.mark.parametrize("cutoff", [1, 1.7, 2, 3, 5, 15])
def test_mode_mask_follows_the_authors_rule(cutoff):
    mask = mode_mask(cutoff)
    kept = {(i + 1, j + 1) for i, j in mask.nonzero().tolist()}
    assert kept == _modes_by_rule(cutoff)
    assert mask.shape[-1] == max_mode(cutoff)


def test_cutoff_one_keeps_the_lowest_mode():
    assert mode_mask(1).tolist() == [[True]]


def test_coefficient_variances_match_temperature_over_energy():
    temperature, cutoff, draws = 2e-3, 5, 40000
    g = torch.Generator().manual_seed(1)
    coefficients = sample_coefficients(draws, temperature, cutoff, generator=g, dtype=torch.float64)
    variance = coefficients.pow(2).mean(0)  # [2, M, M]
    k = torch.arange(1, coefficients.shape[-1] + 1, dtype=torch.float64)
    expected = temperature / (k[:, None] ** 2 + k[None, :] ** 2) * mode_mask(cutoff)
    kept = mode_mask(cutoff).expand_as(variance)
    # The sample variance of a normal has relative standard error sqrt(2 / draws) ~ 0.7%.
    relative = (variance[kept] / expected.expand_as(variance)[kept] - 1).abs()
    assert relative.max() < 5 * math.sqrt(2 / draws)
    assert (variance[~kept] == 0).all()


def test_mean_square_displacement_matches_the_mode_sum():
    n, cutoff, draws = 32, 5, 6000
    temperature = temperature_from_displacement(1.0, cutoff, n)
    g = torch.Generator().manual_seed(2)
    field = sample_displacement(draws, n, temperature, cutoff, generator=g, dtype=torch.float64)
    per_field = field.pow(2).sum(1).mean((-2, -1))
    # On the grid u_k = k / (n - 1) the mean of sin^2(i pi u) over n pixels is (n - 1) / (2n),
    # not 1/2: the grid mean is the continuous one times ((n - 1) / n)^2 (discrete orthogonality).
    expected = mean_square_displacement(temperature, cutoff, n) * ((n - 1) / n) ** 2
    standard_error = per_field.std() / math.sqrt(draws)
    assert abs(per_field.mean() - expected) < 4 * standard_error


def test_typical_displacement_is_the_asymptote_of_the_mode_sum():
    # (T n^2 / 2) sum 1/(i^2+j^2) = (pi/4) n^2 T (ln c + O(1)): the ratio to the asymptote is
    # 1 - K / ln c with a bounded K, so it climbs towards 1 like 1 / ln c.
    cutoffs = (10, 100, 400, 1600)
    ratios = [mean_square_displacement(1.0, c, 32) / typical_displacement(1.0, c, 32) ** 2 for c in cutoffs]
    assert ratios == sorted(ratios) and ratios[-1] < 1
    offsets = [(1 - r) * math.log(c) for r, c in zip(ratios, cutoffs)]
    assert max(offsets[1:]) - min(offsets[1:]) < 0.05 * max(offsets)


def test_temperature_and_displacement_are_inverse():
    for cutoff in (2, 3, 15):
        t = temperature_from_displacement(1.7, cutoff, 28)
        assert typical_displacement(t, cutoff, 28) == pytest.approx(1.7, rel=1e-12)


def test_temperature_range_bounds():
    n, cutoff = 32, 3
    t_min, t_max = temperature_range(n, cutoff)
    assert typical_displacement(t_min, cutoff, n) == pytest.approx(0.5, rel=1e-12)
    assert t_max == pytest.approx(4 / (math.pi**3 * cutoff**2 * math.log(cutoff)))
    tensor_bounds = temperature_range(n, torch.tensor([3.0, 5.0], dtype=torch.float64))
    assert tensor_bounds[1][1].item() == pytest.approx(temperature_range(n, 5)[1])


def test_displacement_vanishes_on_the_border_and_is_in_pixels():
    g = torch.Generator().manual_seed(3)
    field = sample_displacement(16, 20, 0.01, 15, generator=g)
    assert field.shape == (16, 2, 20, 20)
    for border in (field[..., 0, :], field[..., -1, :], field[..., :, 0], field[..., :, -1]):
        assert (border == 0).all()
    assert field.abs().max() > 0


def test_field_is_n_times_the_sine_series_at_a_pixel():
    coefficients = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    coefficients[0, 0, 1, 0] = 0.3  # C_21: sin(2 pi u) sin(pi v) on the horizontal component
    coefficients[0, 1, 0, 2] = -0.2  # D_13
    n = 11
    field = displacement_from_coefficients(coefficients, n)
    y, x = 3, 7
    u, v = x / (n - 1), y / (n - 1)
    assert field[0, 0, y, x].item() == pytest.approx(n * 0.3 * math.sin(2 * math.pi * u) * math.sin(math.pi * v))
    assert field[0, 1, y, x].item() == pytest.approx(n * -0.2 * math.sin(math.pi * u) * math.sin(3 * math.pi * v))


def test_each_sample_gets_its_own_field_and_per_sample_parameters():
    g = torch.Generator().manual_seed(4)
    coefficients = sample_coefficients(3, torch.tensor([0.0, 1e-3, 1e-3]), torch.tensor([1.0, 3.0, 5.0]), generator=g)
    assert coefficients.shape == (3, 2, 5, 5)
    assert (coefficients[0] == 0).all()
    assert (coefficients[1, :, 3:, :] == 0).all()  # c = 3 keeps no mode with i >= 4
    assert not torch.equal(coefficients[1], coefficients[2])


def test_generator_determinism_dtype_and_device():
    a = sample_displacement(4, 16, 1e-3, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    b = sample_displacement(4, 16, 1e-3, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert torch.equal(a, b) and a.dtype == torch.float64
    state = torch.random.get_rng_state()
    sample_displacement(4, 16, 1e-3, 3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_seed_same_field_on_cuda():
    cpu = sample_displacement(4, 16, 1e-3, 3, generator=torch.Generator().manual_seed(7))
    cuda = sample_displacement(4, 16, 1e-3, 3, generator=torch.Generator().manual_seed(7), device="cuda")
    assert cuda.device.type == "cuda"
    torch.testing.assert_close(cuda.cpu(), cpu)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sample_coefficients(2, -1.0, 3), ">= 0"),
        (lambda: sample_coefficients(2, float("nan"), 3), "finite"),
        (lambda: sample_coefficients(2, float("inf"), 3), "finite"),
        (lambda: sample_coefficients(2, 1e-3, 0.5), ">= 1"),
        (lambda: sample_coefficients(2, torch.ones(3), 3), "shape"),
        (lambda: sample_coefficients(2, 1e-3, 3, dtype=torch.int64), "floating"),
        (lambda: temperature_range(32, 1), "> 1"),
        (lambda: temperature_from_displacement(1.0, 0.9, 32), "> 1"),
        (lambda: typical_displacement(1e-3, 1, 32), "ln"),
        (lambda: displacement_from_coefficients(torch.zeros(3, 3, 3), 8), r"\[\.\.\., 2, M, M\]"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shared_temperature_and_cutoff_equal_per_sample_tensors(dtype):
    shared = sample_coefficients(6, 2e-3, 5, generator=torch.Generator().manual_seed(4), dtype=dtype)
    per_sample = sample_coefficients(
        6, torch.full((6,), 2e-3, dtype=torch.float64), torch.full((6,), 5.0), generator=torch.Generator().manual_seed(4), dtype=dtype
    )
    assert shared.dtype == dtype and torch.equal(shared, per_sample)


def test_sampling_grid_is_the_einsum_of_the_sine_series():
    coefficients = sample_coefficients(3, 1e-2, 4, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    n = 9
    grid = sampling_grid(coefficients, n)
    displacement = displacement_from_coefficients(coefficients, n)  # [B, 2, y, x] pixels
    axis = torch.linspace(-1, 1, n, dtype=torch.float64)
    expected_x = axis[None, None, :] - displacement[:, 0] * 2 / (n - 1)
    expected_y = axis[None, :, None] - displacement[:, 1] * 2 / (n - 1)
    torch.testing.assert_close(grid[..., 0], expected_x, rtol=0, atol=1e-12)
    torch.testing.assert_close(grid[..., 1], expected_y, rtol=0, atol=1e-12)
    assert grid.shape == (3, n, n, 2)


def test_sampling_grid_is_x_and_y_planes_with_x_contiguous():
    """grid_sample reads a grid whose points along x are adjacent in memory fastest."""
    coefficients = sample_coefficients(4, 1e-3, 5, generator=torch.Generator().manual_seed(2))
    grid = sampling_grid(coefficients, 12)
    assert grid.shape == (4, 12, 12, 2)
    assert grid.stride()[1:] == (12, 1, 144)  # [B, 2, y, x] planes, viewed as [B, y, x, 2]


def test_fields_first_built_in_inference_mode_still_differentiate():
    """Cached bases and mode tables made under inference_mode do not break later autograd."""
    n, cutoff = 13, 3.7  # sizes no other test uses, so the caches are first filled here
    with torch.inference_mode():
        sampling_grid(sample_coefficients(2, 1e-3, cutoff, generator=torch.Generator().manual_seed(0)), n)
        max_distortion(sample_coefficients(2, 1e-3, cutoff, generator=torch.Generator().manual_seed(0)), n)
    coefficients = sample_coefficients(2, 1e-3, cutoff, generator=torch.Generator().manual_seed(1)).requires_grad_()
    sampling_grid(coefficients, n).square().sum().backward()
    assert coefficients.grad is not None and torch.isfinite(coefficients.grad).all() and coefficients.grad.abs().sum() > 0
    # Xi with grad enabled: no inference tensor among the saved ones (its root is not
    # differentiable where both shear terms vanish, at the corners, as before)
    assert max_distortion(coefficients, n).requires_grad
