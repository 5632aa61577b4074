"""Correlations of test error with D_f, G_f, R_f across architectures (Table 2, Figs 3, 5, 15-21).

Coefficients are computed on log scales by default: D_f, G_f, R_f and the test error span
decades across architectures, the paper shows them on log-log axes, and its law
eps_t ~ 0.2 sqrt(R_f) is a straight line there. On linear scales the coefficient is driven
by the few largest values. ``scale="linear"`` is offered for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from lightning_diffeo.analysis.bootstrap import SeedCorrelation, SeedPowerLaw, architecture_runs, seed_correlation, \
    seed_power_law
from lightning_diffeo.analysis.finite import dropped_as
from lightning_diffeo.analysis.paper import PAPER_POWER_LAW, paper_correlations
from lightning_diffeo.analysis.scales import is_allowed
from lightning_diffeo.analysis.stats import fit_power_law
from lightning_diffeo.analysis.table import MEASURES, by_dataset_and_average, image_size_of

__all__ = ["correlations", "correlation_table", "grid_correlations", "power_laws"]


def _correlate_points(
    points: pd.DataFrame,
    runs: pd.DataFrame,
    by: Sequence[str],
    quantities: Sequence[str],
    y: str,
    scale: Literal["log", "linear"],
    n_boot: int,
    confidence: float,
    seed: int,
) -> pd.DataFrame:
    records = []
    for key, group in points.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        members = runs[runs["point"].isin(group.index)]
        for quantity in quantities:
            c = seed_correlation(members[quantity], members[y], members["point"], scale=scale, n_boot=n_boot,
                                 confidence=confidence, seed=seed)
            records.append({**dict(zip(by, key)), "quantity": quantity, "r": c.r, "ci_low": c.low,
                            "ci_high": c.high, "n_points": c.n_archs, "runs_per_point": _runs(group), "scale": scale,
                            "spearman": c.spearman, "spearman_ci_low": c.spearman_low,
                            "spearman_ci_high": c.spearman_high, **_provenance(c)})
    return pd.DataFrame.from_records(records)


def _provenance(result: SeedCorrelation | SeedPowerLaw) -> dict[str, object]:
    """The columns that say what an interval rests on."""
    return {"n_archs": result.n_archs, "seeds_per_arch": result.seeds_per_arch, "resampling": result.resampling,
            "resamples_used": result.resamples_used}


def _runs(group: pd.DataFrame) -> str:
    low, high = int(group["n"].min()), int(group["n"].max())
    return str(low) if low == high else f"{low}-{high}"


def correlations(
    table: pd.DataFrame,
    *,
    quantities: Sequence[str] = MEASURES,
    y: str = "test_error",
    scale: Literal["log", "linear"] = "log",
    by: Sequence[str] = ("dataset", "average"),
    cutoff: float | None = None,
    delta: float | None = None,
    stage: str = "best",
    train_size: int | Literal["max"] | None = "max",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Pearson and Spearman coefficients of ``y`` (test error) against D_f, G_f, R_f across architectures.

    Each point is one architecture (``architecture_points``: output layer, geometric mean over
    seeds) at the given cutoff and delta (default: c = 3 and the delta closest to 1 pixel).
    Runs with D_f, G_f, R_f or test error NaN or infinite are left out of their point, with
    one ``NonFiniteWarning``; ``n_points`` and ``runs_per_point`` count what remains.
    Intervals: percentiles of a two-level bootstrap (``bootstrap`` module: architectures with
    replacement, then each drawn architecture's seeds with replacement, each point re-averaged;
    resamples with fewer than 3 distinct architectures dropped), ``n_boot`` resamples from
    ``numpy.random.default_rng(seed)``, the same draws for every quantity.

    Returns:
        One row per group of ``by`` and quantity: ``r`` (Pearson on ``scale``), its interval
        ``ci_low``, ``ci_high``; ``spearman`` (``scipy.stats.spearmanr`` of the points, the same on
        both scales) and ``spearman_ci_low``, ``spearman_ci_high``; ``n_points`` (architectures),
        ``runs_per_point`` (over the group's points), ``scale``; ``n_archs`` (the architectures behind
        r and the intervals, = ``n_points``), ``seeds_per_arch`` ("5", "3-5"), ``resampling``
        (``"two-level"``, or ``"points"`` when every point has one seed) and ``resamples_used`` (out
        of ``n_boot``). Empty when no point is left.
    """
    with dropped_as("correlations"):
        points, runs = architecture_runs(table, cutoff=cutoff, delta=delta, stage=stage, train_size=train_size)
    if points.empty:
        return pd.DataFrame(columns=[*by, "quantity", *_CORRELATION_COLUMNS])
    return _correlate_points(points, runs, by, quantities, y, scale, n_boot, confidence, seed)


