"""Probing a pretrained model on a folder of images: D_f, G_f, R_f per layer, and the top-k error where labels apply.

The displacement unit: the paper's delta is in pixels at the model's input size (default:
1 pixel). At 224 px one pixel is a 7 times smaller relative deformation than at the paper's
32 px; ``delta_unit="n/32"`` reads every delta in units of n / 32 pixels, the same relative
deformation as that many pixels at 32 px (7 px at n = 224). The records keep the displacement
in pixels; the metadata records the unit and the deltas as given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch

from lightning_diffeo.stability import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DELTAS,
    StabilityResult,
    check_sizes,
    measure_stability,
    model_mode,
)
from lightning_diffeo.validation import check_choice

from .images import FolderImages
from .labels import folder_labels, top_k_errors
from .pretrained_model import PretrainedModel
from .pretrained_layers import expand_layers

__all__ = ["DELTA_UNITS", "DeltaUnit", "check_delta_unit", "probe_pretrained", "scale_deltas", "top_k_on_folder"]

DeltaUnit = Literal["pixel", "n/32"]
DELTA_UNITS: tuple[str, ...] = ("pixel", "n/32")
REFERENCE_SIZE = 32
"""The paper's image size: ``delta_unit="n/32"`` keeps the relative deformation of deltas at this size."""


def check_delta_unit(delta_unit: Any) -> str:
    """``"pixel"`` or ``"n/32"``."""
    return check_choice("delta_unit", delta_unit, DELTA_UNITS)


def scale_deltas(
    deltas: Sequence[float] | None, delta_unit: str, size: int
) -> tuple[tuple[float, ...] | None, dict[str, Any]]:
    """(deltas in pixels, the record) of checked deltas in ``delta_unit`` on n x n images.

    >>> scale_deltas((1.0,), "n/32", 224)[0]
    (7.0,)
    """
    pixels_per_unit = 1.0 if delta_unit == "pixel" else size / REFERENCE_SIZE
    record = {"delta_unit": delta_unit, "pixels_per_delta_unit": pixels_per_unit,
              "deltas_requested": None if deltas is None else list(deltas)}
    if deltas is None:
        if delta_unit != "pixel":
            raise ValueError(f"delta_unit={delta_unit!r} scales deltas; it does not apply to temperatures or sweep")
        return None, record
    return tuple(d * pixels_per_unit for d in deltas), record


def _logits(built: PretrainedModel, images: torch.Tensor, mode: str, batch_size: int | None) -> torch.Tensor:
    """The model's outputs [N, K] on the clean images, in the probed mode and batches."""
    size = batch_size or (images.shape[0] if mode == "init" else DEFAULT_BATCH_SIZE)
    outputs = []
    with torch.no_grad(), model_mode(built.model, mode):
        for start in range(0, images.shape[0], size):
            output = built.model(built.normalize(images[start:start + size]))
            outputs.append((output[0] if isinstance(output, (tuple, list)) else output).float())
    return torch.cat(outputs)


def top_k_on_folder(
    built: PretrainedModel, folder: FolderImages, label_index: Mapping[str, int] | None = None,
    mode: str = "eval", batch_size: int | None = None, images: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Top-1 and top-5 error on a labelled folder, or why there is none (``{"labels": ...}``).

    Args:
        built: the model.
        folder: images of an ``ImageFolder`` tree (a flat folder has no labels).
        label_index: folder name -> output index (default: the classes the model names).
        mode: the mode of the forward pass (the probe's).
        batch_size: images per forward pass.
        images: ``folder.images`` moved to the model's device (default: ``folder.images``).
    """
    if folder.classes is None:
        return {"labels": "none (a flat folder)"}
    index = built.label_index if label_index is None else label_index
    source = "the model's classes" if label_index is None else "the class_index map"
    if not index and label_index is None:
        return {"labels": "none (the model names no classes, e.g. a head fine-tuned to other classes: give "
                          "class_index, a JSON map of the class folders to its outputs)"}
    mapping, unmatched = folder_labels(folder.classes, index) if index else (None, list(folder.classes))
    if mapping is None:
        return {"labels": f"none (class folders not among {source}: {', '.join(unmatched[:5])}; "
                          "name ImageNet folders by category or WordNet id, e.g. tabby or n02123045)"}
    images = folder.images if images is None else images
    labels = torch.tensor(mapping)[folder.targets].to(images.device)
    logits = _logits(built, images, mode, batch_size)
    return {"labels": f"class folders -> {source}", "n_labelled": int(labels.numel()),
            **top_k_errors(logits, labels)}


def probe_pretrained(
    built: PretrainedModel,
    folder: FolderImages,
    device: str = "cpu",
    layers: str | Sequence[str] | None = None,
    mode: str | None = None,
    delta_unit: DeltaUnit = "pixel",
    label_index: Mapping[str, int] | None = None,
    **settings: Any,
) -> StabilityResult:
    """Measure a pretrained model on a folder's images (``settings``: ``measure_stability`` options).

    Args:
        built: from :func:`~lightning_diffeo.evaluation.load_pretrained`.
        folder: from :func:`~lightning_diffeo.evaluation.load_folder_images` with ``built.transform``.
        device: where to run.
        layers: module names, ``"output"``, ``"blocks"`` (a ViT's every block); None: ``built.layers``.
        mode: None for ``built.mode`` (``init`` for random weights, else ``eval``).
        delta_unit: ``"pixel"`` or ``"n/32"`` (see the module docstring).
        label_index: folder name -> output index, instead of the model's own classes.

    Returns:
        The result; its metadata records the model, weights, preprocessing, images, labels,
        top-1/top-5 errors where labels apply, the delta unit and the provenance.
    """
    from lightning_diffeo.provenance import provenance

    if isinstance(layers, str):
        layers = (layers,)
    chosen = expand_layers(layers, built.blocks) or built.layers
    mode = mode or built.mode
    sizes = check_sizes(settings.pop("deltas", DEFAULT_DELTAS), settings.pop("temperatures", None),
                        settings.pop("sweep", False))
    deltas, delta_record = scale_deltas(sizes.deltas, check_delta_unit(delta_unit), built.image_size)
    built.model.to(device)
    images = folder.images.to(device)
    result = measure_stability(built.model, images, normalize=built.normalize, layers=chosen, mode=mode,
                               deltas=deltas, temperatures=sizes.temperatures, sweep=sizes.sweep, **settings)
    # the probe's batch, which the memory plan may have lowered
    errors = top_k_on_folder(built, folder, label_index, mode, result.metadata["batch_size"], images)
    label = built.name + (" (random init)" if built.weights_kind == "random" else "")
    result.metadata.update({"label": label, **built.metadata(), "images": folder.metadata(), **errors,
                            **delta_record, "provenance": provenance(None, images)})
    return result
