"""The probe's outputs: ``stability.json``, ``stability.csv``, a plot and ``settings.json`` in one folder.

With per-image terms (``--per_image true``) also ``per_image.csv`` (a row per image and
(cutoff, temperature), with its file when the images came from a folder) and ``per_image.png``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from lightning_diffeo._atomic import atomic_write_csv, atomic_write_text
from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.viz import PER_IMAGE_FILES

__all__ = ["OUTPUT_FILES", "check_output_dir", "result_label", "write_outputs"]

OUTPUT_FILES = ("stability.json", "stability.csv", "stability.png", "stability_sweep.png", "settings.json",
                *PER_IMAGE_FILES)
"""Files :func:`write_outputs` may write into its folder."""


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


def result_label(metadata: dict) -> str:
    """The name of a probe's column and curve: ``metadata["label"]``, else ``<checkpoint> (epoch k)``."""
    if metadata.get("label"):
        return str(metadata["label"])
    checkpoint, epoch = metadata.get("checkpoint"), metadata.get("epoch")
    name = Path(checkpoint).stem if checkpoint else "checkpoint"
    return f"{name} (epoch {epoch})" if epoch is not None else name


def write_outputs(
    result: StabilityResult, directory: str | os.PathLike, sweep: bool, overwrite: bool = False,
    images: torch.Tensor | None = None,
) -> dict[str, Path]:
    """Write ``stability.json`` (the ``StabilityResult`` layout), ``stability.csv``, a plot and ``settings.json``.

    Args:
        result: a probe result; ``metadata["label"]``, or ``["checkpoint"]`` and ``["epoch"]``,
            name the plot's curves.
        directory: output folder (created if needed).
        sweep: plot D_f, G_f, R_f against temperature instead of R_f against depth.
        overwrite: replace files of an earlier probe; False refuses (``FileExistsError``).
        images: the probe images [N, C, n, n] in [0, 1], for ``per_image.png`` when the result
            holds per-image terms (``per_image.csv`` is written from the result alone).
    """
    from lightning_diffeo.viz import plot_depth_profile, plot_temperature_sweep, write_per_image

    directory = check_output_dir(directory, overwrite)
    label = result_label(result.metadata)
    paths = {"json": result.to_json(directory / "stability.json", overwrite=overwrite)}
    paths["csv"] = atomic_write_csv(directory / "stability.csv", result.to_dicts(), overwrite=overwrite)
    if sweep:
        paths["plot"] = plot_temperature_sweep(result, directory / "stability_sweep.png", label=label)
    else:
        paths["plot"] = plot_depth_profile({label: result}, directory / "stability.png")
    paths["settings"] = atomic_write_text(
        directory / "settings.json", json.dumps(result.metadata, indent=1, default=str), overwrite=overwrite
    )
    if result.per_image is not None:
        paths.update(write_per_image(result, directory, images, overwrite))
    return paths
