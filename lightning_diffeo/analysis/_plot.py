"""Shared drawing pieces: architecture markers, depth colours, log error bars, saving."""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter


QUANTITY_COLOURS = {"G_f": "tab:blue", "D_f": "tab:orange", "R_f": "tab:green"}
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


def arch_colours(archs) -> dict[str, object]:
    """One colour per architecture (sorted names): tab10, or tab20 beyond ten architectures."""
    names = sorted({str(a) for a in archs})
    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def arch_handles(points: pd.DataFrame, colours: dict[str, object]) -> list[Line2D]:
    """Legend entries, one per architecture of ``points``: its marker in its colour."""
    rows = points.drop_duplicates("arch").sort_values("arch")
    return [Line2D([], [], linestyle="", marker=marker(row), color=colours[str(row["arch"])],
                   markeredgecolor="black", markeredgewidth=0.5, markersize=7, label=str(row["arch"]))
            for _, row in rows.iterrows()]


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


def _marker_boxes(ax, renderer) -> list[Bbox]:
    """Display-space boxes of every data marker drawn on ``ax`` (error-bar caps left out)."""
    scale = renderer.points_to_pixels(1.0)
    boxes = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_marker() in (None, "None", "", " ", "|", "_"):
            continue
        radius = line.get_markersize() * scale / 2 + 1
        xy = np.asarray(line.get_xydata(), dtype=float)
        if xy.size == 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            display = line.get_transform().transform(xy)
        for x, y in display[np.all(np.isfinite(display), axis=1)]:
            boxes.append(Bbox.from_extents(x - radius, y - radius, x + radius, y + radius))
    return boxes


def _overlaps(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _grown(box: Bbox, pixels: float) -> Bbox:
    return Bbox.from_extents(box.x0 - pixels, box.y0 - pixels, box.x1 + pixels, box.y1 + pixels)


# Places around a point, in order of preference: (dx, dy) in units of the gap, ha, va.
_PLACES = ((1, 0.4, "left", "bottom"), (1, -0.4, "left", "top"), (-1, 0.4, "right", "bottom"),
           (-1, -0.4, "right", "top"), (0, 1, "center", "bottom"), (0, -1, "center", "top"))


class PointLabels(Artist):
    """Names beside points, placed when the figure is drawn, where each overlaps no text, legend or marker.

    Placed at draw time, after the layout engine has set the axes' final place and for the
    renderer's resolution: a label fits in the saved PNG and PDF alike. Each name tries six
    places around its point (right above, right below, left above, left below, above, below),
    inside the axes, clear of every marker of the axes, of its texts and legends, and of the
    labels placed before it; a name with no free place is left out (``left_out`` after a draw).
    Kept out of the layout.
    """

    def __init__(self, ax, xs, ys, names, fontsize: float = 7, colours=None) -> None:
        super().__init__()
        self.set_in_layout(False)
        self.set_zorder(6)  # after the legend, whose place the labels avoid
        colours = list(colours) if colours is not None else ["black"] * len(names)
        self.labels = []
        for x, y, name, colour in zip(xs, ys, names, colours):
            label = Annotation(str(name), (x, y), xytext=(0, 0), textcoords="offset points", fontsize=fontsize,
                               color=colour, annotation_clip=False)
            label.axes = ax
            label.set_figure(ax.get_figure(root=False))
            label.set_in_layout(False)
            self.labels.append(label)
        self.left_out: list[str] = []

    def draw(self, renderer) -> None:
        if not self.get_visible():
            return
        ax = self.axes
        frame = _grown(ax.get_window_extent(renderer), -1)
        taken = _marker_boxes(ax, renderer)
        taken += [text.get_window_extent(renderer) for text in ax.texts if text.get_visible() and text.get_text()]
        legends = [ax.get_legend(), *ax.get_figure(root=True).legends]
        taken += [legend.get_window_extent(renderer) for legend in legends
                  if legend is not None and legend.get_visible()]
        sizes = [line.get_markersize() for line in ax.get_lines() if line.get_marker() not in ("|", "_")]
        gap = max(sizes or [6.0]) / 2 + 2  # points from the centre of the largest marker
        self.left_out = []
        for label in self.labels:
            label.set_visible(True)  # an invisible text measures as a unit box
            placed = False
            if _placeable(ax, *label.xy):
                for dx, dy, ha, va in _PLACES:
                    label.set_position((dx * gap, dy * gap))
                    label.set_horizontalalignment(ha)
                    label.set_verticalalignment(va)
                    box = _grown(label.get_window_extent(renderer), 1)
                    inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
                    if inside and not any(_overlaps(box, other) for other in taken):
                        taken.append(box)
                        label.draw(renderer)
                        placed = True
                        break
            label.set_visible(placed)
            if not placed:
                self.left_out.append(label.get_text())
        self.stale = False


def label_points(ax, xs, ys, names, fontsize: float = 7, colours=None) -> PointLabels:
    """Write each name beside its point (data coordinates) where it overlaps no text, legend or marker.

    The labels are placed when the figure is drawn (see ``PointLabels``), so they fit the final
    layout; points not finite (or not positive on a log axis) get none.

    Args:
        ax: the Axes.
        xs, ys: the points, in data coordinates.
        names: one label per point.
        fontsize: in points.
        colours: one text colour per point; default black.

    Returns:
        The labels' artist; its ``left_out`` lists the names left out at the last draw.
    """
    return ax.add_artist(PointLabels(ax, xs, ys, names, fontsize, colours))


def _placeable(ax, x, y) -> bool:
    if not (np.isfinite(x) and np.isfinite(y)):
        return False
    return (ax.get_xscale() != "log" or x > 0) and (ax.get_yscale() != "log" or y > 0)


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
