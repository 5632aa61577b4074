"""Shared fixtures: smooth probe images (upsampled sklearn digits) and tiny models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn


@pytest.fixture(scope="session")
def digits() -> torch.Tensor:
    """80 smooth images [80, 1, 28, 28] in [0, 1]: sklearn's 8x8 digits, bilinearly upsampled."""
    from sklearn.datasets import load_digits

    data = torch.tensor(load_digits().images[:80], dtype=torch.float32) / 16.0
    return F.interpolate(data[:, None], size=(28, 28), mode="bilinear", align_corners=True).clamp(0, 1)


class ConvBN(nn.Module):
    """Tiny conv net with batch-norm, a flatten and a linear head."""

    probe_layers = ("conv", "bn", "act", "output")

    def __init__(self, channels: int = 1, width: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Linear(width * 16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.act(self.bn(self.conv(x)))).flatten(1))


@pytest.fixture
def conv_bn() -> ConvBN:
    torch.manual_seed(0)
    model = ConvBN()
    # Non-trivial running statistics, so eval and batch statistics differ.
    model.bn.running_mean.fill_(0.3)
    model.bn.running_var.fill_(2.0)
    model.bn.num_batches_tracked.fill_(7)
    return model

