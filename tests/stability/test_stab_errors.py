from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from lightning_diffeo.stability import measure_noise_stability, measure_stability


class Constant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 2)

    def forward(self, x):
        return self.lin(torch.ones(x.shape[0], 1))


class NaNOut(nn.Module):
    def forward(self, x):
        return x.flatten(1) * float("nan")


class Raises(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        self.lin(x.flatten(1)[:, :4])
        raise RuntimeError("forward broke")


X = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(0))
# delta 0.3 px keeps T below T_max(3) on 6x6 images (no out-of-range warning)
KW = dict(cutoffs=3, deltas=0.3, progress=False, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.rand(4, 6, 6), "4-D"),
        (torch.rand(4, 1, 6, 5), "square"),
        (torch.rand(1, 1, 6, 6), "at least 2 images"),
    ],
)
def test_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        measure_stability(nn.Identity(), images, **KW)


def test_unknown_layer_lists_valid_names():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    with pytest.raises(ValueError, match=r"unknown layer.*'fc'.*'output', '0', '1'"):
        measure_stability(model, X, layers=["fc"], **KW)


def test_constant_model_warns_and_gives_nan():
    with pytest.warns(RuntimeWarning, match="constant across the probe images"):
        result = measure_stability(Constant(), X, **KW)
    record = result.records[0]
    assert record["denominator"] == 0.0
    assert math.isnan(record["D_f"]) and math.isnan(record["G_f"]) and math.isnan(record["R_f"])


def test_nan_outputs_raise_naming_the_layer():
    with pytest.raises(ValueError, match="layer 'output' produced non-finite"):
        measure_stability(NaNOut(), X, **KW)


def test_hooks_removed_and_flags_restored_when_forward_raises():
    model = Raises().train()
    with pytest.raises(RuntimeError, match="forward broke"):
        measure_stability(model, X, layers=["lin"], mode="init", **KW)
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    assert model.training and model.lin.training


def test_hooks_removed_after_success():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    measure_stability(model, X, layers=["0", "1"], **KW)
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(average="mode"), ValueError, "average must be one of"),
        (dict(interpolation="cubic"), ValueError, "interpolation must be one of"),
        (dict(mode="train"), ValueError, "mode must be one of"),
        (dict(diffeos_per_image=0), ValueError, "diffeos_per_image"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(normalize="yes"), TypeError, "normalize must be callable"),
        (dict(deltas=None), ValueError, "give deltas, temperatures or sweep"),
        (dict(deltas=(-1.0,)), ValueError, "positive"),
        (dict(temperatures=[1e-3], sweep=True), ValueError, "only one of"),
    ],
)
def test_bad_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        measure_stability(nn.Identity(), X, **{**KW, **kwargs})


def test_integer_images_rejected():
    with pytest.raises(TypeError, match="floating point"):
        measure_stability(nn.Identity(), torch.zeros(3, 1, 4, 4, dtype=torch.uint8), **KW)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_probe_images_are_named_as_the_cause(bad):
    images = X.clone()
    images[1, 0, 2, 3] = bad
    with pytest.raises(ValueError, match="probe images contain NaN/inf"):
        measure_stability(nn.Identity(), images, **KW)
    with pytest.raises(ValueError, match="probe images contain NaN/inf"):
        measure_noise_stability(nn.Identity(), images, [0.1], progress=False)


def test_images_in_0_255_are_rejected():
    with pytest.raises(ValueError, match=r"must be in \[0, 1\] pixel space, got a maximum of 254.25.*divide by 255"):
        measure_stability(nn.Identity(), X * 255, **KW)


def test_model_of_another_dtype_is_named_not_a_conv_error():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()).double()
    with pytest.raises(ValueError, match=r"parameters are torch.float64 but its inputs are torch.float32"):
        measure_stability(model, X, **KW)
    # a normalize that casts to the model's dtype is accepted
    result = measure_stability(model, X, normalize=lambda x: x.double(), average="mean", **KW)
    assert len(result) == 1


def test_model_on_another_device_is_named():
    with pytest.raises(ValueError, match="model's parameters are on meta"):
        measure_noise_stability(nn.Linear(2, 2).to("meta"), X, [0.1], progress=False)


def test_one_warning_for_temperatures_above_t_max():
    # 6x6 images: delta = 1 px gives T = 0.032 > T_max(3) = 0.013, and T_max(5) is lower still
    with pytest.warns(RuntimeWarning, match=r"above T_max\(c\) for \(c=3, T=0.0322 > T_max=0.013\), \(c=5") as caught:
        measure_stability(nn.Identity(), X, cutoffs=(3, 5), deltas=1.0, average="mean", progress=False)
    assert len([w for w in caught if "T_max" in str(w.message)]) == 1


def test_no_warning_within_the_allowed_temperatures():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # only this test's own warnings become errors
        measure_stability(nn.Identity(), X, **KW)
