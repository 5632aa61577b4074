"""Along training: R_f trajectories, learning curves and the doubled-budget convergence check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lightning_diffeo.analysis import FigureOptions, write_report
from lightning_diffeo.analysis.training import (
    along_training,
    convergence_check,
    convergence_markdown,
    learning_curves,
    read_curves,
    training_trajectories,
)

# (stage, R_f of seed 0, R_f of seed 1, validation accuracy of seed 0, of seed 1)
LENET = [("init", 1.0, 1.2, math.nan, math.nan), ("epoch1", 0.8, 0.5, 0.80, 0.84), ("epoch3", 0.6, 0.4, 0.88, 0.86),
         ("best", 0.6, 0.4, 0.88, 0.86)]


def _row(arch: str, seed: int, stage: str, r_f: float, val_acc: float, **extra) -> dict:
    return {"run_id": f"{arch}-s{seed}", "arch": arch, "dataset": "fashionmnist", "train_size": 16384, "seed": seed,
            "stage": stage, "val_acc": val_acc, "layer": "output", "relative_depth": 1.0, "cutoff": 3.0,
            "temperature": 0.01, "delta": 1.0, "average": "median", "kind": "diffeo", "D_f": r_f * 0.1, "G_f": 0.1,
            "R_f": r_f, "test_error": 0.12, "best_epoch": 3, **extra}


def _table() -> pd.DataFrame:
    rows = [_row("lenet", seed, stage, values[seed], values[2 + seed])
            for stage, *values in LENET for seed in (0, 1)]
    rows += [_row("fc2", seed, stage, 1.5, 0.8) for stage in ("init", "best") for seed in (0, 1)]
    return pd.DataFrame(rows)


def test_trajectories_keep_the_networks_measured_along_training_with_geometric_means():
    curves = training_trajectories(_table())
    assert set(curves["arch"]) == {"lenet"}
    assert curves["epochs_trained"].tolist() == [0, 2, 4]  # init, epoch1, epoch3
    expected_r = [math.sqrt(r0 * r1) for _, r0, r1, _, _ in LENET[:3]]
    np.testing.assert_allclose(curves["R_f"], expected_r, rtol=1e-12)
    expected_error = [math.sqrt((1 - a0) * (1 - a1)) for *_, a0, a1 in LENET[1:3]]
    np.testing.assert_allclose(curves["val_error"].iloc[1:], expected_error, rtol=1e-12)
    assert math.isnan(curves["val_error"].iloc[0]) and (curves["n"] == 2).all()


def test_along_training_is_drawn_or_skipped_with_its_reason():
    drawn = along_training(_table(), FigureOptions())
    assert [r.name for r in drawn] == ["along_training_fashionmnist"] and drawn[0].figure is not None
    assert drawn[0].runs == "2"
    skipped = along_training(_table()[lambda t: ~t["stage"].str.startswith("epoch")], FigureOptions())
    assert skipped[0].figure is None and "every_n_epochs" in skipped[0].reason


def _runs(arch: str, epochs: int, accuracies: list[float], seeds: list[int]) -> list[dict]:
    return [_row(arch, seed, "best", 0.5, acc, max_epochs=epochs, best_val_acc=acc, best_epoch=epochs - 1)
            for seed, acc in zip(seeds, accuracies)]


def test_convergence_compares_the_same_seed_against_two_seed_deviations():
    study = pd.DataFrame(_runs("lenet", 20, [0.80, 0.81, 0.82], [0, 1, 2]) + _runs("vgg11", 12, [0.70, 0.70, 0.71], [0, 1, 2]))
    doubled = pd.DataFrame(_runs("lenet", 40, [0.815], [0]) + _runs("vgg11", 24, [0.75], [0]))
    check = convergence_check(study, doubled).set_index("arch")
    assert check.loc["lenet", "epochs"] == 20 and check.loc["lenet", "doubled_epochs"] == 40
    assert check.loc["lenet", "gain"] == pytest.approx(0.015) and check.loc["lenet", "best_val_acc_sd"] == pytest.approx(0.01)
    assert bool(check.loc["lenet", "converged"]) and not bool(check.loc["vgg11", "converged"])
    text = convergence_markdown(check.reset_index())
    assert "| lenet | 16384 | 20 | 81.00 ± 1.00 (3 seeds) | 0 | 80.00 (19) | 40 epochs: 81.50 (39) | +1.50 | yes |" in text
    with pytest.raises(ValueError, match="max_epochs"):
        convergence_check(study.drop(columns="max_epochs"), doubled)


def _curves() -> pd.DataFrame:
    rows = []
    for arch, epochs in (("lenet", 4), ("fc2", 3)):
        for seed in (0, 1):
            for epoch in range(epochs):
                rows.append({"run_id": f"{arch}-s{seed}", "arch": arch, "dataset": "fashionmnist", "train_size": 512,
                             "seed": seed, "max_epochs": epochs, "best_epoch": epochs - 1, "best_val_acc": 0.9,
                             "epoch": epoch, "train_loss": 1.0, "train_acc": 0.5 + 0.1 * epoch, "val_loss": 1.0,
                             "val_acc": 0.6 + 0.1 * epoch})
    return pd.DataFrame(rows)


def test_learning_curves_one_panel_per_configuration(tmp_path):
    (result,) = learning_curves(_curves())
    panels = [ax for ax in result.figure.axes if ax.get_visible() and ax.axison]
    assert sorted(ax.get_title() for ax in panels) == ["fc2 (max_epochs 3)", "lenet (max_epochs 4)"]
    assert result.runs == "2"
    _curves().to_csv(tmp_path / "curves.csv", index=False)
    assert len(read_curves(tmp_path / "curves.csv")) == 14
    with pytest.raises(ValueError, match=r"lacks the columns \['val_acc'\]"):
        read_curves(_curves().drop(columns="val_acc"))


def test_report_writes_the_learning_curves_and_the_convergence_check(tmp_path):
    study = pd.DataFrame(_runs("lenet", 20, [0.80, 0.81, 0.82], [0, 1, 2]) + _runs("fc2", 20, [0.7, 0.72, 0.71], [0, 1, 2])
                         + _runs("vgg11", 20, [0.6, 0.62, 0.61], [0, 1, 2]))
    doubled = pd.DataFrame(_runs("lenet", 40, [0.815], [0]))
    report = write_report(study, tmp_path / "report", curves=_curves(), doubled=doubled, options=FigureOptions(n_boot=20),
                          formats=["png"])
    names = {path.name for path in report.files}
    assert {"learning_curves_fashionmnist.png", "convergence.csv", "convergence.md"} <= names
    assert "## Convergence: twice the epochs on one seed" in (tmp_path / "report" / "report.md").read_text()
