"""Small building blocks shared by the convolutional families."""

from __future__ import annotations

from typing import Literal

from torch import nn

from lightning_diffeo.validation import check_choice

__all__ = ["CONV_INITS", "ConvInit", "initialise", "pad_to"]

ConvInit = Literal["pytorch", "kaiming"]
CONV_INITS: tuple[str, ...] = ("pytorch", "kaiming")


def initialise(module: nn.Module, init: ConvInit) -> nn.Module:
    """Initialise the convolutions and linear layers of ``module`` in place; returns it.

    ``"pytorch"`` keeps PyTorch's default (the authors' networks; uniform weights of variance
    1 / (3 fan_in), so a plain ReLU stack shrinks its signal at every layer); ``"kaiming"`` draws
    He-normal weights (fan_in, ReLU gain: variance 2 / fan_in, which keeps the signal's scale
    through a plain ReLU stack) and zero biases (He et al. 2015).
    """
    if check_choice("init", init, CONV_INITS) == "kaiming":
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
    return module


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
