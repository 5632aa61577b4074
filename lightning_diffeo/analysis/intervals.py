"""Per-run intervals of D_f, G_f and R_f (a zoo's, over its images) carried onto the points and their error bars.

A trained study's points are geometric means over seeds, their bars the relative error of that
mean. A zoo's point is one model, one run: its uncertainty is that of its few images, which the zoo
run measures as ``<q>_ci_low`` and ``<q>_ci_high`` (``studies.zoo_intervals``). Where each point is one
run that has them, the figures draw those intervals instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lightning_diffeo.analysis._plot import log_errors
from lightning_diffeo.analysis.table import MEASURES

__all__ = ["has_intervals", "interval_bars", "point_intervals"]


def _columns(frame: pd.DataFrame) -> list[str]:
    return [f"{q}_{end}" for q in MEASURES for end in ("ci_low", "ci_high") if f"{q}_{end}" in frame.columns]


def has_intervals(points: pd.DataFrame) -> bool:
    """Whether some point carries an interval of its own."""
    columns = _columns(points)
    return bool(columns) and bool(points[columns].notna().any().any())


def point_intervals(points: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``points`` with the interval columns of their runs, for the points made of one run that has them.

    Args:
        points: the points, indexed by the labels that ``runs["point"]`` holds.
        runs: the runs behind them (``bootstrap.architecture_runs``) with a ``point`` column.
    """
    columns = _columns(runs)
    if not columns or runs.empty:
        return points
    single = runs[runs.groupby("point")["point"].transform("size") == 1].set_index("point")[columns]
    return points.drop(columns=[c for c in columns if c in points.columns]).join(single, how="left")


def interval_bars(points: pd.DataFrame, quantity: str, values: np.ndarray, rel_err: np.ndarray) -> np.ndarray:
    """Error bars [2, n] (below, above) of ``quantity`` (D_f, G_f, R_f or inv_G_f = 1 / G_f): a point's own
    interval where it has one, else the relative error of its geometric mean (``_plot.log_errors``)."""
    bars = log_errors(values, rel_err)
    base = "G_f" if quantity == "inv_G_f" else quantity
    if f"{base}_ci_low" not in points.columns:
        return bars
    low, high = points[f"{base}_ci_low"].to_numpy(float), points[f"{base}_ci_high"].to_numpy(float)
    if quantity == "inv_G_f":
        with np.errstate(divide="ignore"):
            low, high = 1.0 / high, 1.0 / low
    known = np.isfinite(low) & np.isfinite(high) & np.isfinite(values)
    bars[:, known] = np.vstack([values - low, high - values])[:, known]
    return bars
