"""Points and curves the figures share: pure functions from the study table to aggregated tables.

Each function selects one measurement setting (``table.select``), then combines the
realisations (``stats.aggregate``): one row per configuration, with ``n`` realisations. The
quantities of a point are averaged over the same runs: a row with any of ``quantities`` NaN or
infinite is left out of all of them, and each function warns once (``NonFiniteWarning``)
naming the runs left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from lightning_diffeo.analysis.finite import dropped_as
from lightning_diffeo.analysis.stats import AGGREGATED, aggregate, default_keys
from lightning_diffeo.analysis.table import MEASURES, nearest_value, select

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
    quantities: Sequence[str] = AGGREGATED,
) -> pd.DataFrame:
    """One point per (dataset, architecture, P, average, other grid keys) at the output layer.

    The points of Figs 3, 5, 15-17, 19-21 and Table 2: geometric means over seeds of
    test_error, D_f, G_f, R_f with relative errors and ``n``. ``cutoff``/``delta`` default
    to ``main_setting``; ``train_size="max"`` keeps the largest P of each dataset.
    ``quantities``: those averaged (the ones the table has), all from the same runs.
    """
    cutoff, delta = _setting(table, cutoff, delta)
    rows = select(table, kind="diffeo", stage=stage, cutoff=cutoff, delta=delta, train_size=train_size,
                  layer="output", average=average)
    return _aggregate_without(rows, ("layer", "relative_depth"), quantities, "architecture_points")


def _aggregate_without(rows: pd.DataFrame, drop: tuple[str, ...], quantities: Sequence[str], what: str) -> pd.DataFrame:
    # The output layer's name differs between architectures; one key less keeps one row each.
    keys = [key for key in default_keys(rows) if key not in drop]
    return _aggregate(rows, keys, quantities, what, stacklevel=3)


def _aggregate(rows: pd.DataFrame, keys: Sequence[str] | None, quantities: Sequence[str], what: str,
               stacklevel: int = 2) -> pd.DataFrame:
    """``aggregate`` of the quantities the rows have, warning once as ``what`` about the rows left out."""
    with dropped_as(what, stacklevel):
        return aggregate(rows, by=keys, quantities=[q for q in quantities if q in rows.columns])


def size_curves(
    table: pd.DataFrame,
    *,
    cutoff: float | None = None,
    delta: float | None = None,
    stage: str = "best",
    average: str | None = None,
    all_cutoffs: bool = False,
    quantities: Sequence[str] = AGGREGATED,
) -> pd.DataFrame:
    """Per architecture and training-set size P: the output layer's aggregated D_f, G_f, R_f, test error.

    The curves of Figs 13, 18 and 22. ``all_cutoffs=True`` keeps every cutoff (at the
    chosen delta) instead of one. Runs on the whole training split (``train_size`` NaN) have
    no place on a P axis and are left out. ``quantities``: those averaged, from the same runs.
    """
    cutoff, delta = _setting(table, cutoff, delta)
    rows = select(table, kind="diffeo", stage=stage, cutoff=None if all_cutoffs else cutoff, delta=delta,
                  train_size=None, layer="output", average=average)
    rows = rows[rows["train_size"].notna()]
    return _aggregate_without(rows, ("layer", "relative_depth"), quantities, "size_curves").sort_values(
        ["dataset", "arch", "train_size"])


def depth_profiles(
    table: pd.DataFrame,
    *,
    cutoff: float | None = None,
    delta: float | None = None,
    train_size: int | Literal["max"] | None = "max",
    average: str | None = None,
    quantities: Sequence[str] = MEASURES,
) -> pd.DataFrame:
    """R_f (and D_f, G_f) per layer against relative depth, at every stage, aggregated over seeds (Fig 14).

    ``quantities``: those averaged, from the same runs (test error is not among them by default).
    """
    cutoff, delta = _setting(table, cutoff, delta)
    rows = select(table, kind="diffeo", stage=None, cutoff=cutoff, delta=delta, train_size=train_size,
                  layer="all", average=average)
    return _aggregate(rows, None, quantities, "depth_profiles").sort_values(["dataset", "arch", "stage",
                                                                             "relative_depth"])


def noise_curves(
    table: pd.DataFrame,
    *,
    stage: str = "best",
    train_size: int | Literal["max"] | None = "max",
    average: str | None = None,
) -> pd.DataFrame:
    """G_f of the output layer against the noise norm ||eta||, aggregated over seeds (Fig 11).

    Only G_f is averaged (rows with G_f NaN or infinite are left out, with a warning).
    """
    rows = select(table, kind="noise", stage=stage, train_size=train_size, layer="output", average=average)
    rows = rows.drop(columns=[c for c in ("D_f", "R_f", "cutoff", "temperature", "delta") if c in rows.columns])
    return _aggregate_without(rows, ("layer", "relative_depth"), ("G_f",), "noise_curves").sort_values(
        ["dataset", "arch", "noise_norm"])
