"""The report's figures, built with ``matplotlib.figure.Figure`` (no pyplot, no global state).

``make_figures(table)`` returns every figure the table supports and, for the others, the
reason they were skipped. Each figure kind reproduces figures of Petrini et al. (2021):

==================== ============================== ==========================================
kind                 paper                          content
==================== ============================== ==========================================
error_vs_stability   Figs 3, 5, 15, 16, 17, 19, 20  test error vs D_f, 1/G_f, R_f per architecture
stability_vs_size    Figs 13, 22                    D_f, G_f, R_f vs P per architecture, cutoff
depth_profile        Fig 14                         R_f vs relative depth, init and trained
mean_vs_median       Fig 17                         mean estimator vs median estimator
size_trajectories    Fig 18                         curves in the (R_f, eps_t) plane for varying P
delta_cutoff_grid    Fig 21                         test error vs D_f, G_f, R_f for each (delta, c)
noise                Fig 11                         G_f vs noise norm, slope-2 guide
==================== ============================== ==========================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from matplotlib.figure import Figure

from lightning_diffeo.analysis.table import load_table

__all__ = ["FIGURE_KINDS", "FigureOptions", "FigureResult", "make_figures"]

FIGURE_KINDS = {
    "error_vs_stability": "Figs 3, 5, 15, 16, 17, 19, 20",
    "stability_vs_size": "Figs 13, 22",
    "depth_profile": "Fig 14",
    "mean_vs_median": "Fig 17",
    "size_trajectories": "Fig 18",
    "delta_cutoff_grid": "Fig 21",
    "noise": "Fig 11",
}


@dataclass(frozen=True)
class FigureOptions:
    """Settings shared by the figures.

    Attributes:
        cutoff: cutoff c of the main figures; None: 3 if measured, else the smallest.
        delta: typical displacement (pixels) of the main figures; None: the one closest to 1.
        scale: scale of the correlation coefficients, ``"log"`` (default) or ``"linear"``.
        n_boot: bootstrap resamples of the correlation intervals.
        seed: seed of the bootstrap.
        image_size: image side in pixels for T_min/T_max; None: from the table or the dataset.
    """

    cutoff: float | None = None
    delta: float | None = None
    scale: Literal["log", "linear"] = "log"
    n_boot: int = 2000
    seed: int = 0
    image_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("cutoff", "delta"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if self.scale not in ("log", "linear"):
            raise ValueError(f"scale must be one of 'log', 'linear', got {self.scale!r}")
        for name, minimum in (("n_boot", 0), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if self.image_size is not None and (isinstance(self.image_size, bool) or not isinstance(self.image_size, int)
                                            or self.image_size < 2):
            raise ValueError(f"image_size must be an integer >= 2 or None, got {self.image_size!r}")


@dataclass(frozen=True)
class FigureResult:
    """One figure of the report, or the reason it could not be drawn.

    Attributes:
        name: file stem (``<kind>_<dataset>_<average>...``), or the kind when skipped as a whole.
        kind: key of ``FIGURE_KINDS``.
        title: one-line description.
        figure: the Figure, None when skipped.
        reason: why it was skipped, None when drawn.
        runs: realisations behind each point ("5", or "3-5").
    """

    name: str
    kind: str
    title: str
    figure: Figure | None = None
    reason: str | None = None
    runs: str = ""

    @property
    def paper(self) -> str:
        return FIGURE_KINDS[self.kind]


def make_figures(table: pd.DataFrame, options: FigureOptions | None = None) -> list[FigureResult]:
    """Every figure kind for whatever ``table`` holds; missing data gives a skipped result, never an error.

    Args:
        table: the study table (checked with ``load_table``).
        options: shared settings; default ``FigureOptions()``.
    """
    from lightning_diffeo.analysis import figures_curves, figures_points

    table = load_table(table)
    options = options or FigureOptions()
    builders = {
        "error_vs_stability": figures_points.error_vs_stability,
        "stability_vs_size": figures_curves.stability_vs_size,
        "depth_profile": figures_curves.depth_profile,
        "mean_vs_median": figures_points.mean_vs_median,
        "size_trajectories": figures_points.size_trajectories,
        "delta_cutoff_grid": figures_points.delta_cutoff_grid,
        "noise": figures_curves.noise,
    }
    results: list[FigureResult] = []
    for kind, build in builders.items():
        results.extend(build(table, options))
    return results
