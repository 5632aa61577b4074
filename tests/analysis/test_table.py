from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import lightning_diffeo.analysis as analysis
from lightning_diffeo.analysis import (
    architecture_points,
    depth_profiles,
    is_allowed,
    load_table,
    main_setting,
    noise_curves,
    select,
    size_curves,
    temperature_bounds,
)
from tests.analysis.synthetic import ARCHS, synthetic_table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return synthetic_table(archs={k: ARCHS[k] for k in ("lenet", "vgg11", "resnet18")}, seeds=2)


def test_analysis_imports_neither_torch_nor_lightning():
    code = ("import sys, lightning_diffeo.analysis; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning', 'pytorch_lightning')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_public_names_are_exported():
    for name in analysis.__all__:
        assert hasattr(analysis, name), name


@pytest.mark.parametrize("n", [8, 28, 32])
@pytest.mark.parametrize("cutoff", [1.5, 3, 5, 15])
def test_temperature_bounds_match_the_diffeo_package(n, cutoff):
    from lightning_diffeo.diffeo import temperature_range

    assert temperature_bounds(n, cutoff) == pytest.approx(temperature_range(n, cutoff), rel=1e-12)


def test_temperature_bounds_reject_cutoffs_without_a_range():
    with pytest.raises(ValueError, match="cutoff must be a number greater than 1"):
        temperature_bounds(32, 1)
    with pytest.raises(ValueError, match="n must be an image side"):
        temperature_bounds(1, 3)
    t_min, t_max = temperature_bounds(32, 3)
    assert is_allowed(32, 3, math.sqrt(t_min * t_max)) and not is_allowed(32, 3, 2 * t_max)
    assert not is_allowed(32, 1.0, 1e-3)
    t_half_pixel = 4 * 0.5**2 / (math.pi * 32**2 * math.log(15))  # delta = 1/2: T_min up to rounding
    assert is_allowed(32, 15, t_half_pixel) and not is_allowed(32, 15, t_half_pixel * 0.999)


def test_load_table_reads_csv_and_parquet(tmp_path, table):
    table.to_csv(tmp_path / "t.csv", index=False)
    table.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        loaded = load_table(tmp_path / name)
        assert len(loaded) == len(table)
        assert loaded["batch_norm"].dtype == bool


def test_load_table_errors(tmp_path, table):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_table(tmp_path / "missing.csv")
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        load_table(tmp_path / "t.json")
    with pytest.raises(ValueError, match="lacks the column"):
        load_table(table.drop(columns=["train_size", "stage"]))
    with pytest.raises(ValueError, match="no rows"):
        load_table(table.iloc[:0])


def test_main_setting_and_select(table):
    assert main_setting(table) == (3.0, 1.0)
    rows = select(table, cutoff=3.0, delta=0.9, average="median")
    assert set(rows["train_size"]) == {4096} and set(rows["delta"]) == {1.0}
    assert set(rows["relative_depth"]) == {1.0} and set(rows["stage"]) == {"best"}
    assert len(rows) == 3 * 2  # architectures x seeds


def test_architecture_points_are_geometric_means_over_seeds(table):
    points = architecture_points(table, average="median").set_index("arch")
    raw = table[(table["arch"] == "vgg11") & (table["stage"] == "best") & (table["train_size"] == 4096)
                & (table["cutoff"] == 3) & (table["delta"] == 1) & (table["relative_depth"] == 1)
                & (table["average"] == "median") & (table["kind"] == "diffeo")]
    assert len(raw) == 2
    assert points.loc["vgg11", "R_f"] == pytest.approx(np.exp(np.log(raw["R_f"]).mean()))
    assert points.loc["vgg11", "test_error"] == pytest.approx(np.exp(np.log(raw["test_error"]).mean()))
    assert points.loc["vgg11", "n"] == 2


def test_curve_helpers(table):
    sizes = size_curves(table, average="median")
    assert sizes.groupby("arch")["train_size"].apply(list).to_dict() == {a: [256, 1024, 4096] for a in
                                                                        ("lenet", "resnet18", "vgg11")}
    profiles = depth_profiles(table, average="median")
    assert set(profiles["stage"]) == {"init", "best"}
    assert profiles.groupby(["arch", "stage"]).size().eq(4).all()
    noise = noise_curves(table, average="median")
    lenet = noise[noise["arch"] == "lenet"].set_index("noise_norm")
    assert list(lenet.index) == [0.01, 0.1, 1.0, 10.0]
    assert "D_f" not in noise.columns
    # planted G_f = 0.05 ||eta||^2 times exp(N(0, 0.1^2)) per run: the log-ratio has sd 0.1
    assert abs(math.log(lenet.loc[0.1, "G_f"] / lenet.loc[0.01, "G_f"] / 100)) < 0.5


def test_whole_training_split_counts_as_the_largest_size(table):
    whole = table.copy()
    whole.loc[whole["train_size"] == 4096, "train_size"] = np.nan
    rows = select(whole, cutoff=3.0, delta=1.0, average="median")
    assert rows["train_size"].isna().all() and len(rows) == 3 * 2
    points = architecture_points(whole, average="median")
    assert len(points) == 3 and points["n"].eq(2).all()
    assert set(size_curves(whole, average="median")["train_size"]) == {256, 1024}
    assert analysis.size_text(whole["train_size"]) == "P = 256-1024, whole training split"
