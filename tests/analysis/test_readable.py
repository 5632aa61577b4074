"""Figures a reader can decode: every marker, line style and colour explained, no text on top of
other text, plain numbers on log axes, one line style per meaning.

Checked on every figure kind of the synthetic study (``small_figures``), and on a crowded study
whose architectures lie close together (labels fight for room there).
"""

from __future__ import annotations

import itertools

import matplotlib.text as mtext
import pytest
from matplotlib.colors import to_rgba
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lightning_diffeo.analysis import FIGURE_KINDS, FigureOptions, load_table
from lightning_diffeo.analysis.figures_points import size_trajectories
from tests.analysis.synthetic import synthetic_table

# Four architectures whose points nearly coincide, at two sizes: the P labels of Fig 18 collide.
CROWDED = {"a": (5, False, False, 1.2, 1), "b": (5, False, False, 1.3, 1), "c": (6, True, False, 1.25, 1),
           "d": (8, False, True, 1.1, 1)}
_NO_MARKER = (None, "None", "", " ")
_NO_LINE = ("None", "", " ")


@pytest.fixture(scope="module")
def crowded():
    """Fig 18 of four architectures whose curves nearly coincide: their P labels fight for room."""
    table = synthetic_table(archs=CROWDED, seeds=2, train_sizes=(256, 1024), cutoffs=(3.0,), deltas=(1.0,), layers=1,
                            averages=("median",), noise_norms=(), noise=0.02)
    results = size_trajectories(load_table(table), FigureOptions(n_boot=20))
    assert [r.name for r in results] == ["size_trajectories_cifar10_median"]
    return results


@pytest.fixture(scope="module")
def figures(small_figures, crowded):
    return [(r.name, r.figure) for r in small_figures if r.figure is not None] + \
        [(f"crowded {r.name}", r.figure) for r in crowded]


@pytest.fixture(scope="module")
def one_per_kind(small_figures, crowded):
    """One figure of each kind, and the crowded study's, each drawn once: {name: (figure, texts drawn)}."""
    chosen = {}
    for result in small_figures:
        if result.figure is not None and result.kind not in {k for k, _ in chosen.values()}:
            chosen[result.name] = (result.kind, result.figure)
    assert {kind for kind, _ in chosen.values()} == set(FIGURE_KINDS) - {"learning_curves"}  # from a curves table
    chosen.update({f"crowded {r.name}": (r.kind, r.figure) for r in crowded})
    return {name: (figure, _drawn_texts(figure)) for name, (_, figure) in chosen.items()}


def _drawn_texts(figure: Figure) -> list[mtext.Text]:
    """Every Text the figure draws (visible, non-empty): tick labels, titles, axis labels, legends, annotations."""
    drawn: list[mtext.Text] = []
    original = mtext.Text.draw

    def record(self, renderer):
        if self.get_visible() and self.get_text():
            drawn.append(self)
        return original(self, renderer)

    mtext.Text.draw = record
    try:
        figure.draw_without_rendering()
    finally:
        mtext.Text.draw = original
    return list(dict.fromkeys(drawn))


def _panels(figure: Figure):
    return [ax for ax in figure.axes if ax.axison and ax.get_label() != "<colorbar>"]


def _data_lines(ax) -> list[Line2D]:
    """Lines that show data or guides (error-bar caps left out: they belong to their point)."""
    caps = {id(line) for c in ax.containers if isinstance(c, ErrorbarContainer) for line in c.lines[1]}
    return [line for line in ax.get_lines() if id(line) not in caps and line.get_visible() and len(line.get_xdata())]


def _entries(legends) -> list[tuple[str, tuple, str, str]]:
    """(line style, colour, marker, label) of every legend entry that shows a line or a marker."""
    entries = []
    for legend in legends:
        if legend is None:
            continue
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            if not isinstance(handle, Line2D):
                continue
            style, mark = handle.get_linestyle(), handle.get_marker()
            if style in _NO_LINE and mark in _NO_MARKER:
                continue  # a line of text (r = ..., notes)
            entries.append((style, to_rgba(handle.get_color()), mark if mark not in _NO_MARKER else None,
                            text.get_text()))
    return entries


def _all_legends(figure: Figure) -> list:
    return [ax.get_legend() for ax in figure.axes] + list(figure.legends)


def test_every_marker_line_style_and_colour_has_a_legend_entry(figures):
    for name, figure in figures:
        entries = _entries(_all_legends(figure))
        styles, colours = {e[0] for e in entries}, {e[1] for e in entries}
        markers = {e[2] for e in entries}
        colour_bar = any(ax.get_label() == "<colorbar>" for ax in figure.axes)
        for ax in _panels(figure):
            lines = _data_lines(ax)
            if not lines and not ax.collections:
                continue
            assert ax.get_legend() is not None or ax.texts or figure.legends or colour_bar, \
                f"{name}: a panel with data and neither a legend, labels nor a colour bar"
            for line in lines:
                style, mark, colour = line.get_linestyle(), line.get_marker(), to_rgba(line.get_color())
                if mark not in _NO_MARKER:
                    assert mark in markers, f"{name}: marker {mark!r} has no legend entry"
                if style not in _NO_LINE:
                    assert style in styles, f"{name}: line style {style!r} has no legend entry"
                    assert colour in colours, f"{name}: a {style!r} line of colour {colour} has no legend entry"
                elif not colour_bar:
                    assert colour in colours, f"{name}: points of colour {colour} have no legend entry or colour bar"


def test_one_line_style_per_meaning(figures):
    for name, figure in figures:
        figure_legends = list(figure.legends)
        for ax in figure.axes:  # an entry's look names one thing, in a panel read with the figure's legends
            looks: dict[tuple, set[str]] = {}
            for style, colour, mark, label in _entries([ax.get_legend(), *figure_legends]):
                looks.setdefault((style, colour, mark), set()).add(label)
            assert all(len(labels) == 1 for labels in looks.values()), (name, looks)
        entries = _entries(_all_legends(figure))
        guides = {style for style, _, mark, _ in entries if style not in ("-", *_NO_LINE) and mark is None}
        for style in guides:  # a reference line's dash is its own, whatever the colour or marker of the others
            labels = {label for s, _, _, label in entries if s == style}
            assert len(labels) == 1, f"{name}: line style {style!r} means {sorted(labels)}"


def test_no_text_overlaps_another(one_per_kind):
    for name, (_, texts) in one_per_kind.items():
        boxes = [(text.get_text(), text.get_window_extent()) for text in texts]
        clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
                   if box_a.x0 < box_b.x1 - 1 and box_b.x0 < box_a.x1 - 1
                   and box_a.y0 < box_b.y1 - 1 and box_b.y0 < box_a.y1 - 1]
        assert not clashes, f"{name}: overlapping texts {clashes}"


def test_log_axes_have_plain_tick_labels(one_per_kind):
    for name, (figure, texts) in one_per_kind.items():
        drawn = {id(text) for text in texts}
        for ax in _panels(figure):
            for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
                if scale != "log":
                    continue
                ticks = axis.get_major_ticks() + axis.get_minor_ticks()
                labels = [(tick.get_loc(), label.get_text()) for tick in ticks
                          for label in (tick.label1, tick.label2) if id(label) in drawn]
                shown = any(tick.label1.get_visible() or tick.label2.get_visible() for tick in ticks)
                assert labels or not shown, f"{name}: a log axis without tick labels"  # shared axes hide theirs
                for value, text in labels:
                    if 1e-3 <= value < 1e5:  # 10^k notation only beyond
                        assert "$" not in text and float(text) == pytest.approx(value, rel=1e-5), (name, value, text)
