"""Figures of curves: stability against P (Figs 13, 22), against depth (Fig 14), G_f against noise (Fig 11)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lightning_diffeo.analysis._plot import LABELS, QUANTITY_COLOURS, band, runs_per_point, set_log, slug
from lightning_diffeo.analysis.figure_base import FigureOptions, FigureResult
from lightning_diffeo.analysis.finite import collect_dropped, note_merged
from lightning_diffeo.analysis.points import depth_profiles, noise_curves, size_curves
from lightning_diffeo.analysis.table import MEASURES, by_dataset_and_average, size_text
from lightning_diffeo.plotstyle import STAGE_STYLES

__all__ = ["depth_profile", "noise", "stability_vs_size"]

# Dotted is kept for reference lines (P^-1, R_f = 1): one line style, one meaning. Beyond three
# cutoffs the styles repeat, the markers tell them apart.
_CUTOFF_STYLES = ("-", "--", "-.")
_CUTOFF_MARKERS = ("o", "s", "^", "v", "D", "P")
_REFERENCE = {"color": "grey", "linestyle": ":", "linewidth": 1.2}


def _grid(fig: Figure, count: int, columns: int = 3):
    ncols = min(columns, count)
    nrows = math.ceil(count / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.set_axis_off()
    return flat[:count]


def _guide(ax, x0: float, y0: float, x1: float, slope: float, label: str | None, **style) -> None:
    """A guide y ~ x^slope from x0 to x1, starting a little below the point (x0, y0); dashed black by default."""
    if not all(math.isfinite(v) and v > 0 for v in (x0, y0, x1)):
        return
    grid = np.geomspace(x0, x1 if x1 > x0 else x0 * 10, 20)
    style = {"color": "black", "linewidth": 1, "linestyle": (0, (4, 2)), **style}
    ax.plot(grid, 0.6 * y0 * (grid / x0) ** slope, label=label, **style)


def stability_vs_size(table: pd.DataFrame, options: FigureOptions) -> list[FigureResult]:
    """D_f, G_f and R_f of the output against P, per architecture and cutoff, relative errors shaded."""
    kind, title = "stability_vs_size", "D_f, G_f, R_f vs training-set size P"
    with collect_dropped() as dropped:
        curves = size_curves(table, cutoff=options.cutoff, delta=options.delta, all_cutoffs=True, quantities=MEASURES)
    if curves.empty or (curves.groupby(["dataset", "average", "arch"])["train_size"].nunique() < 2).all():
        return [FigureResult(kind, kind, title, reason="every architecture has a single training-set size P (need at "
                                                      "least 2)")]
    results = []
    for (dataset, average), group in by_dataset_and_average(curves):
        archs = [a for a, part in group.groupby("arch", sort=True) if part["train_size"].nunique() >= 2]
        if not archs:
            continue
        name = f"{kind}_{slug(dataset)}_{average}"
        left_out = note_merged(dropped, name, dataset=dataset, average=average)
        cutoffs = sorted(group["cutoff"].unique())
        width = max(8.0, 4.6 * min(3, len(archs)))
        fig = Figure(figsize=(width, 3.8 * math.ceil(len(archs) / 3) + 0.9), layout="constrained")
        for ax, arch in zip(_grid(fig, len(archs)), archs):
            part = group[group["arch"] == arch]
            for k, cutoff in enumerate(cutoffs):
                curve = part[np.isclose(part["cutoff"], cutoff)].sort_values("train_size")
                for quantity in ("G_f", "D_f", "R_f"):
                    low, high = band(curve[quantity], curve[f"{quantity}_rel_err"])
                    colour = QUANTITY_COLOURS[quantity]
                    ax.plot(curve["train_size"], curve[quantity], color=colour, linestyle=_cutoff_style(k),
                            marker=_cutoff_marker(k), markersize=3)
                    ax.fill_between(curve["train_size"], low, high, color=colour, alpha=0.18, linewidth=0)
            main = part[np.isclose(part["cutoff"], cutoffs[0])].sort_values("train_size")
            _guide(ax, float(main["train_size"].iloc[0]), float(main["R_f"].iloc[0]), float(main["train_size"].iloc[-1]),
                   -1.0, None, **_REFERENCE)
            if set_log(ax, part["train_size"], part[["G_f", "D_f", "R_f"]].to_numpy().ravel()):
                ax.set_xticks(sorted(part["train_size"].unique()))  # the measured sizes
            ax.set_title(str(arch), fontsize=10)
            ax.set_xlabel(LABELS["train_size"])
            ax.set_ylabel("$D_f$, $G_f$, $R_f$")
        handles = [Line2D([], [], color=QUANTITY_COLOURS[q], label=LABELS[q]) for q in ("G_f", "D_f", "R_f")]
        handles += [Line2D([], [], color="grey", linestyle=_cutoff_style(k), marker=_cutoff_marker(k), markersize=4,
                           label=f"c = {c:g}") for k, c in enumerate(cutoffs)]
        handles.append(Line2D([], [], label="reference slope $P^{-1}$", **_REFERENCE))
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles) if width >= 12 else 3, fontsize=8)
        runs = runs_per_point(group[group["arch"].isin(archs)])
        fig.suptitle(f"{dataset}, {average}: stability vs P at delta = {group['delta'].iloc[0]:.2g} px "
                     f"(shaded: relative error; {runs} runs per point)")
        results.append(FigureResult(name, kind, f"{dataset}, {average}: {title}", fig, runs=runs, dropped=left_out))
    return results


def _cutoff_style(k: int) -> str:
    return _CUTOFF_STYLES[k % len(_CUTOFF_STYLES)]


def _cutoff_marker(k: int) -> str:
    return _CUTOFF_MARKERS[k % len(_CUTOFF_MARKERS)]


def _is_simple(part: pd.DataFrame) -> bool:
    # Table 1: FullConn (2-6), LeNet (5) and AlexNet (8) are the paper's "simple" nets.
    depth = part["depth"].iloc[0] if "depth" in part.columns else math.nan
    return bool(math.isfinite(depth) and depth <= 8)


def depth_profile(table: pd.DataFrame, options: FigureOptions) -> list[FigureResult]:
    """R_f against relative depth: at initialisation dashed, trained solid (Fig 14)."""
    kind, title = "depth_profile", "R_f vs relative depth, init (dashed) and trained (solid)"
    with collect_dropped() as dropped:
        profiles = depth_profiles(table, cutoff=options.cutoff, delta=options.delta)
    profiles = profiles[profiles["stage"].isin(STAGE_STYLES)] if not profiles.empty else profiles
    layers = profiles.groupby(["dataset", "average", "arch", "stage"])["relative_depth"].nunique() if not profiles.empty \
        else pd.Series(dtype=int)
    if layers.empty or (layers < 2).all():
        return [FigureResult(kind, kind, title, reason="no architecture was probed at two or more layers at 'init' or "
                                                      "'best'")]
    results = []
    for (dataset, average), group in by_dataset_and_average(profiles):
        stem = f"{kind}_{slug(dataset)}_{average}"
        left_out = note_merged(_of_stages(dropped), stem, dataset=dataset, average=average)
        archs = sorted(group["arch"].unique())
        has_depth = "depth" in group.columns and group["depth"].notna().any()
        panels = {"simple nets (depth <= 8)": [a for a in archs if _is_simple(group[group["arch"] == a])],
                  "deep nets": [a for a in archs if not _is_simple(group[group["arch"] == a])]} if has_depth \
            else {"": archs}
        panels = {name: members for name, members in panels.items() if members}
        fig = Figure(figsize=(6 * len(panels), 4.4), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (name, members) in zip(axes, panels.items()):
            for index, arch in enumerate(members):
                for stage, style in STAGE_STYLES.items():
                    curve = group[(group["arch"] == arch) & (group["stage"] == stage)].sort_values("relative_depth")
                    if curve.empty:
                        continue
                    ax.plot(curve["relative_depth"], curve["R_f"], linestyle=style, marker="o", markersize=3,
                            color=f"C{index % 10}", label=arch if stage == "best" or "best" not in set(
                                group.loc[group["arch"] == arch, "stage"]) else None)
                    low, high = band(curve["R_f"], curve["R_f_rel_err"])
                    ax.fill_between(curve["relative_depth"], low, high, color=f"C{index % 10}", alpha=0.12, linewidth=0)
            ax.axhline(1.0, **_REFERENCE)
            set_log(ax, None, group.loc[group["arch"].isin(members), "R_f"])
            ax.set_xlabel(LABELS["relative_depth"])
            ax.set_ylabel(LABELS["R_f"])
            ax.set_title(name, fontsize=10)
            handles, _ = ax.get_legend_handles_labels()
            handles += [Line2D([], [], color="grey", linestyle=s, label=st) for st, s in STAGE_STYLES.items()]
            handles.append(Line2D([], [], label="$R_f = 1$", **_REFERENCE))
            ax.legend(handles=handles, fontsize=7, ncol=2)
        runs = runs_per_point(group)
        fig.suptitle(f"{dataset}, {average}: R_f per layer (c = {group['cutoff'].iloc[0]:g}, "
                     f"delta = {group['delta'].iloc[0]:.2g} px, {size_text(group['train_size'])}; {runs} runs per point)",
                     fontsize=10)
        results.append(FigureResult(stem, kind, f"{dataset}, {average}: {title}", fig, runs=runs, dropped=left_out))
    return results


def _of_stages(parts: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The rows left out of the stages the depth profile draws."""
    return [part[part["stage"].isin(STAGE_STYLES)] for part in parts]


