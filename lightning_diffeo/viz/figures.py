"""Figures of stability results: R_f against layer depth, and D_f, G_f, R_f against temperature.

Built on ``matplotlib.figure.Figure`` alone: pyplot and the user's matplotlib backend are
never touched, so plotting from a notebook or a training script changes nothing there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lightning_diffeo.plotstyle import save_figure, stage_linestyle
from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.stages import is_intermediate_stage

__all__ = ["depth_profile_figure", "plot_depth_profile", "plot_temperature_sweep", "temperature_sweep_figure"]

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _averages(results: Mapping[str, StabilityResult]) -> list[str]:
    return list(dict.fromkeys(r.get("average", "median") for res in results.values() for r in res.records))


_MAX_SIZE_ROWS = 6  # rows of a depth profile; more sizes are a sweep
_MAX_INTERMEDIATE = 4  # epoch<k> stages drawn in a depth profile; more are a trajectory (the report's along-training figure)


def _intermediate_stages(results: Mapping[str, StabilityResult]) -> list[str]:
    """The ``epoch<k>`` stages of ``results``, by epoch."""
    return sorted((stage for stage in results if is_intermediate_stage(stage)), key=lambda stage: int(stage[len("epoch"):]))


def _shown_stages(results: Mapping[str, StabilityResult]) -> tuple[dict[str, StabilityResult], list[str], int]:
    """``results`` with at most four intermediate stages, evenly spread from the first to the last
    by epoch; the kept intermediate stages by epoch; how many intermediate stages there were."""
    intermediate = _intermediate_stages(results)
    kept = intermediate if len(intermediate) <= _MAX_INTERMEDIATE else [
        intermediate[round(k * (len(intermediate) - 1) / (_MAX_INTERMEDIATE - 1))] for k in range(_MAX_INTERMEDIATE)]
    shown = {stage: result for stage, result in results.items() if not is_intermediate_stage(stage) or stage in kept}
    return shown, kept, len(intermediate)


def _temperatures_by_cutoff(results: Mapping[str, StabilityResult]) -> dict[float, list[float]]:
    """Sorted measured temperatures of every cutoff, over all results."""
    found: dict[float, set[float]] = {}
    for result in results.values():
        for r in result.records:
            found.setdefault(r["cutoff"], set()).add(r["temperature"])
    return {cutoff: sorted(temps) for cutoff, temps in sorted(found.items())}


def _size_label(rows: list[dict]) -> str:
    """'delta = 1 px' when the panel's curves share a displacement, else 'T = ...' or ''."""
    deltas = {round(r["delta"], 6) for r in rows if "delta" in r}
    if len(deltas) == 1:
        return f"delta = {next(iter(deltas)):.3g} px"
    temperatures = {r["temperature"] for r in rows}
    return f"T = {next(iter(temperatures)):.3g}" if len(temperatures) == 1 else ""


def depth_profile_figure(results: Mapping[str, StabilityResult], quantity: str = "R_f") -> Figure:
    """The figure of :func:`plot_depth_profile` (one panel per average and size), without saving it.

    Each cutoff's k-th smallest temperature goes into row k: with ``deltas`` a row per
    displacement (each cutoff at its own T(delta, c)), with ``temperatures`` a row per T. More
    than six sizes (a sweep: see :func:`temperature_sweep_figure`) get six rows, evenly spread
    from the smallest to the largest; more than four intermediate stages (``epoch<k>``, measured
    along training) get four, evenly spread from the first to the last.
    """
    results, along, intermediate = _shown_stages(results)
    alpha = {stage: 0.3 + 0.6 * i / max(1, len(along) - 1) for i, stage in enumerate(along)}  # fainter earlier
    averages = _averages(results) or ["median"]
    by_cutoff = _temperatures_by_cutoff(results)
    cutoffs = list(by_cutoff)
    measured = max((len(temps) for temps in by_cutoff.values()), default=1)
    shown = list(range(measured)) if measured <= _MAX_SIZE_ROWS else sorted(
        {round(k * (measured - 1) / (_MAX_SIZE_ROWS - 1)) for k in range(_MAX_SIZE_ROWS)})
    sizes = len(shown)
    fig = Figure(figsize=(10, 5.5 if sizes == 1 else 1.0 + 3.8 * sizes), layout="constrained")
    grid = fig.subplots(sizes, len(averages), squeeze=False, sharey=True)
    labels: list[str] = []
    for row, size in enumerate(shown):
        for ax, average in zip(grid[row], averages):
            ticks: dict[float, str] = {}
            drawn: list[dict] = []
            for stage, result in results.items():
                for index, cutoff in enumerate(cutoffs):
                    if size >= len(by_cutoff[cutoff]):
                        continue
                    temperature = by_cutoff[cutoff][size]
                    rows = [r for r in result.select(cutoff=cutoff)
                            if r.get("average", "median") == average and r["temperature"] == temperature]
                    if not rows:
                        continue
                    rows.sort(key=lambda r: r["relative_depth"])
                    drawn.append(rows[0])
                    ticks.update({r["relative_depth"]: r["layer"] for r in rows})
                    ax.plot([r["relative_depth"] for r in rows], [r[quantity] for r in rows], stage_linestyle(stage),
                            marker=_MARKERS[index % len(_MARKERS)], color=_COLOURS[index % len(_COLOURS)],
                            alpha=alpha.get(stage, 1.0), label=f"{stage}, c={cutoff:g}")
            label = _size_label(drawn)
            labels.append(label)
            ax.axhline(1.0, color="grey", linewidth=0.8)
            ax.set_yscale("log")
            ax.set_xticks(sorted(ticks), [ticks[d] for d in sorted(ticks)], rotation=45, ha="right", fontsize=8)
            ax.set_xlabel("layer (by relative depth)")
            title = f"{quantity}, {average} over images" if len(averages) > 1 else f"{average} over images"
            ax.set_title(f"{title}, {label}" if sizes > 1 and label else title, fontsize=9)
    ylabel = f"{quantity} (below 1: more stable to diffeomorphisms than to noise)"
    if sizes == 1:
        grid[0][0].set_ylabel(ylabel)
    else:  # one label for the rows: per row it would not fit their height
        fig.supylabel(ylabel, fontsize=10)
    only = set(labels)
    notes = [labels[0]] if sizes == 1 and len(only) == 1 and labels[0] else []  # the one size of every panel
    if sizes < measured:
        notes.append(f"{sizes} of {measured} sizes")
    if len(along) < intermediate:
        notes.append(f"{len(along)} of {intermediate} stages along training")
    fig.suptitle(f"{quantity} per layer ({'; '.join(notes)})" if notes else f"{quantity} per layer")
    handles = [Line2D([], [], color="black", linestyle=stage_linestyle(stage), alpha=alpha.get(stage, 1.0), label=stage)
               for stage in results]
    handles += [Line2D([], [], color=_COLOURS[i % len(_COLOURS)], marker=_MARKERS[i % len(_MARKERS)],
                       label=f"c = {c:g}") for i, c in enumerate(cutoffs)]
    grid[0][-1].legend(handles=handles, fontsize=8, loc="best", title="stage (line) / cutoff (colour)",
                       title_fontsize=8)
    return fig


