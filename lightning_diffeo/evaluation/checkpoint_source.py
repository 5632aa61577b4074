"""A model source: a checkpoint of this package, its ImageClassifier and datamodule rebuilt through Lightning."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_diffeo.runs import CheckpointError
from lightning_diffeo.runs.checkpoints import check_lightning_checkpoint, read_run_checkpoint, unsafe_message
from lightning_diffeo.validation import first_line

__all__ = ["LoadedCheckpoint", "load_checkpoint"]


@dataclass
class LoadedCheckpoint:
    """A rebuilt model (evaluation mode) with the datamodule of its run."""

    module: Any  # ImageClassifier
    datamodule: Any  # ImageDataModule or None
    path: Path
    epoch: int | None


def _datamodule(checkpoint: dict[str, Any], path: Path, data_dir: str | None):
    from lightning_diffeo.datamodules import DATAMODULES
    from lightning_diffeo.runs.datanames import datamodule_class

    hparams = checkpoint.get("datamodule_hyper_parameters")
    if not hparams or hparams.get("_class_path") is None:
        return None
    class_path = hparams["_class_path"]
    cls = datamodule_class(class_path)
    if cls is None:
        raise CheckpointError(
            f"{path} was trained on {class_path}, which is not a lightning_diffeo datamodule "
            f"({', '.join(sorted(cls.__name__ for cls in DATAMODULES.values()))}); measure it from Python with "
            "measure_stability"
        )
    overrides = {} if data_dir is None else {"data_dir": data_dir}
    try:
        # The concrete class: ImageDataModule.load_from_checkpoint would drop the "_class_path"
        # hyper-parameter (its __init__ takes no **kwargs) and build the abstract base.
        return cls.load_from_checkpoint(path, map_location="cpu", weights_only=True, **overrides)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: could not rebuild its datamodule ({first_line(error)})") from None


def load_checkpoint(path: str | os.PathLike, data_dir: str | None = None) -> LoadedCheckpoint:
    """Reload an ``ImageClassifier`` checkpoint and its datamodule with ``load_from_checkpoint(weights_only=True)``.

    Args:
        path: ``.ckpt`` file written by ``lightning-diffeo fit`` (or any Trainer fitting an
            ``ImageClassifier``; the datamodule is rebuilt when the run was started by the CLI).
        data_dir: where the dataset lives now, if not where it was during training.

    Raises:
        CheckpointError: missing, corrupt, or written by another LightningModule.
    """
    from lightning_diffeo.models import ImageClassifier

    path = Path(path)
    checkpoint = read_run_checkpoint(path)
    if checkpoint is None:
        raise CheckpointError(unsafe_message(path))
    check_lightning_checkpoint(path, checkpoint)
    expected = f"{ImageClassifier.__module__}.{ImageClassifier.__qualname__}"
    hparams = checkpoint.get("hyper_parameters") or {}
    class_path = hparams.get("_class_path")
    if "arch" not in hparams or (class_path is not None and class_path != expected):
        raise CheckpointError(
            f"{path} was not written by {expected} (found {class_path or 'another LightningModule'}); "
            "`lightning-diffeo probe` rebuilds ImageClassifier checkpoints only: load other models in Python "
            "and call measure_stability"
        )
    try:
        module = ImageClassifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except (TypeError, RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path} was not written by {expected}: could not rebuild the model from it "
                              f"({first_line(error)})") from None
    module.eval()
    return LoadedCheckpoint(module, _datamodule(checkpoint, path, data_dir), path, checkpoint.get("epoch"))
