"""The two-level bootstrap (architectures, then seeds within each) of the correlations and power laws."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lightning_diffeo.analysis import architecture_points, correlation_table, correlations, pearson, power_laws
from lightning_diffeo.analysis.bootstrap import (
    POINTS,
    TWO_LEVEL,
    SeededPoints,
    architecture_runs,
    resample_points,
    seed_correlation,
    seed_power_law,
)
from tests.analysis.synthetic import ARCHS, synthetic_table

ARCHITECTURES, SEEDS = 10, 5
GROUPS = np.repeat(np.arange(ARCHITECTURES), SEEDS)
LOG_X = np.linspace(-3.0, 1.0, ARCHITECTURES)
_RNG = np.random.default_rng(1)
DEVIATION = _RNG.normal(0.0, 0.6, ARCHITECTURES)  # architecture-level scatter about the law
NOISE_X, NOISE_Y = _RNG.standard_normal((ARCHITECTURES, SEEDS)), _RNG.standard_normal((ARCHITECTURES, SEEDS))


def _runs(sigma: float, deviation: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-run x, y: ln y = ln 0.2 + 0.5 ln x + deviation per architecture, each run times exp(sigma N(0, 1))."""
    x = np.exp(LOG_X[:, None] + sigma * NOISE_X)
    y = np.exp(np.log(0.2) + 0.5 * LOG_X[:, None] + np.reshape(deviation, (-1, 1)) + sigma * NOISE_Y)
    return x.ravel(), y.ravel()


def _geometric_means(values: np.ndarray) -> np.ndarray:
    return np.exp(np.log(values).reshape(ARCHITECTURES, SEEDS).mean(axis=1))


def test_planted_power_law_interval_contains_it_and_narrows_with_the_seed_noise():
    # an exact law between the architectures: only the seeds scatter the points
    widths, lows = [], []
    for sigma in (0.8, 0.4, 0.2, 0.1):
        x, y = _runs(sigma)
        law, c = seed_power_law(x, y, GROUPS), seed_correlation(x, y, GROUPS)
        assert law.b_low < 0.5 < law.b_high and law.a_low < 0.2 < law.a_high
        assert (law.n_archs, law.seeds_per_arch, law.resampling) == (10, "5", TWO_LEVEL)
        widths.append(law.b_high - law.b_low)
        lows.append(c.low)
        # the seed level adds to the spread of a bootstrap over the (noisy) points alone
        points_only = seed_power_law(_geometric_means(x), _geometric_means(y), np.arange(ARCHITECTURES))
        assert points_only.resampling == POINTS
        assert law.b_high - law.b_low > points_only.b_high - points_only.b_low
    assert widths == sorted(widths, reverse=True) and lows == sorted(lows)  # narrower, r closer to 1
    exact = seed_power_law(*_runs(0.0), GROUPS)
    assert (exact.b_low, exact.b_high, exact.a_low, exact.a_high) == pytest.approx((0.5, 0.5, 0.2, 0.2), abs=1e-12)
    assert seed_correlation(*_runs(0.0), GROUPS).low == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("sigma", [0.8, 0.4, 0.1, 0.0])
def test_interval_contains_the_planted_r_and_equals_the_points_bootstrap_without_seed_noise(sigma):
    planted = np.corrcoef(LOG_X, 0.5 * LOG_X + DEVIATION)[0, 1]  # r of the noise-free architecture points
    x, y = _runs(sigma, DEVIATION)
    c = seed_correlation(x, y, GROUPS)
    assert c.low < planted < c.high and c.resampling == TWO_LEVEL and c.resamples_used == 2000
    if sigma == 0.0:
        points = pearson(_geometric_means(x), _geometric_means(y))
        assert (c.r, c.low, c.high) == pytest.approx((points.r, points.low, points.high), abs=1e-12)
        one_seed = seed_correlation(_geometric_means(x), _geometric_means(y), np.arange(ARCHITECTURES))
        assert (c.spearman_low, c.spearman_high) == pytest.approx((one_seed.spearman_low, one_seed.spearman_high))


def test_one_seed_per_point_resamples_the_points_only_and_says_so():
    x, y = _geometric_means(_runs(0.3, DEVIATION)[0]), _geometric_means(_runs(0.3, DEVIATION)[1])
    names = [f"model{i}" for i in range(ARCHITECTURES)]
    c = seed_correlation(x, y, names, scale="linear", seed=3)
    assert (c.resampling, c.seeds_per_arch, c.n_archs) == (POINTS, "1", ARCHITECTURES)
    points = pearson(x, y, scale="linear", seed=3)
    assert (c.r, c.low, c.high) == (points.r, points.low, points.high)  # the same draws, bit for bit
    zoo = synthetic_table(archs={k: ARCHS[k] for k in ("lenet", "vgg11", "resnet18", "fc4")}, seeds=1,
                          train_sizes=(4096,), cutoffs=(3.0,), deltas=(1.0,), layers=1, stages=("best",),
                          averages=("median",), noise_norms=())
    long, laws = correlations(zoo, n_boot=100), power_laws(zoo, n_boot=100)
    assert set(long["resampling"]) == set(laws["resampling"]) == {POINTS}
    assert set(long["seeds_per_arch"]) == {"1"} and set(laws["n_archs"]) == {4}