def plot_depth_profile(results: Mapping[str, StabilityResult], path: str | os.PathLike, quantity: str = "R_f") -> Path:
    """R_f (or another quantity) against layer depth: a colour per cutoff, a line style per stage.

    Args:
        results: stage name (e.g. ``"init"``, ``"best"``, ``"epoch 12"``) -> result; init is
            dashed, best and other final weights solid, intermediate ``epoch<k>`` stages dotted.
            Both averages (median, mean) get a panel each when both were measured, and each
            measured size (delta or temperature) a row of panels, six rows at most.
        path: PNG (or PDF, SVG) file to write, 1200 px wide for PNG.
        quantity: record key to plot on a log scale.
    """
    return save_figure(depth_profile_figure(results, quantity), path)


def temperature_sweep_figure(result: StabilityResult, layers: list[str] | None = None, label: str | None = None) -> Figure:
    """The figure of :func:`plot_temperature_sweep`, without saving it."""
    layers = layers or result.layers
    averages = _averages({"": result}) or ["median"]
    cutoffs = result.cutoffs
    fig = Figure(figsize=(12, 3.6 * len(averages) + 0.8), layout="constrained")
    axes = fig.subplots(len(averages), 3, squeeze=False)
    for row, average in zip(axes, averages):
        for li, layer in enumerate(layers):
            for ci, cutoff in enumerate(cutoffs):
                rows = sorted((r for r in result.select(layer=layer, cutoff=cutoff)
                               if r.get("average", "median") == average), key=lambda r: r["temperature"])
                for ax, quantity in zip(row, ("D_f", "G_f", "R_f")):
                    ax.plot([r["temperature"] for r in rows], [r[quantity] for r in rows],
                            ("-", "--", ":", "-.")[ci % 4], marker=".", color=_COLOURS[li % len(_COLOURS)])
        for ax, quantity in zip(row, ("D_f", "G_f", "R_f")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("temperature T")
            ax.set_title(f"{quantity} ({average})")
    handles = [Line2D([], [], color=_COLOURS[i % len(_COLOURS)], label=layer) for i, layer in enumerate(layers)]
    handles += [Line2D([], [], color="black", linestyle=("-", "--", ":", "-.")[i % 4], label=f"c = {c:g}")
                for i, c in enumerate(cutoffs)]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, title="layer (colour) / cutoff (line)",
               title_fontsize=8)
    if label:
        fig.suptitle(label)
    return fig


def plot_temperature_sweep(
    result: StabilityResult, path: str | os.PathLike, layers: list[str] | None = None, label: str | None = None
) -> Path:
    """D_f, G_f and R_f against temperature T for every measured layer (a colour each), a line style per cutoff.

    Args:
        result: a sweep (several temperatures per cutoff).
        path: PNG (or PDF, SVG) file to write.
        layers: the layers to draw (default every measured one).
        label: figure title, e.g. the checkpoint and epoch.
    """
    return save_figure(temperature_sweep_figure(result, layers, label), path)

