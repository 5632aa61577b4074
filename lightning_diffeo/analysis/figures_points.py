"""Figures with one point per architecture: test error against stability (Figs 3, 5, 15-21)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lightning_diffeo.analysis._plot import (
    LABELS,
    add_depth_colourbar,
    arch_colours,
    arch_handles,
    depth_colours,
    fmt,
    label_points,
    log_errors,
    marker,
    marker_handles,
    runs_per_point,
    set_log,
    slug,
    tidy_log_axes,
)
from lightning_diffeo.analysis.figure_base import FigureOptions, FigureResult
from lightning_diffeo.analysis.finite import collect_dropped, note_merged
from lightning_diffeo.analysis.intervals import has_intervals, interval_bars, point_intervals
from lightning_diffeo.analysis.paper import PAPER_POWER_LAW, paper_correlations
from lightning_diffeo.analysis.bootstrap import architecture_runs, seed_correlation
from lightning_diffeo.analysis.points import architecture_points, size_curves
from lightning_diffeo.analysis.scales import is_allowed
from lightning_diffeo.analysis.stats import fit_power_law, pearson
from lightning_diffeo.analysis.table import MEASURES, by_dataset_and_average, image_size_of, per_point_text, size_text

__all__ = ["delta_cutoff_grid", "error_vs_stability", "mean_vs_median", "size_trajectories"]

_ALLOWED_COLOUR = "#e2f3e2"
_MAX_GRID = 6
_DELTA_TOLERANCE = 1.5  # a panel shows the delta measured at its cutoff nearest its row's, within this factor


def _values(points: pd.DataFrame, quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """Values and relative errors of a quantity; ``inv_G_f`` is 1/G_f (same relative error)."""
    if quantity == "inv_G_f":
        return 1.0 / points["G_f"].to_numpy(float), points["G_f_rel_err"].to_numpy(float)
    return points[quantity].to_numpy(float), points[f"{quantity}_rel_err"].to_numpy(float)


def _no_error(table: pd.DataFrame) -> str | None:
    if "test_error" not in table.columns or table["test_error"].isna().all():
        return "the table has no test_error column (or only NaN)"
    return None


def _setting_text(points: pd.DataFrame) -> str:
    cutoff, delta = points["cutoff"].iloc[0], points["delta"].iloc[0]
    if "weights_kind" in points.columns:  # a zoo: probed as given, nothing trained
        return f"c = {cutoff:g}, delta = {delta:.2g} px, no training"
    return f"c = {cutoff:g}, delta = {delta:.2g} px, {size_text(points['train_size'])}"


def scatter_panel(ax: Axes, points: pd.DataFrame, quantity: str, options: FigureOptions, colours: list,
                  fit: bool = True, legend: bool = True,
                  reference: tuple[float, float] | None = None, runs: pd.DataFrame | None = None) -> tuple[bool, list]:
    """Test error against ``quantity`` (D_f, G_f, R_f or inv_G_f), one point per row, with error bars,
    the power-law fit and the correlation coefficient in the legend; log-log axes. A point's own
    interval (``<q>_ci_low``, ``<q>_ci_high``: a zoo model's, over its images) is its x bar.
    ``reference`` (a, b) adds the published law a X^b, dotted. ``runs``: the runs behind the points
    (``architecture_runs``, ``point`` = the row's position in ``points``); with them the legend's
    interval is the two-level bootstrap's (seeds within architectures), as in Table 2.

    Returns:
        Whether log axes were set (points to label), and the legend's handles (fit, reference, r).
    """
    x, x_err = _values(points, quantity)
    y, y_err = points["test_error"].to_numpy(float), points["test_error_rel_err"].to_numpy(float)
    x_bars = interval_bars(points, quantity, x, x_err)
    for i, (_, row) in enumerate(points.iterrows()):
        ax.errorbar(x[i], y[i], xerr=x_bars[:, i:i + 1], yerr=log_errors(y[i:i + 1], y_err[i:i + 1]),
                    marker=marker(row), color=colours[i], markeredgecolor="black", markeredgewidth=0.5,
                    linestyle="", markersize=7, capsize=2, elinewidth=0.8)
    handles = []
    valid = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if fit and valid.sum() >= 3 and np.ptp(x[valid]) > 0:
        law = fit_power_law(x[valid], y[valid])
        grid = np.geomspace(x[valid].min(), x[valid].max(), 50)
        handles += ax.plot(grid, law(grid), color="black", linewidth=1,
                           label=f"fit {law.a:.2g} X^({fmt(law.b)} ± {fmt(law.b_err)})")
    if reference is not None and valid.any():
        grid = np.geomspace(x[valid].min(), x[valid].max(), 50)
        handles += ax.plot(grid, reference[0] * grid ** reference[1], color="grey", linewidth=1, linestyle=":",
                           label=f"paper {reference[0]:g} X^{reference[1]:g}")
    if runs is not None and legend:
        run_x = 1.0 / runs["G_f"].to_numpy(float) if quantity == "inv_G_f" else runs[quantity].to_numpy(float)
        c = seed_correlation(run_x, runs["test_error"].to_numpy(float), runs["point"].to_numpy(), scale=options.scale,
                             n_boot=options.n_boot, seed=options.seed)
        how = f"{options.scale}; {c.n_archs} archs x {c.seeds_per_arch} seeds, {c.resampling}"
    else:
        c = pearson(x, y, scale=options.scale, n_boot=options.n_boot if legend else 0, seed=options.seed)
        how = options.scale
    if math.isfinite(c.r):
        handles.append(Line2D([], [], linestyle="", label=f"r = {fmt(c.r)} [{fmt(c.low)}, {fmt(c.high)}] ({how})"))
    if handles and legend:
        ax.legend(handles=handles, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    drawn = set_log(ax, x, y)
    ax.set_xlabel(LABELS[quantity])
    ax.set_ylabel(LABELS["test_error"])
    return drawn, handles


def error_vs_stability(table: pd.DataFrame, options: FigureOptions) -> list[FigureResult]:
    """Test error against D_f, 1/G_f and R_f, one point per architecture, per dataset and average."""
    kind, title = "error_vs_stability", "test error vs D_f, 1/G_f, R_f across architectures"
    reason = _no_error(table)
    with collect_dropped() as dropped:
        points, run_rows = (pd.DataFrame(), None) if reason else architecture_runs(
            table, cutoff=options.cutoff, delta=options.delta, stage=options.stage)
    if reason is None and points.empty:
        reason = f"no ('{options.stage}' stage) diffeomorphism measurements in the table"
    if reason:
        return [FigureResult(kind, kind, title, reason=reason)]
    results = []
    for (dataset, average), group in by_dataset_and_average(points):
        name = f"{kind}_{slug(dataset)}_{average}"
        left_out = note_merged(dropped, name, dataset=dataset, average=average)
        group_runs = run_rows[run_rows["point"].isin(group.index)]
        group_runs = group_runs.assign(point=group_runs["point"].map({old: new for new, old in enumerate(group.index)}))
        group = point_intervals(group.reset_index(drop=True), group_runs)
        fig = Figure(figsize=(14, 4.6), layout="constrained")
        axes = fig.subplots(1, 3)
        colours, norm = depth_colours(group)
        published = paper_correlations(dataset)
        law = (PAPER_POWER_LAW["a"], PAPER_POWER_LAW["b"]) if (
            published is not None and published[0] == PAPER_POWER_LAW["dataset"] and average == "median") else None
        quantities = ("D_f", "inv_G_f", "R_f")
        drawn = [scatter_panel(ax, group, quantity, options, colours, reference=law if quantity == "R_f" else None,
                               runs=group_runs)[0]
                 for ax, quantity in zip(axes, quantities)]
        add_depth_colourbar(fig, axes, norm)
        if group.reindex(columns=["batch_norm", "skip_connections"]).notna().any().any():  # unknown for a zoo
            fig.legend(handles=marker_handles({marker(row) for _, row in group.iterrows()}), loc="outside lower center",
                       ncol=4, fontsize=8)
        runs = runs_per_point(group)
        bars = "; x bars: 95% intervals over the images" if has_intervals(group) else ""
        fig.suptitle(f"{dataset}, {average}: test error vs stability ({_setting_text(group)}; {per_point_text(runs)}"
                     f"{bars}{'' if options.stage == 'best' else f'; stage {options.stage}'})")
        for ax, quantity, labelled in zip(axes, quantities, drawn):
            if labelled:
                label_points(ax, _values(group, quantity)[0], group["test_error"].to_numpy(float), group["arch"])
        results.append(FigureResult(name, kind, f"{dataset}, {average}: {title}", fig, runs=runs, dropped=left_out))
    return results


def _identity(points: pd.DataFrame) -> list[str]:
    measured = ("D_f", "G_f", "R_f", "test_error")
    return [c for c in points.columns
            if c not in ("average", "n", "fraction_diffeomorphic") and not c.startswith(measured)]


def mean_vs_median(table: pd.DataFrame, options: FigureOptions) -> list[FigureResult]:
    """D_f, G_f, R_f with the mean estimator against the median estimator, per architecture (Fig 17)."""
    kind, title = "mean_vs_median", "mean vs median estimator of D_f, G_f, R_f"
    with collect_dropped() as dropped:
        points = architecture_points(table, cutoff=options.cutoff, delta=options.delta, quantities=MEASURES,
                                     stage=options.stage)
    if points.empty or not {"median", "mean"} <= set(points["average"]):
        return [FigureResult(kind, kind, title, reason="needs both average='median' and average='mean' rows")]
    keys = _identity(points)
    paired = points[points["average"] == "median"].merge(points[points["average"] == "mean"], on=keys,
                                                         suffixes=("_median", "_mean"))
    if paired.empty:
        return [FigureResult(kind, kind, title, reason="no architecture has both median and mean rows")]
    results = []
    for dataset, group in paired.groupby("dataset", sort=True):
        name = f"{kind}_{slug(dataset)}"
        left_out = note_merged(dropped, name, dataset=dataset)
        group = group.reset_index(drop=True)
        fig = Figure(figsize=(13, 4.4), layout="constrained")
        axes = fig.subplots(1, 3)
        colours, norm = depth_colours(group)
        panels = []
        for ax, quantity in zip(axes, MEASURES):
            x, y = group[f"{quantity}_median"].to_numpy(float), group[f"{quantity}_mean"].to_numpy(float)
            for i, (_, row) in enumerate(group.iterrows()):
                ax.plot(x[i], y[i], marker=marker(row), color=colours[i], markeredgecolor="black",
                        markeredgewidth=0.5, linestyle="", markersize=7)
            finite = np.concatenate([x, y])
            finite = finite[np.isfinite(finite) & (finite > 0)]
            if finite.size:
                span = np.array([finite.min() / 1.5, finite.max() * 1.5])
                ax.plot(span, span, color="grey", linewidth=0.8, linestyle=":", label="mean = median")
                ax.legend(fontsize=7, loc="upper left")
            if set_log(ax, x, y):
                panels.append((ax, x, y))
            ax.set_xlabel(f"{LABELS[quantity]}, median")
            ax.set_ylabel(f"{LABELS[quantity]}, mean")
        add_depth_colourbar(fig, axes, norm)
        fig.legend(handles=marker_handles({marker(row) for _, row in group.iterrows()}), loc="outside lower center",
                   ncol=4, fontsize=8)
        runs = runs_per_point(pd.concat([group["n_median"], group["n_mean"]]).rename("n").to_frame())  # both counts
        fig.suptitle(f"{dataset}: mean vs median estimator ({_setting_text(group)}; {per_point_text(runs)})")
        for ax, x, y in panels:
            label_points(ax, x, y, group["arch"])
        results.append(FigureResult(name, kind, f"{dataset}: {title}", fig, runs=runs, dropped=left_out))
    return results


def size_trajectories(table: pd.DataFrame, options: FigureOptions) -> list[FigureResult]:
    """Curves in the (R_f, test error) plane as P varies, per architecture, over the fit of all architectures (Fig 18).

    Each curve's ends are labelled with their P where the label overlaps nothing; the legend
    gives the range of P either way.
    """
    kind, title = "size_trajectories", "test error vs R_f for varying training-set size P"
    reason = _no_error(table)
    with collect_dropped() as dropped:
        curves = pd.DataFrame() if reason else size_curves(table, cutoff=options.cutoff, delta=options.delta)
    if reason is None:
        counts = curves.groupby(["dataset", "average", "arch"])["train_size"].nunique() if not curves.empty else None
        if counts is None or (counts < 2).all():
            reason = "every architecture has a single training-set size P (need at least 2)"
    if reason:
        return [FigureResult(kind, kind, title, reason=reason)]
    results = []
    for (dataset, average), group in by_dataset_and_average(curves):
        largest = group[group["train_size"] == group["train_size"].max()].reset_index(drop=True)
        archs = [a for a, part in group.groupby("arch", sort=True) if part["train_size"].nunique() >= 2]
        if not archs:
            continue
        name = f"{kind}_{slug(dataset)}_{average}"
        left_out = note_merged(dropped, name, dataset=dataset, average=average)
        fig = Figure(figsize=(8.2, 5.2), layout="constrained")
        ax = fig.subplots()
        # its legend (fit and r) is replaced by the figure's own, below
        _, fit_handles = scatter_panel(ax, largest, "R_f", options, ["lightgrey"] * len(largest))
        colours = arch_colours(archs)
        ends = []
        for arch in archs:
            part = group[group["arch"] == arch].sort_values("train_size")
            ax.plot(part["R_f"], part["test_error"], marker=marker(part.iloc[0]), markersize=5, color=colours[arch],
                    markeredgecolor="black", markeredgewidth=0.4, label=arch)
            ends += [(row["R_f"], row["test_error"], f"P={row['train_size']:g}", colours[arch])
                     for row in (part.iloc[0], part.iloc[-1])]
        if ax.get_xscale() == "log":
            ax.margins(0.1)  # room for the P labels
            tidy_log_axes(ax)  # the curves widened the limits
        sizes = sorted(group.loc[group["arch"].isin(archs), "train_size"].unique())
        grey = Line2D([], [], linestyle="", marker="o", color="lightgrey", markeredgecolor="black", markeredgewidth=0.5,
                      markersize=7, label=f"all architectures at P = {largest['train_size'].iloc[0]:g}")
        p_note = Line2D([], [], linestyle="", label=f"curves: P = {sizes[0]:g} to {sizes[-1]:g}, ends labelled\n"
                                                    "where the label fits")
        curve_handles = [line for line in ax.get_lines() if line.get_label() in archs]
        ax.legend(handles=[*curve_handles, grey, *fit_handles, *marker_handles(_markers(group, archs, largest)),
                           p_note], fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        runs = runs_per_point(group)
        ax.set_title(f"{dataset}, {average}: c = {group['cutoff'].iloc[0]:g}, delta = {group['delta'].iloc[0]:.2g} px; "
                     f"{per_point_text(runs)}", fontsize=9)
        if ax.get_xscale() == "log":
            xs, ys, labels, text_colours = zip(*ends)
            label_points(ax, xs, ys, labels, fontsize=6, colours=text_colours)
        results.append(FigureResult(name, kind, f"{dataset}, {average}: {title}", fig, runs=runs, dropped=left_out))
    return results or [FigureResult(kind, kind, title, reason="no architecture has two training-set sizes")]


def _markers(group: pd.DataFrame, archs: list[str], largest: pd.DataFrame) -> set[str]:
    rows = [group[group["arch"] == arch].iloc[0] for arch in archs] + [row for _, row in largest.iterrows()]
    return {marker(row) for row in rows}


def _subset(values: list[float], limit: int) -> list[float]:
    if len(values) <= limit:
        return values
    return [values[i] for i in sorted({int(round(k)) for k in np.linspace(0, len(values) - 1, limit)})]


def delta_cutoff_grid(table: pd.DataFrame, options: FigureOptions) -> list[FigureResult]:
    """Test error against D_f, G_f and R_f for every measured (delta, cutoff), allowed T on green (Fig 21).

    A colour and marker per architecture, named in the legend below the grid.

    Rows are the deltas of the cutoff measured at the most deltas (at most 6, spread over
    them); each panel shows, at its cutoff, the measured delta nearest its row's within a
    factor 1.5, so that temperature sweeps, whose deltas differ between cutoffs, fill the grid.
    """
    kind, title = "delta_cutoff_grid", "test error vs stability for each (delta, cutoff)"
    reason = _no_error(table)
    rows = table[(table["kind"] == "diffeo") & (table["stage"] == "best")]
    if reason is None and (rows.empty or rows[["cutoff", "delta"]].drop_duplicates().shape[0] < 2):
        reason = "the table holds a single (delta, cutoff) setting (need at least 2)"
    if reason:
        return [FigureResult(kind, kind, title, reason=reason)]
    results = []
    for dataset, part in rows.groupby("dataset", sort=True):
        per_cutoff = part.groupby("cutoff")["delta"].nunique()
        deltas = _subset(sorted(part.loc[part["cutoff"] == per_cutoff.idxmax(), "delta"].unique()), _MAX_GRID)
        cutoffs = _subset(sorted(part["cutoff"].unique()), _MAX_GRID)
        if len(deltas) * len(cutoffs) < 2:
            continue
        n = options.image_size or image_size_of(table, dataset)
        with collect_dropped() as dropped:
            panels = {(d, c): architecture_points(table[table["dataset"] == dataset], cutoff=c, delta=d)
                      for d in deltas for c in cutoffs}
        colours = arch_colours(pd.concat(panels.values())["arch"])
        for average in sorted(part["average"].unique(), key=lambda a: ({"median": 0, "mean": 1}.get(a, 2), a)):
            for quantity in MEASURES:
                name = f"{kind}_{slug(dataset)}_{average}_{quantity}"
                left_out = note_merged(dropped, name, dataset=dataset, average=average)
                fig = Figure(figsize=(max(3.2 * len(cutoffs) + 0.8, 7.5), 2.9 * len(deltas) + 1.3),
                             layout="constrained")
                axes = fig.subplots(len(deltas), len(cutoffs), squeeze=False, sharey=True)
                runs = []
                for (i, d), (j, c) in ((a, b) for a in enumerate(deltas) for b in enumerate(cutoffs)):
                    ax = axes[i][j]
                    points = panels[(d, c)]
                    near = np.abs(np.log(points["delta"].astype(float) / d)) <= np.log(_DELTA_TOLERANCE)
                    points = points[(points["average"] == average) & near].reset_index(drop=True)
                    if points.empty:
                        ax.set_title(f"delta = {d:.2g}, c = {c:g}\nnot measured", fontsize=8)
                        ax.set_axis_off()
                        continue
                    runs.append(points)
                    scatter_panel(ax, points, quantity, options, [colours[str(a)] for a in points["arch"]], fit=False,
                                  legend=False)
                    c_r = pearson(_values(points, quantity)[0], points["test_error"], scale=options.scale, n_boot=0)
                    temperature = float(points["temperature"].iloc[0])
                    if n is not None and is_allowed(n, float(c), temperature):
                        ax.set_facecolor(_ALLOWED_COLOUR)
                    shown = float(points["delta"].iloc[0])
                    ax.set_title(f"delta = {shown:.2g}, c = {c:g}, T = {temperature:.2g}\nr = {fmt(c_r.r)}", fontsize=8)
                    if i < len(deltas) - 1:
                        ax.set_xlabel("")
                    if j > 0:
                        ax.set_ylabel("")
                allowed_note = (f"green: T_min <= T <= T_max for {n}x{n} images" if n is not None
                                else "allowed range unknown (no image size)")
                shown_points = pd.concat(runs) if runs else pd.DataFrame(columns=["arch"])
                if runs:
                    fig.legend(handles=arch_handles(shown_points, colours), loc="outside lower center",
                               ncol=min(len(colours), 6), fontsize=8)
                runs_text = runs_per_point(shown_points) if runs else "0"
                fig.suptitle(f"{dataset}, {average}: test error vs {quantity}\n{allowed_note}; {runs_text} runs per "
                             f"point; r on {options.scale} scales", fontsize=10)
                results.append(FigureResult(name, kind,
                                            f"{dataset}, {average}: test error vs {quantity} for each (delta, cutoff)",
                                            fig, runs=runs_text, dropped=left_out))
    return results or [FigureResult(kind, kind, title, reason="no dataset has two (delta, cutoff) settings")]
