"""torchvision classifiers for :func:`~lightning_diffeo.evaluation.pretrained.load_pretrained`: weights, preprocessing, layers."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision import models, transforms

from .labels import IMAGENET_CLASSES, imagenet_label_index, key
from .pretrained_model import PretrainedModel, is_weights_file, suggest
from .pretrained_layers import torchvision_layers
from .weights import head_note, load_with_head_of_file, mismatch_summary, read_state_dict, torch_hub_file

__all__ = ["build_torchvision", "check_torchvision", "published_top1"]


def _check_name(name: str) -> None:
    known = models.list_models(module=models)
    if name not in known:
        raise ValueError(f"unknown torchvision classifier {name!r}{suggest(name, known)}; "
                         "torchvision.models.list_models(module=torchvision.models) lists them")


def _weights_enum(name: str, weights: str) -> Any:
    """The weights enum member named ``IMAGENET1K_V1``, ``DEFAULT`` or ``ResNet18_Weights.IMAGENET1K_V1``."""
    enum = models.get_model_weights(name)
    member = weights.split(".", 1)[1] if weights.startswith(f"{enum.__name__}.") else weights
    if member not in enum.__members__:
        raise ValueError(f"unknown torchvision weights {weights!r} for {name}; its weights: "
                         f"{', '.join(enum.__members__)} (or a local file)")
    return enum[member]


def check_torchvision(name: str, weights: str | None) -> None:
    """The checks that need no model: a known classifier, and a weights name it has (a file is checked apart)."""
    _check_name(name)
    if weights is not None and not is_weights_file(weights):
        _weights_enum(name, weights)


def published_top1(name: str, weights: str) -> tuple[float, str]:
    """(top-1 accuracy in percent, its source) of torchvision's metadata for the weights ``weights`` of ``name``.

    Raises:
        ValueError: an unknown classifier or weights name, or weights whose metadata has no ``acc@1``.
    """
    _check_name(name)
    enum = _weights_enum(name, weights)
    metrics = enum.meta.get("_metrics") or {}
    for dataset in sorted(metrics, key=lambda d: d != "ImageNet-1K"):  # ImageNet-1K first
        if "acc@1" in (metrics[dataset] or {}):
            return float(metrics[dataset]["acc@1"]), f"torchvision {enum} metadata ({dataset} acc@1)"
    raise ValueError(f"torchvision weights {enum} record no top-1 accuracy (acc@1) in their metadata")


@contextlib.contextmanager
def _offline_hub(file: Path, url: str) -> Iterator[None]:
    """A temporary torch hub folder holding ``file`` under the name torchvision looks for: no download."""
    with tempfile.TemporaryDirectory(prefix="lightning-diffeo-hub-") as folder:
        target = torch_hub_file(url).name
        (Path(folder) / "checkpoints").mkdir()
        try:
            os.symlink(file.resolve(), Path(folder) / "checkpoints" / target)
        except OSError:
            shutil.copyfile(file, Path(folder) / "checkpoints" / target)
        previous = torch.hub.get_dir()
        torch.hub.set_dir(folder)
        try:
            yield
        finally:
            torch.hub.set_dir(previous)


def _failure(error: BaseException, name: str, source: Any) -> ValueError:
    """The one-line error of a failed build, naming the model (and the weights file or name ``source``)."""
    if source is None:
        return ValueError(f"torchvision:{name} could not be built ({mismatch_summary(error)})")
    return ValueError(f"--weights {source} does not fit torchvision:{name}: {mismatch_summary(error)}")


def _from_state(name: str, file: Path, kwargs: dict[str, Any]) -> tuple[nn.Module, int | None]:
    """The model with the state dict of ``file``, and K where the file's head of K classes set ``num_classes``.

    A file that fits but for a classifier head of K classes (the entries of another shape: a
    module's weight [K, ...] and bias [K] against torchvision's default 1000 outputs), with no
    ``num_classes`` given, builds the model with ``num_classes=K`` (set in ``kwargs``).
    """
    state = read_state_dict(file)  # one-line errors of its own

    def load(options: dict[str, Any]) -> nn.Module:
        model = models.get_model(name, weights=None, **options)
        model.load_state_dict(state)
        return model

    return load_with_head_of_file(load, kwargs, IMAGENET_CLASSES, None, lambda error: _failure(error, name, file))


def _build(name: str, enum: Any, file: Path | None, kwargs: dict[str, Any]) -> nn.Module:
    """The model at random (``enum`` None) or with the weights of the enum (its builder's own loading), from
    ``file`` or the cache."""
    try:
        if enum is None:
            return models.get_model(name, weights=None, **kwargs)
        if file is None:
            return models.get_model(name, weights=enum, **kwargs)  # from the cache: checked to exist
        with _offline_hub(file, enum.url):
            return models.get_model(name, weights=enum, **kwargs)
    except Exception as error:  # noqa: BLE001 - reading and applying a foreign file fails in many ways
        raise _failure(error, name, file or enum) from None


def _preprocessing(enum: Any, image_size: int | None) -> tuple[Any, Any, int, dict[str, Any]]:
    """(transform to [0, 1], normalize, n, the record) from the attributes of ``weights.transforms()``."""
    preset = enum.transforms()
    crop, resize = int(preset.crop_size[0]), int(preset.resize_size[0])
    if image_size is not None:
        crop, resize = image_size, round(image_size * resize / crop)
    transform = transforms.Compose([
        transforms.Resize(resize, interpolation=preset.interpolation, antialias=preset.antialias),
        transforms.CenterCrop(crop), transforms.PILToTensor(), transforms.ConvertImageDtype(torch.float32),
    ])
    record = {"source": f"torchvision {enum}.transforms()", "input_size": crop, "resize": resize, "crop": crop,
              "interpolation": preset.interpolation.value, "mean": list(preset.mean), "std": list(preset.std)}
    return transform, transforms.Normalize(preset.mean, preset.std), crop, record


def _labels(enum: Any, kwargs: dict[str, Any]) -> dict[str, int]:
    categories = list(enum.meta.get("categories") or [])
    if not categories or kwargs.get("num_classes", len(categories)) != len(categories):
        return {}
    if len(categories) == 1000:
        return imagenet_label_index(categories)
    return {key(name): i for i, name in enumerate(categories)}


def build_torchvision(
    name: str, weights: str | None, weights_file: str | None, image_size: int | None, kwargs: dict[str, Any]
) -> PretrainedModel:
    """A torchvision classifier with its weights, preprocessing, layers and labels (see ``load_pretrained``)."""
    _check_name(name)
    if image_size is not None and name.startswith("vit_"):
        kwargs.setdefault("image_size", image_size)
    if weights is None or is_weights_file(weights):
        enum = models.get_model_weights(name).DEFAULT  # the transforms and categories of its default weights
        if weights is None:
            kind, described, model = "random", "random initialisation", _build(name, None, None, kwargs)
        else:
            model, classes = _from_state(name, Path(weights), kwargs)
            kind, described = "file", str(weights) + ("" if classes is None else head_note(classes))
    else:
        enum = _weights_enum(name, weights)
        file = Path(weights_file) if weights_file is not None else torch_hub_file(enum.url)
        if not file.is_file():
            raise ValueError(f"torchvision weights {enum} are not in the local cache ({file}) and probe never "
                             f"downloads: fetch {enum.url} where there is a network and pass --weights_file FILE")
        kind, described = "torchvision", f"{enum} (file {file})"
        model = _build(name, enum, None if weights_file is None else file, kwargs)
    transform, normalize, size, record = _preprocessing(enum, image_size)
    layers, blocks, prefix = torchvision_layers(model)
    return PretrainedModel(
        model=model, name=f"torchvision:{name}", framework="torchvision", transform=transform, normalize=normalize,
        image_size=size, layers=layers, blocks=blocks, weights_kind=kind, weights=described,
        mode="init" if kind == "random" else "eval", preprocessing=record, label_index=_labels(enum, kwargs),
        patch_prefix_tokens=prefix,
    )