def test_resamples_of_fewer_than_three_distinct_architectures_are_dropped():
    # three architectures far apart, not on a line (r = 0.5), seeds scattered by 1e-6: a resample of two
    # distinct architectures (one drawn twice, with other seeds) is two clusters, r = +-1 to 1e-6
    x = np.repeat([1.0, 2.0, 3.0], 3) * np.exp(1e-6 * NOISE_X[:3, :3].ravel())
    y = np.repeat([1.0, 3.0, 2.0], 3) * np.exp(1e-6 * NOISE_Y[:3, :3].ravel())
    groups = np.repeat(["a", "b", "c"], 3)
    c = seed_correlation(x, y, groups, scale="linear", n_boot=2000, seed=7)
    drawn = np.random.default_rng(7).integers(0, 3, size=(2000, 3))
    expected = int(sum(len(set(row)) == 3 for row in drawn.tolist()))
    assert c.resamples_used == expected and 350 < expected < 550  # 2/9 of 2000 on average
    assert c.r == pytest.approx(0.5, abs=1e-5)
    assert c.low == pytest.approx(0.5, abs=1e-4) and c.high == pytest.approx(0.5, abs=1e-4)
    assert seed_power_law(x, y, groups, seed=7).resamples_used == expected
    bx, by = resample_points(SeededPoints.from_runs(x, y, groups), 2000, seed=7)
    assert bx.shape == by.shape == (expected, 3)


def test_fewer_than_three_architectures_give_nan_and_zero_resamples():
    c = seed_correlation([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 2.0, 5.0], ["a", "a", "b", "b"])
    assert math.isnan(c.r) and math.isnan(c.low) and c.resamples_used == 0 and c.n_archs == 2


def test_seeded_bootstrap_is_deterministic_and_fast():
    x, y = _runs(0.3, DEVIATION)
    first, again, other = (seed_correlation(x, y, GROUPS, seed=s) for s in (5, 5, 6))
    assert first == again and (first.low, first.high) != (other.low, other.high)
    start = time.perf_counter()
    seed_correlation(x, y, GROUPS, n_boot=2000)
    seed_power_law(x, y, GROUPS, n_boot=2000)
    assert time.perf_counter() - start < 1.0  # ~20 ms here for 10 architectures x 5 seeds


def test_spearman_equals_scipy_on_the_architecture_points():
    table = synthetic_table(archs={k: ARCHS[k] for k in ("fc4", "lenet", "alexnet", "vgg11", "resnet18")}, seeds=3,
                            train_sizes=(4096,), cutoffs=(3.0,), deltas=(1.0,), layers=1, stages=("best",),
                            noise_norms=(), noise=0.5)
    points = architecture_points(table, average="median")
    for scale in ("log", "linear"):
        long = correlations(table, scale=scale, n_boot=200).set_index(["average", "quantity"])
        for quantity in ("D_f", "G_f", "R_f"):
            row = long.loc[("median", quantity)]
            expected = stats.spearmanr(points[quantity], points["test_error"]).statistic
            assert row["spearman"] == pytest.approx(expected, abs=1e-12)
            assert row["spearman_ci_low"] <= row["spearman"] <= row["spearman_ci_high"]
            assert (row["n_archs"], row["seeds_per_arch"], row["resampling"]) == (5, "3", TWO_LEVEL)


def test_runs_reproduce_the_points_and_uneven_seeds_are_stated():
    table = synthetic_table(archs={k: ARCHS[k] for k in ("lenet", "vgg11", "resnet18")}, seeds=3,
                            train_sizes=(4096,), cutoffs=(3.0,), deltas=(1.0,), layers=1, stages=("best",),
                            averages=("median",), noise_norms=())
    table = table[~((table["arch"] == "lenet") & (table["seed"] == 2))]
    points, runs = architecture_runs(table)
    means = runs.groupby("point")["R_f"].apply(lambda v: np.exp(np.log(v).mean()))
    assert means.to_numpy() == pytest.approx(points["R_f"].to_numpy(), rel=1e-12)
    table2 = correlation_table(correlations(table, n_boot=100))
    row = table2.iloc[0]
    assert (row["n_archs"], row["seeds_per_arch"], row["resampling"]) == (3, "2-3", TWO_LEVEL)
    assert row["R_f_n_archs"] == 3 and row["R_f_seeds_per_arch"] == "2-3"
    assert {"R_f_spearman", "R_f_spearman_ci_low", "R_f_spearman_ci_high"} <= set(table2.columns)
    laws = power_laws(table, n_boot=100).set_index("quantity")
    assert laws.loc["R_f", "seeds_per_arch"] == "2-3" and laws.loc["R_f", "b_ci_low"] < laws.loc["R_f", "b"]
    assert laws.loc["R_f", "b"] < laws.loc["R_f", "b_ci_high"]


def test_correlation_table_reads_an_older_long_table_without_the_new_columns():
    old = pd.DataFrame({"dataset": ["d"] * 3, "average": ["median"] * 3, "quantity": ["D_f", "G_f", "R_f"],
                        "r": [0.1, 0.2, 0.3], "ci_low": [0.0] * 3, "ci_high": [0.5] * 3, "n_points": [4] * 3,
                        "runs_per_point": ["2"] * 3, "scale": ["log"] * 3})
    table2 = correlation_table(old)
    assert table2.loc[0, "R_f"] == 0.3 and "n_archs" not in table2.columns
