"""Weights files for pretrained models: reading state dicts, finding hub downloads in the local cache, one-line mismatches,
and the classifier head of another number of classes (a fine-tuned file).

Nothing here touches the network: a hub tag is looked up in the local Hugging Face cache
(``huggingface_hub.try_to_load_from_cache``) and the torch hub folder only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

__all__ = [
    "Mismatches",
    "cached_download",
    "head_classes",
    "head_note",
    "load_with_head_of_file",
    "mismatch_summary",
    "parse_mismatches",
    "read_state_dict",
    "torch_hub_file",
]

T = TypeVar("T")
_HF_FILENAMES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")
_WRAPPERS = ("state_dict", "model", "state_dict_ema", "model_ema")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file or a ``torch.save`` state dict (read with ``weights_only=True``).

    A checkpoint that wraps the state dict under ``"state_dict"`` or ``"model"`` is unwrapped.

    Raises:
        ValueError: the file cannot be read, or holds no mapping of names to tensors.
    """
    from lightning_diffeo.checkpoint_io import UnsafeCheckpoint, read_checkpoint

    path = Path(path)
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        stored: Any = read_checkpoint(path)
    except UnsafeCheckpoint:
        raise ValueError(f"--weights {path}: torch.load(weights_only=True) refuses the file (it stores objects, "
                         "not only tensors): save the model's state_dict() instead") from None
    except Exception as error:  # noqa: BLE001 - torch.load of a foreign file raises struct, zip, pickle, ... errors
        raise ValueError(f"--weights {path} is not a weights file torch or safetensors can read "
                         f"({_first(str(error))})") from None
    for key in _WRAPPERS:
        if isinstance(stored, Mapping) and isinstance(stored.get(key), Mapping):
            stored = stored[key]
            break
    if not isinstance(stored, Mapping) or not stored or not all(isinstance(v, torch.Tensor) for v in stored.values()):
        raise ValueError(f"--weights {path} holds no state dict (a mapping of names to tensors)")
    return dict(stored)


def torch_hub_file(url: str | None) -> Path:
    """Where torch (``load_state_dict_from_url``) keeps the download of ``url``: ``<hub dir>/checkpoints/<name>``."""
    name = os.path.basename(str(url or "").split("?")[0])
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def cached_download(hf_hub_id: str | None, hf_hub_filename: str | None, url: str | None) -> Path | None:
    """A pretrained file already in the local Hugging Face cache or torch hub folder, else None (never downloads)."""
    if hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = hf_hub_id.partition("@")
        names = ((hf_hub_filename,) if hf_hub_filename else ()) + _HF_FILENAMES
        for filename in names:
            found = try_to_load_from_cache(repo, filename, revision=revision or None)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    if url and torch_hub_file(url).is_file():
        return torch_hub_file(url)
    return None


def _first(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unreadable"


def _example(keys: Sequence[str]) -> str:
    return f" (e.g. {keys[0]})" if keys else ""


@dataclass(frozen=True)
class Mismatches:
    """What ``load_state_dict`` reported: names missing from the file, names unknown to the model, and the
    entries of another shape as ``(name, shape in the file, shape in the model)``."""

    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    shapes: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(size) for size in text.strip("[]").split(",") if size.strip())


def parse_mismatches(error: BaseException) -> Mismatches:
    """The entries named in ``load_state_dict``'s multi-line report (all empty for another error)."""
    text = str(error)
    missing = re.findall(r'"([^"]+)"', "".join(re.findall(r"Missing key\(s\) in state_dict: ([^\n]*)", text)))
    unexpected = re.findall(r'"([^"]+)"', "".join(re.findall(r"Unexpected key\(s\) in state_dict: ([^\n]*)", text)))
    shapes = re.findall(r"size mismatch for ([^:]+): copying a param with shape torch.Size\((\[[^\]]*\])\) from "
                        r"checkpoint, the shape in current model is torch.Size\((\[[^\]]*\])\)", text)
    return Mismatches(tuple(missing), tuple(unexpected),
                      tuple((name, _shape(stored), _shape(expected)) for name, stored, expected in shapes))


