from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_diffeo.stability import matched_noise, measure_noise_stability, scaled_noise


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_scaled_noise_has_exact_norms():
    like = torch.zeros(6, 3, 5, 5)
    norms = torch.linspace(0.1, 2.0, 6)
    eta = scaled_noise(like, norms, g())
    torch.testing.assert_close(eta.flatten(1).norm(dim=1), norms)
    assert torch.equal(eta, scaled_noise(like, norms, g()))
    x, tau_x = torch.rand(4, 1, 6, 6, generator=g(1)), torch.rand(4, 1, 6, 6, generator=g(2))
    torch.testing.assert_close(matched_noise(x, tau_x, g()).flatten(1).norm(dim=1), (tau_x - x).flatten(1).norm(dim=1))


def test_isotropy_of_noise():
    eta = scaled_noise(torch.zeros(4000, 1, 2, 2), torch.ones(4000), g(3)).flatten(1)
    # each coordinate of a unit vector in 4 dims has E[x^2] = 1/4; sd of the estimate ~ 0.0028
    torch.testing.assert_close(eta.square().mean(0), torch.full((4,), 0.25), atol=0.012, rtol=0)


def test_linear_model_g_scales_exactly_with_norm_squared(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 5))
    small = measure_noise_stability(model, digits[:30], [0.1], average="median", generator=g(5), progress=False)
    large = measure_noise_stability(model, digits[:30], [1.0], average="median", generator=g(5), progress=False)
    # same noise directions, linear map: G grows exactly like ||eta||^2 (up to float32 rounding)
    assert large.get("G_f", layer="output") / small.get("G_f", layer="output") == pytest.approx(100.0, rel=1e-3)


def test_saturating_model_bends_at_large_noise(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 5), nn.Tanh())
    with torch.no_grad():
        model[1].weight.mul_(20)
    settings = dict(layers=["1", "output"], average="median", noise_per_image=4, progress=False)
    # one norm per call with the same seed: the same noise directions at every norm
    small = measure_noise_stability(model, digits, [30.0], generator=g(6), **settings)
    large = measure_noise_stability(model, digits, [100.0], generator=g(6), **settings)
    # the linear layer follows ||eta||^2 exactly (up to float32 rounding)
    linear = large.get("numerator_noise", layer="1") / small.get("numerator_noise", layer="1")
    assert linear == pytest.approx((100 / 30) ** 2, rel=1e-4)
    # tanh is bounded: each of the 5 output coordinates moves by less than 2, so the summed
    # median numerator is below 5 * 2^2 = 20 whatever the norm, while the linear layer's is far above
    assert large.get("numerator_noise", layer="output") < 5 * 2.0**2 < large.get("numerator_noise", layer="1")
    assert "G_f" in large.table() and len(large) == 2


def test_noise_stability_rejects_bad_norms(digits):
    with pytest.raises(ValueError, match="noise_norms must be a number or a non-empty list of finite positive numbers"):
        measure_noise_stability(nn.Identity(), digits[:4], [0.0], progress=False)
