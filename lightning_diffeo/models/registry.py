"""Registry of the architectures compared in Petrini et al. (2021), Table 1.

Every builder takes ``(in_channels, num_classes, image_size, **options)`` and returns an
``nn.Module`` that maps images ``[B, in_channels, image_size, image_size]`` to logits
``[B, num_classes]`` and carries two attributes:

- ``probe_layers``: module names (as in ``named_modules()``) of the blocks worth probing,
  input to output, ending with the literal ``"output"`` (the model's return value);
- ``head_name``: module name of the classification head (used by the ``transfer`` recipe).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from lightning_diffeo.validation import check_choice, check_int, check_positive_int

__all__ = ["create_model", "list_models", "register_model", "check_input_spec"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_FIXED = ("in_channels", "num_classes", "image_size")


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a builder under ``name``.

    Args:
        name: registry key, lower case (e.g. ``"resnet18"``).

    Returns:
        The decorator, which returns the builder unchanged.
    """

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return decorator


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, in registration order (simple to deep)."""
    return list(_REGISTRY)


def check_input_spec(in_channels: int, num_classes: int, image_size: int) -> None:
    """Validate the shape arguments shared by every builder.

    Raises:
        TypeError: an argument is not an int.
        ValueError: an argument is not positive (``num_classes`` must be at least 2).
    """
    check_positive_int("in_channels", in_channels)
    check_int("num_classes", num_classes, minimum=2)
    check_positive_int("image_size", image_size)


def create_model(
    name: str,
    in_channels: int = 3,
    num_classes: int = 10,
    image_size: int = 32,
    **kwargs: object,
) -> nn.Module:
    """Build a registered architecture.

    Args:
        name: one of :func:`list_models` (e.g. ``"lenet"``, ``"resnet18"``, ``"vgg11_bn"``).
        in_channels: image channels C (1 for MNIST/FashionMNIST, 3 otherwise).
        num_classes: number of output logits.
        image_size: side H = W of the square input images, in pixels.
        **kwargs: architecture options (e.g. ``width`` for ``fc*``, ``pretrained`` and
            ``resize_to`` for ``efficientnet_*``).

    Returns:
        A module mapping ``[B, C, H, W]`` to logits ``[B, num_classes]``, with attributes
        ``probe_layers`` and ``head_name``.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid ones) or bad sizes.
        TypeError: an option the architecture does not accept.

    Example:
        >>> import torch
        >>> model = create_model("lenet", in_channels=1, image_size=28)
        >>> model(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
        >>> model.probe_layers[-1]
        'output'
    """
    check_choice("model name", name, _REGISTRY)
    check_input_spec(in_channels, num_classes, image_size)
    builder = _REGISTRY[name]
    accepted = [p for p in inspect.signature(builder).parameters if p not in _FIXED]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"model {name!r} got unexpected option(s) {unknown}; it accepts {accepted or 'none'}"
        )
    return builder(in_channels=in_channels, num_classes=num_classes, image_size=image_size, **kwargs)
