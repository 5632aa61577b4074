"""Checkpoint evaluation: reload a trained ImageClassifier and its data through Lightning, measure R_f per layer.

``lightning-diffeo probe`` is :func:`run_probe` on the command line; from Python::

    from lightning_diffeo.evaluation import load_checkpoint, probe_checkpoint
    loaded = load_checkpoint("runs/quickstart/version_0/checkpoints/last.ckpt")
    result = probe_checkpoint(loaded, probe_size=300)
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import os
import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from lightning_diffeo._atomic import atomic_write_text, make_unique_dir
from lightning_diffeo.callbacks.stability import MEASURE_DEFAULTS, Average, Interpolation
from lightning_diffeo.datamodules.base import PROBE_SIZE
from lightning_diffeo.stability import StabilityResult, measure_stability
from lightning_diffeo.stability.result import stability_table

__all__ = [
    "OUTPUT_FILES",
    "CheckpointError",
    "LoadedCheckpoint",
    "check_checkpoint",
    "check_output_dir",
    "load_checkpoint",
    "probe_checkpoint",
    "run_probe",
    "write_outputs",
]

OUTPUT_FILES = ("stability.json", "stability.csv", "stability.png", "stability_sweep.png", "settings.json")
"""Files :func:`write_outputs` may write into its folder."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or not an ImageClassifier checkpoint."""


@dataclass
class LoadedCheckpoint:
    """A rebuilt model (evaluation mode) with the datamodule of its run."""

    module: Any  # ImageClassifier
    datamodule: Any  # ImageDataModule or None
    path: Path
    epoch: int | None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read(path: Path) -> dict[str, Any] | None:
    """The checkpoint dict (weights only), or None when it holds objects the safe unpickler refuses."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            start = stream.read(2)
        if start[:1] != b"\x80":  # neither torch's zip format nor a legacy pickle
            raise CheckpointError(f"{path} is not a torch checkpoint (neither a zip archive nor a pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Weights only" in str(error):
            return None
        raise CheckpointError(f"could not read checkpoint {path}: it is corrupt, truncated or not a torch "
                              f"checkpoint ({_first_line(error)})") from None
    except Exception as error:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(f"could not read checkpoint {path}: it is corrupt, truncated or not a torch "
                              f"checkpoint ({_first_line(error)})") from None


def _check_lightning(path: Path, checkpoint: Any) -> None:
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "pytorch-lightning_version" not in checkpoint:
        kind = "a plain state_dict or another project's file" if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(
            f"{path} is not a Lightning checkpoint (it looks like {kind}): give a .ckpt written by "
            "`lightning-diffeo fit` or Trainer.save_checkpoint"
        )


def check_checkpoint(
    path: str | os.PathLike, module: torch.nn.Module | None = None, module_class: type | None = None
) -> None:
    """Check, before any work, that ``path`` is a Lightning checkpoint of ``module`` (or of ``module_class``).

    Used by ``lightning-diffeo fit/validate/test/predict --ckpt_path``. A checkpoint holding
    objects that the weights-only unpickler refuses is left for Lightning to load.

    Args:
        path: the checkpoint file.
        module: compare the checkpoint's weights with this module's ``state_dict`` keys.
        module_class: compare the checkpoint's hyper-parameters with this class's ``__init__``.

    Raises:
        CheckpointError: missing, not a torch file, corrupt, not a Lightning checkpoint (e.g. a
            plain ``state_dict``), or the weights or hyper-parameters of another model.
    """
    path = Path(path)
    checkpoint = _read(path)
    if checkpoint is None:
        return
    _check_lightning(path, checkpoint)
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


def _datamodule(checkpoint: dict[str, Any], path: Path, data_dir: str | None):
    from lightning_diffeo.datamodules import DATAMODULES

    hparams = checkpoint.get("datamodule_hyper_parameters")
    if not hparams or hparams.get("_class_path") is None:
        return None
    class_path = hparams["_class_path"]
    classes = {f"{cls.__module__.rsplit('.', 1)[0]}.{cls.__name__}": cls for cls in DATAMODULES.values()}
    classes |= {f"{cls.__module__}.{cls.__name__}": cls for cls in DATAMODULES.values()}
    if class_path not in classes:
        raise CheckpointError(
            f"{path} was trained on {class_path}, which is not a lightning_diffeo datamodule "
            f"({', '.join(sorted(cls.__name__ for cls in DATAMODULES.values()))}); measure it from Python with "
            "measure_stability"
        )
    overrides = {} if data_dir is None else {"data_dir": data_dir}
    try:
        # The concrete class: ImageDataModule.load_from_checkpoint would drop the "_class_path"
        # hyper-parameter (its __init__ takes no **kwargs) and build the abstract base.
        return classes[class_path].load_from_checkpoint(path, map_location="cpu", weights_only=True, **overrides)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: could not rebuild its datamodule ({_first_line(error)})") from None


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
    checkpoint = _read(path)
    if checkpoint is None:
        raise CheckpointError(
            f"{path} holds objects that torch.load(weights_only=True) refuses to load, e.g. custom classes "
            "in its hyper-parameters; `lightning-diffeo probe` only loads checkpoints safely"
        )
    _check_lightning(path, checkpoint)
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
                              f"({_first_line(error)})") from None
    module.eval()
    return LoadedCheckpoint(module, _datamodule(checkpoint, path, data_dir), path, checkpoint.get("epoch"))


def probe_checkpoint(
    loaded: LoadedCheckpoint,
    probe_size: int = PROBE_SIZE,
    device: str = "cpu",
    **settings: Any,
) -> StabilityResult:
    """Measure a loaded checkpoint on its datamodule's probe set (``settings``: measure_stability options)."""
    if loaded.datamodule is None:
        raise CheckpointError(
            f"{loaded.path} does not record the class of its datamodule (it was not trained with "
            "`lightning-diffeo fit`): measure it from Python with measure_stability"
        )
    datamodule = loaded.datamodule
    try:
        images, _ = datamodule.probe_set(probe_size)
    except (ValueError, FileNotFoundError) as error:
        if "not found" not in str(error):
            raise
        raise CheckpointError(
            f"the dataset of {loaded.path} ({type(datamodule).__name__}) is not in {datamodule.data_dir}: "
            "if it moved, give its folder with --data_dir (probe does not download)"
        ) from None
    module = loaded.module.to(device)
    result = measure_stability(module, images.to(device), normalize=datamodule.normalize_images, **settings)
    result.metadata.update({"checkpoint": str(loaded.path), "epoch": loaded.epoch,
                            "datamodule": type(datamodule).__name__})
    return result


