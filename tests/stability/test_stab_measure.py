from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_diffeo.diffeo import (
    is_diffeomorphism,
    sample_coefficients,
    temperature_from_displacement,
    temperature_range,
    typical_displacement,
)
from lightning_diffeo.stability import measure_stability, work_items


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Scaled(nn.Module):
    def __init__(self, inner: nn.Module, factor: float) -> None:
        super().__init__()
        self.inner, self.factor = inner, factor

    def forward(self, x):
        return self.inner(x) * self.factor


class SpatialMean(nn.Module):
    def forward(self, x):
        return x.mean(dim=(-2, -1))


class SortPixels(nn.Module):
    def forward(self, x):
        return x.flatten(1).sort(dim=1).values


class Laplacian(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        self.register_buffer("kernel", kernel[None, None])

    def forward(self, x):
        return F.conv2d(x, self.kernel)


KW = dict(cutoffs=(3, 5), progress=False)


@pytest.mark.parametrize("interpolation", ["bilinear", "gaussian"])
def test_identity_with_mean_gives_r_one(digits, interpolation):
    result = measure_stability(nn.Identity(), digits[:40], average="mean", interpolation=interpolation, generator=g(), **KW)
    for record in result.records:
        # ||f(tau x) - f(x)|| = ||tau x - x|| = ||eta|| image by image, so D_f = G_f
        assert record["R_f"] == pytest.approx(1.0, rel=1e-5)
        assert record["D_f"] > 0


@pytest.mark.parametrize("average", ["mean", "median"])
def test_scaling_the_output_changes_nothing(digits, average):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 8), nn.Tanh(), nn.Linear(8, 3))
    base = measure_stability(model, digits[:30], average=average, generator=g(1), **KW)
    scaled = measure_stability(Scaled(model, 7.5), digits[:30], average=average, generator=g(1), **KW)
    for a, b in zip(base.records, scaled.records):
        for quantity in ("D_f", "G_f", "R_f"):
            assert b[quantity] == pytest.approx(a[quantity], rel=1e-5)
        assert b["denominator"] == pytest.approx(7.5**2 * a["denominator"], rel=1e-5)


def test_spatial_average_is_far_more_stable_to_noise(digits):
    result = measure_stability(SpatialMean(), digits, average="median", generator=g(2), **KW)
    for c in (3, 5):
        assert result.get(cutoff=c) > 10.0


@pytest.mark.parametrize("model", [SortPixels(), Laplacian()], ids=["sort", "laplacian"])
def test_position_blind_or_high_pass_models_prefer_diffeos(digits, model):
    result = measure_stability(model, digits, average="median", generator=g(3), **KW)
    for c in (3, 5):
        assert result.get(cutoff=c) < 1.0


