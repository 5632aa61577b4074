from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lightning_diffeo.analysis import aggregate, default_keys, fit_power_law, log_mean, pearson


def _runs(values: dict[str, list[float]], **fixed) -> pd.DataFrame:
    """Rows of three seeds for one configuration; ``values`` maps column -> per-seed values."""
    n = len(next(iter(values.values())))
    return pd.DataFrame({"run_id": [f"r{fixed.get('arch', 'a')}{s}" for s in range(n)], "seed": range(n),
                         **{k: [v] * n for k, v in fixed.items()}, **values})


def test_log_mean_matches_hand_computation():
    mean, rel_err, n = log_mean([1.0, 2.0, 8.0])
    # logs 0, ln2, 3 ln2: mean 4/3 ln2; deviations (-4, -1, 5)/3 ln2; sample variance 21/9 ln2^2
    assert mean == pytest.approx(16 ** (1 / 3))
    assert rel_err == pytest.approx(math.sqrt(21) / 3 * math.log(2) / math.sqrt(3))
    assert n == 3


def test_log_mean_of_one_value_has_no_error_and_nan_is_left_out():
    assert log_mean([5.0])[0] == pytest.approx(5.0)
    assert math.isnan(log_mean([5.0])[1])
    assert log_mean([2.0, math.nan, 8.0])[:1] == pytest.approx((4.0,))
    assert log_mean([2.0, math.nan, 8.0])[2] == 2


def test_log_mean_rejects_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        log_mean([1.0, -2.0])


def test_aggregate_geometric_means_errors_and_n_per_configuration():
    table = pd.concat([
        _runs({"D_f": [0.1, 0.2, 0.4], "G_f": [1.0, 1.0, 2.0], "test_error": [0.1, 0.1, 0.4]},
              arch="a", average="median", layer="out", stage="best"),
        _runs({"D_f": [1.0, 4.0], "G_f": [2.0, 2.0], "test_error": [0.2, 0.2]},
              arch="b", average="median", layer="out", stage="best"),
        _runs({"D_f": [0.3, 0.3, 0.3], "G_f": [1.0, 1.0, 1.0], "test_error": [0.1, 0.1, 0.4]},
              arch="a", average="mean", layer="out", stage="best"),
    ], ignore_index=True)
    table["R_f"] = table["D_f"] / table["G_f"]
    result = aggregate(table).set_index(["arch", "average"])
    a = result.loc[("a", "median")]
    assert a["n"] == 3
    assert a["D_f"] == pytest.approx(0.2)
    logs = np.log([0.1, 0.2, 0.4])
    assert a["D_f_rel_err"] == pytest.approx(np.std(logs, ddof=1) / np.sqrt(3))
    assert a["R_f"] == pytest.approx(a["D_f"] / a["G_f"])
    assert a["test_error"] == pytest.approx((0.1 * 0.1 * 0.4) ** (1 / 3))
    b = result.loc[("b", "median")]
    assert (b["n"], b["D_f"], b["G_f_rel_err"]) == (2, pytest.approx(2.0), pytest.approx(0.0))
    # the mean estimator is its own group, never pooled with the median
    assert result.loc[("a", "mean"), "D_f"] == pytest.approx(0.3)
    assert result.loc[("a", "mean"), "D_f_rel_err"] == pytest.approx(0.0)


def test_aggregate_keeps_average_as_a_key_and_refuses_mixed_runs():
    table = pd.concat([
        _runs({"D_f": [1.0, 2.0]}, arch="a", average="median", layer="x"),
        _runs({"D_f": [3.0, 4.0]}, arch="a", average="mean", layer="x"),
    ], ignore_index=True)
    assert set(aggregate(table, by=["arch"])["average"]) == {"median", "mean"}
    two_layers = pd.concat([table, table.assign(layer="y")], ignore_index=True)
    with pytest.raises(ValueError, match="several rows of run"):
        aggregate(two_layers, by=["arch"])
    with pytest.raises(ValueError, match="unknown"):
        aggregate(table, by=["nope"])


def test_default_keys_leave_out_realisation_columns():
    table = pd.DataFrame(columns=["run_id", "seed", "arch", "recipe", "train_size", "test_error", "test_acc",
                                  "best_val_acc", "D_f", "R_f", "layer", "wall_time", "run_dir", "average"])
    assert default_keys(table) == ["arch", "recipe", "train_size", "layer", "average"]


