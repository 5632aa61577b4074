"""Fully connected networks ``fc2``, ``fc4``, ``fc6`` (Table 1: "FullConn", ~200k parameters)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lightning_diffeo.validation import check_choice, check_int, check_positive_int

from .registry import register_model

__all__ = ["FullyConnected", "ScaledLinear"]

Init = Literal["scaled", "pytorch"]
_INITS: tuple[str, ...] = ("scaled", "pytorch")


class ScaledLinear(nn.Module):
    """Linear layer with N(0, 1) weights whose output is divided by ``fan_in ** exponent``.

    ``y = x @ W.T / fan_in ** exponent + b``. With ``exponent = 1/2`` this is the NTK
    parametrisation the authors use for hidden layers; with ``exponent = 1`` (and no bias) the
    mean-field readout they use for the last layer. Unlike a plain ``nn.Linear`` initialised
    with std ``1 / sqrt(fan_in)``, the scale also applies to the gradient updates, which is
    what makes Adam at lr 0.1 (the paper's recipe for these nets) stable.

    Args:
        in_features: fan-in.
        out_features: fan-out.
        bias: add a N(0, 1) bias (not scaled).
        exponent: the output is divided by ``in_features ** exponent``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, exponent: float = 0.5):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.exponent = exponent
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.randn(out_features)) if bias else None
        self._scale = 1.0 / math.pow(in_features, exponent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[B, in_features]`` to ``[B, out_features]``."""
        y = F.linear(x, self.weight) * self._scale
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, exponent={self.exponent}"
        )


class FullyConnected(nn.Module):
    """ReLU network of ``depth`` linear layers (``depth - 1`` hidden layers of ``width``).

    Initialisation (``init="scaled"``, default, as in the authors' code): weights and hidden
    biases drawn N(0, 1); hidden pre-activations divided by ``sqrt(fan_in)``; the readout is
    divided by ``fan_in`` and has no bias. ``init="pytorch"`` uses ``nn.Linear`` with
    PyTorch's default (Kaiming-uniform) initialisation instead.

    With ``width=64`` on 3x32x32 inputs: 197k (``fc2``), 206k (``fc4``), 214k (``fc6``)
    parameters.

    Args:
        in_features: flattened input size ``C * H * W``.
        num_classes: number of logits.
        depth: number of linear layers, at least 2.
        width: hidden width.
        init: ``"scaled"`` or ``"pytorch"``.

    Shapes:
        input ``[B, C, H, W]`` (any trailing shape with ``in_features`` entries),
        output ``[B, num_classes]``.
    """

    def __init__(
        self, in_features: int, num_classes: int, depth: int, width: int = 64, init: Init = "scaled"
    ):
        super().__init__()
        check_positive_int("in_features", in_features)
        check_positive_int("num_classes", num_classes)
        check_int("depth", depth, minimum=2)
        check_positive_int("width", width)
        check_choice("init", init, _INITS)
        self.flatten = nn.Flatten()
        sizes = [in_features] + [width] * (depth - 1)
        self.hidden = nn.Sequential(
            *(nn.Sequential(self._linear(a, b, init, last=False), nn.ReLU()) for a, b in zip(sizes, sizes[1:]))
        )
        self.classifier = self._linear(width, num_classes, init, last=True)
        self.head_name = "classifier"
        self.probe_layers: tuple[str, ...] = tuple(f"hidden.{i}" for i in range(depth - 1)) + ("output",)

    @staticmethod
    def _linear(fan_in: int, fan_out: int, init: str, last: bool) -> nn.Module:
        if init == "pytorch":
            return nn.Linear(fan_in, fan_out)
        return ScaledLinear(fan_in, fan_out, bias=not last, exponent=1.0 if last else 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of images ``[B, C, H, W]``."""
        return self.classifier(self.hidden(self.flatten(x)))


def _builder(depth: int):
    def build(in_channels: int, num_classes: int, image_size: int, *, width: int = 64, init: Init = "scaled"):
        return FullyConnected(in_channels * image_size * image_size, num_classes, depth, width, init)

    build.__doc__ = f"Fully connected net with {depth} linear layers (options: width, init)."
    return build


for _depth in (2, 4, 6):
    register_model(f"fc{_depth}")(_builder(_depth))
