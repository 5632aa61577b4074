"""Checkpoint evaluation: rebuild a trained ImageClassifier and its data, measure R_f per layer."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lightning_diffeo._atomic import atomic_write_text
from lightning_diffeo.stability import StabilityResult, measure_stability

__all__ = ["CheckpointError", "LoadedCheckpoint", "load_checkpoint", "probe_checkpoint", "write_outputs"]


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or not an ImageClassifier checkpoint."""


@dataclass
class LoadedCheckpoint:
    """A rebuilt model (evaluation mode) with the datamodule of its run."""

    module: Any  # ImageClassifier
    datamodule: Any  # ImageDataModule or None
    path: Path
    epoch: int | None


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Weights only" in str(error):
            raise CheckpointError(
                f"{path} holds objects that torch.load(weights_only=True) refuses to load, e.g. custom classes "
                "in its hyper-parameters; `lightning-diffeo probe` only loads checkpoints safely"
            ) from None
        raise CheckpointError(f"could not read checkpoint {path}: it is corrupt, truncated or not a torch checkpoint") from None
    except Exception as error:  # torch raises many types for a damaged or foreign file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"could not read checkpoint {path}: it is corrupt, truncated or not a "
                              f"torch checkpoint ({first_line})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no 'state_dict' entry)")
    return checkpoint


def _datamodule(entry: dict[str, Any] | None, data_dir: str | None, path: Path):
    from lightning_diffeo.datamodules import DATAMODULES

    if not entry:
        return None
    classes = {cls.__name__: cls for cls in DATAMODULES.values()}
    name = entry.get("class_name")
    if name not in classes:
        raise CheckpointError(
            f"{path} was trained on {name!r}, which is not a lightning_diffeo datamodule "
            f"({', '.join(sorted(classes))}); measure it from Python with measure_stability"
        )
    init_args = {k: v for k, v in (entry.get("init_args") or {}).items() if not k.startswith("_")}
    if data_dir is not None:
        init_args["data_dir"] = data_dir
    try:
        return classes[name](**init_args)
    except TypeError as error:
        raise CheckpointError(f"{path}: could not rebuild its {name} ({error})") from None


def load_checkpoint(path: str | os.PathLike, data_dir: str | None = None) -> LoadedCheckpoint:
    """Load a checkpoint written by ``ImageClassifier`` (with ``weights_only=True``).

    Args:
        path: ``.ckpt`` file.
        data_dir: where the dataset lives now, if not where it was during training.

    Raises:
        CheckpointError: missing, corrupt, or written by another LightningModule.
    """
    from lightning_diffeo.models import ImageClassifier

    path = Path(path)
    checkpoint = _read(path)
    entry = checkpoint.get("lightning_diffeo")
    expected = f"{ImageClassifier.__module__}.{ImageClassifier.__qualname__}"
    if not isinstance(entry, dict) or entry.get("module") != expected:
        found = entry.get("module") if isinstance(entry, dict) else "another LightningModule"
        raise CheckpointError(
            f"{path} was not written by {expected} (found {found}); `lightning-diffeo probe` rebuilds "
            "ImageClassifier checkpoints only: load other models in Python and call measure_stability"
        )
    # LightningCLI adds private keys such as "_instantiator" to the hyper-parameters.
    hparams = {k: v for k, v in (checkpoint.get("hyper_parameters") or {}).items() if not k.startswith("_")}
    try:
        module = ImageClassifier(**hparams)
        module.load_state_dict(checkpoint["state_dict"])
    except (TypeError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path}: could not rebuild the model from its hyper-parameters ({error})") from None
    module.eval()
    return LoadedCheckpoint(module, _datamodule(entry.get("datamodule"), data_dir, path), path, checkpoint.get("epoch"))


def probe_checkpoint(
    loaded: LoadedCheckpoint,
    probe_size: int = 500,
    device: str = "cpu",
    **settings: Any,
) -> StabilityResult:
    """Measure a loaded checkpoint on its datamodule's probe set (``settings``: measure_stability options)."""
    if loaded.datamodule is None:
        raise CheckpointError(f"{loaded.path} does not record its datamodule: measure it from Python")
    images, _ = loaded.datamodule.probe_set(probe_size)
    module = loaded.module.to(device)
    result = measure_stability(module, images.to(device), normalize=loaded.datamodule.normalize_images, **settings)
    result.metadata.update({"checkpoint": str(loaded.path), "epoch": loaded.epoch,
                            "datamodule": type(loaded.datamodule).__name__})
    return result


def _csv(result: StabilityResult) -> str:
    records = result.to_dicts()
    columns = list(dict.fromkeys(key for record in records for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def write_outputs(result: StabilityResult, directory: str | os.PathLike, sweep: bool) -> dict[str, Path]:
    """Write ``stability.json``, ``stability.csv`` and a plot into ``directory``."""
    from lightning_diffeo.plotting import plot_depth_profile, plot_temperature_sweep

    directory = Path(directory)
    paths = {"json": result.to_json(directory / "stability.json")}
    paths["csv"] = atomic_write_text(directory / "stability.csv", _csv(result))
    if sweep:
        paths["plot"] = plot_temperature_sweep(result, directory / "stability_sweep.png")
    else:
        paths["plot"] = plot_depth_profile({"checkpoint": result}, directory / "stability.png")
    paths["settings"] = atomic_write_text(directory / "settings.json", json.dumps(result.metadata, indent=1, default=str))
    return paths
