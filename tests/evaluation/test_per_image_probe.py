"""probe --model ... --per_image true: per_image.csv names each folder image's file; per_image.png."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from lightning_diffeo.stability import StabilityResult
from tests.cli.helpers import run_main


def test_a_folder_probe_writes_per_image_terms_by_file(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    out, err, code = run_main([
        "probe", "--model", "timm:resnet18", "--images", str(photos), "--image_size", "32", "--cutoffs", "[3, 5]",
        "--layers", "[layer1,output]", "--diffeos_per_image", "2", "--per_image", "true",
        "--out", str(tmp_path / "out"), "--progress", "false",
    ])
    assert code == 0, err
    with open(tmp_path / "out" / "per_image.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0])[:3] == ["image", "file", "cutoff"] and len(rows) == 2 * 5
    result = StabilityResult.from_json(tmp_path / "out" / "stability.json")
    files = result.metadata["images"]["files"]
    assert [r["file"] for r in rows[:5]] == files and sorted(files) == [str(photos / f"p{i}.png") for i in range(5)]
    for cutoff in (3, 5):
        mean = result.get("D_f", layer="output", cutoff=cutoff, average="mean")
        per_image = [float(r["D_f"]) for r in rows if float(r["cutoff"]) == cutoff]
        assert np.mean(per_image) == pytest.approx(mean, rel=1e-12)
    assert (tmp_path / "out" / "per_image.png").read_bytes()[:4] == b"\x89PNG"
    assert "per_image_plot: " in out