def noise(table: pd.DataFrame, options: FigureOptions) -> list[FigureResult]:
    """G_f of the output against the noise norm, one curve per architecture, slope-2 guide (Fig 11)."""
    kind, title = "noise", "G_f vs noise norm"
    with collect_dropped() as dropped:
        curves = noise_curves(table) if (table["kind"] == "noise").any() else pd.DataFrame()
    if curves.empty or (curves.groupby(["dataset", "average", "arch"])["noise_norm"].nunique() < 2).all():
        return [FigureResult(kind, kind, title, reason="no noise-only rows (kind == 'noise') with two or more noise "
                                                      "norms for a trained network")]
    results = []
    for (dataset, average), group in by_dataset_and_average(curves):
        name = f"{kind}_{slug(dataset)}_{average}"
        left_out = note_merged(dropped, name, dataset=dataset, average=average)
        fig = Figure(figsize=(6.4, 4.6), layout="constrained")
        ax = fig.subplots()
        for index, (arch, curve) in enumerate(group.groupby("arch", sort=True)):
            low, high = band(curve["G_f"], curve["G_f_rel_err"])
            ax.plot(curve["noise_norm"], curve["G_f"], marker="o", markersize=3, color=f"C{index % 10}", label=arch)
            ax.fill_between(curve["noise_norm"], low, high, color=f"C{index % 10}", alpha=0.15, linewidth=0)
        smallest = group[group["noise_norm"] == group["noise_norm"].min()]
        _guide(ax, float(smallest["noise_norm"].iloc[0]), float(smallest["G_f"].min()),
               float(group["noise_norm"].median()), 2.0, "slope 2")
        set_log(ax, group["noise_norm"], group["G_f"])
        ax.set_xlabel(LABELS["noise_norm"])
        ax.set_ylabel(LABELS["G_f"])
        ax.legend(fontsize=7)
        runs = runs_per_point(group)
        ax.set_title(f"{dataset}, {average}: stability to isotropic noise ({size_text(group['train_size'])}; "
                     f"{runs} runs per point)", fontsize=9)
        results.append(FigureResult(name, kind, f"{dataset}, {average}: {title}", fig, runs=runs, dropped=left_out))
    return results
