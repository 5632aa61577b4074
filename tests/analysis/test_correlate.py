from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lightning_diffeo.analysis import (
    PAPER_CORRELATIONS,
    architecture_points,
    correlation_table,
    correlations,
    fit_power_law,
    grid_correlations,
    paper_correlations,
    power_laws,
    temperature_bounds,
)
from tests.analysis.synthetic import IMAGE_SIZE, synthetic_table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_table(seeds=2, layers=2, stages=("best",), noise_norms=(), cutoffs=(3.0, 15.0),
                           deltas=(0.25, 1.0))


def test_correlations_equal_numpy_on_the_architecture_points(table):
    long = correlations(table, n_boot=200).set_index(["average", "quantity"])
    points = architecture_points(table, average="median")
    assert len(points) == 7
    for quantity in ("D_f", "G_f", "R_f"):
        expected = np.corrcoef(np.log(points[quantity]), np.log(points["test_error"]))[0, 1]
        row = long.loc[("median", quantity)]
        assert row["r"] == pytest.approx(expected, abs=1e-12)
        assert row["n_points"] == 7 and row["runs_per_point"] == "2"
        assert row["ci_low"] <= row["r"] <= row["ci_high"]
    linear = correlations(table, scale="linear", n_boot=0).set_index(["average", "quantity"])
    assert linear.loc[("median", "R_f"), "r"] == pytest.approx(np.corrcoef(points["R_f"], points["test_error"])[0, 1])


def test_planted_law_of_the_synthetic_study_is_found(table):
    points = architecture_points(table, average="median")
    law = fit_power_law(points["R_f"], points["test_error"])
    # eps = 0.2 sqrt(R_f) with log-normal scatter of 0.1 per run (0.07 after two seeds)
    assert abs(law.b - 0.5) < 3 * law.b_err
    assert abs(math.log(law.a / 0.2)) < 3 * law.a_err / law.a


def test_table2_places_the_papers_values_beside_median_rows(table):
    both = pd.concat([table, table.assign(dataset="my-new-set")], ignore_index=True)
    table2 = correlation_table(correlations(both, n_boot=0)).set_index(["dataset", "average"])
    assert table2.loc[("cifar10", "median"), "paper_D_f"] == PAPER_CORRELATIONS["CIFAR10"]["D_f"]
    assert math.isnan(table2.loc[("cifar10", "mean"), "paper_D_f"])
    assert math.isnan(table2.loc[("my-new-set", "median"), "paper_D_f"])
    assert table2.loc[("cifar10", "median"), "architectures"] == 7
    assert paper_correlations("Fashion-MNIST")[1]["R_f"] == 0.94
    assert paper_correlations("tinyimagenet32")[0] == "Tiny ImageNet"
    assert paper_correlations("digits") is None


def test_grid_correlations_mark_the_allowed_temperatures(table):
    grid = grid_correlations(table)
    assert set(zip(grid["delta"], grid["cutoff"])) == {(d, c) for d in (0.25, 1.0) for c in (3.0, 15.0)}
    for row in grid.itertuples():
        t_min, t_max = temperature_bounds(IMAGE_SIZE, row.cutoff)
        assert row.allowed == float(t_min <= row.temperature <= t_max)
    # 32 x 32 images: delta = 1 is allowed at c = 3, above T_max at c = 15 (docs/science.md section 4);
    # delta = 1/4 lies below T_min (delta = 1/2) at every cutoff
    allowed = grid.groupby(["delta", "cutoff"])["allowed"].agg(set).to_dict()
    assert allowed == {(0.25, 3.0): {0.0}, (0.25, 15.0): {0.0}, (1.0, 3.0): {1.0}, (1.0, 15.0): {0.0}}
    unknown = grid_correlations(table.assign(dataset="unknown-set"))
    assert unknown["allowed"].isna().all()


def test_power_laws_recover_the_planted_law_with_the_papers_beside_it(table):
    laws = power_laws(table).set_index(["average", "quantity"])
    r_f = laws.loc[("median", "R_f")]
    assert abs(r_f["b"] - 0.5) < 3 * r_f["b_err"] and r_f["n_points"] == 7
    assert (r_f["paper_a"], r_f["paper_b"]) == (0.2, 0.5)
    assert math.isnan(laws.loc[("mean", "R_f"), "paper_a"]) and math.isnan(laws.loc[("median", "D_f"), "paper_a"])
