"""Statistics over realisations and across architectures: log-means, correlations, power laws.

Realisations (seeds) of one configuration are combined with the geometric mean, as in the
paper ("log-averaging"): the quantities span decades and are compared on log scales.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as _stats

from lightning_diffeo.analysis.finite import note_dropped, required_quantities, split_finite
from lightning_diffeo.provenance import FIELDS as PROVENANCE_FIELDS

__all__ = [
    "REALISATION_COLUMNS",
    "Correlation",
    "PowerLaw",
    "aggregate",
    "default_keys",
    "fit_power_law",
    "log_mean",
    "pearson",
]

# Columns that differ between realisations of one configuration, or are measured per run:
# never grouping keys by default.
REALISATION_COLUMNS = frozenset({
    "run_id", "seed", "test_error", "test_acc", "test_loss", "best_val_acc", "best_val_loss", "best_epoch",
    "D_f", "G_f", "R_f", "fraction_diffeomorphic", "denominator", "numerator_diffeo", "numerator_noise",
    "n_images", "run_dir", "path", "status",
    # where a run came from (a commit made mid-study, a run resumed on another CPU) is not a setting
    *PROVENANCE_FIELDS,
})
_REALISATION_PREFIXES = ("test_", "val_", "best_")
_REALISATION_SUFFIXES = ("_time", "_dir", "_path", "_seconds")
AGGREGATED = ("D_f", "G_f", "R_f", "test_error")


def log_mean(values: Sequence[float] | np.ndarray) -> tuple[float, float, int]:
    """Geometric mean of positive values, its relative error, and how many values entered.

    The relative error is s / sqrt(n), with s the sample standard deviation (ddof = 1) of
    ln(values): the standard error of ln(geometric mean), i.e. its relative uncertainty
    (d ln x = dx / x). It is NaN for n = 1 (one realisation says nothing about the spread).
    NaN and infinite values are left out (``n`` counts the others); a zero gives a geometric
    mean of 0 and a NaN error.

    >>> mean, rel_err, n = log_mean([1.0, 4.0, float("nan")])
    >>> round(mean, 6), round(rel_err, 6), n
    (2.0, 0.693147, 2)
    """
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    n = int(array.size)
    if n == 0:
        return np.nan, np.nan, 0
    if np.any(array < 0):
        raise ValueError(f"values must be non-negative for a geometric mean, got {array[array < 0][:3].tolist()}")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(array)
        mean = float(np.exp(logs.mean()))
        rel_err = float(logs.std(ddof=1) / np.sqrt(n)) if n > 1 and np.all(np.isfinite(logs)) else np.nan
    return mean, rel_err, n


def default_keys(table: pd.DataFrame) -> list[str]:
    """Grouping keys of ``aggregate`` by default: every column that is not a realisation column.

    Realisation columns are ``run_id``, ``seed``, the measured quantities and outcomes
    (``REALISATION_COLUMNS``), and any column named ``test_*``, ``val_*``, ``best_*``,
    ``*_time``, ``*_dir``, ``*_path`` or ``*_seconds``, and the provenance columns (versions,
    commit, CPU, GPU, precision, probe hash). Everything else (dataset, arch,
    train_size, the grid's keys, stage, layer, cutoff, temperature, delta, average, kind,
    noise_norm, model metadata) identifies a configuration.
    """
    return [
        column for column in table.columns
        if column not in REALISATION_COLUMNS
        and not column.startswith(_REALISATION_PREFIXES)
        and not column.endswith(_REALISATION_SUFFIXES)
    ]


def aggregate(table: pd.DataFrame, by: Sequence[str] | None = None, *,
              quantities: Sequence[str] | None = None) -> pd.DataFrame:
    """Combine realisations: geometric means of D_f, G_f, R_f and test error, relative errors, n.

    Every quantity of a group is averaged over the same rows: a row with any of ``quantities``
    NaN or infinite is left out of all of them (noise-only rows, ``kind == "noise"``, need only
    G_f; a test error that is NaN on every row is a study without test runs and is not
    required), and one ``NonFiniteWarning`` names the runs left out. A group whose every row is
    left out has no row in the result.

    Args:
        table: the study table (or any selection of its rows).
        by: grouping keys; default ``default_keys(table)``. ``average`` (median or mean
            estimator) and ``kind`` are always added: the two estimators are never mixed.
        quantities: the quantities averaged; default those of D_f, G_f, R_f, test_error that
            the table has.

    Returns:
        One row per group: the keys, ``n`` (the rows, i.e. realisations, averaged), and for each
        quantity the geometric mean under its own name and the relative error (see ``log_mean``:
        std of the log with ddof = 1, over sqrt(n); NaN for n = 1) as ``<name>_rel_err``;
        ``fraction_diffeomorphic`` as an arithmetic mean. Since ln R_f = ln D_f - ln G_f run by
        run and the three are averaged over the same runs, the geometric mean of R_f equals the
        ratio of those of D_f and G_f.

    Raises:
        ValueError: unknown keys or quantities, a negative value, or a group holding two rows
            of the same run (the keys do not identify a measurement; add e.g. ``layer``,
            ``cutoff`` or ``temperature``).
    """
    keys = list(default_keys(table) if by is None else by)
    for extra in ("average", "kind"):
        if extra in table.columns and extra not in keys:
            keys.append(extra)
    unknown = [key for key in keys if key not in table.columns]
    if unknown:
        raise ValueError(f"by must name columns of the table, got unknown {unknown}")
    if not keys:
        raise ValueError("by must name at least one column")
    if "run_id" in table.columns and table.duplicated([*keys, "run_id"]).any():
        example = table[table.duplicated([*keys, "run_id"], keep=False)].iloc[0]
        raise ValueError(
            f"by={keys} leaves several rows of run {example['run_id']!r} in one group; add the keys that "
            "tell them apart (layer, cutoff, temperature, ...)"
        )
    if quantities is None:
        values = [name for name in AGGREGATED if name in table.columns]
    else:
        values = list(quantities)
        missing = [name for name in values if name not in table.columns]
        if missing:
            raise ValueError(f"quantities must be columns of the table, got unknown {missing}")
    table, left_out = split_finite(table, required_quantities(table, values))
    note_dropped(left_out, "aggregate", stacklevel=2)
    work = table[keys].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in values:
            column = table[name].astype(float)
            if (column < 0).any():
                raise ValueError(f"{name} must be non-negative for a geometric mean")
            work[f"__log_{name}"] = np.log(column)
    if "fraction_diffeomorphic" in table.columns:
        work["fraction_diffeomorphic"] = table["fraction_diffeomorphic"].astype(float)
    grouped = work.groupby(keys, dropna=False, sort=True)
    result = grouped.size().rename("n").to_frame()
    for name in values:
        logs = grouped[f"__log_{name}"]
        count = logs.count()
        with np.errstate(divide="ignore", invalid="ignore"):
            result[name] = np.exp(logs.mean())
            std = logs.std(ddof=1)
            std[~np.isfinite(logs.min()) | ~np.isfinite(logs.max())] = np.nan
            result[f"{name}_rel_err"] = std / np.sqrt(count)
    if "fraction_diffeomorphic" in work.columns:
        result["fraction_diffeomorphic"] = grouped["fraction_diffeomorphic"].mean()
    return result.reset_index()


@dataclass(frozen=True)
class Correlation:
    """Pearson coefficient ``r`` with a bootstrap confidence interval [low, high] from ``n`` points."""

    r: float
    low: float
    high: float
    n: int


def _transform(values: np.ndarray, scale: Literal["log", "linear"]) -> np.ndarray:
    if scale == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(values)
    if scale == "linear":
        return values
    raise ValueError(f"scale must be 'log' or 'linear', got {scale!r}")


def distinct_per_row(index: np.ndarray) -> np.ndarray:
    """Distinct values per row of an integer array ``[rows, n]``."""
    ordered = np.sort(index, axis=1)
    return 1 + (np.diff(ordered, axis=1) != 0).sum(axis=1)


def pearson(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    scale: Literal["log", "linear"] = "log",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Correlation:
    """Pearson coefficient of (x, y), on log scales by default, with a percentile bootstrap interval.

    Points whose transformed x or y is not finite (zero or negative values on a log scale, NaN)
    are left out. With fewer than 3 points the coefficient is NaN. The bootstrap resamples the
    points with replacement ``n_boot`` times from ``numpy.random.default_rng(seed)``; resamples
    holding fewer than 3 distinct points (counted on their indices, not their values: a point
    repeated three times has x - mean of 1e-16, not 0, and gave r = +-1) or in which x or y is
    constant are dropped (so 3 points have no interval: what is left are their permutations,
    all with the same r), which is why this is not
    ``scipy.stats.pearsonr(...).confidence_interval``: that returns NaN as soon as one of them
    occurs, which is common with a handful of architectures. This bootstraps the points it is
    given; ``bootstrap.seed_correlation`` takes per-run values and resamples each architecture's
    seeds as well (``correlations`` uses it), and equals this with one run per point.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    tx, ty = _transform(np.asarray(x, dtype=float), scale), _transform(np.asarray(y, dtype=float), scale)
    if tx.shape != ty.shape or tx.ndim != 1:
        raise ValueError(f"x and y must be 1-d and of one length, got shapes {tx.shape} and {ty.shape}")
    keep = np.isfinite(tx) & np.isfinite(ty)
    tx, ty = tx[keep], ty[keep]
    n = int(tx.size)
    if n < 3 or np.ptp(tx) == 0 or np.ptp(ty) == 0:
        return Correlation(np.nan, np.nan, np.nan, n)
    r = float(np.corrcoef(tx, ty)[0, 1])
    low = high = np.nan
    if n_boot > 0 and n > 3:  # of 3 points, every resample kept is the 3 in some order: no interval
        index = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
        index = index[distinct_per_row(index) >= 3]  # fewer distinct points: r is +-1 or undefined by construction
        bx, by = tx[index], ty[index]
        bx = bx - bx.mean(axis=1, keepdims=True)
        by = by - by.mean(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            rs = (bx * by).sum(axis=1) / np.sqrt((bx**2).sum(axis=1) * (by**2).sum(axis=1))
        rs = rs[np.isfinite(rs)]
        if rs.size:
            alpha = (1 - confidence) / 2
            low, high = (float(v) for v in np.quantile(rs, [alpha, 1 - alpha]))
    return Correlation(r, low, high, n)


@dataclass(frozen=True)
class PowerLaw:
    """y = a x^b fitted in log-log; ``a_err``, ``b_err`` standard errors, ``r`` the log-log correlation."""

    a: float
    b: float
    a_err: float
    b_err: float
    r: float
    n: int

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.a * np.asarray(x, dtype=float) ** self.b


def fit_power_law(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> PowerLaw:
    """Least-squares fit of ln y = ln a + b ln x (``scipy.stats.linregress``).

    ``b_err`` is the slope's standard error; ``a_err = a * se(ln a)`` (first order: the
    intercept's standard error is the relative error of a). Both need at least 3 points
    (NaN with 2).

    >>> law = fit_power_law([1, 4, 9, 16], [0.2, 0.4, 0.6, 0.8])
    >>> round(law.a, 6), round(law.b, 6)
    (0.2, 0.5)

    Raises:
        ValueError: x or y not positive and finite, of different lengths, or fewer than 2 points.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d and of one length, got shapes {x.shape} and {y.shape}")
    if x.size < 2:
        raise ValueError(f"a power-law fit needs at least 2 points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("x and y must be positive and finite for a log-log fit")
    if np.ptp(x) == 0:
        raise ValueError("x must take at least 2 distinct values")
    fit = _stats.linregress(np.log(x), np.log(y))
    a = float(np.exp(fit.intercept))
    if x.size < 3:
        return PowerLaw(a, float(fit.slope), np.nan, np.nan, float(fit.rvalue), int(x.size))
    return PowerLaw(a, float(fit.slope), a * float(fit.intercept_stderr), float(fit.stderr), float(fit.rvalue),
                    int(x.size))
