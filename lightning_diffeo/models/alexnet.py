"""AlexNet (Krizhevsky et al. 2012), CIFAR-style as in the authors' code: 23M parameters at base 64."""

from __future__ import annotations

import torch
from torch import nn

from lightning_diffeo.validation import check_number, check_positive_int

from ._layers import ConvInit, initialise, pad_to
from .registry import register_model

__all__ = ["AlexNet", "ALEXNET_BASE_CHANNELS"]

ALEXNET_BASE_CHANNELS = 64
"""Channels of the first stage in Table 1's AlexNet; the other widths are multiples of it."""
# Stage widths and hidden linear width in units of the base: 64, 192, 384, 256, 256 and 4096 at base 64.
_STAGE_FACTORS = (1, 3, 6, 4, 4)
_HIDDEN_FACTOR = 64


def _conv(cin: int, cout: int, stride: int = 1, pool: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class AlexNet(nn.Module):
    """Five 3x3 conv stages (64, 192, 384, 256, 256 channels; the first with stride 2, max-pool
    after stages 1, 2, 5), then dropout + 4096 + 4096 + classes linear layers.

    ``base_channels`` scales every width in proportion: stages ``b, 3b, 6b, 4b, 4b`` and hidden
    linear layers ``64 b`` (Table 1's network at the default ``b = 64``), same depth and stages.

    Inputs smaller than 32 pixels are zero-padded to 32 (the authors' handling of 28x28 MNIST);
    larger ones are average-pooled to the 2x2 feature map a 32x32 input gives, so the parameter
    count does not depend on the image size. PyTorch default initialisation (``init="kaiming"``:
    He-normal, see ``_layers.initialise``).

    Args:
        in_channels: image channels C.
        num_classes: number of logits.
        image_size: side H = W in pixels.
        dropout: dropout probability before the two hidden linear layers.
        base_channels: channels of the first stage (positive integer).
        init: ``"pytorch"`` (default, as the authors) or ``"kaiming"``.

    Shapes:
        input ``[B, C, H, W]``, output ``[B, num_classes]``.
    """

    def __init__(
        self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, dropout: float = 0.5,
        base_channels: int = ALEXNET_BASE_CHANNELS, init: ConvInit = "pytorch",
    ):
        super().__init__()
        if not check_number("dropout", dropout, minimum=0) < 1.0:
            raise ValueError(f"dropout must be a finite number in [0, 1), got {dropout!r}")
        base = check_positive_int("base_channels", base_channels)
        c1, c2, c3, c4, c5 = (base * k for k in _STAGE_FACTORS)
        hidden = base * _HIDDEN_FACTOR
        self.pad = pad_to(image_size, 32)
        self.stage1 = _conv(in_channels, c1, stride=2, pool=True)
        self.stage2 = _conv(c1, c2, pool=True)
        self.stage3 = _conv(c2, c3)
        self.stage4 = _conv(c3, c4)
        self.stage5 = _conv(c4, c5, pool=True)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.fc1 = nn.Sequential(nn.Dropout(dropout), nn.Linear(c5 * 2 * 2, hidden), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, num_classes)
        self.head_name = "classifier"
        self.probe_layers: tuple[str, ...] = (
            "stage1", "stage2", "stage3", "stage4", "stage5", "fc1", "fc2", "output",
        )
        initialise(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of images ``[B, C, H, W]``."""
        x = self.pad(x)
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5):
            x = stage(x)
        return self.classifier(self.fc2(self.fc1(self.pool(x))))


@register_model("alexnet")
def _build_alexnet(
    in_channels: int, num_classes: int, image_size: int, *, dropout: float = 0.5,
    base_channels: int = ALEXNET_BASE_CHANNELS, init: ConvInit = "pytorch",
) -> nn.Module:
    return AlexNet(in_channels, num_classes, image_size, dropout, base_channels, init)