_CORRELATION_COLUMNS = ("r", "ci_low", "ci_high", "n_points", "runs_per_point", "scale", "spearman", "spearman_ci_low",
                        "spearman_ci_high", "n_archs", "seeds_per_arch", "resampling", "resamples_used")


def power_laws(
    table: pd.DataFrame,
    *,
    quantities: Sequence[str] = MEASURES,
    cutoff: float | None = None,
    delta: float | None = None,
    stage: str = "best",
    train_size: int | Literal["max"] | None = "max",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Fits test_error = a X^b across architectures, X each of D_f, G_f, R_f, per dataset and average.

    Returns:
        One row per (dataset, average, quantity): ``a, a_err, b, b_err, n_points`` (NaN with fewer
        than 3 points with positive values, as for the correlations), and ``paper_a``, ``paper_b`` for R_f on CIFAR10 with
        the median estimator (eps_t ~ 0.2 sqrt(R_f)); the two-level bootstrap intervals (as in
        ``correlations``; ``n_boot``, ``confidence``, ``seed``) ``b_ci_low``, ``b_ci_high``,
        ``a_ci_low``, ``a_ci_high``, with ``n_archs``, ``seeds_per_arch``, ``resampling`` and
        ``resamples_used``. Runs with a NaN or infinite quantity are left out of their point, with
        one ``NonFiniteWarning``.
    """
    with dropped_as("power_laws"):
        points, runs = architecture_runs(table, cutoff=cutoff, delta=delta, stage=stage, train_size=train_size)
    records = []
    for (dataset, average), group in by_dataset_and_average(points):
        members = runs[runs["point"].isin(group.index)]
        for quantity in quantities:
            x, y = group[quantity].to_numpy(float), group["test_error"].to_numpy(float)
            keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
            record = {"dataset": dataset, "average": average, "quantity": quantity, "a": math.nan, "a_err": math.nan,
                      "b": math.nan, "b_err": math.nan, "n_points": int(keep.sum())}
            if keep.sum() >= 3 and np.ptp(x[keep]) > 0:  # two points always lie on a line
                law = fit_power_law(x[keep], y[keep])
                record.update(a=law.a, a_err=law.a_err, b=law.b, b_err=law.b_err)
            boot = seed_power_law(members[quantity], members["test_error"], members["point"], n_boot=n_boot,
                                  confidence=confidence, seed=seed)
            record.update(b_ci_low=boot.b_low, b_ci_high=boot.b_high, a_ci_low=boot.a_low, a_ci_high=boot.a_high,
                          **_provenance(boot))
            published = paper_correlations(dataset)
            on_paper = (published is not None and published[0] == PAPER_POWER_LAW["dataset"] and quantity == "R_f"
                        and average == "median")
            record["paper_a"] = PAPER_POWER_LAW["a"] if on_paper else math.nan
            record["paper_b"] = PAPER_POWER_LAW["b"] if on_paper else math.nan
            records.append(record)
    return pd.DataFrame.from_records(records)


def correlation_table(correlations_long: pd.DataFrame) -> pd.DataFrame:
    """Table 2: one row per (dataset, average), columns D_f, G_f, R_f with their intervals, and the
    paper's coefficients (``paper_D_f``, ...) beside them for the median rows of the paper's datasets.

    With the columns of ``correlations``: ``n_archs`` (the most architectures behind a coefficient),
    ``seeds_per_arch`` (over the quantities), ``resampling``, and per quantity ``<q>_spearman``,
    ``<q>_spearman_ci_low``, ``<q>_spearman_ci_high``, ``<q>_n_archs``, ``<q>_seeds_per_arch``.
    """
    rows = []
    for (dataset, average), group in by_dataset_and_average(correlations_long):
        row: dict[str, object] = {"dataset": dataset, "average": average,
                                  "architectures": int(group["n_points"].max()),
                                  "runs_per_point": group["runs_per_point"].iloc[0]}
        if "n_archs" in group.columns:
            row.update(n_archs=int(group["n_archs"].max()), seeds_per_arch=_span(group["seeds_per_arch"]),
                       resampling="/".join(sorted(set(map(str, group["resampling"])), reverse=True)))
        for record in group.to_dict("records"):
            quantity = record["quantity"]
            row[quantity] = record["r"]
            row[f"{quantity}_ci_low"] = record["ci_low"]
            row[f"{quantity}_ci_high"] = record["ci_high"]
            for column in ("spearman", "spearman_ci_low", "spearman_ci_high", "n_archs", "seeds_per_arch"):
                if column in record:
                    row[f"{quantity}_{column}"] = record[column]
        published = paper_correlations(dataset)
        if published is not None and average == "median":
            row["paper_dataset"] = published[0]
            for quantity, value in published[1].items():
                row[f"paper_{quantity}"] = value
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def _span(texts: pd.Series) -> str:
    """"5" or "3-5" over texts of that form (e.g. the seeds behind each quantity's coefficient)."""
    bounds = [int(part) for text in texts.astype(str) for part in text.split("-") if part.strip().isdigit()]
    if not bounds:
        return ""
    return str(min(bounds)) if min(bounds) == max(bounds) else f"{min(bounds)}-{max(bounds)}"


def grid_correlations(
    table: pd.DataFrame,
    *,
    quantities: Sequence[str] = MEASURES,
    scale: Literal["log", "linear"] = "log",
    stage: str = "best",
    train_size: int | Literal["max"] | None = "max",
    image_size: int | None = None,
    n_boot: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Correlations for every measured (delta, cutoff) (Fig 21), with whether T is allowed.

    Returns:
        One row per (dataset, average, delta, cutoff, quantity): ``r``, ``n_points``,
        ``temperature`` and ``allowed`` (T_min <= T <= T_max for the dataset's image size,
        ``image_size`` or the table's; NaN when unknown). Runs with a NaN or infinite quantity are
        left out of their points, with one ``NonFiniteWarning`` for all settings.
    """
    rows = table[(table["kind"] == "diffeo") & table["cutoff"].notna() & table["delta"].notna()]
    parts = []
    with dropped_as("grid_correlations"):
        panels = {(cutoff, delta): architecture_runs(table, cutoff=float(cutoff), delta=float(delta), stage=stage,
                                                     train_size=train_size)
                  for (cutoff, delta), _ in rows.groupby(["cutoff", "delta"], sort=True)}
    for (cutoff, delta), (points, runs) in panels.items():
        # nearest-delta selection per dataset: keep only the datasets that measured this delta
        points = points[np.isclose(points["delta"], delta, rtol=1e-6)]
        if points.empty:
            continue
        part = _correlate_points(points, runs, ("dataset", "average"), quantities, "test_error", scale, n_boot, 0.95,
                                 seed)
        temperature = points.groupby("dataset")["temperature"].first()
        part["cutoff"], part["delta"] = float(cutoff), float(delta)
        part["temperature"] = part["dataset"].map(temperature)
        part["allowed"] = [
            _allowed(table, dataset, float(cutoff), t, image_size) for dataset, t in zip(part["dataset"], part["temperature"])
        ]
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["dataset", "average", "quantity", "r", "n_points", "cutoff", "delta",
                                     "temperature", "allowed"])
    return pd.concat(parts, ignore_index=True)


def _allowed(table: pd.DataFrame, dataset: str, cutoff: float, temperature: float, image_size: int | None) -> float:
    n = image_size or image_size_of(table, dataset)
    if n is None or not math.isfinite(temperature):
        return math.nan
    return float(is_allowed(n, cutoff, temperature))