def _csv(result: StabilityResult) -> str:
    records = result.to_dicts()
    columns = list(dict.fromkeys(key for record in records for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def check_output_dir(directory: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse, before any measurement, an output folder that is a file or already holds results.

    Raises:
        FileExistsError: ``directory`` is a file, or holds one of :data:`OUTPUT_FILES` and
            ``overwrite`` is False.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"--out {directory} is a file, not a folder: give a folder for the results")
    taken = [name for name in OUTPUT_FILES if (directory / name).exists()]
    if taken and not overwrite:
        raise FileExistsError(
            f"--out {directory} already holds {', '.join(taken)}: choose another folder, leave --out out "
            "for a new one, or pass --overwrite true"
        )
    return directory


def _label(loaded_path: str | None, epoch: int | None) -> str:
    name = Path(loaded_path).stem if loaded_path else "checkpoint"
    return f"{name} (epoch {epoch})" if epoch is not None else name


def write_outputs(
    result: StabilityResult, directory: str | os.PathLike, sweep: bool, overwrite: bool = False
) -> dict[str, Path]:
    """Write ``stability.json`` (the ``StabilityResult`` layout), ``stability.csv``, a plot and ``settings.json``.

    Args:
        result: a probe result; ``metadata["checkpoint"]`` and ``["epoch"]`` name the plot's curves.
        directory: output folder (created if needed).
        sweep: plot D_f, G_f, R_f against temperature instead of R_f against depth.
        overwrite: replace files of an earlier probe; False refuses (``FileExistsError``).
    """
    from lightning_diffeo.plotting import plot_depth_profile, plot_temperature_sweep

    directory = check_output_dir(directory, overwrite)
    label = _label(result.metadata.get("checkpoint"), result.metadata.get("epoch"))
    paths = {"json": result.to_json(directory / "stability.json", overwrite=overwrite)}
    paths["csv"] = atomic_write_text(directory / "stability.csv", _csv(result), overwrite=overwrite)
    if sweep:
        paths["plot"] = plot_temperature_sweep(result, directory / "stability_sweep.png", label=label)
    else:
        paths["plot"] = plot_depth_profile({label: result}, directory / "stability.png")
    paths["settings"] = atomic_write_text(
        directory / "settings.json", json.dumps(result.metadata, indent=1, default=str), overwrite=overwrite
    )
    return paths


def _check_device(device: str) -> None:
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device: unknown device {device!r}; use e.g. cpu, cuda or cuda:1") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu")


def _default_out(ckpt: Path) -> Path:
    """``<run folder>/probe-<checkpoint name>-<k>``: a new folder for every invocation."""
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return make_unique_dir(run_dir, f"probe-{ckpt.stem}-")


def run_probe(
    ckpt_path: str,
    cutoffs: float | list[float] = MEASURE_DEFAULTS["cutoffs"],
    deltas: float | list[float] | None = None,
    temperatures: float | list[float] | None = None,
    sweep: bool = False,
    interpolation: Interpolation = MEASURE_DEFAULTS["interpolation"],
    layers: str | list[str] | None = None,
    average: Average | Sequence[Average] = MEASURE_DEFAULTS["average"],
    mode: Literal["eval", "init"] = MEASURE_DEFAULTS["mode"],
    probe_size: int = PROBE_SIZE,
    diffeos_per_image: int = MEASURE_DEFAULTS["diffeos_per_image"],
    batch_size: int | None = MEASURE_DEFAULTS["batch_size"],
    seed: int = 0,
    device: str = "cpu",
    data_dir: str | None = None,
    out: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Measure D_f, G_f and R_f per layer of an ImageClassifier checkpoint on its datamodule's probe set.

    Prints the table (the same format as ``fit``'s) and writes ``stability.json`` (the
    ``StabilityResult`` layout), ``stability.csv``, a plot and ``settings.json`` into a new
    folder ``<run folder>/probe-<checkpoint>-<k>/``, or into ``out``.

    Args:
        ckpt_path: checkpoint written by ``lightning-diffeo fit``.
        cutoffs: cutoffs c of the diffeomorphisms (each > 1).
        deltas: typical displacements in pixels (default 1; excludes temperatures and sweep).
        temperatures: explicit temperatures instead of deltas.
        sweep: 30 temperatures from T_min/15 to 2 T_max per cutoff.
        interpolation: resampling of the deformed images.
        layers: module names, or "output" (default: the model's probe layers).
        average: "median", "mean", or a list of both.
        mode: "eval" (trained weights) or "init" (batch-norm on batch statistics).
        probe_size: number of test images probed.
        diffeos_per_image: diffeomorphisms per image and temperature.
        batch_size: images per forward pass.
        seed: seed of the diffeomorphisms and the noise.
        device: where to run, e.g. cpu or cuda.
        data_dir: the dataset folder, if it moved since training.
        out: output folder (default: a new probe-<checkpoint>-<k> folder in the run folder).
        overwrite: replace the results already in ``out``.
        progress: show a progress bar.

    Returns:
        Kind of output (json, csv, plot, settings) -> file written.
    """
    _check_device(device)
    if out is not None:
        check_output_dir(out, overwrite)  # before measuring: never minutes of work for nothing
    loaded = load_checkpoint(ckpt_path, data_dir=data_dir)
    settings: dict[str, Any] = {}
    if deltas is not None:
        settings["deltas"] = deltas
    result = probe_checkpoint(
        loaded, probe_size=probe_size, device=device, cutoffs=cutoffs, temperatures=temperatures, sweep=sweep,
        interpolation=interpolation, layers=layers, average=average, mode=mode,
        diffeos_per_image=diffeos_per_image, batch_size=batch_size,
        generator=torch.Generator().manual_seed(seed), progress=progress, **settings,
    )
    print(stability_table({_label(str(loaded.path), loaded.epoch): result}))
    directory = Path(out) if out is not None else _default_out(loaded.path)
    paths = write_outputs(result, directory, sweep=sweep, overwrite=overwrite)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return paths