def head_classes(error: BaseException, classes: int, heads: Collection[str] | None = None) -> int | None:
    """K when the file fits the model but for a classifier head of K classes instead of ``classes``, else None.

    That is: nothing missing or unknown, and every entry of another shape is the ``weight`` [K, ...]
    (``[classes, ...]`` in the model, the same further sizes) or ``bias`` [K] (``[classes]``) of a
    module whose weight differs, one K for all of them.

    Args:
        error: what loading the file raised.
        classes: the model's number of outputs.
        heads: the classifier modules' names where the library records them (timm's
            ``pretrained_cfg["classifier"]``); None: any module whose shapes fit (torchvision).
    """
    found = parse_mismatches(error)
    if found.missing or found.unexpected or not found.shapes:
        return None
    names = {name for name, _, _ in found.shapes}
    modules = {name.rpartition(".")[0] for name in names}
    sizes = {stored[0] if stored else 0 for _, stored, _ in found.shapes}
    if len(sizes) != 1 or sizes & {0, classes} or (heads is not None and not modules <= set(heads)):
        return None
    if any(f"{module}.weight" not in names for module in modules):
        return None
    return sizes.pop() if all(_head_entry(*entry, classes) for entry in found.shapes) else None


def _head_entry(name: str, stored: tuple[int, ...], expected: tuple[int, ...], classes: int) -> bool:
    """A classifier's weight [K, ...] or bias [K] against [classes, ...] / [classes] in the model."""
    if not stored or not expected or stored[1:] != expected[1:] or expected[0] != classes:
        return False
    return (name.endswith(".weight") and len(stored) >= 2) or (name.endswith(".bias") and len(stored) == 1)


def load_with_head_of_file(
    load: Callable[[dict[str, Any]], T],
    kwargs: dict[str, Any],
    classes: int | None,
    heads: Collection[str] | None,
    failure: Callable[[BaseException], Exception],
) -> tuple[T, int | None]:
    """(``load(kwargs)``, None), or where it fails on a classifier head of K classes (:func:`head_classes`)
    and ``kwargs`` give no ``num_classes``: (``load`` with ``num_classes=K`` set in ``kwargs``, K).

    Args:
        load: builds the model from its keyword arguments and loads the file.
        kwargs: the model's keyword arguments.
        classes: the number of outputs of the model ``load`` builds without ``num_classes``; None: no head check.
        heads: see :func:`head_classes`.
        failure: the one-line error to raise for any other failure.
    """
    try:
        return load(kwargs), None
    except Exception as error:  # noqa: BLE001 - reading and applying a foreign file fails in many ways
        found = None if "num_classes" in kwargs or classes is None else head_classes(error, classes, heads)
        if found is None:
            raise failure(error) from None
    kwargs["num_classes"] = found
    try:
        return load(kwargs), found
    except Exception as error:  # noqa: BLE001
        raise failure(error) from None


def head_note(classes: int) -> str:
    """What the ``weights`` text adds when the file's head set the number of classes."""
    return f" (its {classes}-class head: built with num_classes={classes})"


def mismatch_summary(error: BaseException) -> str:
    """One line from ``load_state_dict``'s multi-line report: counts of missing, unexpected and reshaped entries."""
    found = parse_mismatches(error)
    parts = []
    if found.missing:
        parts.append(f"{len(found.missing)} entries of the model missing from the file{_example(found.missing)}")
    if found.unexpected:
        parts.append(f"{len(found.unexpected)} entries of the file unknown to the model{_example(found.unexpected)}")
    if found.shapes:
        name, stored, expected = found.shapes[0]
        parts.append(f"{len(found.shapes)} of another shape (e.g. {name}: {list(stored)} in the file, "
                     f"{list(expected)} in the model)")
    return ", ".join(parts) if parts else " ".join(_first(str(error)).split())
