"""Points and curves the figures share: pure functions from the study table to aggregated tables.

Each function selects one measurement setting (``table.select``), then combines the
realisations (``stats.aggregate``): one row per configuration, with ``n`` realisations.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from lightning_diffeo.analysis.stats import aggregate
from lightning_diffeo.analysis.table import nearest_value, select

__all__ = [
    "architecture_points",
    "depth_profiles",
    "main_setting",
    "noise_curves",
    "size_curves",
]


def main_setting(table: pd.DataFrame) -> tuple[float, float]:
    """The (cutoff, delta) of the paper's main figures found in the table: c = 3 (else the smallest
    cutoff measured) and the delta closest to 1 pixel. (NaN, NaN) without diffeo rows."""
    rows = table[table["kind"] == "diffeo"]
    if rows.empty or "cutoff" not in rows.columns or rows["cutoff"].dropna().empty:
        return math.nan, math.nan
    cutoffs = np.sort(rows["cutoff"].dropna().unique())
    cutoff = 3.0 if np.any(np.isclose(cutoffs, 3.0)) else float(cutoffs[0])
    delta = nearest_value(rows["delta"], 1.0) if "delta" in rows.columns else math.nan
    return cutoff, delta


def _setting(table: pd.DataFrame, cutoff: float | None, delta: float | None) -> tuple[float, float]:
    default_cutoff, default_delta = main_setting(table)
    return (default_cutoff if cutoff is None else cutoff), (default_delta if delta is None else delta)


def architecture_points(
    table: pd.DataFrame,
    *,
    cutoff: float | None = None,
    delta: float | None = None,
    stage: str = "best",
    train_size: int | Literal["max"] | None = "max",
    average: str | None = None,
) -> pd.DataFrame:
    """One point per (dataset, architecture, P, average, other grid keys) at the output layer.

    The points of Figs 3, 5, 15-17, 19-21 and Table 2: geometric means over seeds of
    test_error, D_f, G_f, R_f with relative errors and ``n``. ``cutoff``/``delta`` default
    to ``main_setting``; ``train_size="max"`` keeps the largest P of each dataset.
    """
    cutoff, delta = _setting(table, cutoff, delta)
    rows = select(table, kind="diffeo", stage=stage, cutoff=cutoff, delta=delta, train_size=train_size,
                  layer="output", average=average)
    return _aggregate_without(rows, ("layer", "relative_depth"))


def _aggregate_without(rows: pd.DataFrame, drop: tuple[str, ...]) -> pd.DataFrame:
    # The output layer's name differs between architectures; one key less keeps one row each.
    from lightning_diffeo.analysis.stats import default_keys

    keys = [key for key in default_keys(rows) if key not in drop]
    return aggregate(rows, by=keys)


def size_curves(
    table: pd.DataFrame,
    *,
    cutoff: float | None = None,
    delta: float | None = None,
    stage: str = "best",
    average: str | None = None,
    all_cutoffs: bool = False,
) -> pd.DataFrame:
    """Per architecture and training-set size P: the output layer's aggregated D_f, G_f, R_f, test error.

    The curves of Figs 13, 18 and 22. ``all_cutoffs=True`` keeps every cutoff (at the
    chosen delta) instead of one. Runs on the whole training split (``train_size`` NaN) have
    no place on a P axis and are left out.
    """
    cutoff, delta = _setting(table, cutoff, delta)
    rows = select(table, kind="diffeo", stage=stage, cutoff=None if all_cutoffs else cutoff, delta=delta,
                  train_size=None, layer="output", average=average)
    rows = rows[rows["train_size"].notna()]
    return _aggregate_without(rows, ("layer", "relative_depth")).sort_values(["dataset", "arch", "train_size"])


def depth_profiles(
    table: pd.DataFrame,
    *,
    cutoff: float | None = None,
    delta: float | None = None,
    train_size: int | Literal["max"] | None = "max",
    average: str | None = None,
) -> pd.DataFrame:
    """R_f (and D_f, G_f) per layer against relative depth, at every stage, aggregated over seeds (Fig 14)."""
    cutoff, delta = _setting(table, cutoff, delta)
    rows = select(table, kind="diffeo", stage=None, cutoff=cutoff, delta=delta, train_size=train_size,
                  layer="all", average=average)
    return aggregate(rows).sort_values(["dataset", "arch", "stage", "relative_depth"])


def noise_curves(
    table: pd.DataFrame,
    *,
    stage: str = "best",
    train_size: int | Literal["max"] | None = "max",
    average: str | None = None,
) -> pd.DataFrame:
    """G_f of the output layer against the noise norm ||eta||, aggregated over seeds (Fig 11)."""
    rows = select(table, kind="noise", stage=stage, train_size=train_size, layer="output", average=average)
    rows = rows.drop(columns=[c for c in ("D_f", "R_f", "cutoff", "temperature", "delta") if c in rows.columns])
    return _aggregate_without(rows, ("layer", "relative_depth")).sort_values(["dataset", "arch", "noise_norm"])
