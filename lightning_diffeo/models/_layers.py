"""Small building blocks shared by the convolutional families."""

from __future__ import annotations

from torch import nn

__all__ = ["pad_to"]


def pad_to(image_size: int, target: int = 32) -> nn.Module:
    """Zero padding that brings ``image_size`` up to ``target`` (identity if already there).

    The authors pad 28x28 MNIST images by 2 pixels on each side before AlexNet and VGG, whose
    five stride-2 reductions need at least 32 pixels. The extra pixel of an odd difference goes
    to the bottom/right.

    Shapes:
        ``[B, C, image_size, image_size]`` to ``[B, C, max(image_size, target), ...]``.
    """
    missing = max(target - image_size, 0)
    if missing == 0:
        return nn.Identity()
    before = missing // 2
    return nn.ZeroPad2d((before, missing - before, before, missing - before))
