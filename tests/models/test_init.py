"""``init="kaiming"`` for the plain convolutional nets: He-normal weights keep the signal's scale through the stack."""

from __future__ import annotations

import pytest
import torch

from lightning_diffeo.models import count_parameters, create_model


def _stage5_rms(arch: str, init: str) -> float:
    torch.manual_seed(0)
    net = create_model(arch, in_channels=1, num_classes=10, image_size=28, base_channels=8, init=init).eval()
    x = net.pad(torch.randn(64, 1, 28, 28))  # input RMS 1
    with torch.no_grad():
        for i in range(1, 6):
            x = getattr(net, f"stage{i}")(x)
    return float(x.pow(2).mean().sqrt())


@pytest.mark.parametrize("arch", ["vgg11", "vgg16", "alexnet"])
def test_kaiming_keeps_the_scale_that_the_default_init_loses(arch):
    # Default: weight variance 1 / (3 fan_in), a factor 1/6 of the second moment per ReLU layer;
    # He-normal: 2 / fan_in, a factor 1 in expectation (max-pooling raises it a little).
    assert _stage5_rms(arch, "pytorch") < 0.1
    assert 0.25 < _stage5_rms(arch, "kaiming") < 4.0


def test_init_changes_no_shape_and_is_checked():
    assert count_parameters("vgg11", base_channels=8, init="kaiming") == count_parameters("vgg11", base_channels=8)
    net = create_model("vgg11_bn", base_channels=8, init="kaiming")
    assert all(float(m.bias.abs().max()) == 0.0 for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    with pytest.raises(ValueError, match="init must be one of 'pytorch', 'kaiming', got 'he'"):
        create_model("alexnet", init="he")
