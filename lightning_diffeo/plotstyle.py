"""The plot-style base shared by every figure of the package: saving a ``matplotlib.figure.Figure``.

Matplotlib only (never pyplot): ``viz`` (figures of one result) and ``analysis`` (figures of a
study table) both build on it.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from lightning_diffeo._atomic import atomic_write
from lightning_diffeo.stages import is_intermediate_stage

__all__ = ["DPI", "STAGE_STYLES", "save_figure", "stage_linestyle"]

DPI = 120
"""Pixels per inch of saved raster figures: a 10-inch-wide figure is 1200 px wide."""

STAGE_STYLES = {"init": "--", "best": "-"}
"""Line style of a measurement stage: initialisation dashed, the best (trained) weights solid."""


def stage_linestyle(stage: str) -> str:
    """The line style of a stage: :data:`STAGE_STYLES`; intermediate ``epoch<k>`` stages dotted; others solid."""
    if stage in STAGE_STYLES:
        return STAGE_STYLES[stage]
    return ":" if is_intermediate_stage(stage) else "-"


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Write ``fig`` atomically; the format follows the suffix (PNG raster, PDF or SVG vector).

    Args:
        fig: the figure.
        path: target file; its suffix picks the format (the temporary file keeps it).
        dpi: pixels per inch of raster formats.
    """
    path = Path(path)
    return atomic_write(path, lambda temporary: fig.savefig(temporary, dpi=dpi, format=path.suffix.lstrip(".") or "png"))
