"""Labels of an image folder: folder names -> the model's output indices, and the top-k error on those images.

A folder name maps to an output index through a class-index map given by the user (a JSON
file) or through the classes the model names: ImageNet-1k for timm models whose pretrained
config says so (``timm.data.infer_imagenet_subset``, names from ``timm.data.ImageNetInfo``) and
the ``categories`` of torchvision weights. A folder may be named by the WordNet id
(``n03763968``), by the category (``military uniform``, ``military_uniform``) or by any
synonym of ImageNet's description (``tabby``, ``tabby cat``); case is ignored. A synonym shared by
two classes names the class it comes first for (``missile``: 657, not 744 "projectile, missile"),
or neither where it comes first for both (``crane``: a bird and a machine; use the WordNet id).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

__all__ = ["folder_labels", "imagenet_label_index", "key", "read_class_index", "top_k_errors"]

IMAGENET_CLASSES = 1000


def key(name: str) -> str:
    """The form folder names are matched in: lower case, underscores as spaces, single spaces."""
    return " ".join(name.replace("_", " ").lower().split())


def imagenet_label_index(categories: Sequence[str] | None = None) -> dict[str, int]:
    """Matching key -> ImageNet-1k index: WordNet ids, every synonym of the descriptions, ``categories``.

    Args:
        categories: a model's own names of its 1000 classes in ImageNet order (torchvision's
            ``weights.meta["categories"]``), or None.
    """
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    index: dict[str, int] = {}
    ambiguous: set[str] = set()
    for i, description in enumerate(info.label_descriptions()):
        for synonym in {key(part) for part in description.split(",") if part.strip()}:
            if synonym in index and index[synonym] != i:
                ambiguous.add(synonym)
            index.setdefault(synonym, i)
    for synonym in ambiguous:
        del index[synonym]
    firsts = [key(description.split(",")[0]) for description in info.label_descriptions()]
    shared = {name for name in firsts if firsts.count(name) > 1}  # "crane": a bird and a machine
    index.update({name: i for i, name in enumerate(firsts) if name not in shared})
    for i, name in enumerate(categories or ()):
        index[key(name)] = i  # the model's own name wins over a shared synonym
    index.update({key(wnid): i for i, wnid in enumerate(info.label_names())})
    return index


def read_class_index(path: str | os.PathLike) -> dict[str, int]:
    """A class-index map from JSON: ``{"folder": index}``, or Keras' ``{"index": ["n0...", "name"]}``.

    Raises:
        FileNotFoundError, ValueError: no such file, or not one of the two forms.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class_index file not found: {str(path)!r}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"class_index {path} is not JSON ({error})") from None
    index: dict[str, int] = {}
    if isinstance(data, dict):
        for name, value in data.items():
            if isinstance(value, int) and not isinstance(value, bool):
                index[key(name)] = value
            elif isinstance(value, list) and str(name).isdigit() and all(isinstance(v, str) for v in value):
                index.update({key(v): int(name) for v in value})
            else:
                index = {}
                break
    if not index:
        raise ValueError(f'class_index {path} must map folder names to indices ({{"cat": 3}}) or indices to '
                         f'names ({{"3": ["n02123045", "tabby"]}})')
    return index


def folder_labels(classes: Sequence[str], index: Mapping[str, int]) -> tuple[list[int] | None, list[str]]:
    """(output index of each class folder, or None when a folder is unmatched; the unmatched folders)."""
    unmatched = [name for name in classes if key(name) not in index]
    if unmatched or not classes:
        return None, unmatched
    return [index[key(name)] for name in classes], []


def top_k_errors(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``{"top1_error": ..., "top5_error": ...}``: the fraction of images whose label is not among the k best.

    Args:
        logits: [N, K] model outputs.
        labels: [N] output indices.
    """
    errors = {}
    for k in ks:
        if k > logits.shape[1]:
            continue
        best = logits.topk(k, dim=1).indices
        hit = (best == labels[:, None]).any(dim=1)
        errors[f"top{k}_error"] = 1.0 - hit.float().mean().item()
    return errors
