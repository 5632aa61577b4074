"""The images of a torchvision-v2-style sample: which leaves ``Diffeo`` deforms, and how it walks them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["as_float_image", "is_mask", "map_leaves", "sample_images"]

_REFUSED = ("BoundingBoxes", "KeyPoints")


def is_mask(value: Any) -> bool:
    """A ``tv_tensors.Mask`` (followed with nearest interpolation)."""
    return isinstance(value, torch.Tensor) and type(value).__name__ == "Mask"


def _is_image(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return type(value).__name__ in ("Image", "Video")
    return type(value).__module__.startswith("PIL.")


def as_float_image(value: Any) -> torch.Tensor:
    """A PIL image as a float ``[C, n, n]`` tensor in [0, 1]; tensors as they are."""
    if isinstance(value, torch.Tensor):
        return value
    from torchvision.transforms.v2 import functional as F

    return F.to_dtype(F.pil_to_tensor(value), torch.float32, scale=True)


def _leaves(sample: Any) -> list[Any]:
    if isinstance(sample, (tuple, list)):
        return [leaf for item in sample for leaf in _leaves(item)]
    if isinstance(sample, dict):
        return [leaf for item in sample.values() for leaf in _leaves(item)]
    return [sample]


def map_leaves(sample: Any, function: Callable[[Any], Any]) -> Any:
    """The sample with ``function`` applied to every leaf, its tuples, lists and dicts rebuilt."""
    if isinstance(sample, (tuple, list)):
        return type(sample)(map_leaves(item, function) for item in sample)
    if isinstance(sample, dict):
        return {key: map_leaves(item, function) for key, item in sample.items()}
    return function(sample)


def sample_images(sample: Any) -> list[Any]:
    """The images of a sample as torchvision v2 finds them; boxes and key points are refused.

    ``tv_tensors.Image``/``Video`` and PIL images, else the first plain tensor.
    """
    leaves = _leaves(sample)
    images = [leaf for leaf in leaves if _is_image(leaf)]
    if not images:  # v2: with no explicit image, the first plain tensor is the image
        images = [next((leaf for leaf in leaves if type(leaf) is torch.Tensor), None)]
        if images[0] is None:
            raise TypeError(f"Diffeo found no image in a {type(sample).__name__} sample: give a tensor "
                            "[..., C, n, n], a PIL image or a tv_tensors.Image")
    for leaf in leaves:
        if type(leaf).__name__ in _REFUSED:
            raise TypeError(f"Diffeo cannot deform {type(leaf).__name__}: a diffeomorphism does not map a box "
                            "or a key point list to one of the same kind; drop them from the sample")
    return images
