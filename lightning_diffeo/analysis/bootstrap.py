"""Two-level bootstrap: over architectures, and over the seeds within each drawn architecture.

A point of the correlations and power laws across architectures is one architecture: the
geometric mean over its seeds (``architecture_points``). Its intervals carry both sources of
uncertainty, the choice of architectures and the seeds behind each point. One resample:

1. draw A architectures with replacement among the A points (``integers(0, A, (n_boot, A))``,
   the first draw of ``numpy.random.default_rng(seed)``, exactly as ``stats.pearson`` draws
   its points);
2. for each drawn architecture with n seeds, draw n of its seeds with replacement (the second
   draw, ``integers(0, n, ...)``; an architecture drawn twice gets two independent draws);
3. recompute each drawn architecture's point, the geometric mean over its drawn seeds (the mean
   of their logs), then the statistic over the A points.

Resamples that hold fewer than 3 distinct architectures are dropped, counted on the drawn
indices, never by testing floats for zero variance (two distinct points always lie on a line:
r = +-1). With one seed per point (a zoo of pretrained models) step 2 is a no-op and the
intervals equal those of a bootstrap over the points alone (``stats.pearson``):
``resampling`` says ``"points"`` then, ``"two-level"`` otherwise. Three points with one seed each
have no interval (NaN): every kept resample is then the three points in some order, and the
statistic the same, which would read as an interval of zero width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as _stats

from lightning_diffeo.analysis.finite import required_quantities, split_finite
from lightning_diffeo.analysis.points import architecture_points, main_setting
from lightning_diffeo.analysis.stats import AGGREGATED, distinct_per_row
from lightning_diffeo.analysis.table import select

__all__ = ["POINTS", "TWO_LEVEL", "SeedCorrelation", "SeedPowerLaw", "SeededPoints", "architecture_runs",
           "resample_points", "seed_correlation", "seed_power_law"]

TWO_LEVEL = "two-level"
"""``resampling`` when some point has several seeds: architectures, then seeds within each."""
POINTS = "points"
"""``resampling`` when every point has one seed: the within level is a no-op."""


@dataclass(frozen=True)
class SeededPoints:
    """Runs grouped into points: ``log_x[a, k]``, ``log_y[a, k]`` for the seeds k < ``sizes[a]`` of point a.

    Rows are the points in the sorted order of their group labels; entries beyond a point's seeds
    are 0 and never read.
    """

    log_x: np.ndarray
    log_y: np.ndarray
    sizes: np.ndarray

    @classmethod
    def from_runs(cls, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                  groups: Sequence[object] | np.ndarray) -> SeededPoints:
        """Group per-run values (non-negative; 0 gives a geometric mean of 0) by point label."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        codes, _ = pd.factorize(np.asarray(groups, dtype=object), sort=True)
        if x.shape != y.shape or x.shape != codes.shape or x.ndim != 1:
            raise ValueError(f"x, y and groups must be 1-d and of one length, got {x.shape}, {y.shape}, {codes.shape}")
        if np.any(codes < 0):
            raise ValueError("groups must not be NaN")
        if np.any(x < 0) or np.any(y < 0):
            raise ValueError("x and y must be non-negative for a geometric mean over seeds")
        sizes = np.bincount(codes) if codes.size else np.zeros(0, dtype=int)
        order = np.argsort(codes, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        slot = np.arange(codes.size) - starts[codes[order]]
        shape = (sizes.size, int(sizes.max()) if sizes.size else 0)
        log_x, log_y = np.zeros(shape), np.zeros(shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_x[codes[order], slot] = np.log(x[order])
            log_y[codes[order], slot] = np.log(y[order])
        return cls(log_x, log_y, sizes)

    def point_logs(self) -> tuple[np.ndarray, np.ndarray]:
        """ln of each point's geometric mean over all its seeds, for x and y."""
        mask = np.arange(self.log_x.shape[1]) < self.sizes[:, None]
        with np.errstate(invalid="ignore"):
            return (np.where(mask, self.log_x, 0.0).sum(axis=1) / self.sizes,
                    np.where(mask, self.log_y, 0.0).sum(axis=1) / self.sizes)

    def subset(self, keep: np.ndarray) -> SeededPoints:
        return SeededPoints(self.log_x[keep], self.log_y[keep], self.sizes[keep])

    @property
    def seeds_per_arch(self) -> str:
        """"5" or "3-5": the seeds behind the points ("0" without points)."""
        if not self.sizes.size:
            return "0"
        low, high = int(self.sizes.min()), int(self.sizes.max())
        return str(low) if low == high else f"{low}-{high}"

    @property
    def resampling(self) -> str:
        return TWO_LEVEL if self.sizes.size and int(self.sizes.max()) > 1 else POINTS

    @property
    def no_interval(self) -> bool:
        """Three points of one seed each: every resample of at least 3 distinct ones is a permutation of them."""
        return self.sizes.size == 3 and self.resampling == POINTS


def resample_points(points: SeededPoints, n_boot: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The two-level resamples holding at least 3 distinct architectures: their points' ln x and ln y.

    Returns:
        Two arrays ``[used, A]`` (``used <= n_boot`` resamples kept, A the points): row b holds
        ln of the geometric mean over the drawn seeds of each drawn architecture.
    """
    rng = np.random.default_rng(seed)
    n_archs = points.sizes.size
    arch = rng.integers(0, n_archs, size=(n_boot, n_archs)) if n_archs else np.zeros((n_boot, 0), dtype=int)
    keep = distinct_per_row(arch) >= 3 if n_archs else np.zeros(n_boot, dtype=bool)
    if n_archs == 0 or int(points.sizes.max()) == 1:  # one seed each: the points' own values
        return points.log_x[arch, 0][keep], points.log_y[arch, 0][keep]
    sizes = points.sizes[arch][..., None]  # [n_boot, A, 1]
    width = points.log_x.shape[1]
    seeds = rng.integers(0, sizes, size=(n_boot, n_archs, width))  # column k < n of a drawn point: one draw
    mask = np.arange(width) < sizes
    rows = arch[..., None]
    log_x = np.where(mask, points.log_x[rows, seeds], 0.0).sum(axis=2) / sizes[..., 0]
    log_y = np.where(mask, points.log_y[rows, seeds], 0.0).sum(axis=2) / sizes[..., 0]
    return log_x[keep], log_y[keep]


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (x * y).sum(axis=1) / np.sqrt((x**2).sum(axis=1) * (y**2).sum(axis=1))


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho per row: Pearson's r of the ranks, ties (repeated draws) at their average rank."""
    if x.shape[0] == 0:
        return np.zeros(0)
    return _pearson_rows(_stats.rankdata(x, axis=1), _stats.rankdata(y, axis=1))


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not values.size:
        return np.nan, np.nan
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def _check(n_boot: int, confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")


@dataclass(frozen=True)
class SeedCorrelation:
    """Pearson ``r`` and Spearman ``spearman`` over the points, with two-level bootstrap intervals.

    ``n_archs`` points (architectures) entered, with ``seeds_per_arch`` seeds each ("5", "3-5");
    ``resampling`` is ``"two-level"`` or ``"points"`` (one seed per point); ``resamples_used`` the
    resamples with at least 3 distinct architectures, out of ``n_boot``.
    """

    r: float
    low: float
    high: float
    spearman: float
    spearman_low: float
    spearman_high: float
    n_archs: int
    seeds_per_arch: str
    resampling: str
    resamples_used: int


def seed_correlation(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    groups: Sequence[object] | np.ndarray,
    *,
    scale: Literal["log", "linear"] = "log",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> SeedCorrelation:
    """Correlation across points of per-run values ``x``, ``y``; ``groups[i]`` names the point (architecture) of run i.

    A point is the geometric mean of its runs (as ``architecture_points``); r is Pearson's of the
    points on ``scale`` (their logs, or the geometric means themselves), ``spearman`` is
    ``scipy.stats.spearmanr`` of the points (the same on both scales). Points whose value is not
    finite on the scale (a geometric mean of 0 on log scales) are left out; with fewer than 3, or
    x or y constant over the points, every number is NaN. Intervals: percentiles of the two-level
    bootstrap (module docstring), ``n_boot`` resamples from ``numpy.random.default_rng(seed)``.
    """
    _check(n_boot, confidence)
    if scale not in ("log", "linear"):
        raise ValueError(f"scale must be 'log' or 'linear', got {scale!r}")
    points = SeededPoints.from_runs(x, y, groups)
    log_x, log_y = points.point_logs()
    tx, ty = (log_x, log_y) if scale == "log" else (np.exp(log_x), np.exp(log_y))
    keep = np.isfinite(tx) & np.isfinite(ty)
    points, tx, ty = points.subset(keep), tx[keep], ty[keep]
    n = int(keep.sum())
    nan = SeedCorrelation(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, n, points.seeds_per_arch,
                          points.resampling, 0)
    if n < 3 or np.ptp(tx) == 0 or np.ptp(ty) == 0:
        return nan
    r = float(np.corrcoef(tx, ty)[0, 1])
    rho = float(_stats.spearmanr(tx, ty).statistic)
    bx, by = resample_points(points, n_boot, seed)
    if scale == "linear":
        bx, by = np.exp(bx), np.exp(by)
    low, high = _interval(_pearson_rows(bx, by), confidence)
    rho_low, rho_high = _interval(_spearman_rows(bx, by), confidence)
    if points.no_interval:
        low = high = rho_low = rho_high = np.nan
    return SeedCorrelation(r, low, high, rho, rho_low, rho_high, n, points.seeds_per_arch, points.resampling,
                           int(bx.shape[0]))


@dataclass(frozen=True)
class SeedPowerLaw:
    """Two-level bootstrap intervals of the exponent b and prefactor a of y = a x^b across points.

    ``n_archs``, ``seeds_per_arch``, ``resampling``, ``resamples_used`` as in ``SeedCorrelation``.
    """

    b_low: float
    b_high: float
    a_low: float
    a_high: float
    n_archs: int
    seeds_per_arch: str
    resampling: str
    resamples_used: int


def seed_power_law(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    groups: Sequence[object] | np.ndarray,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> SeedPowerLaw:
    """Percentile intervals of b and a in ln y = ln a + b ln x (least squares over the points), two-level.

    Points are geometric means over each group's runs; those with a geometric mean of 0 are left
    out. NaN intervals with fewer than 3 points or x constant over them (as ``power_laws``).
    """
    _check(n_boot, confidence)
    points = SeededPoints.from_runs(x, y, groups)
    log_x, log_y = points.point_logs()
    keep = np.isfinite(log_x) & np.isfinite(log_y)
    points = points.subset(keep)
    n = int(keep.sum())
    if n < 3 or np.ptp(log_x[keep]) == 0:
        return SeedPowerLaw(np.nan, np.nan, np.nan, np.nan, n, points.seeds_per_arch, points.resampling, 0)
    bx, by = resample_points(points, n_boot, seed)
    mean_x, mean_y = bx.mean(axis=1), by.mean(axis=1)
    centred = bx - mean_x[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (centred * (by - mean_y[:, None])).sum(axis=1) / (centred**2).sum(axis=1)
    b_low, b_high = _interval(slope, confidence)
    ln_a_low, ln_a_high = _interval(mean_y - slope * mean_x, confidence)
    if points.no_interval:
        b_low = b_high = ln_a_low = ln_a_high = np.nan
    return SeedPowerLaw(b_low, b_high, float(np.exp(ln_a_low)), float(np.exp(ln_a_high)), n, points.seeds_per_arch,
                        points.resampling, int(bx.shape[0]))


_NOT_KEYS = frozenset({"n", "fraction_diffeomorphic", *AGGREGATED, *(f"{q}_rel_err" for q in AGGREGATED)})


def architecture_runs(
    table: pd.DataFrame,
    *,
    cutoff: float | None = None,
    delta: float | None = None,
    stage: str = "best",
    train_size: int | Literal["max"] | None = "max",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``architecture_points`` and the runs behind them: the rows each point averages, ``point`` its row label.

    The rows left out for a NaN or infinite value are those ``architecture_points`` leaves out
    (and notes, once); ``point`` indexes the points' rows.

    Raises:
        RuntimeError: the runs do not reproduce the points (their counts ``n`` or names differ).
    """
    points = architecture_points(table, cutoff=cutoff, delta=delta, stage=stage, train_size=train_size)
    default_cutoff, default_delta = main_setting(table)
    rows = select(table, kind="diffeo", stage=stage, cutoff=default_cutoff if cutoff is None else cutoff,
                  delta=default_delta if delta is None else delta, train_size=train_size, layer="output")
    rows, _ = split_finite(rows, required_quantities(rows, [q for q in AGGREGATED if q in rows.columns]))
    if points.empty or rows.empty:
        return points, rows.assign(point=pd.Series(dtype=int))
    keys = [column for column in points.columns if column not in _NOT_KEYS and column in rows.columns]
    rows = rows.assign(point=rows.groupby(keys, dropna=False, sort=True).ngroup().to_numpy())
    counts = np.bincount(rows["point"], minlength=len(points))
    first = rows.groupby("point", sort=True)[["arch", "average"]].first()
    if (len(counts) != len(points) or not np.array_equal(counts, points["n"].to_numpy())
            or not first.reset_index(drop=True).equals(points[["arch", "average"]].reset_index(drop=True))):
        raise RuntimeError("the runs behind the architecture points do not reproduce them (keys "
                           f"{keys}); please report this")
    rows["point"] = points.index.to_numpy()[rows["point"].to_numpy()]
    return points, rows
