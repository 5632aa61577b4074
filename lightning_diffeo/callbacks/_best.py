"""The weights of the best validation epoch: the trainer's monitoring checkpoint, or the callback's copy."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from lightning_diffeo.checkpoint_io import read_checkpoint

__all__ = ["checkpoint_monitor", "improves", "loaded_weights", "monitored_score", "read_best_checkpoint"]


def checkpoint_monitor(trainer: Trainer) -> ModelCheckpoint | None:
    """The trainer's first ``ModelCheckpoint`` that monitors a metric, if any."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor is not None:
            return callback
    return None


def monitored_score(trainer: Trainer, monitor: str, warn: bool) -> float | None:
    """This validation's value of ``monitor``; None when it is not logged (with a warning if ``warn``)."""
    value = trainer.callback_metrics.get(monitor)
    if value is None and warn:
        logged = ", ".join(sorted(trainer.callback_metrics)) or "none"
        rank_zero_warn(
            f"StabilityCallback: monitor {monitor!r} is not among the logged metrics ({logged}); "
            "the 'best' stage needs it: set monitor=... to one of them"
        )
    return None if value is None else float(value)


def improves(score: float, best: float | None, mode: str) -> bool:
    """Whether ``score`` beats ``best`` (None: nothing yet) for ``mode`` ``"max"`` or ``"min"``."""
    return best is None or (score > best if mode == "max" else score < best)


def read_best_checkpoint(checkpoint: ModelCheckpoint) -> tuple[dict[str, Any], int | None, int | None, float | None]:
    """``(state_dict, epoch, global_step, score)`` of the checkpoint's best model."""
    # Written by this very run, so trusted: hyper-parameters may hold objects (paths, enums)
    # that the weights-only unpickler refuses.
    state = read_checkpoint(checkpoint.best_model_path, trusted=True)
    score = None if checkpoint.best_model_score is None else float(checkpoint.best_model_score)
    return state["state_dict"], state.get("epoch"), state.get("global_step"), score


@contextmanager
def loaded_weights(module: LightningModule, weights: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """The module with ``weights`` loaded; its own state is put back on exit, also when the body raises."""
    current = copy.deepcopy(module.state_dict())
    module.load_state_dict(weights)
    try:
        yield
    finally:
        module.load_state_dict(current)
