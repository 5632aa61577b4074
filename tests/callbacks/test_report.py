"""One JSON layout for every stability file, and the shared table: stages, both averages, fractions."""

from __future__ import annotations

import math

from lightning_diffeo.callbacks import comparison_table, metric_dict, write_report
from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.stability.result import R_F_EXPLANATION, stability_table


def _stage(scale: float, averages=("median", "mean"), fraction: float = 1.0) -> StabilityResult:
    records = [
        {"layer": layer, "relative_depth": depth, "cutoff": cutoff, "temperature": 1e-3 / cutoff, "delta": 1.0,
         "D_f": scale * (1 + depth), "G_f": 2.0, "R_f": scale * (1 + depth) / 2 + (average == "mean"),
         "average": average, "fraction_diffeomorphic": fraction}
        for average in averages for cutoff in (3.0, 5.0) for depth, layer in ((0.0, "a"), (1.0, "output"))
    ]
    return StabilityResult(records, {"mode": "eval", "epoch": 4, "global_step": 40})


def test_combined_file_round_trips_and_splits_by_stage(tmp_path):
    stages = {"init": _stage(1.0), "best": _stage(0.5)}
    path = write_report(tmp_path, "stability.json", stages, {"best_epoch": 4, "monitor": "val/acc"}, plot=False)
    loaded = StabilityResult.from_json(path)
    assert loaded.stages == ["init", "best"]
    assert {r["stage"] for r in loaded.records} == {"init", "best"} and all(r["epoch"] == 4 for r in loaded.records)
    assert loaded.metadata["summary"] == {"best_epoch": 4, "monitor": "val/acc"}
    assert loaded.by_stage() == stages
    assert loaded.get(stage="best", layer="output", cutoff=3, average="mean") == 0.5 * 2 / 2 + 1


def test_table_has_the_explanation_a_block_per_average_and_the_fraction():
    table = stability_table({"init": _stage(1.0), "best": _stage(0.5, fraction=0.75)})
    lines = table.splitlines()
    assert lines[0] == R_F_EXPLANATION
    assert "R_f (median, delta=1 px)" in lines and "R_f (mean, delta=1 px)" in lines
    median = lines.index("R_f (median, delta=1 px)")
    assert lines[median + 2].split() == ["layer", "init", "best", "init", "best"]
    assert lines[median + 4].split() == ["a", "0.5", "0.25", "0.5", "0.25"]
    mean = lines.index("R_f (mean, delta=1 px)")
    assert lines[mean + 4].split() == ["a", "1.5", "1.25", "1.5", "1.25"]
    assert lines[-1].endswith("lowest 0.75")
    assert comparison_table({"init": _stage(1.0, averages=("median",))}).count("R_f (") == 1


def test_metric_names_mark_the_mean_when_both_averages_are_measured():
    names = metric_dict(_stage(1.0), "best")
    assert names["stability/best/R_f/output/c3"] == 1.0
    assert names["stability/best/R_f/output/c3/mean"] == 2.0
    only_median = metric_dict(_stage(1.0, averages=("median",)), "best")
    assert not any(name.endswith("/mean") for name in only_median)
    assert all(math.isfinite(v) for v in names.values())
