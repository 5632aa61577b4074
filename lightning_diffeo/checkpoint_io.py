"""Reading torch checkpoint files safely: the weights-only unpickler first, always.

A checkpoint is read with ``torch.load(weights_only=True)``; the full unpickler (which can run
code stored in the file) is used only for a file the caller trusts, one that its own run wrote
(Lightning stores hyper-parameters that may hold objects the safe unpickler refuses).
"""

from __future__ import annotations

import os
import pickle
from typing import Any

__all__ = ["UnsafeCheckpoint", "read_checkpoint"]


class UnsafeCheckpoint(pickle.UnpicklingError):
    """The file holds objects that ``torch.load(weights_only=True)`` refuses to load."""


def read_checkpoint(path: str | os.PathLike, trusted: bool = False, mmap: bool = False) -> Any:
    """The object stored in ``path``, loaded onto the CPU.

    Args:
        path: a file written by ``torch.save`` (e.g. a Lightning ``.ckpt``).
        trusted: fall back on the full unpickler when the weights-only one refuses the file
            (only for files written by the caller's own run).
        mmap: map the tensors' storage instead of reading it (cheap when only metadata is needed).

    Raises:
        UnsafeCheckpoint: the weights-only unpickler refuses the file and ``trusted`` is False.
        pickle.UnpicklingError, RuntimeError, OSError, ...: a corrupt or foreign file (torch's own errors).
    """
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        if "weights_only" not in str(error) and "Weights only" not in str(error):
            raise
        if not trusted:
            raise UnsafeCheckpoint(str(error)) from None
    return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
