"""model_info: the paper's depth and the batch-norm flag agree with the built modules."""

from __future__ import annotations

import pytest
from torch import nn

from lightning_diffeo.models import create_model, list_models, model_info


def _weight_layers_on_main_path(model: nn.Module) -> int:
    """Convolutions and linear layers, leaving out ResNet's 1x1 projection shortcuts."""
    return sum(
        isinstance(module, (nn.Conv2d, nn.Linear)) or type(module).__name__ == "ScaledLinear"
        for name, module in model.named_modules()
        if ".shortcut" not in name
    )


@pytest.mark.parametrize("arch", [a for a in list_models() if not a.startswith("efficientnet")])
def test_depth_counts_the_weight_layers(arch):
    model = create_model(arch, in_channels=1, num_classes=10, image_size=28)
    # CIFAR-style VGGs keep one of the original three linear layers; the paper keeps the name's depth.
    expected = _weight_layers_on_main_path(model) + (2 if arch.startswith("vgg") else 0)
    assert model_info(arch)["depth"] == expected


@pytest.mark.parametrize("arch", list_models())
def test_batch_norm_flag_matches_the_modules(arch):
    model = create_model(arch, in_channels=1, num_classes=10, image_size=32)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert model_info(arch)["batch_norm"] is has_bn


def test_table1_values():
    assert model_info("lenet") == {"depth": 5, "batch_norm": False, "skip_connections": False}
    assert model_info("resnet50") == {"depth": 50, "batch_norm": True, "skip_connections": True}
    assert [model_info(f"efficientnet_b{k}")["depth"] for k in range(3)] == [18, 25, 25]
    assert model_info("vgg11")["skip_connections"] is False


def test_unknown_arch_is_one_clear_error():
    with pytest.raises(ValueError, match="arch must be a registered model .*got 'resnet19'"):
        model_info("resnet19")
