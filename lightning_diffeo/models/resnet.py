"""ResNet18/34/50 (He et al. 2016), CIFAR-style: 3x3 stem, no initial max-pool."""

from __future__ import annotations

import torch
from torch import nn

from lightning_diffeo.validation import check_positive_int

from .registry import register_model

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "RESNET_BASE_CHANNELS"]

RESNET_BASE_CHANNELS = 64
"""Channels of the stem and planes of the first stage in Table 1's ResNets."""


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout)]


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(*_conv_bn(cin, cout, 1, stride))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN) shortcut, ReLU after the sum.

    Shapes:
        ``[B, in_planes, H, W]`` to ``[B, planes, H / stride, W / stride]``.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.residual = nn.Sequential(
            *_conv_bn(in_planes, planes, 3, stride), nn.ReLU(), *_conv_bn(planes, planes, 3)
        )
        self.shortcut = _shortcut(in_planes, planes, stride)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.residual(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4) conv-BN layers with a shortcut.

    Shapes:
        ``[B, in_planes, H, W]`` to ``[B, 4 * planes, H / stride, W / stride]``.
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.residual = nn.Sequential(
            *_conv_bn(in_planes, planes, 1), nn.ReLU(),
            *_conv_bn(planes, planes, 3, stride), nn.ReLU(),
            *_conv_bn(planes, out, 1),
        )
        self.shortcut = _shortcut(in_planes, out, stride)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.residual(x) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR-style ResNet: 3x3 conv-BN-ReLU stem (64 channels, stride 1), four residual
    stages (64, 128, 256, 512 planes; stride 1, 2, 2, 2), global average pool, linear head.
    ``base_channels`` scales every width in proportion (stem ``b``, planes ``b, 2b, 4b, 8b``;
    Table 1's network at the default ``b = 64``), same blocks and stages.

    Works for any image size (the pool is adaptive) and any batch size, batch 1 included:
    the output is never squeezed. PyTorch default initialisation.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        num_blocks: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet18.
        in_channels: image channels C.
        num_classes: number of logits.
        base_channels: channels of the stem and planes of the first stage (positive integer).

    Shapes:
        input ``[B, C, H, W]``, output ``[B, num_classes]``.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: tuple[int, int, int, int],
        in_channels: int = 3,
        num_classes: int = 10,
        base_channels: int = RESNET_BASE_CHANNELS,
    ):
        super().__init__()
        base = check_positive_int("base_channels", base_channels)
        self.stem = nn.Sequential(*_conv_bn(in_channels, base, 3), nn.ReLU())
        cin = base
        stage_planes = (base, 2 * base, 4 * base, 8 * base)
        for i, (planes, n, stride) in enumerate(zip(stage_planes, num_blocks, (1, 2, 2, 2)), start=1):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(block(cin, planes, s))
                cin = planes * block.expansion
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)
        self.head_name = "fc"
        self.probe_layers: tuple[str, ...] = ("stem", "layer1", "layer2", "layer3", "layer4", "pool", "output")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of images ``[B, C, H, W]``."""
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.pool(x))


_SPECS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


def _builder(name: str):
    block, num_blocks = _SPECS[name]

    def build(
        in_channels: int, num_classes: int, image_size: int, *, base_channels: int = RESNET_BASE_CHANNELS
    ) -> nn.Module:
        return ResNet(block, num_blocks, in_channels, num_classes, base_channels)

    return build


for _name in _SPECS:
    register_model(_name)(_builder(_name))