def test_planted_power_law_is_recovered_within_its_standard_error():
    rng = np.random.default_rng(0)
    x = np.geomspace(0.01, 10, 15)
    y = 0.2 * x**0.5 * np.exp(rng.normal(0, 0.1, x.size))
    law = fit_power_law(x, y)
    # a 3-sigma bound on one fixed draw
    assert abs(law.b - 0.5) < 3 * law.b_err
    assert abs(math.log(law.a / 0.2)) < 3 * law.a_err / law.a
    assert law.n == 15 and law.r > 0.9


def test_power_law_standard_errors_match_the_spread_of_the_estimates():
    rng = np.random.default_rng(1)
    x = np.geomspace(0.01, 10, 15)
    fits = [fit_power_law(x, 0.2 * x**0.5 * np.exp(rng.normal(0, 0.2, x.size))) for _ in range(500)]
    slopes = np.array([f.b for f in fits])
    errors = np.array([f.b_err for f in fits])
    # std of b over 500 fits is known to ~3%; E[s] lies ~2% below sigma for 13 degrees of freedom
    assert np.mean(errors) == pytest.approx(np.std(slopes), rel=0.1)
    # |t| < 1 with 13 degrees of freedom: 66.5%; binomial sd over 500 fits ~2.1%
    assert np.mean(np.abs(slopes - 0.5) < errors) == pytest.approx(0.665, abs=0.07)


def test_power_law_exact_and_bad_input():
    law = fit_power_law([1, 4, 9, 16], [0.2, 0.4, 0.6, 0.8])
    assert (law.a, law.b) == (pytest.approx(0.2), pytest.approx(0.5))
    assert law(25.0) == pytest.approx(1.0)
    assert math.isnan(fit_power_law([1, 2], [1, 2]).b_err)
    with pytest.raises(ValueError, match="positive and finite"):
        fit_power_law([1, 2, -3], [1, 2, 3])
    with pytest.raises(ValueError, match="one length"):
        fit_power_law([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="distinct"):
        fit_power_law([2, 2, 2], [1, 2, 3])


def test_pearson_equals_numpy_on_log_and_linear_scales():
    rng = np.random.default_rng(2)
    x = np.exp(rng.normal(size=12))
    y = x**0.5 * np.exp(rng.normal(0, 0.5, 12))
    log_r = pearson(x, y, n_boot=0)
    assert log_r.r == pytest.approx(np.corrcoef(np.log(x), np.log(y))[0, 1], abs=1e-12)
    assert pearson(x, y, scale="linear", n_boot=0).r == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert log_r.n == 12 and math.isnan(log_r.low)


def test_pearson_bootstrap_interval_is_seeded_and_brackets_r():
    rng = np.random.default_rng(3)
    x = np.exp(rng.normal(size=8))
    y = x * np.exp(rng.normal(0, 0.7, 8))
    first, again, other = pearson(x, y, seed=5), pearson(x, y, seed=5), pearson(x, y, seed=6)
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert -1 <= first.low <= first.r <= first.high <= 1


def test_pearson_leaves_out_non_positive_values_on_log_scale_and_needs_three_points():
    c = pearson([1.0, 2.0, 0.0, 4.0, 8.0], [1.0, 2.0, 3.0, 4.0, 9.0], n_boot=0)
    assert c.n == 4
    assert c.r == pytest.approx(np.corrcoef(np.log([1, 2, 4, 8]), np.log([1, 2, 4, 9]))[0, 1])
    assert math.isnan(pearson([1.0, 2.0], [1.0, 2.0]).r)
    with pytest.raises(ValueError, match="scale"):
        pearson([1, 2, 3], [1, 2, 3], scale="loglog")


def test_pearson_bootstrap_drops_resamples_of_fewer_than_three_distinct_points():
    # n = 3: a resample of 3 distinct points is a permutation (r exactly), any other has 1 or 2
    # distinct points and is dropped: what is left says nothing, so there is no interval
    x = [1.2381805423297374, 2.0, 3.0]
    y = [1.2427441156298626, 1.0, 5.0]
    result = pearson(x, y, n_boot=9000, seed=0)
    assert math.isnan(result.low) and math.isnan(result.high) and -1 < result.r < 1
    # n = 4: a third of the resamples hold 1 or 2 distinct points, r = +-1 by construction (three copies of
    # one point once gave r = -1, x - mean = 1e-16, not 0); kept, they would put the bounds at +-1
    result = pearson(x + [4.0], y + [2.0], n_boot=9000, seed=0)
    assert -1 < result.low < result.r < result.high < 1
