"""Default probe layers of pretrained models, and the patch-token views of vision transformers.

* timm: the stages of ``model.feature_info`` (module names, hooked as any module) plus the output.
* vision transformers (timm models with ``num_prefix_tokens``, torchvision ``VisionTransformer``):
  about five evenly spaced blocks; each block's token output [B, L, D] is measured twice, over
  all tokens (``blocks.3``) and over the patch tokens only (``blocks.3.patches``: the class and
  register tokens removed). ``layers="blocks"`` asks for every block.
* torchvision: a small table per family (below), not FX tracing.

The patch tokens are a real submodule: :func:`add_patch_views` gives every block a child
``patches`` (a :class:`PatchTokens`, no parameters, so the state dict is unchanged) and a
forward hook that calls it on the block's output. Forward hooks then capture
``<block>.patches`` like any other module, and explicit names such as
``--layers [blocks.5.patches]`` work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "BLOCKS",
    "PATCHES",
    "PatchTokens",
    "add_patch_views",
    "evenly_spaced",
    "expand_layers",
    "timm_layers",
    "torchvision_layers",
]

PATCHES = "patches"
BLOCKS = "blocks"
"""The layer name that asks for every block of a vision transformer."""
OUTPUT = "output"
_MAX_STAGES = 6  # more stages than this (a ViT's 12+ blocks) are thinned to five
_SPACED = 5


class PatchTokens(nn.Module):
    """Token output [B, L, D] -> its patch tokens [B, L - k, D] (the first k, class and register tokens, dropped)."""

    def __init__(self, prefix_tokens: int) -> None:
        super().__init__()
        self.prefix_tokens = int(prefix_tokens)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, self.prefix_tokens:] if tokens.dim() == 3 else tokens

    def extra_repr(self) -> str:
        return f"prefix_tokens={self.prefix_tokens}"


def _call_patches(module: nn.Module, inputs: Any, output: Any) -> None:
    """Forward hook of a block: run its ``patches`` view on the output (the output itself is unchanged)."""
    if isinstance(output, torch.Tensor):
        getattr(module, PATCHES)(output)


def add_patch_views(model: nn.Module, blocks: Sequence[str], prefix_tokens: int) -> list[str]:
    """Give each named block a ``patches`` child fed by a forward hook; returns the new layer names."""
    modules = dict(model.named_modules())
    names = []
    for name in blocks:
        block = modules[name]
        if not isinstance(getattr(block, PATCHES, None), PatchTokens):
            block.add_module(PATCHES, PatchTokens(prefix_tokens))
            block.register_forward_hook(_call_patches)
        names.append(f"{name}.{PATCHES}")
    return names


def evenly_spaced(names: Sequence[str], count: int = _SPACED) -> list[str]:
    """``count`` names evenly spaced from the first to the last (all of them when there are fewer).

    >>> evenly_spaced([f"blocks.{i}" for i in range(12)])
    ['blocks.0', 'blocks.3', 'blocks.6', 'blocks.8', 'blocks.11']
    """
    if len(names) <= count:
        return list(names)
    picks = sorted({round(i * (len(names) - 1) / (count - 1)) for i in range(count)})
    return [names[i] for i in picks]


def _with_patches(blocks: Sequence[str], prefix_tokens: int | None) -> list[str]:
    if not prefix_tokens:
        return list(blocks)
    return [name for block in blocks for name in (block, f"{block}.{PATCHES}")]


def _token_layers(model: nn.Module, blocks: list[str], prefix_tokens: int) -> tuple[list[str], list[str]]:
    """(default layers, every block's layers) of a vision transformer; patch views added when there are prefix tokens."""
    if prefix_tokens:
        add_patch_views(model, blocks, prefix_tokens)
    return _with_patches(evenly_spaced(blocks), prefix_tokens), _with_patches(blocks, prefix_tokens)


def timm_layers(model: nn.Module) -> tuple[tuple[str, ...], tuple[str, ...], int | None]:
    """(default layers, every block's layers for ``layers="blocks"``, prefix tokens or None) of a timm model."""
    modules = dict(model.named_modules())
    try:
        stages = [entry["module"] for entry in model.feature_info]  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError):
        stages = []
    stages = [name for name in dict.fromkeys(stages) if name in modules and name]
    prefix = getattr(model, "num_prefix_tokens", None)
    if isinstance(prefix, int) and not isinstance(prefix, bool) and stages:  # a vision transformer's blocks
        default, every = _token_layers(model, stages, prefix)
        return (*default, OUTPUT), tuple(every), prefix
    chosen = evenly_spaced(stages) if len(stages) > _MAX_STAGES else stages
    return (*chosen, OUTPUT), (), None


def _children(model: nn.Module, container: str) -> list[str]:
    parent = getattr(model, container, None)
    return [f"{container}.{name}" for name, _ in parent.named_children()] if isinstance(parent, nn.Module) else []


def torchvision_layers(model: nn.Module) -> tuple[tuple[str, ...], tuple[str, ...], int | None]:
    """(default layers, every block's layers, prefix tokens or None) of a torchvision classifier, by family.

    ResNet (ResNeXt, Wide ResNet): ``layer1-4``; VGG, AlexNet: ``features.i`` at each max-pool
    (the end of each stage); EfficientNet, MobileNet: every ``features.i``; ConvNeXt, Swin: the
    stages ``features.1, 3, 5, 7``; DenseNet: ``features.denseblock1-4``; RegNet:
    ``trunk_output.block1-4``; ViT: five of ``encoder.layers.encoder_layer_i`` with their patch
    tokens (one class token). Any other family: its ``features.i`` if it has them, else the output.
    """
    from torchvision import models

    family = type(model).__name__
    if isinstance(model, models.VisionTransformer):
        blocks = _children(model.encoder, "layers")
        blocks = [f"encoder.{name}" for name in blocks]
        default, every = _token_layers(model, blocks, 1)
        return (*default, OUTPUT), tuple(every), 1
    if isinstance(model, models.ResNet):
        stages = ["layer1", "layer2", "layer3", "layer4"]
    elif family in ("VGG", "AlexNet"):
        stages = [f"features.{i}" for i, layer in enumerate(model.features) if isinstance(layer, nn.MaxPool2d)]
    elif family in ("ConvNeXt", "SwinTransformer"):
        stages = _children(model, "features")[1::2]
    elif family == "DenseNet":
        stages = [name for name in _children(model, "features") if "denseblock" in name]
    elif family == "RegNet":
        stages = _children(model, "trunk_output")
    else:  # EfficientNet, MobileNetV2/V3 and any other family with a `features` sequence
        stages = _children(model, "features")
    return (*stages, OUTPUT), (), None


def expand_layers(layers: Sequence[str] | None, every_block: Sequence[str]) -> tuple[str, ...] | None:
    """``"blocks"`` replaced by every block's layers of a vision transformer (other names kept, in order)."""
    if layers is None or not every_block or BLOCKS not in layers:
        return None if layers is None else tuple(layers)
    expanded = [name for layer in layers for name in (every_block if layer == BLOCKS else (layer,))]
    return tuple(dict.fromkeys(expanded))