def test_hooks_chunks_and_repeats_equal_a_plain_output_measurement(digits):
    """A hooked hidden layer, chunked in batches of 7 with 3 diffeos per image, equals measuring
    the truncated network at its output in one batch: the draws do not depend on the model."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(3 * 26 * 26, 4))
    truncated = nn.Sequential(model[0], nn.ReLU())
    settings = dict(cutoffs=4, deltas=(0.8,), diffeos_per_image=3, interpolation="gaussian", progress=False)
    hooked = measure_stability(model, digits[:20], layers=["1", "output"], batch_size=7, generator=g(4), **settings)
    plain = measure_stability(truncated, digits[:20], layers="output", batch_size=60, generator=g(4), **settings)
    for average in ("median", "mean"):
        a, b = hooked.select(layer="1", average=average)[0], plain.select(average=average)[0]
        for key in ("D_f", "G_f", "R_f", "denominator", "numerator_diffeo", "numerator_noise", "fraction_diffeomorphic"):
            assert a[key] == pytest.approx(b[key], rel=1e-6), (average, key)
        assert a["n_images"] == 20 and a["delta"] == pytest.approx(0.8)
        assert a["temperature"] == pytest.approx(temperature_from_displacement(0.8, 4.0, 28))


def test_seed_determinism_and_global_rng_untouched(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 5))
    state = torch.get_rng_state()
    a = measure_stability(model, digits[:20], generator=g(7), **KW)
    b = measure_stability(model, digits[:20], generator=g(7), **KW)
    c = measure_stability(model, digits[:20], generator=g(8), **KW)
    measure_stability(model, digits[:20], **KW)  # no generator: still not the global RNG
    assert torch.equal(torch.get_rng_state(), state)
    assert a.records == b.records
    assert a.records != c.records
    assert a.metadata["seed"] == 7


def test_init_mode_in_measure_restores_model(conv_bn, digits):
    conv_bn.train()
    snapshot = {k: v.clone() for k, v in conv_bn.state_dict().items()}
    init = measure_stability(conv_bn, digits[:24], mode="init", batch_size=8, average="median", generator=g(0), **KW)
    trained = measure_stability(conv_bn, digits[:24], mode="eval", batch_size=8, average="median", generator=g(0), **KW)
    assert all(m.training for m in conv_bn.modules())
    for key, value in snapshot.items():
        assert torch.equal(conv_bn.state_dict()[key], value), key
    assert init.layers == ["conv", "bn", "act", "output"]  # the model's probe_layers
    assert [r["relative_depth"] for r in init.select(cutoff=3)] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    # the conv layer is before batch-norm: identical; batch-norm itself differs between modes
    assert init.get(layer="conv", cutoff=3) == trained.get(layer="conv", cutoff=3)
    assert init.get("denominator", layer="bn", cutoff=3) != pytest.approx(trained.get("denominator", layer="bn", cutoff=3))
    assert init.metadata["mode"] == "init"


def test_normalize_is_applied_after_perturbing(digits):
    seen = []

    def normalize(batch):
        seen.append(batch.shape[0])
        return (batch - 0.5) / 0.25

    plain = measure_stability(nn.Identity(), digits[:12], average="mean", generator=g(), **KW)
    normed = measure_stability(nn.Identity(), digits[:12], average="mean", normalize=normalize, batch_size=5, generator=g(), **KW)
    # the memory plan's sizing pass of two images, then clean + 2 cutoffs x (diffeo + noise), 3 balanced batches each
    assert seen == [2] + [4, 4, 4] * 5
    for a, b in zip(plain.records, normed.records):
        assert b["D_f"] == pytest.approx(a["D_f"], rel=1e-5)  # affine normalisation cancels in ratios
        assert b["numerator_diffeo"] == pytest.approx(16 * a["numerator_diffeo"], rel=1e-5)


def test_sweep_and_temperature_items():
    items = work_items(32, (3, 5), None, None, True)
    assert len(items) == 60
    for cutoff in (3, 5):
        temps = [t for c, t, _ in items if c == cutoff]
        t_min, t_max = temperature_range(32, cutoff)
        assert temps[0] == pytest.approx(t_min / 15) and temps[-1] == pytest.approx(2 * t_max)
        ratios = [b / a for a, b in zip(temps, temps[1:])]
        assert max(ratios) == pytest.approx(min(ratios))
    explicit = work_items(32, 3, None, [1e-3], False)
    assert explicit == [(3.0, 1e-3, pytest.approx(typical_displacement(1e-3, 3, 32)))]
    with pytest.raises(ValueError, match="only one of"):
        work_items(32, 3, (2.0,), [1e-3], False)
    with pytest.raises(ValueError, match="> 1"):
        work_items(32, (1, 3), None, None, True)


def test_sweep_runs_end_to_end(digits):
    result = measure_stability(SpatialMean(), digits[:10], cutoffs=3, sweep=True, average="median", generator=g(),
                               progress=False)
    assert len(result) == 30
    assert "temperature" in result.table()
    deltas = [r["delta"] for r in result.records]
    assert deltas == sorted(deltas)
    assert all(math.isfinite(r["R_f"]) for r in result.records)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 26 * 26, 4))
    cpu = measure_stability(model, digits[:20], layers=["1", "output"], generator=g(9), **KW)
    gpu = measure_stability(model.cuda(), digits[:20].cuda(), layers=["1", "output"], generator=g(9), **KW)
    for a, b in zip(cpu.records, gpu.records):
        for quantity in ("D_f", "G_f", "R_f", "denominator"):
            assert b[quantity] == pytest.approx(a[quantity], rel=1e-3)


def test_model_on_other_device_is_rejected(digits):
    model = nn.Linear(2, 2).to(torch.float64)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="model's parameters are on"):
            measure_stability(model.cuda(), digits[:4], **KW)
    else:
        with pytest.raises(ValueError, match="model's parameters are on"):
            measure_stability(model.to("meta"), digits[:4], **KW)


def test_fraction_diffeomorphic_matches_an_independent_estimate():
    n, cutoff = 28, 3.0
    t_min, t_max = temperature_range(n, cutoff)
    # Eq. 13: at T_max the median of max Xi is about 1, so about half of the fields qualify.
    coefficients = sample_coefficients(4000, t_max, cutoff, generator=g(11))
    expected = float(is_diffeomorphism(coefficients, n).double().mean())
    assert 0.2 < expected < 0.8
    images = torch.rand(200, 1, n, n, generator=g(12))
    result = measure_stability(nn.Identity(), images, cutoffs=cutoff, temperatures=[t_min / 15, t_max],
                               average="mean", generator=g(13), progress=False)
    assert result.get("fraction_diffeomorphic", temperature=t_min / 15) == 1.0  # max Xi ~ 0.04 there
    measured = result.get("fraction_diffeomorphic", temperature=t_max)
    # binomial spread of 200 fields (sd <= 0.036) and of the 4000-field estimate (sd <= 0.008): 4 sd
    assert abs(measured - expected) < 4 * (0.5 / 200**0.5 + 0.5 / 4000**0.5)
