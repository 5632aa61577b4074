"""EfficientNet-B0/B1/B2 (Tan and Le 2019) built with timm, optionally ImageNet-pretrained."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Literal

import timm
import torch
import torch.nn.functional as F
from torch import nn

from lightning_diffeo.validation import check_choice, check_number, check_positive_int

from .registry import register_model

__all__ = ["EFFICIENTNET_CHANNEL_MULTIPLIER", "EfficientNet", "load_pretrained_weights"]

# Dropout before the head and stochastic-depth ("drop connect") rates of the original paper.
_DROP_RATES = {"efficientnet_b0": 0.2, "efficientnet_b1": 0.2, "efficientnet_b2": 0.3}
_DROP_PATH_RATE = 0.2
# Each variant's own (channel, depth) multipliers of the B0 baseline, as timm's entry points fix them.
_TIMM_SCALING = {"efficientnet_b0": (1.0, 1.0), "efficientnet_b1": (1.0, 1.1), "efficientnet_b2": (1.1, 1.2)}
EFFICIENTNET_CHANNEL_MULTIPLIER = 1.0
"""Default width factor on top of the variant's own: Table 1's networks."""


def _scaled_timm_model(name: str, channel_multiplier: float, **options: Any) -> nn.Module:
    """timm's randomly initialised ``name`` with every width times ``channel_multiplier``.

    timm's entry points (``timm.create_model("efficientnet_b0")``) fix the variant's channel
    multiplier, so this calls the generator behind them with the variant's multiplier times
    ``channel_multiplier`` and the variant's depth multiplier: same blocks and stages, the
    stem, every block and the head convolution scaled, each rounded by timm to a multiple of 8.
    """
    channels, depth = _TIMM_SCALING[name]
    return timm.models.efficientnet._gen_efficientnet(
        name, channel_multiplier=channels * channel_multiplier, depth_multiplier=depth, pretrained=False, **options
    )


def load_pretrained_weights(name: str, path: str | os.PathLike, **options: Any) -> nn.Module:
    """Build the timm model ``name`` with ImageNet weights from a local file, except its head.

    timm loads the file (``pretrained_cfg_overlay=dict(file=path)``): a state dict, or a
    checkpoint with a ``"state_dict"`` (or EMA) entry, read with ``weights_only=True``;
    ``module.`` prefixes are stripped; the classifier is dropped when ``num_classes``
    differs from ImageNet's 1000; the stem convolution is adapted when ``in_chans`` is not 3.
    timm then loads non-strictly, so the file's keys are checked afterwards: every entry of
    the network except the classifier must come from the file, and the file may hold
    nothing else.

    Args:
        name: timm model name, e.g. ``"efficientnet_b0"``.
        path: file with the weights.
        **options: ``timm.create_model`` options (``num_classes``, ``in_chans``, ...).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        RuntimeError: the weights do not fit the network (missing or unexpected entries,
            wrong shapes) or the file holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {str(path)!r}")
    try:
        net = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **options)
        stored = set(timm.models.load_state_dict(str(path)))
    except (RuntimeError, KeyError, AttributeError, TypeError, ValueError, pickle.UnpicklingError) as error:
        raise RuntimeError(f"weights in {str(path)!r} do not match the architecture {name!r}: {error}") from error
    head = net.pretrained_cfg.get("classifier", "classifier") + "."
    expected = {key for key in net.state_dict() if not key.startswith(head)}
    missing = sorted(expected - stored)
    unexpected = sorted(key for key in stored - expected if not key.startswith(head))
    if missing or unexpected:
        raise RuntimeError(
            f"weights in {str(path)!r} do not match the architecture {name!r}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    return net


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
        channel_multiplier: widths times this positive factor (on top of the variant's own
            timm multiplier: B2's 1.1 stays); only 1.0 with ``pretrained`` weights.

    Shapes:
        input ``[B, C, H, W]``, output ``[B, num_classes]``.

    Raises:
        FileNotFoundError: ``pretrained`` is a path that does not exist.
        RuntimeError: ``pretrained=True`` and timm cannot fetch the weights (e.g. no network).
        ValueError: a bad option (e.g. ``channel_multiplier`` not positive, or not 1.0 with
            ``pretrained``).
    """

    def __init__(
        self,
        name: Literal["efficientnet_b0", "efficientnet_b1", "efficientnet_b2"],
        in_channels: int = 3,
        num_classes: int = 10,
        pretrained: bool | str | os.PathLike = False,
        resize_to: int | None = None,
        drop_rate: float | None = None,
        drop_path_rate: float = _DROP_PATH_RATE,
        channel_multiplier: float = EFFICIENTNET_CHANNEL_MULTIPLIER,
    ):
        super().__init__()
        check_choice("name", name, _DROP_RATES)
        if resize_to is not None:
            check_positive_int("resize_to", resize_to)
        if drop_rate is not None:
            check_number("drop_rate", drop_rate, minimum=0)
        check_number("drop_path_rate", drop_path_rate, minimum=0)
        if not isinstance(pretrained, (bool, str, os.PathLike)):
            raise TypeError(f"pretrained must be a bool or a file path, got {type(pretrained).__name__}")
        channel_multiplier = check_number("channel_multiplier", channel_multiplier, exclusive_minimum=0)
        if pretrained is not False and channel_multiplier != EFFICIENTNET_CHANNEL_MULTIPLIER:
            raise ValueError(f"channel_multiplier must be 1.0 with pretrained weights, got {channel_multiplier!r}")
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
        elif channel_multiplier != EFFICIENTNET_CHANNEL_MULTIPLIER:
            self.net = _scaled_timm_model(name, channel_multiplier, **options)
        elif pretrained is False:
            self.net = timm.create_model(name, pretrained=False, **options)
        else:
            self.net = load_pretrained_weights(name, pretrained, **options)
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
        channel_multiplier: float = EFFICIENTNET_CHANNEL_MULTIPLIER,
    ) -> nn.Module:
        return EfficientNet(
            name, in_channels, num_classes, pretrained, resize_to, drop_rate, drop_path_rate, channel_multiplier
        )

    return build


for _name in _DROP_RATES:
    register_model(_name)(_builder(_name))
