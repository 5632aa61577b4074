"""Rows with NaN or infinite measures are left out of every quantity of their point, said once per figure or statistic.

The table is written out by hand, and so is every expected number: geometric means, n, relative
errors and the runs left out.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from lightning_diffeo.analysis import (
    FigureOptions,
    NonFiniteWarning,
    aggregate,
    architecture_points,
    correlations,
    depth_profiles,
    log_mean,
    make_figures,
    power_laws,
    write_report,
)

NAN, INF = math.nan, math.inf
# run id: arch, seed, D_f, G_f, R_f, test error. Planted: a-s1 R_f NaN; b-s0 G_f infinite (so R_f = 0);
# c-s0 R_f NaN and c-s1 test error NaN (c has no run left with all four); d clean.
RUNS = [
    ("a-s0", "a", 0, 0.2, 0.1, 2.0, 0.1),
    ("a-s1", "a", 1, 0.3, 0.1, NAN, 0.2),
    ("a-s2", "a", 2, 0.8, 0.4, 2.0, 0.4),
    ("b-s0", "b", 0, 0.5, INF, 0.0, 0.3),
    ("b-s1", "b", 1, 0.9, 0.3, 3.0, 0.3),
    ("c-s0", "c", 0, 0.1, 0.1, NAN, 0.5),
    ("c-s1", "c", 1, 0.2, 0.1, 2.0, NAN),
    ("d-s0", "d", 0, 0.05, 0.1, 0.5, 0.05),
    ("d-s1", "d", 1, 0.2, 0.1, 2.0, 0.2),
]
LEFT_OUT = ["a-s1", "b-s0", "c-s0", "c-s1"]  # of every statistic that uses the test error
# By hand: a averages s0 and s2, b only s1, c nothing, d both seeds.
EXPECTED = {  # arch: n, D_f, G_f, R_f, test error (geometric means)
    "a": (2, math.sqrt(0.2 * 0.8), math.sqrt(0.1 * 0.4), 2.0, math.sqrt(0.1 * 0.4)),
    "b": (1, 0.9, 0.3, 3.0, 0.3),
    "d": (2, math.sqrt(0.05 * 0.2), 0.1, 1.0, math.sqrt(0.05 * 0.2)),
}


@pytest.fixture()
def table() -> pd.DataFrame:
    rows = [{"run_id": run, "arch": arch, "seed": seed, "D_f": d, "G_f": g, "R_f": r, "test_error": e,
             "dataset": "cifar10", "train_size": 4096, "stage": "best", "layer": "output", "relative_depth": 1.0,
             "average": "median", "kind": "diffeo", "cutoff": 3.0, "delta": 1.0, "temperature": 0.001,
             "depth": 5, "batch_norm": False, "skip_connections": False}
            for run, arch, seed, d, g, r, e in RUNS]
    return pd.DataFrame(rows)


def _one_warning(record, what: str) -> str:
    messages = [str(w.message) for w in record if issubclass(w.category, NonFiniteWarning)]
    mine = [m for m in messages if m.startswith(f"{what}: ")]
    assert len(mine) == 1, messages
    return mine[0]


@pytest.mark.parametrize("compute", [aggregate, architecture_points], ids=["aggregate", "architecture_points"])
def test_points_average_the_same_runs_for_every_quantity(table, compute):
    with pytest.warns(NonFiniteWarning) as record:
        points = compute(table).set_index("arch")
    assert sorted(points.index) == ["a", "b", "d"]  # c: no run with all four finite
    for arch, (n, d_f, g_f, r_f, error) in EXPECTED.items():
        row = points.loc[arch]
        assert row["n"] == n
        assert (row["D_f"], row["G_f"], row["R_f"], row["test_error"]) == pytest.approx((d_f, g_f, r_f, error))
        assert row["R_f"] == pytest.approx(row["D_f"] / row["G_f"])
    # a: logs of D_f 0.2 and 0.8 differ by ln 4; std (ddof 1) ln 4 / sqrt 2, over sqrt 2: ln 2
    assert points.loc["a", "D_f_rel_err"] == pytest.approx(math.log(2))
    assert points.loc["a", "R_f_rel_err"] == pytest.approx(0.0)
    assert math.isnan(points.loc["b", "D_f_rel_err"])  # one run: no spread
    message = _one_warning(record, compute.__name__)
    assert message == (f"{compute.__name__}: left out 4 rows with NaN or infinite G_f, R_f, test_error from 4 runs "
                       "(a-s1, b-s0, c-s0, c-s1); n counts the runs averaged")


def test_quantities_not_used_do_not_drop_runs(table):
    with pytest.warns(NonFiniteWarning) as record:
        profiles = depth_profiles(table).set_index("arch")  # D_f, G_f, R_f: c-s1's NaN test error does not count
    assert profiles.loc["c", "n"] == 1 and profiles.loc["c", "R_f"] == pytest.approx(2.0)
    assert "test_error" not in profiles.columns
    assert "from 3 runs (a-s1, b-s0, c-s0)" in _one_warning(record, "depth_profiles")


def test_correlations_and_power_laws_count_the_points_left(table):
    with pytest.warns(NonFiniteWarning) as record:
        long = correlations(table, n_boot=20).set_index("quantity")
        laws = power_laws(table).set_index("quantity")
    # points a (R_f 2, error 0.2), b (3, 0.3), d (1, 0.1): error = 0.1 R_f exactly
    assert long.loc["R_f", "n_points"] == 3 and long.loc["R_f", "runs_per_point"] == "1-2"
    assert long.loc["R_f", "r"] == pytest.approx(1.0)
    assert (laws.loc["R_f", "n_points"], laws.loc["R_f", "a"], laws.loc["R_f", "b"]) == (3, pytest.approx(0.1),
                                                                                        pytest.approx(1.0))
    for what in ("correlations", "power_laws"):
        assert "(a-s1, b-s0, c-s0, c-s1)" in _one_warning(record, what)


def test_figure_titles_count_what_was_averaged_and_warn_once(table):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        results = {r.name: r for r in make_figures(table, FigureOptions(n_boot=0))}
    figure = results["error_vs_stability_cifar10_median"]
    assert figure.runs == "1-2"
    assert figure.figure.get_suptitle().endswith("; 1-2 runs per point)")
    assert figure.dropped.runs == LEFT_OUT and len(figure.dropped.rows) == 4
    assert "(a-s1, b-s0, c-s0, c-s1)" in _one_warning(record, "error_vs_stability_cifar10_median")
    drawn = [ax for ax in figure.figure.axes if ax.get_label() != "<colorbar>"]
    points_per_panel = {len([line for line in ax.get_lines() if line.get_marker() not in ("|", "_", "None")])
                        for ax in drawn}
    assert points_per_panel == {3}  # a, b, d; the fit needs no marker


def test_report_lists_what_it_left_out(table, tmp_path):
    with pytest.warns(NonFiniteWarning) as record:
        report = write_report(table, tmp_path / "r", options=FigureOptions(n_boot=0), formats=["png"])
    text = (tmp_path / "r" / "report.md").read_text()
    assert "## Rows left out: NaN or infinite values" in text
    expected = {"error_vs_stability_cifar10_median", "aggregated.csv", "points.csv", "power_laws.csv",
                "correlations.csv, table2"}
    assert {d.what for d in report.dropped} == expected
    for what in expected:
        line = f"- {_one_warning(record, what)}"
        assert line in text.splitlines()
    assert "| cifar10 | median | 3 | 1-2 |" in (tmp_path / "r" / "table2.md").read_text()
    assert pd.read_csv(tmp_path / "r" / "points.csv").set_index("arch")["n"].to_dict() == {"a": 2, "b": 1, "d": 2}


def test_noise_rows_need_only_g_f_and_a_table_without_test_error_keeps_its_runs(table):
    noise = table.assign(kind="noise", D_f=NAN, R_f=NAN, noise_norm=1.0, cutoff=NAN, delta=NAN, temperature=NAN)
    noise = noise[noise["run_id"] != "b-s0"]  # G_f infinite
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        counts = aggregate(noise.drop(columns=["test_error"])).set_index("arch")["n"].to_dict()
        assert counts == {"a": 3, "b": 1, "c": 2, "d": 2}
        untested = aggregate(noise.assign(test_error=NAN)).set_index("arch")
    assert untested["n"].to_dict() == counts and untested["test_error"].isna().all()


def test_log_mean_leaves_out_infinite_values_too():
    assert log_mean([2.0, np.inf, 8.0, np.nan]) == (pytest.approx(4.0), pytest.approx(math.log(4) / 2), 2)
