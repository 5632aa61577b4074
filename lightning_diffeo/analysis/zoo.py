"""A zoo's models side by side: each model's errors, and its D_f, G_f, R_f with their intervals over the images.

A zoo table (``collect`` of a ``kind: zoo`` study) has one run per model, the columns of a trained
study and the zoo's own (``test_error_source``, ``published_top1``, ``test_error_published``,
``test_error_measured``, ``<q>_ci_low``, ``<q>_ci_high``; see ``studies.zoo_collect``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lightning_diffeo.analysis._plot import fmt
from lightning_diffeo.analysis.markdown import markdown_table
from lightning_diffeo.analysis.points import main_setting
from lightning_diffeo.analysis.table import MEASURES, select

__all__ = ["is_zoo", "width_summary", "zoo_markdown", "zoo_points"]

_COLUMNS = ("dataset", "average", "arch", "model", "weights_kind", "stage", "image_size", "n_params", "n_images",
            "published_top1", "test_error", "test_error_source", "test_error_published", "test_error_measured",
            "test_top5_error_measured", "layer", "cutoff", "delta",
            *(f"{q}{end}" for q in MEASURES for end in ("", "_ci_low", "_ci_high")))


def is_zoo(table: pd.DataFrame) -> bool:
    """Whether ``table`` holds zoo runs (pretrained models probed, nothing trained)."""
    return "test_error_source" in table.columns and bool(table["test_error_source"].notna().any())


def zoo_points(table: pd.DataFrame, cutoff: float | None = None, delta: float | None = None) -> pd.DataFrame:
    """One row per (dataset, average, model) at its output layer, at every stage (published weights and random
    initialisations alike), at ``cutoff`` and the measured delta nearest ``delta`` (default: ``main_setting``).

    Returns:
        The model's columns, its errors, D_f, G_f, R_f with ``<q>_ci_low``, ``<q>_ci_high`` and
        ``<q>_ci_factor`` = sqrt(high / low) (the interval is estimate x/÷ that factor on a log scale),
        sorted by dataset, average (median first) and test error.
    """
    default_cutoff, default_delta = main_setting(table)
    rows = select(table, kind="diffeo", stage=None, cutoff=default_cutoff if cutoff is None else cutoff,
                  delta=default_delta if delta is None else delta, train_size=None, layer="output")
    frame = rows[[c for c in _COLUMNS if c in rows.columns]].copy()
    for quantity in MEASURES:
        if f"{quantity}_ci_low" in frame.columns:
            with np.errstate(divide="ignore", invalid="ignore"):
                frame[f"{quantity}_ci_factor"] = np.sqrt(frame[f"{quantity}_ci_high"] / frame[f"{quantity}_ci_low"])
    order = frame["average"].map({"median": 0, "mean": 1}).fillna(2)
    return frame.assign(_order=order).sort_values(["dataset", "_order", "test_error"]).drop(columns="_order")


def _percent(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.1f}"


def _interval(row: dict, quantity: str) -> str:
    value, low, high = (row.get(f"{quantity}{end}", math.nan) for end in ("", "_ci_low", "_ci_high"))
    if not isinstance(value, float) or not math.isfinite(value):
        return "n/a"
    text = f"{value:.3g}"
    return f"{text} [{low:.3g}, {high:.3g}]" if isinstance(low, float) and math.isfinite(low) else text


def zoo_markdown(points: pd.DataFrame) -> str:
    """The zoo's models as a Markdown table: weights, input size, images, published top-1, the error the study
    compares and the measured one, D_f, G_f and R_f [95% interval over the images]."""
    rows = []
    for row in points.to_dict("records"):
        measured = row.get("test_error_measured", math.nan)
        top5 = row.get("test_top5_error_measured", math.nan)
        rows.append({
            "dataset": row["dataset"], "average": row["average"], "model": row["arch"],
            "weights": "random init" if row.get("weights_kind") == "random" else "pretrained",
            "px": "" if pd.isna(row.get("image_size")) else int(row["image_size"]),
            "images": "" if pd.isna(row.get("n_images")) else int(row["n_images"]),
            "published top-1 %": _percent(row.get("published_top1")),
            "test error": f"{fmt(row['test_error'], 3)} ({row.get('test_error_source', '')})",
            "measured top-1 / top-5 error": "" if pd.isna(measured) else f"{measured:.2f} / {top5:.2f}",
            **{quantity: _interval(row, quantity) for quantity in MEASURES},
        })
    return markdown_table(pd.DataFrame.from_records(rows))


def width_summary(points: pd.DataFrame) -> str:
    """One sentence on how wide the intervals are: the factor x/÷ of each measure, over the models."""
    parts = []
    for quantity in MEASURES:
        factors = points.get(f"{quantity}_ci_factor", pd.Series(dtype=float)).to_numpy(float)
        factors = factors[np.isfinite(factors)]
        if factors.size:
            parts.append(f"{quantity} x/÷ {factors.min():.2f} to {factors.max():.2f} (median {np.median(factors):.2f})")
    if not parts:
        return "No interval was measured (a zoo spec's `intervals: 0`, or fewer than 4 images)."
    return ("Each interval is the estimate times or divided by a factor; over the models and averages: "
            + "; ".join(parts) + ".")
