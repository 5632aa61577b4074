"""Figures of stability results: R_f against relative depth, and R_f against temperature."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from lightning_diffeo._atomic import atomic_write
from lightning_diffeo.stability import StabilityResult

__all__ = ["plot_depth_profile", "plot_temperature_sweep"]

_STYLES = {"init": "--", "best": "-"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    # Matplotlib picks the format from the suffix, so the temporary keeps it.
    path = Path(path)
    out = atomic_write(path, lambda temporary: fig.savefig(temporary, dpi=110, format=path.suffix.lstrip(".") or "png"))
    _pyplot().close(fig)
    return out


def plot_depth_profile(results: Mapping[str, StabilityResult], path: str | os.PathLike, quantity: str = "R_f") -> Path:
    """R_f (or another quantity) against relative layer depth, a colour per cutoff.

    Args:
        results: stage name (e.g. ``"init"``, ``"best"``) -> result; init is dashed, best solid.
        path: PNG (or PDF, SVG) file to write.
        quantity: record key to plot on a log scale.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    cutoffs = sorted({c for result in results.values() for c in result.cutoffs})
    deltas = set()
    for stage, result in results.items():
        for index, cutoff in enumerate(cutoffs):
            rows = result.select(cutoff=cutoff)
            if not rows:
                continue
            # one curve per cutoff: the smallest temperature (smallest delta) measured
            smallest = min(r["temperature"] for r in rows)
            rows = sorted((r for r in rows if r["temperature"] == smallest), key=lambda r: r["relative_depth"])
            deltas.add(round(rows[0]["delta"], 6))
            ax.plot(
                [r["relative_depth"] for r in rows], [r[quantity] for r in rows],
                _STYLES.get(stage, ":" if stage.startswith("epoch") else "-"), marker="o",
                color=colours[index % len(colours)], label=f"{stage}, c={cutoff:g}",
            )
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("relative depth (0: first probed layer, 1: output)")
    ax.set_ylabel(quantity)
    ax.set_title(f"{quantity} per layer (delta = {deltas.pop():.3g} px)" if len(deltas) == 1 else f"{quantity} per layer")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def plot_temperature_sweep(result: StabilityResult, path: str | os.PathLike, layer: str | None = None) -> Path:
    """D_f, G_f and R_f against temperature T for one layer (default the last), a colour per cutoff."""
    plt = _pyplot()
    layer = layer or result.layers[-1]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharex=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, cutoff in enumerate(result.cutoffs):
        rows = sorted(result.select(layer=layer, cutoff=cutoff), key=lambda r: r["temperature"])
        for ax, quantity in zip(axes, ("D_f", "G_f", "R_f")):
            ax.plot([r["temperature"] for r in rows], [r[quantity] for r in rows], marker=".",
                    color=colours[index % len(colours)], label=f"c={cutoff:g}")
    for ax, quantity in zip(axes, ("D_f", "G_f", "R_f")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("temperature T")
        ax.set_title(f"{quantity} ({layer})")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
