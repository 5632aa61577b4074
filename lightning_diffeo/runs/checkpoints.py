"""Checkpoints of a run, read safely: the weights-only unpickler, then checks that they fit the model.

``lightning-diffeo fit/validate/test/predict --ckpt_path`` and ``probe`` check a checkpoint
here before any work, so that a wrong file is one line, not a traceback after the data loaded.
"""

from __future__ import annotations

import inspect
import os
import zipfile
from pathlib import Path
from typing import Any

from lightning_diffeo.checkpoint_io import UnsafeCheckpoint, read_checkpoint
from lightning_diffeo.validation import first_line

__all__ = [
    "CheckpointError",
    "check_checkpoint",
    "check_lightning_checkpoint",
    "checkpoint_epoch",
    "checkpoint_progress",
    "read_run_checkpoint",
    "require_checkpoint_file",
    "unsafe_message",
]


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or not a checkpoint of the expected model."""


def require_checkpoint_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path when it is a file (cheap: no torch), else CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def read_run_checkpoint(path: str | os.PathLike, mmap: bool = False) -> dict[str, Any] | None:
    """The checkpoint dict (weights only), or None when it holds objects the safe unpickler refuses.

    Raises:
        CheckpointError: missing, not a torch file, corrupt or truncated.
    """
    path = require_checkpoint_file(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            start = stream.read(2)
        if start[:1] != b"\x80":  # neither torch's zip format nor a legacy pickle
            raise CheckpointError(f"{path} is not a torch checkpoint (neither a zip archive nor a pickle)")
    try:
        return read_checkpoint(path, mmap=mmap)
    except UnsafeCheckpoint:
        return None
    except Exception as error:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(f"could not read checkpoint {path}: it is corrupt, truncated or not a torch "
                              f"checkpoint ({first_line(error)})") from None


def unsafe_message(path: str | os.PathLike) -> str:
    """Why a checkpoint that ``torch.load(weights_only=True)`` refuses is not loaded."""
    return (f"{path} holds objects that torch.load(weights_only=True) refuses to load, e.g. custom classes in its "
            "hyper-parameters; lightning-diffeo loads checkpoints safely only")


def check_lightning_checkpoint(path: str | os.PathLike, checkpoint: Any) -> None:
    """Refuse anything but a Lightning checkpoint (a dict with ``state_dict`` and Lightning's version).

    Raises:
        CheckpointError: a plain ``state_dict``, another project's file, or not a dict.
    """
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "pytorch-lightning_version" not in checkpoint:
        kind = "a plain state_dict or another project's file" if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(
            f"{path} is not a Lightning checkpoint (it looks like {kind}): give a .ckpt written by "
            "`lightning-diffeo fit` or Trainer.save_checkpoint"
        )


def check_checkpoint(path: str | os.PathLike, module: Any = None, module_class: type | None = None) -> None:
    """Check, before any work, that ``path`` is a Lightning checkpoint of ``module`` (or of ``module_class``).

    A checkpoint holding objects that the weights-only unpickler refuses is refused too: the
    package loads checkpoints safely only.

    Args:
        path: the checkpoint file.
        module: compare the checkpoint's weights with this module's ``state_dict`` keys.
        module_class: compare the checkpoint's hyper-parameters with this class's ``__init__``.

    Raises:
        CheckpointError: missing, not a torch file, corrupt, not a Lightning checkpoint (e.g. a
            plain ``state_dict``), holding objects the weights-only unpickler refuses, or the
            weights or hyper-parameters of another model.
    """
    path = Path(path)
    checkpoint = read_run_checkpoint(path)
    if checkpoint is None:
        raise CheckpointError(unsafe_message(path))
    check_lightning_checkpoint(path, checkpoint)
    if module_class is not None:
        hparams = {k for k in (checkpoint.get("hyper_parameters") or {}) if not k.startswith("_")}
        accepted = set(inspect.signature(module_class).parameters)
        if hparams - accepted:
            raise CheckpointError(
                f"{path} holds the weights of another model than {module_class.__name__}: its hyper-parameters "
                f"{sorted(hparams - accepted)} are not {module_class.__name__}'s"
            )
    if module is not None:
        expected, found = set(module.state_dict()), set(checkpoint["state_dict"])
        if expected != found:
            missing, unexpected = sorted(expected - found), sorted(found - expected)
            detail = "; ".join(
                f"{label} {len(keys)} keys (e.g. {keys[0]!r})"
                for label, keys in (("missing", missing), ("unexpected", unexpected)) if keys
            )
            raise CheckpointError(f"{path} holds the weights of another model than {type(module).__name__}: {detail}")


def checkpoint_epoch(path: str | os.PathLike) -> int | None:
    """The epoch stored in a checkpoint that this run wrote (0-based, as Lightning counts), or None."""
    return checkpoint_progress(path)[0]


def checkpoint_progress(path: str | os.PathLike) -> tuple[int | None, int | None]:
    """(epoch, global_step) stored in a checkpoint that this run wrote (epoch 0-based, as Lightning counts)."""
    state = read_checkpoint(path, trusted=True, mmap=True)
    epoch, step = state.get("epoch"), state.get("global_step")
    return (int(epoch) if epoch is not None else None, int(step) if step is not None else None)
