"""Width options: ``base_channels`` (AlexNet, VGG, ResNet) and ``channel_multiplier`` (EfficientNet)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import timm
import torch
from torch import nn

from lightning_diffeo.models import ImageClassifier, count_parameters, create_model
from lightning_diffeo.models.efficientnet import _scaled_timm_model

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"

# Parameter counts before the width options existed (3x32x32 inputs, 10 classes): the defaults keep them.
COUNTS_BEFORE = {
    "alexnet": 23_272_266, "vgg11": 9_225_610, "vgg16": 14_719_818, "vgg19": 20_029_514,
    "vgg11_bn": 9_231_114, "vgg16_bn": 14_728_266, "vgg19_bn": 20_040_522,
    "resnet18": 11_173_962, "resnet34": 21_282_122, "resnet50": 23_520_842,
    "efficientnet_b0": 4_020_358, "efficientnet_b1": 6_525_994, "efficientnet_b2": 7_715_084,
}
BASE_FAMILIES = [n for n in COUNTS_BEFORE if not n.startswith("efficientnet")]


def _option(name):
    return "channel_multiplier" if name.startswith("efficientnet") else "base_channels"


@pytest.mark.parametrize("name", list(COUNTS_BEFORE))
def test_defaults_keep_table_1_sizes(name, model_cache):
    default = 1.0 if name.startswith("efficientnet") else 64
    assert sum(p.numel() for p in model_cache(name).parameters()) == COUNTS_BEFORE[name]
    assert count_parameters(name, **{_option(name): default}) == COUNTS_BEFORE[name]


def _widths(model):
    """(name, in, out) of every convolution and linear layer, in module order."""
    return [(n, m.in_channels, m.out_channels) if isinstance(m, nn.Conv2d) else (n, m.in_features, m.out_features)
            for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize("name", BASE_FAMILIES)
@pytest.mark.parametrize("base", [8, 16])
def test_base_channels_scale_every_width_in_proportion(name, base, model_cache):
    default, small = model_cache(name), create_model(name, base_channels=base)
    assert [n for n, _ in small.named_modules()] == [n for n, _ in default.named_modules()]  # same depth, stages
    assert small.probe_layers == default.probe_layers
    for (name_d, cin_d, cout_d), (name_s, cin_s, cout_s) in zip(_widths(default), _widths(small)):
        assert name_s == name_d
        assert cin_s == (3 if cin_d == 3 else cin_d * base // 64), name_s  # the image's channels stay
        assert cout_s == (10 if cout_d == 10 else cout_d * base // 64), name_s  # and so do the classes


@pytest.mark.parametrize("name", ["efficientnet_b0", pytest.param("efficientnet_b2", marks=pytest.mark.slow)])
def test_channel_multiplier_keeps_the_blocks_and_scales_the_widths(name, model_cache):
    default, small = model_cache(name), create_model(name, channel_multiplier=0.5)
    assert [len(stage) for stage in small.net.blocks] == [len(stage) for stage in default.net.blocks]
    assert small.probe_layers == default.probe_layers
    def stages(model):  # stem, the stage outputs timm reports (feature_info), head convolution
        net = model.net
        return [net.conv_stem.out_channels, *(f["num_chs"] for f in net.feature_info), net.num_features]

    for wide, narrow in zip(stages(default), stages(small)):
        assert narrow % 8 == 0 and 0.9 * wide / 2 <= narrow <= wide / 2 + 8  # timm: half, rounded to 8
    for (_, _, cout_d), (_, _, cout_s) in zip(_widths(default), _widths(small)):
        assert cout_s < cout_d or cout_s == cout_d == 10  # expansions and squeeze-excitation follow


@pytest.mark.parametrize("name", ["efficientnet_b0", pytest.param("efficientnet_b1", marks=pytest.mark.slow),
                                  pytest.param("efficientnet_b2", marks=pytest.mark.slow)])
def test_timm_generator_at_multiplier_one_is_timm_s_entry_point(name):
    # The variant's own multipliers in _TIMM_SCALING: any other multiplier is this generator's.
    ours, timms = _scaled_timm_model(name, 1.0, num_classes=10), timm.create_model(name, num_classes=10)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in timms.state_dict().items()}


@pytest.mark.parametrize("name, option", [("alexnet", {"base_channels": 8}), ("vgg11_bn", {"base_channels": 8}),
                                          ("resnet50", {"base_channels": 8}),
                                          ("efficientnet_b0", {"channel_multiplier": 0.25})])
def test_small_members_train_on_fashionmnist_sized_inputs(name, option, seeded):
    model = create_model(name, in_channels=1, image_size=28, **option).train()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 3, 7, 9])
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    "name, option, value, error, match",
    [
        ("resnet18", "base_channels", 0, ValueError, "^base_channels must be a positive integer, got 0$"),
        ("vgg11_bn", "base_channels", -8, ValueError, "^base_channels must be a positive integer, got -8$"),
        ("alexnet", "base_channels", 16.0, TypeError, "^base_channels must be a positive integer, got 16.0$"),
        ("vgg16", "base_channels", True, TypeError, "^base_channels must be a positive integer, got True$"),
        ("efficientnet_b0", "channel_multiplier", 0, ValueError,
         "^channel_multiplier must be a finite number > 0, got 0$"),
        ("efficientnet_b1", "channel_multiplier", math.inf, ValueError,
         "^channel_multiplier must be a finite number > 0, got inf$"),
        ("efficientnet_b0", "channel_multiplier", "half", TypeError,
         "^channel_multiplier must be a finite number > 0, got 'half'$"),
        ("lenet", "base_channels", 8, TypeError, r"^model 'lenet' got unexpected option\(s\) \['base_channels'\]"),
        ("resnet18", "channel_multiplier", 0.5, TypeError, r"^model 'resnet18' got unexpected option\(s\)"),
        ("efficientnet_b0", "base_channels", 8, TypeError, r"^model 'efficientnet_b0' got unexpected option\(s\)"),
    ],
)
def test_bad_widths_are_one_clear_line(name, option, value, error, match):
    with pytest.raises(error, match=match):
        create_model(name, **{option: value})
    with pytest.raises(error, match=match):  # the same check, reached through the LightningModule
        ImageClassifier(name, **{option: value})


def test_pretrained_weights_need_the_default_multiplier(tmp_path):
    with pytest.raises(ValueError, match="^channel_multiplier must be 1.0 with pretrained weights, got 0.5$"):
        create_model("efficientnet_b0", pretrained=tmp_path / "b0.pth", channel_multiplier=0.5)


def test_image_classifier_saves_the_width_and_rebuilds_it():
    module = ImageClassifier("resnet18", in_channels=1, image_size=28, base_channels=8)
    assert module.model.stem[0].out_channels == 8 and module.hparams.base_channels == 8
    rebuilt = ImageClassifier(**module.hparams)  # what load_from_checkpoint does
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in module.state_dict().items()}
    assert ImageClassifier("efficientnet_b0", channel_multiplier=0.5).model.net.num_features == 640


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"arch": "resnet18", "base_channels": 8, "model_kwargs": {"base_channels": 16}},
         "^base_channels given both as an argument and in model_kwargs: give it once$"),
        ({"arch": nn.Linear(3, 10), "base_channels": 8}, "only apply to registry names, not modules$"),
    ],
)
def test_image_classifier_refuses_a_width_it_cannot_use(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageClassifier(**kwargs)


def test_docs_table_is_what_the_code_counts():
    text = DOCS.read_text(encoding="utf-8").split("## Parameter counts at smaller widths")[1]
    rows = re.findall(r"^\| (\w+) \| (base_channels|channel_multiplier) \| (.+) \|$", text, flags=re.MULTILINE)
    assert len(rows) == 5
    for arch, option, cells in rows:
        for cell in cells.split(" | "):
            value, count = cell.split(": ")
            value = float(value) if option == "channel_multiplier" else int(value)
            assert count_parameters(arch, 1, 10, 28, **{option: value}) == int(count.replace(",", "")), (arch, value)
