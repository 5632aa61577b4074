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
along_training       (not in the paper)             R_f vs epochs trained and vs validation error
learning_curves      (not in the paper)             training and validation error per epoch
                                                    (from a curves table: ``write_report(curves=)``)
==================== ============================== ==========================================
"""

from __future__ import annotations

import pandas as pd

from lightning_diffeo.analysis import figures_curves, figures_points, training
from lightning_diffeo.analysis.figure_base import FIGURE_KINDS, FigureOptions, FigureResult
from lightning_diffeo.analysis.table import load_table

__all__ = ["FIGURE_KINDS", "FigureOptions", "FigureResult", "make_figures"]


def make_figures(table: pd.DataFrame, options: FigureOptions | None = None) -> list[FigureResult]:
    """Every figure kind for whatever ``table`` holds; missing data gives a skipped result, never an error.

    Args:
        table: the study table (checked with ``load_table``).
        options: shared settings; default ``FigureOptions()``.
    """
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
        "along_training": training.along_training,
    }
    results: list[FigureResult] = []
    for kind, build in builders.items():
        results.extend(build(table, options))
    return results
