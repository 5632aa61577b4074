"""Shared drawing pieces: architecture markers, depth colours, log error bars, saving."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from lightning_diffeo.plotstyle import save_figure

QUANTITY_COLOURS = {"G_f": "tab:blue", "D_f": "tab:orange", "R_f": "tab:green"}
STAGE_STYLES = {"init": "--", "best": "-"}
_MARKERS = {(False, False): "o", (True, False): "s", (False, True): "^", (True, True): "D"}
_MARKER_LABELS = {"o": "plain", "s": "batch-norm", "^": "skip connections", "D": "batch-norm + skip"}
LABELS = {"D_f": "$D_f$", "G_f": "$G_f$", "R_f": "$R_f$", "inv_G_f": "$1/G_f$", "test_error": r"test error $\epsilon_t$",
          "train_size": "training-set size $P$", "noise_norm": r"noise norm $\|\eta\|$",
          "relative_depth": "relative depth (0: first probed layer, 1: output)"}


def marker(row: pd.Series) -> str:
    """Marker of an architecture: circle plain, square batch-norm, triangle skip connections, diamond both."""
    def flag(name: str) -> bool:
        value = row.get(name, False)
        return bool(value) if value is not None and not (isinstance(value, float) and math.isnan(value)) else False

    return _MARKERS[(flag("batch_norm"), flag("skip_connections"))]


def marker_handles(markers: set[str]) -> list[Line2D]:
    return [Line2D([], [], linestyle="", marker=m, color="grey", label=label) for m, label in _MARKER_LABELS.items()
            if m in markers]


def depth_colours(points: pd.DataFrame) -> tuple[list, Normalize | None]:
    """One colour per row from ``depth`` (viridis), or a single colour when depth is unknown."""
    if "depth" not in points.columns or points["depth"].isna().all():
        return ["tab:blue"] * len(points), None
    depths = points["depth"].astype(float)
    norm = Normalize(vmin=float(depths.min()), vmax=float(max(depths.max(), depths.min() + 1)))
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(norm(d)) if math.isfinite(d) else "grey" for d in depths], norm


def add_depth_colourbar(fig: Figure, axes, norm: Normalize | None) -> None:
    if norm is None:
        return
    mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=matplotlib.colormaps["viridis"])
    fig.colorbar(mappable, ax=axes, label="depth", shrink=0.9)


def log_errors(values: np.ndarray, rel_err: np.ndarray) -> np.ndarray:
    """Asymmetric error bars [lower, upper] of a geometric mean with relative error e: v e^{-e}, v e^{e}."""
    values = np.asarray(values, dtype=float)
    rel_err = np.nan_to_num(np.asarray(rel_err, dtype=float), nan=0.0)
    return np.vstack([values * (1 - np.exp(-rel_err)), values * (np.exp(rel_err) - 1)])


def band(values: np.ndarray, rel_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=float)
    rel_err = np.nan_to_num(np.asarray(rel_err, dtype=float), nan=0.0)
    return values * np.exp(-rel_err), values * np.exp(rel_err)


def runs_per_point(frame: pd.DataFrame) -> str:
    """"5" or "3-5": the number of realisations behind the points of a figure."""
    if frame.empty or "n" not in frame.columns:
        return "0"
    low, high = int(frame["n"].min()), int(frame["n"].max())
    return str(low) if low == high else f"{low}-{high}"


def slug(text: object) -> str:
    """A file-name part of ``text``: lower-case letters and digits joined by hyphens."""
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def label_points(ax, xs, ys, names, fontsize: int = 7) -> list[str]:
    """Write each name beside its point where it overlaps neither another label nor a point.

    Tries four places around the point (right above, right below, left above, left below) in
    axes coordinates; a name with no free place is left out. Call after everything is drawn.

    Returns:
        The names left out.
    """
    ax.autoscale_view()
    to_axes = ax.transScale + ax.transLimits
    positions = [to_axes.transform((x, y)) if np.isfinite(x) and np.isfinite(y) and x > 0 and y > 0 else None
                 for x, y in zip(xs, ys)]
    points = [p for p in positions if p is not None]
    height = 0.045 * fontsize / 7
    boxes: list[tuple[float, float, float, float]] = []
    left_out = []

    def free(box) -> bool:
        x0, y0, x1, y1 = box
        if x0 < 0 or x1 > 1 or y0 < 0 or y1 > 1:
            return False
        if any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes):
            return False
        return not any(x0 - 0.012 < px < x1 + 0.012 and y0 - 0.012 < py < y1 + 0.012 for px, py in points)

    for position, name in zip(positions, names):
        if position is None:
            continue
        width = 0.0125 * len(str(name)) * fontsize / 7 + 0.01
        px, py = position
        candidates = [((px + 0.015, py + 0.005, px + 0.015 + width, py + 0.005 + height), "left"),
                      ((px + 0.015, py - 0.005 - height, px + 0.015 + width, py - 0.005), "left"),
                      ((px - 0.015 - width, py + 0.005, px - 0.015, py + 0.005 + height), "right"),
                      ((px - 0.015 - width, py - 0.005 - height, px - 0.015, py - 0.005), "right")]
        for box, align in candidates:
            if free(box):
                boxes.append(box)
                anchor = box[0] if align == "left" else box[2]
                ax.text(anchor, box[1] + 0.1 * height, str(name), transform=ax.transAxes, fontsize=fontsize,
                        ha=align, va="bottom")
                break
        else:
            left_out.append(str(name))
    return left_out


def _short(value: float) -> str:
    if not math.isfinite(value) or value <= 0:
        return ""
    if 1e-3 <= value < 1e5:
        return f"{value:g}"
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10**exponent
    return f"$10^{{{exponent}}}$" if abs(mantissa - 1) < 1e-6 else f"${mantissa:.2g}\\times 10^{{{exponent}}}$"


def tidy_log_axes(ax) -> None:
    """Readable ticks on log axes, chosen from the span of the current limits (call after drawing).

    Over more than ~1.5 decades: decades; over half a decade to 1.5: 1, 2, 5 times decades; over
    less: about four evenly spaced ticks (a narrow log axis is nearly linear). Minor ticks stay
    unlabelled, so that labels never run into each other.
    """
    ax.autoscale_view()
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() != "log" or min(limits) <= 0:
            continue
        span = math.log10(max(limits) / min(limits))
        if span <= 0.5:
            axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        elif span <= 1.6:
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        else:
            axis.set_major_locator(LogLocator(base=10))
        axis.set_major_formatter(FuncFormatter(lambda value, _position: _short(value)))
        axis.set_minor_formatter(NullFormatter())


def set_log(ax, x=None, y=None) -> bool:
    """Log scales on the axes given data for (x and/or y), with readable ticks.

    Where the given values hold nothing positive (all zero, e.g. a median collapsed to 0),
    the panel says so instead and keeps linear axes: a log axis has nothing to show.

    Returns:
        Whether log scales were set.
    """
    arrays = [np.asarray(v, dtype=float) for v in (x, y) if v is not None]
    if any(not np.any(np.isfinite(a) & (a > 0)) for a in arrays):
        ax.text(0.5, 0.5, "no positive values to show on log axes", transform=ax.transAxes, ha="center",
                va="center", fontsize=8, color="grey")
        return False
    if x is not None:
        ax.set_xscale("log")
    if y is not None:
        ax.set_yscale("log")
    tidy_log_axes(ax)
    return True


def save(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` atomically; the format follows the suffix (PNG raster, PDF vector)."""
    return save_figure(fig, path, dpi)
