"""collect on hand-made run folders: noise rows, fraction_diffeomorphic, both averages, grid columns."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_diffeo.callbacks.report import write_report
from lightning_diffeo.provenance import provenance
from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.studies import collect, parse_spec, plan_runs
from lightning_diffeo.studies.execute import write_run
from lightning_diffeo.studies.state import prepare_runs


def _diffeo(layer, average, r_f, fraction=None):
    record = {"layer": layer, "relative_depth": 1.0, "cutoff": 3.0, "temperature": 0.01, "delta": 1.0,
              "D_f": r_f * 0.5, "G_f": 0.5, "R_f": r_f, "average": average, "interpolation": "bilinear"}
    if fraction is not None:
        record["fraction_diffeomorphic"] = fraction
    return record


@pytest.fixture
def finished_study(tiny_base, tmp_path):
    spec = parse_spec({"base": tiny_base, "grid": {"model.recipe": ["sgd", "adam"], "data.train_size": [64]},
                       "seeds": [4], "output": str(tmp_path)})
    plans = plan_runs(spec)
    prepare_runs(plans)
    done, pending = plans
    results = {
        "init": StabilityResult([_diffeo("output", "median", 1.1, 0.97), _diffeo("output", "mean", 1.3, 0.97)]),
        "best": StabilityResult([_diffeo("output", "median", 0.4)]),
        "noise": StabilityResult([{"layer": "output", "relative_depth": 1.0, "noise_norm": 0.5, "G_f": 0.02,
                                   "average": "median"}]),
    }
    write_report(done.run_dir, "stability.json", results, {}, plot=False)
    write_run(done.run_dir, {"status": "done", "overrides": done.overrides, "seed": 4, "n_params": 123,
                             "test_error": 0.25, "test_acc": 0.75, "best_val_acc": 0.8, "best_epoch": 2,
                             "stability": "stability.json", "provenance": provenance("bf16-mixed")})
    return tmp_path, done, pending


def test_rows_columns_and_kinds(finished_study):
    folder, done, _ = finished_study
    with pytest.warns(UserWarning, match="1 of 2 runs are not done"):
        table = collect(folder)
    assert len(table) == 4 and set(table["run_id"]) == {done.run_id}
    assert (table["recipe"] == done.overrides["model.recipe"]).all() and (table["train_size"] == 64).all()
    assert (table["seed"] == 4).all() and (table["depth"] == 5).all() and (table["n_params"] == 123).all()
    init = table[table["stage"] == "init"].set_index("average")
    assert init.loc["median", "R_f"] == 1.1 and init.loc["mean", "R_f"] == 1.3
    assert init["fraction_diffeomorphic"].tolist() == [0.97, 0.97]
    best = table[table["stage"] == "best"].iloc[0]
    assert math.isnan(best["fraction_diffeomorphic"]) and best["kind"] == "diffeo"
    noise = table[table["kind"] == "noise"].iloc[0]
    assert noise["G_f"] == 0.02 and noise["noise_norm"] == 0.5
    assert all(math.isnan(noise[c]) for c in ("cutoff", "temperature", "delta", "D_f", "R_f"))
    assert table.loc[table["kind"] == "diffeo", "noise_norm"].isna().all()
    assert (table["test_error"] == 0.25).all() and (table["best_epoch"] == 2).all()
    assert (table["precision"] == "bf16-mixed").all() and (table["torch_version"] == torch.__version__.split("+")[0]).all()


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run folders"):
        collect(tmp_path)


def test_validation_accuracy_of_each_stage_and_learning_curves(finished_study):
    from lightning_diffeo.studies import collect_curves

    folder, done, _ = finished_study
    (done.run_dir / "metrics.csv").write_text(
        "epoch,step,train/acc,train/loss,train/loss_step,val/acc,val/loss,test/acc\n"
        "0,4,,,0.9,,,\n0,9,0.5,1.2,,,,\n0,9,,,,0.6,1.1,\n1,19,0.7,0.8,,0.75,0.7,\n2,29,0.8,0.6,,0.7,0.8,\n"
        "3,29,,,,,,0.72\n")  # step rows, train and val on separate rows, then the test row
    results = {"init": StabilityResult([_diffeo("output", "median", 1.1)], {"epoch": 0}),
               "epoch1": StabilityResult([_diffeo("output", "median", 0.7)], {"epoch": 1}),
               "best": StabilityResult([_diffeo("output", "median", 0.4)], {"epoch": 1})}
    write_report(done.run_dir, "stability.json", results, {}, plot=False)
    with pytest.warns(UserWarning, match="1 of 2 runs are not done"):
        table = collect(folder).set_index("stage")
    assert math.isnan(table.loc["init", "val_acc"]) and table.loc["epoch1", "val_acc"] == 0.75
    assert table.loc["best", "val_acc"] == 0.75
    with pytest.warns(UserWarning, match="1 of 2 runs are not done"):
        curves = collect_curves(folder)
    assert curves["epoch"].tolist() == [0, 1, 2] and curves["val_acc"].tolist() == [0.6, 0.75, 0.7]
    assert curves["train_loss"].tolist() == [1.2, 0.8, 0.6] and (curves["recipe"] == done.overrides["model.recipe"]).all()
    assert (curves["best_epoch"] == 2).all() and (curves["run_id"] == done.run_id).all()
