"""StabilityCallback(per_image=True): the best measurement's per-image terms in per_image.csv and per_image.png."""

from __future__ import annotations

import csv
import math

import pytest
from lightning import seed_everything

from lightning_diffeo.stability import StabilityResult
from tests.callbacks.test_stability_callback import ForeignNet, _callback, _data, _trainer

PER_IMAGE_FILES = {"per_image.csv", "per_image.png"}


def _fit(tmp_path, **kwargs):
    seed_everything(0)
    callback = _callback(when=["best"], average=["median", "mean"], dirpath=tmp_path, **kwargs)
    _trainer(tmp_path / "root", [callback]).fit(ForeignNet(), _data(), _data(1))
    return callback


def _rows(path):
    with open(path) as stream:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(stream)]


def test_per_image_writes_a_row_per_image_and_item_whose_mean_is_the_mean_average(tmp_path):
    callback = _fit(tmp_path / "on", per_image=True, plot=True)
    rows = _rows(tmp_path / "on" / "per_image.csv")
    best = StabilityResult.from_json(tmp_path / "on" / "stability.json").by_stage()["best"]
    images = len(callback.probe_images)
    assert len(rows) == images * len(best.cutoffs) == 12 * 2
    assert [r["image"] for r in rows] == list(range(images)) * 2
    assert all(math.isfinite(r[key]) for r in rows for key in ("D_f", "G_f", "R_f", "numerator_diffeo"))
    assert rows == callback.results["best"].per_image  # the file holds the kept terms, exactly
    for cutoff in best.cutoffs:
        item = [r for r in rows if r["cutoff"] == cutoff]
        assert {r["temperature"] for r in item} == {best.select(cutoff=cutoff)[0]["temperature"]}
        # per-image D_f_i, G_f_i share the mean pair denominator: their means are the mean average's D_f, G_f
        for quantity in ("D_f", "G_f"):
            mean = best.get(quantity, layer="output", cutoff=cutoff, average="mean")
            assert sum(r[quantity] for r in item) / images == pytest.approx(mean, rel=1e-12), quantity
        for r in item:
            assert r["R_f"] == pytest.approx(r["numerator_diffeo"] / r["numerator_noise"], rel=1e-12)
    assert (tmp_path / "on" / "per_image.png").read_bytes()[:4] == b"\x89PNG"


def test_without_per_image_no_file_and_the_same_numbers(tmp_path):
    kept = _fit(tmp_path / "on", per_image=True).results["best"]
    plain = _fit(tmp_path / "off").results["best"]
    assert plain.per_image is None and not PER_IMAGE_FILES & {p.name for p in (tmp_path / "off").iterdir()}
    assert plain.records == kept.records  # keeping the terms changes no measured number
    assert (tmp_path / "on" / "per_image.csv").exists() and not (tmp_path / "on" / "per_image.png").exists()


def test_another_runs_per_image_file_is_never_replaced(tmp_path):
    (tmp_path / "per_image.csv").write_text("another run")
    with pytest.raises(FileExistsError, match="per_image.csv exists and holds another run's results"):
        _fit(tmp_path, per_image=True)
    assert (tmp_path / "per_image.csv").read_text() == "another run"


def test_per_image_needs_the_output_among_the_layers_before_any_measurement(tmp_path):
    callback = _callback(when=["init", "best"], per_image=True, layers=["net.0"], dirpath=tmp_path / "out")
    with pytest.raises(ValueError, match="per_image=True keeps the terms at the output: add 'output' to layers"):
        _trainer(tmp_path, [callback]).fit(ForeignNet(), _data(), _data(1))
    assert callback.results == {} and not (tmp_path / "out").exists()
