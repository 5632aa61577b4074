"""EfficientNet-B0/B1/B2 (Tan and Le 2019) built with timm, optionally ImageNet-pretrained."""

from __future__ import annotations

import os
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from timm.models import adapt_input_conv
from torch import nn

from .registry import register_model

__all__ = ["EfficientNet", "load_pretrained_weights"]

# Dropout before the head and stochastic-depth ("drop connect") rates of the original paper.
_DROP_RATES = {"efficientnet_b0": 0.2, "efficientnet_b1": 0.2, "efficientnet_b2": 0.3}
_DROP_PATH_RATE = 0.2


def load_pretrained_weights(net: nn.Module, path: str | os.PathLike, in_channels: int) -> None:
    """Load a timm EfficientNet state dict from a local file into ``net``, except its head.

    The file holds a state dict (or a dict with a ``"state_dict"`` entry), read with
    ``torch.load(weights_only=True)``; ``module.`` prefixes (DataParallel) are stripped. The
    classifier is left at its fresh initialisation (sized for the new number of classes); the
    stem convolution is adapted when ``in_channels`` is not 3 (timm's ``adapt_input_conv``).

    Args:
        net: a timm EfficientNet of the same variant.
        path: file with the weights.
        in_channels: channels of ``net``'s input.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        RuntimeError: the weights do not fit ``net`` (missing or unexpected entries).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {str(path)!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise RuntimeError(f"{str(path)!r} does not hold a state dict (got {type(state).__name__})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    head = net.pretrained_cfg.get("classifier", "classifier")
    state = {k: v for k, v in state.items() if not k.startswith(head + ".")}
    stem = net.pretrained_cfg.get("first_conv", "conv_stem") + ".weight"
    if stem in state and state[stem].shape[1] != in_channels:
        state[stem] = adapt_input_conv(in_channels, state[stem])
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(head + ".")]
    if missing or unexpected:
        raise RuntimeError(
            f"weights in {str(path)!r} do not match the architecture: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )


class EfficientNet(nn.Module):
    """A timm EfficientNet (``self.net``) behind an optional bilinear input resize.

    The paper fine-tunes ImageNet-pretrained EfficientNets on 32x32 images resized to 224
    (``resize_to=224``). Resizing inside the model keeps the data (and any diffeomorphism
    applied to it) at the dataset's resolution.

    Args:
        name: timm model name, ``"efficientnet_b0"``, ``"efficientnet_b1"`` or ``"efficientnet_b2"``.
        in_channels: image channels C.
        num_classes: number of logits.
        pretrained: ``False`` (random init), a path to a local state-dict file of ImageNet
            weights, or ``True`` to download them through timm's hub (needs a network).
        resize_to: if set, inputs are bilinearly resized to ``resize_to x resize_to`` pixels.
        drop_rate: dropout before the head (default: 0.2 for B0/B1, 0.3 for B2).
        drop_path_rate: stochastic depth ("drop connect") rate.

    Shapes:
        input ``[B, C, H, W]``, output ``[B, num_classes]``.

    Raises:
        FileNotFoundError: ``pretrained`` is a path that does not exist.
        RuntimeError: ``pretrained=True`` and timm cannot fetch the weights (e.g. no network).
    """

    def __init__(
        self,
        name: str,
        in_channels: int = 3,
        num_classes: int = 10,
        pretrained: bool | str | os.PathLike = False,
        resize_to: int | None = None,
        drop_rate: float | None = None,
        drop_path_rate: float = _DROP_PATH_RATE,
    ):
        super().__init__()
        if name not in _DROP_RATES:
            raise ValueError(f"name must be one of {sorted(_DROP_RATES)}, got {name!r}")
        if resize_to is not None and (isinstance(resize_to, bool) or not isinstance(resize_to, int) or resize_to < 1):
            raise ValueError(f"resize_to must be a positive int or None, got {resize_to!r}")
        if not isinstance(pretrained, (bool, str, os.PathLike)):
            raise TypeError(f"pretrained must be a bool or a file path, got {type(pretrained).__name__}")
        options = dict(
            num_classes=num_classes,
            in_chans=in_channels,
            drop_rate=_DROP_RATES[name] if drop_rate is None else drop_rate,
            drop_path_rate=drop_path_rate,
        )
        if pretrained is True:
            try:
                self.net = timm.create_model(name, pretrained=True, **options)
            except Exception as err:  # hub failures come as OSError, HTTP or hub-specific errors
                raise RuntimeError(
                    f"could not download ImageNet weights for {name!r} through timm's hub ({err}); "
                    "without a network, pass pretrained='/path/to/state_dict.pth' instead"
                ) from err
        else:
            self.net = timm.create_model(name, pretrained=False, **options)
            if pretrained is not False:
                load_pretrained_weights(self.net, pretrained, in_channels)
        self.resize_to = resize_to
        self.head_name = "net.classifier"
        n_blocks = len(self.net.blocks)
        self.probe_layers: tuple[str, ...] = (
            ("net.bn1",) + tuple(f"net.blocks.{i}" for i in range(n_blocks)) + ("net.global_pool", "output")
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of images ``[B, C, H, W]``."""
        if self.resize_to is not None and tuple(x.shape[-2:]) != (self.resize_to, self.resize_to):
            x = F.interpolate(x, size=(self.resize_to, self.resize_to), mode="bilinear", align_corners=False)
        return self.net(x)


def _builder(name: str):
    def build(
        in_channels: int,
        num_classes: int,
        image_size: int,
        *,
        pretrained: bool | str | os.PathLike = False,
        resize_to: int | None = None,
        drop_rate: float | None = None,
        drop_path_rate: float = _DROP_PATH_RATE,
    ) -> nn.Module:
        return EfficientNet(name, in_channels, num_classes, pretrained, resize_to, drop_rate, drop_path_rate)

    return build


for _name in _DROP_RATES:
    register_model(_name)(_builder(_name))
