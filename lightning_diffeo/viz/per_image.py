"""Which images break: the most and least stable probe images, each shown original and deformed.

:func:`write_per_image` writes a result's per-image terms, ``per_image.csv`` and this figure
(``per_image.png``), for ``lightning-diffeo probe`` and the ``StabilityCallback`` alike.

Images are ranked by their per-image R_f_i = numerator_diffeo_i / numerator_noise_i at the
output, at the first (cutoff, temperature) of a ``measure_stability(..., per_image=True)``
result; the deformed image is the first deformation the measurement drew for it, replayed from
the recorded seed (:func:`~lightning_diffeo.stability.per_image.measured_deformations`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from lightning_diffeo._atomic import atomic_write_csv
from lightning_diffeo.plotstyle import save_figure
from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.stability.per_image import first_item, measured_deformations

__all__ = ["PER_IMAGE_FILES", "extreme_images", "per_image_figure", "plot_per_image", "write_per_image"]

PER_IMAGE_FILES = ("per_image.csv", "per_image.png")
"""The files :func:`write_per_image` writes into its folder."""


def extreme_images(result: StabilityResult, count: int = 3) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(most stable, least stable): up to ``count`` per-image records each, by R_f_i at the first item.

    The most stable have the lowest R_f_i, the least stable the highest (first: the most
    extreme); the two lists never share an image (each holds at most half of the N images).
    Images whose R_f_i is NaN (no noise response) are left out.
    """
    if result.per_image is None:
        raise ValueError("the result holds no per-image terms: measure with per_image=True")
    ranked = sorted((r for r in first_item(result.per_image) if not math.isnan(r["R_f"])), key=lambda r: r["R_f"])
    if not ranked:
        raise ValueError("no image has a finite per-image R_f to rank")
    shown = max(1, min(count, len(ranked) // 2))
    return ranked[:shown], ranked[::-1][:shown] if len(ranked) > 1 else []


def _show(ax: Any, image: torch.Tensor, title: str) -> None:
    pixels = image.detach().float().cpu().clamp(0, 1)
    if pixels.shape[0] == 1:
        ax.imshow(pixels[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(pixels.permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])  # no ticks to lay out: the layout then measures the titles alone
    ax.set_yticks([])
    ax.set_axis_off()


def per_image_figure(
    result: StabilityResult, images: torch.Tensor, count: int = 3, names: Sequence[str] | None = None
) -> Figure:
    """The figure of :func:`plot_per_image`, without saving it."""
    most, least = extreme_images(result, count)
    indices = [r["image"] for r in most + least]
    deformed = measured_deformations(images, result.metadata, result.per_image or [], indices)
    by_index = dict(zip(indices, deformed))
    columns = 2 * len(most)
    rows = [("most stable (lowest R_f)", most)] + ([("least stable (highest R_f)", least)] if least else [])
    fig = Figure(figsize=(1.75 * columns + 0.2, 2.35 * len(rows) + 0.7), layout="constrained")
    item = most[0]
    draws = result.metadata.get("diffeos_per_image", 1)
    fig.suptitle(
        f"Output per image, c = {item['cutoff']:g}, delta = {item['delta']:.3g} px: R_f = ||f(tau x) - f(x)||^2 / "
        f"||f(x + eta) - f(x)||^2\n(each averaged over {draws} draw{'s' if draws != 1 else ''}; "
        "D_f and G_f over the mean distance between images; shown: the first deformation)", fontsize=8)
    for subfig, (label, records) in zip(fig.subfigures(len(rows), 1, squeeze=False)[:, 0], rows):
        subfig.suptitle(label, fontsize=9, fontweight="bold")
        axes = subfig.subplots(1, columns, squeeze=False)[0]
        for k, record in enumerate(records):
            index = record["image"]
            name = names[index] if names is not None else f"image {index}"
            _show(axes[2 * k], images[index], f"{name}\nR_f {record['R_f']:.3g}")
            _show(axes[2 * k + 1], by_index[index], f"deformed\nD_f {record['D_f']:.3g}, G_f {record['G_f']:.3g}")
    return fig


def plot_per_image(
    result: StabilityResult,
    images: torch.Tensor,
    path: str | os.PathLike,
    count: int = 3,
    names: Sequence[str] | None = None,
) -> Path:
    """The ``count`` most and least stable images at the output, each original and deformed side by side.

    Args:
        result: from ``measure_stability(..., per_image=True)``.
        images: the probe images it measured, [N, C, n, n] in [0, 1].
        path: PNG (or PDF, SVG) file to write.
        count: images per row (at most half of the images each).
        names: a label per image (e.g. its file name); default ``image <index>``.
    """
    return save_figure(per_image_figure(result, images, count, names), path)


def _image_files(result: StabilityResult) -> list[str] | None:
    """The file of each probe image when they came from a folder (``metadata["images"]["files"]``), else None."""
    files = (result.metadata.get("images") or {}).get("files")
    return [str(f) for f in files] if files else None


def write_per_image(
    result: StabilityResult, directory: str | os.PathLike, images: torch.Tensor | None = None, overwrite: bool = False
) -> dict[str, Path]:
    """Write ``per_image.csv`` and, given the images, ``per_image.png`` (:func:`plot_per_image`) atomically.

    The CSV has a row per (cutoff, temperature, image) of ``result.per_image``, with a ``file``
    column when the images came from a folder.

    Args:
        result: from ``measure_stability(..., per_image=True)``.
        directory: the folder of both files.
        images: the probe images [N, C, n, n] in [0, 1] it measured; None writes no figure.
        overwrite: False refuses to replace an existing ``per_image.csv``, or ``per_image.png`` when
            writing the figure (``FileExistsError``, before either file is written).

    Returns:
        ``per_image_csv`` (and ``per_image_plot``) -> file written.
    """
    directory, files = Path(directory), _image_files(result)
    if result.per_image is None:
        raise ValueError("the result holds no per-image terms: measure with per_image=True")
    written = PER_IMAGE_FILES if images is not None else PER_IMAGE_FILES[:1]
    taken = [directory / name for name in written if (directory / name).exists()]
    if taken and not overwrite:
        raise FileExistsError(f"{taken[0]} exists: pass overwrite=True to replace it")
    rows = [{"image": r["image"], **({"file": files[r["image"]]} if files else {}), **r} for r in result.per_image]
    paths = {"per_image_csv": atomic_write_csv(directory / PER_IMAGE_FILES[0], rows, overwrite=overwrite)}
    if images is not None:
        names = [Path(f).name for f in files] if files else None
        paths["per_image_plot"] = plot_per_image(result, images, directory / PER_IMAGE_FILES[1], names=names)
    return paths
