"""Weights files for pretrained models: reading state dicts, finding hub downloads in the local cache, one-line mismatches.

Nothing here touches the network: a hub tag is looked up in the local Hugging Face cache
(``huggingface_hub.try_to_load_from_cache``) and the torch hub folder only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["cached_download", "mismatch_summary", "read_state_dict", "torch_hub_file"]

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


def _example(keys: list[str]) -> str:
    return f" (e.g. {keys[0]})" if keys else ""


def mismatch_summary(error: BaseException) -> str:
    """One line from ``load_state_dict``'s multi-line report: counts of missing, unexpected and reshaped entries."""
    text = str(error)
    missing = re.findall(r'"([^"]+)"', "".join(re.findall(r"Missing key\(s\) in state_dict: ([^\n]*)", text)))
    unexpected = re.findall(r'"([^"]+)"', "".join(re.findall(r"Unexpected key\(s\) in state_dict: ([^\n]*)", text)))
    shapes = re.findall(r"size mismatch for ([^:]+): copying a param with shape torch.Size\((\[[^\]]*\])\) from "
                        r"checkpoint, the shape in current model is torch.Size\((\[[^\]]*\])\)", text)
    parts = []
    if missing:
        parts.append(f"{len(missing)} entries of the model missing from the file{_example(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} entries of the file unknown to the model{_example(unexpected)}")
    if shapes:
        name, stored, expected = shapes[0]
        parts.append(f"{len(shapes)} of another shape (e.g. {name}: {stored} in the file, {expected} in the model)")
    return ", ".join(parts) if parts else " ".join(_first(text).split())
