"""Architecture metadata of the registry models: depth as the paper counts it, batch-norm, skips.

The paper's figures colour networks by depth and mark batch-norm and skip connections
(Petrini et al. 2021, Table 1 and Figs 3, 5, 15, 16). Depth counts the weight layers a
signal crosses from input to output, as the paper does:

- ``fc<k>``: k linear layers;
- ``lenet``: 2 convolutions + 3 linear layers = 5;
- ``alexnet``: 5 convolutions + 3 linear layers = 8;
- ``vgg<k>`` and ``vgg<k>_bn``: k, as in the name and Table 1 (the CIFAR-style net has k - 3
  convolutions and one linear layer, not the original three: k - 2 weight layers);
- ``resnet<k>``: k (stem, residual-branch convolutions and the head, as in the name);
- ``efficientnet_b<k>``: stem convolution + one per MBConv block + the head convolution
  (16 blocks in B0: 18; 23 blocks in B1 and B2: 25), Table 1's 18 and 25.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

import torch

from .registry import create_model, list_models

__all__ = ["ModelInfo", "count_parameters", "model_info"]


class ModelInfo(TypedDict):
    """What :func:`model_info` returns."""

    depth: int
    batch_norm: bool
    skip_connections: bool


_EFFICIENTNET_BLOCKS = {"efficientnet_b0": 16, "efficientnet_b1": 23, "efficientnet_b2": 23}
_FIXED: dict[str, ModelInfo] = {
    "lenet": {"depth": 5, "batch_norm": False, "skip_connections": False},
    "alexnet": {"depth": 8, "batch_norm": False, "skip_connections": False},
}


def model_info(arch: str) -> ModelInfo:
    """Depth (paper's count), batch-norm and skip-connection flags of a registry architecture.

    Args:
        arch: a name of :func:`~lightning_diffeo.models.list_models`, e.g. ``"resnet18"``.

    Returns:
        ``{"depth": int, "batch_norm": bool, "skip_connections": bool}``.

    Raises:
        ValueError: ``arch`` is not a registered model.

    Example:
        >>> model_info("resnet18")
        {'depth': 18, 'batch_norm': True, 'skip_connections': True}
        >>> model_info("vgg16_bn")["batch_norm"]
        True
    """
    if not isinstance(arch, str) or arch not in list_models():
        raise ValueError(f"arch must be a registered model ({', '.join(list_models())}), got {arch!r}")
    if arch in _FIXED:
        return dict(_FIXED[arch])  # type: ignore[return-value]
    if arch in _EFFICIENTNET_BLOCKS:
        return {"depth": _EFFICIENTNET_BLOCKS[arch] + 2, "batch_norm": True, "skip_connections": True}
    match = re.fullmatch(r"(fc|vgg|resnet)(\d+)(_bn)?", arch)
    if match is None:
        raise ValueError(f"no metadata for registered model {arch!r}; add it to lightning_diffeo/models/info.py")
    family, depth, bn = match.group(1), int(match.group(2)), match.group(3) is not None
    if family == "fc":
        return {"depth": depth, "batch_norm": False, "skip_connections": False}
    if family == "vgg":
        return {"depth": depth, "batch_norm": bn, "skip_connections": False}
    return {"depth": depth, "batch_norm": True, "skip_connections": True}


def count_parameters(
    arch: str, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, **options: Any
) -> int:
    """Number of parameters of a registry architecture, built on PyTorch's meta device.

    The meta device allocates no memory and draws no random number (the global generator is
    untouched), so counting even the 23M-parameter AlexNet takes milliseconds.

    Args:
        arch: a name of :func:`~lightning_diffeo.models.list_models`.
        in_channels: image channels C.
        num_classes: number of logits.
        image_size: side H = W in pixels.
        **options: architecture options, e.g. ``base_channels=16`` or ``channel_multiplier=0.5``.

    Example:
        >>> count_parameters("resnet18", in_channels=1, image_size=28, base_channels=16)
        701178
    """
    with torch.device("meta"):
        model = create_model(arch, in_channels, num_classes, image_size, **options)
    return sum(p.numel() for p in model.parameters())
