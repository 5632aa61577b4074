"""LeNet (LeCun et al. 1989), CIFAR-style as in the authors' code: 62k parameters on 3x32x32."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model

__all__ = ["LeNet"]


class LeNet(nn.Module):
    """Two 5x5 conv + ReLU + 2x2 max-pool stages, then three linear layers (120, 84, classes).

    PyTorch default initialisation. The first linear layer's fan-in follows the image size
    (16 * 5 * 5 at 32x32, 16 * 4 * 4 at 28x28), as in the authors' code.

    Args:
        in_channels: image channels C.
        num_classes: number of logits.
        image_size: side H = W in pixels, at least 16.

    Shapes:
        input ``[B, C, H, W]``, output ``[B, num_classes]``.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32):
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"LeNet needs image_size >= 16, got {image_size}")
        self.stage1 = nn.Sequential(nn.Conv2d(in_channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.stage2 = nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.flatten = nn.Flatten()
        self.fc1 = nn.Sequential(nn.Linear(16 * side * side, 120), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(120, 84), nn.ReLU())
        self.classifier = nn.Linear(84, num_classes)
        self.head_name = "classifier"
        self.probe_layers: tuple[str, ...] = ("stage1", "stage2", "fc1", "fc2", "output")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of images ``[B, C, H, W]``."""
        x = self.flatten(self.stage2(self.stage1(x)))
        return self.classifier(self.fc2(self.fc1(x)))


@register_model("lenet")
def _build_lenet(in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return LeNet(in_channels, num_classes, image_size)
