"""VGG11/16/19 (Simonyan and Zisserman 2015), CIFAR-style, with or without batch-norm."""

from __future__ import annotations

import torch
from torch import nn

from lightning_diffeo.validation import check_bool, check_int, check_positive_int

from ._layers import ConvInit, initialise, pad_to
from .registry import register_model

__all__ = ["VGG", "VGG_BASE_CHANNELS", "VGG_CONFIGS"]

VGG_BASE_CHANNELS = 64
"""Channels of the first stage in Table 1's VGGs; :data:`VGG_CONFIGS` is written at this base."""

# Channels of the 3x3 convolutions in each of the five stages at the base of 64 channels (every
# entry a multiple of it); every stage ends in a 2x2 max-pool.
VGG_CONFIGS: dict[int, tuple[tuple[int, ...], ...]] = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


def _stage(cin: int, channels: tuple[int, ...], batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for cout in channels:
        layers.append(nn.Conv2d(cin, cout, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU())
        cin = cout
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """Five conv stages (3x3 conv [+ BN] + ReLU, then 2x2 max-pool) and one linear layer 512 -> classes.

    CIFAR-style as in the authors' code: a 32x32 input leaves a 1x1x512 feature map. Smaller
    inputs are zero-padded to 32 (the authors' handling of 28x28 MNIST); larger ones are
    globally average-pooled. PyTorch default initialisation (``init="kaiming"``: He-normal, see
    ``_layers.initialise``). ``base_channels`` scales every
    convolution in proportion (``b, 2b, 4b, 8b, 8b`` per stage; Table 1's network at the default
    ``b = 64``), same depth and stages.

    Args:
        depth: 11, 16 or 19.
        in_channels: image channels C.
        num_classes: number of logits.
        image_size: side H = W in pixels.
        batch_norm: add ``BatchNorm2d`` after every convolution (the ``_bn`` variants).
        base_channels: channels of the first stage (positive integer).
        init: ``"pytorch"`` (default, as the authors) or ``"kaiming"``.

    Shapes:
        input ``[B, C, H, W]``, output ``[B, num_classes]``.
    """

    def __init__(
        self, depth: int, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, batch_norm: bool = False,
        base_channels: int = VGG_BASE_CHANNELS, init: ConvInit = "pytorch",
    ):
        super().__init__()
        if check_int("depth", depth) not in VGG_CONFIGS:
            raise ValueError(f"depth must be one of {', '.join(map(str, sorted(VGG_CONFIGS)))}, got {depth!r}")
        check_bool("batch_norm", batch_norm)
        base = check_positive_int("base_channels", base_channels)
        self.pad = pad_to(image_size, 32)
        cin = in_channels
        for i, channels in enumerate(VGG_CONFIGS[depth], start=1):
            channels = tuple(c // VGG_BASE_CHANNELS * base for c in channels)
            self.add_module(f"stage{i}", _stage(cin, channels, batch_norm))
            cin = channels[-1]
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(cin, num_classes)
        self.head_name = "classifier"
        self.probe_layers: tuple[str, ...] = tuple(f"stage{i}" for i in range(1, 6)) + ("output",)
        initialise(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of images ``[B, C, H, W]``."""
        x = self.pad(x)
        for i in range(1, 6):
            x = getattr(self, f"stage{i}")(x)
        return self.classifier(self.pool(x))


def _builder(depth: int, batch_norm: bool):
    def build(
        in_channels: int, num_classes: int, image_size: int, *, base_channels: int = VGG_BASE_CHANNELS,
        init: ConvInit = "pytorch",
    ) -> nn.Module:
        return VGG(depth, in_channels, num_classes, image_size, batch_norm, base_channels, init)

    return build


for _depth in (11, 16, 19):
    register_model(f"vgg{_depth}")(_builder(_depth, False))
for _depth in (11, 16, 19):
    register_model(f"vgg{_depth}_bn")(_builder(_depth, True))
