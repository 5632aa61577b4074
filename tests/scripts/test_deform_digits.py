"""scripts/deform_digits.py, run in process."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "deform_digits.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("deform_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writes_the_picture_and_leaves_the_backend_alone(script, tmp_path, capsys):
    backend = matplotlib.get_backend()
    out = tmp_path / "digits.png"
    script.main(["--out", str(out), "--size", "16", "--seed", "1"])
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert matplotlib.get_backend() == backend
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1000, 800)  # 5 x 4 panels of 2 inches at 100 dpi
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10  # digits drawn, not a blank page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.png"]  # no temporary left behind


def test_columns_are_the_temperatures_and_t0_is_the_identity(script):
    fig = script.deformed_digits_figure(cutoff=3.0, size=16, seed=0)
    axes = np.array(fig.axes).reshape(4, 5)
    titles = [ax.get_title() for ax in axes[0]]
    assert titles[0].startswith("T=0\n") and all(t.startswith("T=") for t in titles)
    digit = torch.tensor(load_digits().images[0], dtype=torch.float32)[None, None] / 16.0
    expected = F.interpolate(digit, size=16, mode="bilinear", align_corners=False).clamp(0, 1)[0, 0].numpy()
    at_zero, at_t_min = (np.asarray(axes[0, col].get_images()[0].get_array()) for col in (0, 1))
    np.testing.assert_allclose(at_zero, expected, rtol=0, atol=1e-6)  # T = 0: the digit itself
    assert np.abs(at_t_min - expected).max() > 1e-3  # T_min moves it


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cutoff", "1"], "--cutoff must be a finite number > 1, got 1.0"),
        (["--cutoff", "nan"], "--cutoff must be a finite number > 1, got nan"),
        (["--size", "4"], "--size must be an integer >= 8, got 4"),
        (["--out", "x.jpeg"], "--out must end in .png, .pdf or .svg, got 'x.jpeg'"),
        (["--size", "big"], "argument --size: invalid int value: 'big'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(script, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        script.main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)
    assert list(tmp_path.iterdir()) == []  # nothing written
