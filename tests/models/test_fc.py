from __future__ import annotations

import pytest
import torch

from lightning_diffeo.models import FullyConnected, ScaledLinear, create_model


@pytest.mark.parametrize("depth", [2, 4, 6])
@pytest.mark.parametrize("width", [16, 64])
def test_parameter_count_formula(depth, width):
    model = create_model(f"fc{depth}", width=width)
    d = 3 * 32 * 32
    expected = (d * width + width) + (depth - 2) * (width * width + width) + width * 10  # readout: no bias
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.probe_layers == tuple(f"hidden.{i}" for i in range(depth - 1)) + ("output",)


def test_scaled_linear_preserves_variance(seeded):
    # N(0, 1) weights and inputs: x @ W.T / sqrt(fan_in) has unit variance (plus the unit bias).
    layer = ScaledLinear(2048, 512, bias=False, exponent=0.5)
    assert layer.weight.std().item() == pytest.approx(1.0, abs=0.01)  # 1e6 draws: std error 7e-4
    y = layer(torch.randn(64, 2048))
    assert y.var().item() == pytest.approx(1.0, rel=0.05)  # 32k outputs, rel. std error ~1%
    readout = ScaledLinear(2048, 512, bias=False, exponent=1.0)
    assert readout(torch.randn(64, 2048)).var().item() == pytest.approx(1 / 2048, rel=0.05)


def test_pytorch_init_uses_nn_linear():
    model = create_model("fc2", init="pytorch")
    assert all(type(m) is not ScaledLinear for m in model.modules())
    assert isinstance(model.classifier, torch.nn.Linear)


def test_flattens_any_channel_count():
    model = create_model("fc4", in_channels=1, image_size=28, num_classes=200)
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 200)
    assert model.hidden[0][0].in_features == 28 * 28


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depth": 1}, "^depth must be an integer >= 2, got 1$"),
        ({"width": 0}, "^width must be a positive integer, got 0$"),
        ({"init": "xavier"}, "^init must be one of 'scaled', 'pytorch', got 'xavier'$"),
    ],
)
def test_bad_options(kwargs, match):
    args = {"in_features": 12, "num_classes": 10, "depth": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        FullyConnected(**args)
