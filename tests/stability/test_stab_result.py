from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from lightning_diffeo.stability import StabilityResult, measure_stability


@pytest.fixture
def result(digits) -> StabilityResult:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 6), nn.ReLU(), nn.Linear(6, 3))
    return measure_stability(model, digits[:16], cutoffs=(3, 5), layers=["2", "output"], average="median",
                             generator=torch.Generator().manual_seed(0), progress=False)


def test_records_have_the_contract_keys(result):
    keys = {"layer", "relative_depth", "cutoff", "temperature", "delta", "D_f", "G_f", "R_f", "denominator",
            "numerator_diffeo", "numerator_noise", "n_images", "average", "interpolation", "mode",
            "fraction_diffeomorphic"}
    assert len(result) == 4
    for record in result.records:
        assert keys <= set(record)
        assert record["R_f"] == pytest.approx(record["D_f"] / record["G_f"])
    assert {"image_size", "n_images", "model", "seed"} <= set(result.metadata)
    assert result.metadata["image_size"] == 28 and result.metadata["model"] == "Sequential"


def test_json_round_trip_with_nan(result, tmp_path):
    result.records[0]["R_f"] = math.nan
    path = result.to_json(tmp_path / "sub" / "stability.json")
    json.loads(path.read_text())  # strict JSON: NaN written as null
    assert "NaN" not in path.read_text()
    loaded = StabilityResult.from_json(path)
    assert loaded == result
    assert math.isnan(loaded.records[0]["R_f"])
    assert [p.name for p in path.parent.iterdir()] == ["stability.json"]  # no temporary left behind
    again = StabilityResult.from_dicts(result.to_dicts(), result.metadata)
    assert again == result


def test_lookup_and_table(result):
    value = result.get(layer="output", cutoff=3)
    assert value == result.select(layer="output", cutoff=3.0)[0]["R_f"]
    assert result.get("D_f", layer="2", cutoff=5) == result.select(layer="2", cutoff=5)[0]["D_f"]
    with pytest.raises(KeyError, match="2 records match"):
        result.get(layer="output")
    table = result.table()
    lines = table.splitlines()
    assert lines[0].split()[-2:] == ["3", "5"]
    assert lines[2].startswith("2 ") and lines[3].startswith("output")
    assert f"{value:.4g}" in lines[3]
    assert "StabilityResult(" in str(result) and table in str(result)


def test_dataframe(result):
    pd = pytest.importorskip("pandas")
    frame = result.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 4 and {"layer", "R_f", "delta"} <= set(frame.columns)


def test_json_rejects_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a StabilityResult"):
        StabilityResult.from_json(path)


def test_dataframe_without_pandas_raises_clearly(result, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="needs pandas"):
        result.to_dataframe()
