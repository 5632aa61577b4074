"""check_pretrained (load_pretrained's checks, no model built) and published_top1 (torchvision's metadata)."""

from __future__ import annotations

import pytest

from lightning_diffeo.evaluation import check_pretrained, published_top1


def test_names_and_weights_are_checked_without_building(tmp_path):
    assert check_pretrained("timm:resnet18") == ("timm", "resnet18", None)
    assert check_pretrained("torchvision:resnet18", "IMAGENET1K_V1", image_size=64) == ("torchvision", "resnet18", 64)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"not read here")
    assert check_pretrained("timm:resnet18", str(weights))[0] == "timm"


@pytest.mark.parametrize("args, error, message", [
    (("timm:resnet_50x",), ValueError, "unknown timm model 'resnet_50x' (did you mean"),
    (("torchvision:resnet_18",), ValueError, "unknown torchvision classifier 'resnet_18'"),
    (("timm:resnet18", "IMAGENET1K_V1"), ValueError, "--weights IMAGENET1K_V1: not a file; timm weights are"),
    (("torchvision:resnet18", "IMAGENET1K_V9"), ValueError, "unknown torchvision weights 'IMAGENET1K_V9' for resnet18"),
    (("torchvision:resnet18", "missing.pth"), FileNotFoundError, "weights file not found: 'missing.pth'"),
    (("resnet18",), ValueError, "model must be timm:NAME or torchvision:NAME"),
])
def test_each_mistake_is_one_line(args, error, message):
    with pytest.raises(error) as raised:
        check_pretrained(*args)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_published_top1_from_torchvision_metadata():
    top1, source = published_top1("torchvision:resnet18", "DEFAULT")
    assert top1 == pytest.approx(69.758)
    assert source == "torchvision ResNet18_Weights.IMAGENET1K_V1 metadata (ImageNet-1K acc@1)"
    assert published_top1("torchvision:regnet_y_400mf", "RegNet_Y_400MF_Weights.IMAGENET1K_V2")[0] == pytest.approx(75.804)
    with pytest.raises(ValueError, match="torchvision's only; give the accuracy in percent"):
        published_top1("timm:resnet18", "IMAGENET1K_V1")
    with pytest.raises(ValueError, match="unknown torchvision weights 'V3'"):
        published_top1("torchvision:resnet18", "V3")
