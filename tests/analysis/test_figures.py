from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from lightning_diffeo.analysis import FIGURE_KINDS, FigureOptions, make_figures
from tests.analysis.synthetic import small_table

OPTIONS = FigureOptions(n_boot=50)
# which axes are logarithmic in the paper's version of each figure
LOG_AXES = {
    "error_vs_stability": ("x", "y"),
    "stability_vs_size": ("x", "y"),
    "depth_profile": ("y",),
    "mean_vs_median": ("x", "y"),
    "size_trajectories": ("x", "y"),
    "delta_cutoff_grid": ("x", "y"),
    "noise": ("x", "y"),
    "along_training": ("y",),
}


def _small(**overrides) -> pd.DataFrame:
    return small_table(**overrides)


@pytest.fixture(scope="module")
def figures(small_figures):
    return small_figures  # make_figures(small_table(), FigureOptions(n_boot=50)), shared with test_readable.py


def _drawn_axes(figure: Figure):
    return [ax for ax in figure.axes if ax.axison and ax.get_label() != "<colorbar>"]


def test_every_figure_kind_is_drawn_from_a_complete_study(figures):
    drawn = {result.kind for result in figures if result.figure is not None}
    assert drawn == set(FIGURE_KINDS) - {"learning_curves"}  # drawn from a curves table (test_training.py)
    assert all(result.reason is None for result in figures)
    names = [result.name for result in figures]
    assert len(names) == len(set(names))
    assert "error_vs_stability_cifar10_median" in names and "error_vs_stability_cifar10_mean" in names


@pytest.mark.parametrize("kind", sorted(LOG_AXES))
def test_figures_have_labelled_axes_on_the_papers_scales(figures, kind):
    results = [r for r in figures if r.kind == kind]
    assert results
    for result in results:
        assert isinstance(result.figure, Figure) and result.runs == "2"
        axes = _drawn_axes(result.figure)
        assert axes
        for ax in axes:
            for axis in ("x", "y"):
                scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
                assert scale == ("log" if axis in LOG_AXES[kind] else "linear"), (result.name, axis)
        if kind == "delta_cutoff_grid":  # shared axes: x labels on the last row, y labels on the first column
            rows = result.figure.axes[0].get_gridspec().nrows
            assert all(ax.get_xlabel() for ax in axes if ax.get_subplotspec().rowspan.start == rows - 1)
            assert all(ax.get_ylabel() for ax in axes if ax.get_subplotspec().colspan.start == 0)
        else:
            assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)


def test_error_figure_shows_fit_and_correlation_in_the_legend(figures):
    result = next(r for r in figures if r.name == "error_vs_stability_cifar10_median")
    panels = _drawn_axes(result.figure)
    assert [ax.get_xlabel() for ax in panels] == ["$D_f$", "$1/G_f$", "$R_f$"]
    texts = [t.get_text() for t in panels[2].get_legend().get_texts()]
    assert any(t.startswith("fit ") for t in texts) and any(t.startswith("r = ") for t in texts)
    assert any(ax.get_label() == "<colorbar>" for ax in result.figure.axes)  # coloured by depth


def test_grid_marks_allowed_panels_and_titles_carry_the_correlation(figures):
    result = next(r for r in figures if r.name == "delta_cutoff_grid_cifar10_median_R_f")
    panels = {ax.get_title().split("\n")[0].split(", T")[0]: ax for ax in _drawn_axes(result.figure)}
    assert set(panels) == {f"delta = {d}, c = {c}" for d in ("0.5", "1") for c in ("3", "15")}
    assert all("r = " in ax.get_title() for ax in panels.values())
    green = {name for name, ax in panels.items() if ax.get_facecolor()[:3] != (1.0, 1.0, 1.0)}
    # 32 x 32 images: delta = 1/2 is T_min itself; delta = 1 at c = 15 lies above T_max
    assert green == {"delta = 0.5, c = 3", "delta = 0.5, c = 15", "delta = 1, c = 3"}


def test_depth_profile_draws_init_dashed_and_trained_solid(figures):
    result = next(r for r in figures if r.name == "depth_profile_cifar10_median")
    styles = {line.get_linestyle() for ax in _drawn_axes(result.figure) for line in ax.get_lines()
              if len(line.get_xdata()) == 3}
    assert {"--", "-"} <= styles


def test_figures_without_their_data_are_skipped_with_a_reason():
    minimal = _small(train_sizes=(4096,), cutoffs=(3.0,), deltas=(1.0,), layers=1, averages=("median",),
                     noise_norms=())
    results = {r.kind: r for r in make_figures(minimal, OPTIONS)}
    assert results["error_vs_stability"].figure is not None
    expected = {"stability_vs_size": "single training-set size", "size_trajectories": "single training-set size",
                "mean_vs_median": "average='mean'", "delta_cutoff_grid": "single (delta, cutoff)",
                "depth_profile": "two or more layers", "noise": "noise-only rows"}
    for kind, words in expected.items():
        assert results[kind].figure is None and words in results[kind].reason, (kind, results[kind].reason)
        assert "\n" not in results[kind].reason
    no_error = make_figures(minimal.drop(columns=["test_error"]), OPTIONS)
    skipped = {r.kind: r.reason for r in no_error if r.figure is None}
    assert "test_error" in skipped["error_vs_stability"]


def test_grid_follows_temperature_sweeps_whose_deltas_differ_between_cutoffs():
    table = _small(averages=("median",), noise_norms=(), train_sizes=(4096,))
    shifted = table["cutoff"] == 15.0
    table.loc[shifted, "delta"] *= 1.1
    table.loc[shifted, "temperature"] *= 1.21
    result = next(r for r in make_figures(table, OPTIONS) if r.name == "delta_cutoff_grid_cifar10_median_R_f")
    titles = sorted(ax.get_title().split(", T")[0] for ax in _drawn_axes(result.figure))
    assert titles == ["delta = 0.5, c = 3", "delta = 0.55, c = 15", "delta = 1, c = 3", "delta = 1.1, c = 15"]


def test_panels_without_positive_values_say_so_instead_of_an_empty_log_axis():
    table = _small(averages=("median",), noise_norms=(), train_sizes=(4096,), cutoffs=(3.0,), deltas=(1.0,))
    result = next(r for r in make_figures(table.assign(test_error=0.0), OPTIONS)
                  if r.name == "error_vs_stability_cifar10_median")
    for ax in _drawn_axes(result.figure):
        assert [t.get_text() for t in ax.texts] == ["no positive values to show on log axes"]
        assert ax.get_yscale() == "linear"


@pytest.mark.parametrize(("settings", "message"), [
    ({"cutoff": -3}, "cutoff must be a positive number or None, got -3"),
    ({"scale": "loglog"}, "scale must be one of 'log', 'linear', got 'loglog'"),
    ({"n_boot": 1.5}, "n_boot must be an integer >= 0, got 1.5"),
    ({"image_size": 1}, "image_size must be an integer >= 2 or None, got 1"),
])
def test_figure_options_are_checked(settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FigureOptions(**settings)
