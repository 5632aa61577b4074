"""What a pretrained model source gives the probe (:class:`PretrainedModel`), and the checks of its names and files.

Kept apart from :mod:`~lightning_diffeo.evaluation.pretrained` so that the framework builders
(``_timm_source``, ``_torchvision_source``) import it without a circle.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from lightning_diffeo.stability import Mode

__all__ = [
    "FRAMEWORKS",
    "HUB",
    "WEIGHT_SUFFIXES",
    "Framework",
    "PretrainedModel",
    "WeightsKind",
    "check_square",
    "check_weights_file",
    "is_weights_file",
    "parse_model_name",
    "suggest",
]

Framework = Literal["timm", "torchvision"]
FRAMEWORKS: tuple[str, ...] = ("timm", "torchvision")
WeightsKind = Literal["random", "file", "hub", "torchvision"]
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt")
"""File endings taken for a weights file (any existing file is one too)."""
HUB = "hub"


@dataclass
class PretrainedModel:
    """A classifier ready to probe, with its preprocessing and default layers.

    Attributes:
        model: the network on the CPU, evaluation mode.
        name: ``"timm:NAME"`` or ``"torchvision:NAME"`` as given.
        framework: ``"timm"`` or ``"torchvision"``.
        transform: PIL image -> float tensor [3, n, n] in [0, 1] (resize, centre crop, to tensor).
        normalize: [..., 3, n, n] -> normalised input (mean and std), applied after perturbing.
        image_size: n, the square input size in pixels.
        layers: default probe layers (module names and ``"output"``).
        blocks: a vision transformer's every block (with its patch tokens): what ``"blocks"``
            in ``layers`` stands for; empty for other models.
        weights_kind: ``"random"``, ``"file"``, ``"hub"`` or ``"torchvision"``.
        weights: where the weights came from, in words (``"random initialisation"``, a path...).
        mode: ``"eval"`` for loaded weights, ``"init"`` for random initialisation.
        preprocessing: resize, crop, interpolation, mean, std and their source, for the record.
        label_index: folder name -> output index for the classes the model names (ImageNet
            WordNet ids and category names where they apply; empty otherwise).
        patch_prefix_tokens: leading (class, register) tokens of a vision transformer's token
            outputs, removed by its ``<block>.patches`` layers; None for other models.
    """

    model: nn.Module
    name: str
    framework: Framework
    transform: Callable[[Any], torch.Tensor]
    normalize: Callable[[torch.Tensor], torch.Tensor]
    image_size: int
    layers: tuple[str, ...]
    blocks: tuple[str, ...]
    weights_kind: WeightsKind
    weights: str
    mode: Mode
    preprocessing: dict[str, Any] = field(default_factory=dict)
    label_index: Mapping[str, int] = field(default_factory=dict)
    patch_prefix_tokens: int | None = None

    def metadata(self) -> dict[str, Any]:
        """What the probe's JSON records about the model (no tensors)."""
        return {
            "model_name": self.name, "framework": self.framework, "weights_kind": self.weights_kind,
            "weights": self.weights, "random_init": self.weights_kind == "random", "image_size": self.image_size,
            "preprocessing": dict(self.preprocessing), "default_layers": list(self.layers),
            "patch_prefix_tokens": self.patch_prefix_tokens,
        }


def parse_model_name(name: Any) -> tuple[Framework, str]:
    """``"timm:resnet18"`` -> ``("timm", "resnet18")``; a bad form raises ``ValueError``."""
    if not isinstance(name, str) or ":" not in name:
        raise ValueError(f"model must be timm:NAME or torchvision:NAME (e.g. timm:resnet50), got {name!r}")
    framework, _, model = name.partition(":")
    if framework not in FRAMEWORKS or not model.strip():
        raise ValueError(f"model must be timm:NAME or torchvision:NAME (e.g. timm:resnet50), got {name!r}")
    return framework, model.strip()  # type: ignore[return-value]


def suggest(name: str, known: list[str]) -> str:
    """``" (did you mean a, b?)"`` from the close matches of ``name`` in ``known``, or ``""``."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def is_weights_file(weights: str) -> bool:
    """Whether ``weights`` names a file: an existing one, a known ending, or a path with a folder."""
    return Path(weights).is_file() or Path(weights).suffix.lower() in WEIGHT_SUFFIXES or os.sep in weights


def check_weights_file(path: str | os.PathLike, option: str = "weights") -> Path:
    """The path of an existing weights file, else ``FileNotFoundError`` (one line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{option} file not found: {str(path)!r}")
    return path


def check_square(name: str, input_size: tuple[int, ...]) -> int:
    """n of a model's input size (C, n, n); a non-square size raises ``ValueError``."""
    height, width = int(input_size[-2]), int(input_size[-1])
    if height != width:
        raise ValueError(
            f"{name} takes {height} x {width} inputs; the diffeomorphisms need square images: "
            "give a square --image_size"
        )
    return height
