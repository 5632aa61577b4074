"""A zoo's table in the analysis: the models side by side with their intervals, the bars, the stage, three points."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lightning_diffeo.analysis import FigureOptions, write_report
from lightning_diffeo.analysis.bootstrap import seed_correlation, seed_power_law
from lightning_diffeo.analysis.figures_points import error_vs_stability
from lightning_diffeo.analysis.intervals import has_intervals, interval_bars, point_intervals
from lightning_diffeo.analysis.zoo import is_zoo, width_summary, zoo_markdown, zoo_points
from tests.analysis.synthetic import ARCHS, synthetic_table

FACTOR = {"D_f": 1.5, "G_f": 1.2, "R_f": 2.0}  # each model's interval: value x/÷ this


def zoo_table(archs=("lenet", "vgg11", "resnet18", "fc4"), stages=("best",)) -> pd.DataFrame:
    """A synthetic zoo: one run per model, one layer, c = 3, delta = 1, both averages, with intervals."""
    table = synthetic_table(archs={k: ARCHS[k] for k in archs}, seeds=1, train_sizes=(4096,), cutoffs=(3.0,),
                            deltas=(1.0,), layers=1, stages=stages, noise_norms=())
    table = table.assign(train_size=np.nan, test_error_source="published", published_top1=100 * (1 - table["test_error"]),
                         test_error_published=table["test_error"], test_error_measured=0.5, weights_kind="file",
                         image_size=224, n_images=7)
    for quantity, factor in FACTOR.items():
        table[f"{quantity}_ci_low"], table[f"{quantity}_ci_high"] = table[quantity] / factor, table[quantity] * factor
    return table


def test_zoo_points_list_every_model_with_its_interval():
    table = zoo_table()
    assert is_zoo(table) and not is_zoo(synthetic_table(seeds=1))
    points = zoo_points(table)
    assert len(points) == 8 and list(points["average"][:4]) == ["median"] * 4  # 4 models x 2 averages, median first
    assert points.groupby("average")["test_error"].apply(lambda e: e.is_monotonic_increasing).all()
    for quantity, factor in FACTOR.items():
        assert np.allclose(points[f"{quantity}_ci_factor"], factor)
    markdown = zoo_markdown(points)
    row = points.iloc[0]
    assert f"{row['R_f']:.3g} [{row['R_f_ci_low']:.3g}, {row['R_f_ci_high']:.3g}]" in markdown
    assert "pretrained" in markdown and "(published)" in markdown
    assert width_summary(points) == ("Each interval is the estimate times or divided by a factor; over the models and "
                                     "averages: D_f x/÷ 1.50 to 1.50 (median 1.50); G_f x/÷ 1.20 to 1.20 (median 1.20); "
                                     "R_f x/÷ 2.00 to 2.00 (median 2.00).")


def test_the_bars_are_a_points_own_interval_where_it_has_one():
    points = pd.DataFrame({"R_f": [1.0, 2.0], "R_f_ci_low": [0.5, np.nan], "R_f_ci_high": [4.0, np.nan],
                           "G_f": [0.5, 0.5], "G_f_ci_low": [0.25, 0.25], "G_f_ci_high": [1.0, 1.0]})
    bars = interval_bars(points, "R_f", points["R_f"].to_numpy(), np.array([np.nan, 0.1]))
    assert bars[:, 0] == pytest.approx([0.5, 3.0])  # its interval
    assert bars[:, 1] == pytest.approx([2.0 * (1 - math.exp(-0.1)), 2.0 * (math.exp(0.1) - 1)])  # its relative error
    inverse = interval_bars(points, "inv_G_f", 1 / points["G_f"].to_numpy(), np.array([np.nan, np.nan]))
    assert inverse[:, 0] == pytest.approx([1.0, 2.0])  # 1/G_f = 2 in [1, 4]
    runs = pd.DataFrame({"point": [0, 1, 1], "R_f_ci_low": [0.5, 1.0, 1.0], "R_f_ci_high": [4.0, 3.0, 3.0]})
    joined = point_intervals(pd.DataFrame({"R_f": [1.0, 2.0]}), runs)
    assert joined["R_f_ci_low"].iloc[0] == 0.5 and math.isnan(joined["R_f_ci_low"].iloc[1])  # two runs: no own interval
    assert has_intervals(joined) and not has_intervals(pd.DataFrame({"R_f": [1.0]}))


def test_the_figure_draws_the_chosen_stage_with_its_intervals():
    table = zoo_table(stages=("init",))
    (skipped,) = error_vs_stability(table, FigureOptions(n_boot=0))
    assert skipped.reason == "no ('best' stage) diffeomorphism measurements in the table"
    drawn = error_vs_stability(table, FigureOptions(n_boot=0, stage="init"))
    assert len(drawn) == 2 and all(result.figure is not None for result in drawn)
    title = drawn[0].figure.get_suptitle()
    assert "x bars: 95% intervals over the images" in title and "stage init" in title
    with pytest.raises(ValueError, match="stage must be 'best', 'init' or 'epoch<k>'"):
        FigureOptions(stage="trained")


def test_three_points_of_one_seed_have_no_interval_but_two_seeds_do():
    x, y = [1.0, 2.0, 4.0], [0.1, 0.3, 0.2]
    c = seed_correlation(x, y, ["a", "b", "c"], n_boot=500)
    assert math.isfinite(c.r) and math.isnan(c.low) and math.isnan(c.high) and math.isnan(c.spearman_low)
    law = seed_power_law(x, y, ["a", "b", "c"], n_boot=500)
    assert math.isnan(law.b_low) and math.isnan(law.a_high)
    seeded = seed_correlation(x + [1.1, 2.2, 3.6], y + [0.12, 0.25, 0.22], ["a", "b", "c"] * 2, n_boot=500)
    assert seeded.low < seeded.high  # the seeds within each point still vary


def test_the_report_of_a_zoo_has_its_table_and_says_what_its_error_is(tmp_path):
    report = write_report(zoo_table(archs=("lenet", "vgg11", "resnet18")), tmp_path / "r",
                          options=FigureOptions(n_boot=50), formats=["png"])
    folder = report.folder
    assert (folder / "zoo.csv").is_file() and (folder / "zoo.md").is_file()
    markdown = (folder / "report.md").read_text()
    assert "## The zoo: each model's error and stability, with intervals over the images" in markdown
    assert "The test error is the published one" in markdown and "R_f x/÷ 2.00 to 2.00" in markdown
    assert "- a zoo: pretrained (or randomly initialised) models probed on one folder of images" in markdown
    table2 = pd.read_csv(folder / "table2.csv")
    assert (table2["n_archs"] == 3).all() and table2["R_f_ci_low"].isna().all()  # three models: no interval
