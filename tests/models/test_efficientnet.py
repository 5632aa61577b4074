from __future__ import annotations

import timm
import pytest
import torch

from lightning_diffeo.models import create_model
from lightning_diffeo.models import efficientnet as effnet_module


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory):
    """A randomly initialised ImageNet-shaped (1000 classes) B0, saved as a DataParallel state dict."""
    torch.manual_seed(0)
    net = timm.create_model("efficientnet_b0", pretrained=False)
    path = tmp_path_factory.mktemp("weights") / "b0.pth"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
    return path, net.state_dict()


def test_local_weights_load_everything_but_the_head(imagenet_file):
    path, reference = imagenet_file
    model = create_model("efficientnet_b0", num_classes=10, pretrained=str(path))
    state = model.net.state_dict()
    body = [k for k in reference if not k.startswith("classifier.")]
    assert all(torch.equal(state[k], reference[k]) for k in body)
    assert state["classifier.weight"].shape == (10, 1280)


def test_local_weights_adapt_the_stem_to_one_channel(imagenet_file):
    path, reference = imagenet_file
    model = create_model("efficientnet_b0", in_channels=1, image_size=28, pretrained=path)
    stem = model.net.conv_stem.weight
    assert stem.shape[1] == 1
    # timm sums the RGB filters for a grey input: same response to a grey image.
    torch.testing.assert_close(stem[:, 0], reference["conv_stem.weight"].sum(dim=1))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        create_model("efficientnet_b0", pretrained=tmp_path / "nope.pth")


def test_wrong_weights_are_a_clear_error(imagenet_file, tmp_path):
    path = tmp_path / "lenet.pth"
    torch.save(create_model("lenet").state_dict(), path)
    with pytest.raises(RuntimeError, match="do not match"):
        create_model("efficientnet_b0", pretrained=path)


def test_hub_failure_is_a_clear_error(monkeypatch):
    real = timm.create_model

    def offline(name, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("network is unreachable")
        return real(name, pretrained=False, **kwargs)

    monkeypatch.setattr(effnet_module.timm, "create_model", offline)
    with pytest.raises(RuntimeError, match="pretrained='/path/to/state_dict.pth'"):
        create_model("efficientnet_b0", pretrained=True)


def test_resize_option_feeds_the_stem_the_requested_size(seeded):
    model = create_model("efficientnet_b0", resize_to=64).eval()
    seen = []
    model.net.conv_stem.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert seen == [torch.Size([2, 3, 64, 64])]
    with pytest.raises(ValueError, match="resize_to"):
        create_model("efficientnet_b0", resize_to=0)


def test_probe_layers_are_the_stages():
    model = create_model("efficientnet_b2")
    assert model.probe_layers == ("net.bn1",) + tuple(f"net.blocks.{i}" for i in range(7)) + (
        "net.global_pool", "output",
    )
    assert model.head_name == "net.classifier"


def test_checkpoint_with_a_state_dict_entry_loads(imagenet_file, tmp_path):
    _, reference = imagenet_file
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": reference, "epoch": 3}, path)
    model = create_model("efficientnet_b0", num_classes=10, pretrained=path)
    assert torch.equal(model.net.conv_stem.weight, reference["conv_stem.weight"])


@pytest.mark.parametrize("change", ["drop", "extra"])
def test_strict_check_after_timm(imagenet_file, tmp_path, change):
    _, reference = imagenet_file
    state = dict(reference)
    if change == "drop":
        del state["bn1.weight"]
        match = r"do not match the architecture 'efficientnet_b0': missing \['bn1.weight'\], unexpected \[\]"
    else:
        state["extra.weight"] = torch.zeros(3)
        match = r"do not match the architecture 'efficientnet_b0': missing \[\], unexpected \['extra.weight'\]"
    path = tmp_path / f"{change}.pth"
    torch.save(state, path)
    with pytest.raises(RuntimeError, match=match):
        create_model("efficientnet_b0", num_classes=10, pretrained=path)
