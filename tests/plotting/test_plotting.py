"""Figures: one curve per (stage, cutoff) against depth; D_f, G_f, R_f against T for sweeps."""

from __future__ import annotations

import pytest

from lightning_diffeo import plotting
from lightning_diffeo.stability import StabilityResult


def _result(mode: str, temperatures_by_cutoff: dict[float, list[float]]) -> StabilityResult:
    records = []
    for cutoff, temperatures in temperatures_by_cutoff.items():
        for temperature in temperatures:
            for depth, layer in ((0.0, "a"), (0.5, "b"), (1.0, "output")):
                records.append({"layer": layer, "relative_depth": depth, "cutoff": cutoff, "temperature": temperature,
                                "delta": 1.0, "D_f": 0.5, "G_f": 0.25, "R_f": 2.0 + depth + cutoff})
    return StabilityResult(records, {"mode": mode})


@pytest.fixture
def captured(monkeypatch):
    figures = []

    def keep(fig, path):
        figures.append(fig)
        return path

    monkeypatch.setattr(plotting, "_save", keep)
    return figures


def test_depth_profile_draws_every_stage_and_cutoff(captured, tmp_path):
    # With deltas, each cutoff has its own temperature T(delta, c): all must be drawn.
    results = {"init": _result("init", {3.0: [1e-3], 5.0: [5e-4], 15.0: [2e-4]}),
               "best": _result("eval", {3.0: [1e-3], 5.0: [5e-4], 15.0: [2e-4]})}
    plotting.plot_depth_profile(results, tmp_path / "x.png")
    lines = [line for line in captured[0].axes[0].get_lines() if not line.get_label().startswith("_")]
    assert sorted(line.get_label() for line in lines) == sorted(
        f"{stage}, c={c}" for stage in ("init", "best") for c in ("3", "5", "15"))
    assert all(list(line.get_xdata()) == [0.0, 0.5, 1.0] for line in lines)
    assert captured[0].axes[0].get_title() == "R_f per layer (delta = 1 px)"


def test_temperature_sweep_has_one_curve_per_cutoff_per_quantity(captured, tmp_path):
    result = _result("eval", {3.0: [1e-4, 1e-3, 1e-2], 5.0: [1e-4, 1e-3]})
    plotting.plot_temperature_sweep(result, tmp_path / "sweep.png")
    axes = captured[0].axes
    assert [ax.get_title() for ax in axes] == ["D_f (output)", "G_f (output)", "R_f (output)"]
    assert [len(line.get_xdata()) for line in axes[2].get_lines()] == [3, 2]


def test_real_files_are_written(tmp_path):
    results = {"init": _result("init", {3.0: [1e-3]})}
    path = plotting.plot_depth_profile(results, tmp_path / "depth.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
