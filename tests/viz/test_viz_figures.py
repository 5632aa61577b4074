"""Figures: init dashed and best solid against layer depth, every layer against T for sweeps, no global state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lightning_diffeo.plotstyle import DPI
from lightning_diffeo.viz import figures as plotting
from lightning_diffeo.stability import StabilityResult

LAYERS = ((0.0, "model.stage1"), (0.5, "model.fc1"), (1.0, "output"))


def _result(mode: str, temperatures_by_cutoff: dict[float, list[float]], averages=("median",)) -> StabilityResult:
    records = []
    for average in averages:
        for cutoff, temperatures in temperatures_by_cutoff.items():
            for temperature in temperatures:
                for depth, layer in LAYERS:
                    records.append({"layer": layer, "relative_depth": depth, "cutoff": cutoff,
                                    "temperature": temperature, "delta": 1.0, "D_f": 0.5, "G_f": 0.25,
                                    "R_f": 2.0 + depth + cutoff + (average == "mean"), "average": average})
    return StabilityResult(records, {"mode": mode})


def _curves(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_depth_profile_draws_every_stage_and_cutoff_with_distinct_styles():
    # With deltas, each cutoff has its own temperature T(delta, c): all must be drawn.
    sizes = {3.0: [1e-3], 5.0: [5e-4], 15.0: [2e-4]}
    fig = plotting.depth_profile_figure({"init": _result("init", sizes), "best": _result("eval", sizes)})
    ax = fig.axes[0]
    curves = _curves(ax)
    assert sorted(line.get_label() for line in curves) == sorted(
        f"{stage}, c={c}" for stage in ("init", "best") for c in ("3", "5", "15"))
    assert {line.get_linestyle() for line in curves if line.get_label().startswith("init")} == {"--"}
    assert {line.get_linestyle() for line in curves if line.get_label().startswith("best")} == {"-"}
    assert all(list(line.get_xdata()) == [0.0, 0.5, 1.0] for line in curves)
    assert [tick.get_text() for tick in ax.get_xticklabels()] == [layer for _, layer in LAYERS]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["init", "best", "c = 3", "c = 5", "c = 15"]
    assert fig.get_suptitle() == "R_f per layer (delta = 1 px)"
    assert fig.get_figwidth() * DPI >= 1000


def test_depth_profile_has_a_panel_per_average_and_names_the_probe_epoch():
    fig = plotting.depth_profile_figure({"last (epoch 19)": _result("eval", {3.0: [1e-3]}, ("median", "mean"))})
    assert [ax.get_title() for ax in fig.axes] == ["R_f, median over images", "R_f, mean over images"]
    median, mean = (_curves(ax)[0] for ax in fig.axes)
    assert list(mean.get_ydata()) == [y + 1 for y in median.get_ydata()]
    assert "last (epoch 19)" in [text.get_text() for text in fig.axes[-1].get_legend().get_texts()]


def _delta_result(deltas: list[float]) -> StabilityResult:
    """Every cutoff at its own T(delta, c) for each delta, as measure_stability(deltas=...) records."""
    records = [
        {"layer": layer, "relative_depth": depth, "cutoff": cutoff, "temperature": delta**2 / (cutoff * 1e3),
         "delta": delta, "D_f": 0.5, "G_f": 0.25, "R_f": delta * (1 + depth), "average": "median"}
        for delta in deltas for cutoff in (3.0, 15.0) for depth, layer in LAYERS
    ]
    return StabilityResult(records, {"mode": "eval"})


def test_depth_profile_has_a_row_per_delta():
    fig = plotting.depth_profile_figure({"best": _delta_result([0.5, 1.0, 2.0])})
    assert [ax.get_title() for ax in fig.axes] == [f"median over images, delta = {d} px" for d in ("0.5", "1", "2")]
    for ax, delta in zip(fig.axes, (0.5, 1.0, 2.0)):
        curves = _curves(ax)
        assert sorted(line.get_label() for line in curves) == ["best, c=15", "best, c=3"]
        assert all(list(line.get_ydata()) == [delta, delta * 1.5, delta * 2] for line in curves)
    assert fig.get_suptitle() == "R_f per layer"


def test_depth_profile_of_a_sweep_shows_six_sizes_from_smallest_to_largest():
    deltas = [0.1 * k for k in range(1, 31)]
    fig = plotting.depth_profile_figure({"best": _delta_result(deltas)})
    assert len(fig.axes) == 6
    first, last = (_curves(ax)[0].get_ydata()[0] for ax in (fig.axes[0], fig.axes[-1]))
    assert (first, last) == (deltas[0], deltas[-1])
    assert fig.get_suptitle() == "R_f per layer (6 of 30 sizes)"


def test_temperature_sweep_draws_every_layer_and_cutoff():
    result = _result("eval", {3.0: [1e-4, 1e-3, 1e-2], 5.0: [1e-4, 1e-3]})
    fig = plotting.temperature_sweep_figure(result, label="last (epoch 3)")
    assert [ax.get_title() for ax in fig.axes] == ["D_f (median)", "G_f (median)", "R_f (median)"]
    assert sorted(len(line.get_xdata()) for line in fig.axes[2].get_lines()) == [2, 2, 2, 3, 3, 3]
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert legend == [layer for _, layer in LAYERS] + ["c = 3", "c = 5"]
    assert fig.get_suptitle() == "last (epoch 3)"


def test_real_files_are_written_without_touching_pyplot_or_the_backend(tmp_path):
    code = (
        "import sys, matplotlib; matplotlib.use('svg'); from lightning_diffeo.viz import figures as plotting;"
        "from tests.viz.test_viz_figures import _result;"
        f"path = plotting.plot_depth_profile({{'init': _result('init', {{3.0: [1e-3]}})}}, r'{tmp_path}/depth.png');"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "False"]
    png = (tmp_path / "depth.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") >= 1000  # IHDR width in pixels


def test_depth_profile_along_training_draws_four_intermediate_stages_from_first_to_last():
    # A callback measuring every 2 epochs of a 640-epoch run: 320 stages would bury the plot and its legend.
    sizes = {3.0: [1e-3]}
    results = {"init": _result("init", sizes), **{f"epoch{k}": _result("eval", sizes) for k in range(1, 640, 2)},
               "best": _result("eval", sizes)}
    fig = plotting.depth_profile_figure(results)
    labels = [line.get_label() for line in _curves(fig.axes[0])]
    assert labels == ["init, c=3", "epoch1, c=3", "epoch213, c=3", "epoch427, c=3", "epoch639, c=3", "best, c=3"]
    alphas = [line.get_alpha() for line in _curves(fig.axes[0])]
    assert alphas[0] == alphas[-1] == 1.0 and alphas[1] < alphas[2] < alphas[3] < alphas[4] < 1.0  # fainter earlier
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert legend == ["init", "epoch1", "epoch213", "epoch427", "epoch639", "best", "c = 3"]
    assert fig.get_suptitle() == "R_f per layer (delta = 1 px; 4 of 320 stages along training)"
    few = plotting.depth_profile_figure({"init": results["init"], "epoch1": results["epoch1"], "best": results["best"]})
    assert [line.get_label() for line in _curves(few.axes[0])] == ["init, c=3", "epoch1, c=3", "best, c=3"]
    assert few.get_suptitle() == "R_f per layer (delta = 1 px)"
