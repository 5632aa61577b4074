"""The probe: a model source and its images -> D_f, G_f, R_f per layer, a table, JSON, CSV and a plot."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from lightning_diffeo._atomic import atomic_write_text, make_unique_dir
from lightning_diffeo.datamodules.base import PROBE_SIZE
from lightning_diffeo.stability import (
    DEFAULT_AVERAGE,
    DEFAULT_CUTOFFS,
    DEFAULT_DELTAS,
    DEFAULT_DIFFEOS_PER_IMAGE,
    DEFAULT_INTERPOLATION,
    DEFAULT_MODE,
    Average,
    Interpolation,
    Mode,
    StabilityResult,
    check_averages,
    check_batch_size,
    check_cutoffs,
    check_diffeos_per_image,
    check_interpolation,
    check_layers,
    check_mode,
    check_probe_size,
    check_sizes,
    measure_stability,
)
from lightning_diffeo.provenance import provenance
from lightning_diffeo.runs import CheckpointError
from lightning_diffeo.runs.layout import run_dir_of
from lightning_diffeo.stability.result import stability_table

from .checkpoint_source import LoadedCheckpoint, load_checkpoint

__all__ = [
    "OUTPUT_FILES",
    "check_output_dir",
    "probe_checkpoint",
    "run_probe",
    "write_outputs",
]

OUTPUT_FILES = ("stability.json", "stability.csv", "stability.png", "stability_sweep.png", "settings.json")
"""Files :func:`write_outputs` may write into its folder."""


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
    # the training precision is not in the checkpoint; the probe itself measures in float32
    result.metadata.update({"checkpoint": str(loaded.path), "epoch": loaded.epoch,
                            "datamodule": type(datamodule).__name__, "provenance": provenance(None, images)})
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
    from lightning_diffeo.viz import plot_depth_profile, plot_temperature_sweep

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
    return make_unique_dir(run_dir_of(ckpt), f"probe-{ckpt.stem}-")


def run_probe(
    ckpt_path: str,
    cutoffs: float | list[float] = DEFAULT_CUTOFFS,
    deltas: float | list[float] | None = None,
    temperatures: float | list[float] | None = None,
    sweep: bool = False,
    interpolation: Interpolation = DEFAULT_INTERPOLATION,
    layers: str | list[str] | None = None,
    average: Average | Sequence[Average] = DEFAULT_AVERAGE,
    mode: Mode = DEFAULT_MODE,
    probe_size: int = PROBE_SIZE,
    diffeos_per_image: int = DEFAULT_DIFFEOS_PER_IMAGE,
    batch_size: int | None = None,
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
        deltas: typical displacements in pixels (None: ``measure_stability``'s default, 1 px;
            excludes temperatures and sweep).
        temperatures: explicit temperatures instead of deltas.
        sweep: 30 temperatures from T_min/15 to 2 T_max per cutoff.
        interpolation: resampling of the deformed images.
        layers: module names, or "output" (default: the model's probe layers).
        average: "median", "mean", or a list of both.
        mode: "eval" (trained weights) or "init" (batch-norm on batch statistics).
        probe_size: number of test images probed (>= 2).
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

    Every measurement option is checked first, by ``measure_stability``'s checks
    (:mod:`lightning_diffeo.stability.settings`), before the checkpoint loads.
    """
    cutoffs = check_cutoffs(cutoffs)
    sizes = check_sizes(DEFAULT_DELTAS if deltas is None else deltas, temperatures, sweep)
    settings: dict[str, Any] = dict(
        cutoffs=cutoffs, deltas=sizes.deltas, temperatures=sizes.temperatures, sweep=sizes.sweep,
        interpolation=check_interpolation(interpolation), layers=check_layers(layers),
        average=check_averages(average), mode=check_mode(mode),
        diffeos_per_image=check_diffeos_per_image(diffeos_per_image), batch_size=check_batch_size(batch_size),
    )
    probe_size = check_probe_size(probe_size)
    _check_device(device)
    if out is not None:
        check_output_dir(out, overwrite)  # before measuring: never minutes of work for nothing
    loaded = load_checkpoint(ckpt_path, data_dir=data_dir)
    result = probe_checkpoint(
        loaded, probe_size=probe_size, device=device, generator=torch.Generator().manual_seed(seed),
        progress=progress, **settings,
    )
    print(stability_table({_label(str(loaded.path), loaded.epoch): result}))
    directory = Path(out) if out is not None else _default_out(loaded.path)
    paths = write_outputs(result, directory, sweep=sweep, overwrite=overwrite)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return paths

