"""How stability and error scale with the training-set size P: power laws X ~ P^b per architecture (Fig 13).

The paper reads Fig 13 against the stripe model's R_f ~ P^-1 (ResNets follow it, EfficientNets
fall more slowly). :func:`size_laws` fits, per dataset, average and architecture, ln X = ln a +
b ln P by least squares over the geometric means at each P (the points of
:func:`~lightning_diffeo.analysis.points.size_curves`), and bootstraps b two-level: the sizes P
with replacement, then the seeds within each drawn size
(:func:`~lightning_diffeo.analysis.bootstrap.seed_power_law`). With few sizes (3 to 5) the
interval is wide and, resampling the design points, conservative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from lightning_diffeo.analysis.bootstrap import seed_power_law
from lightning_diffeo.analysis.finite import required_quantities, split_finite
from lightning_diffeo.analysis.markdown import markdown_table
from lightning_diffeo.analysis.points import main_setting, size_curves
from lightning_diffeo.analysis.stats import fit_power_law
from lightning_diffeo.analysis.table import select

__all__ = ["SIZE_QUANTITIES", "size_curves_markdown", "size_laws", "size_laws_markdown"]

SIZE_QUANTITIES = ("test_error", "D_f", "G_f", "R_f")


def size_laws(
    table: pd.DataFrame,
    *,
    cutoff: float | None = None,
    delta: float | None = None,
    quantities: Sequence[str] = SIZE_QUANTITIES,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per dataset, average, architecture and quantity X: the exponent b of X ~ a P^b at the output, best checkpoint.

    Returns:
        One row per (dataset, average, arch, quantity) with at least 2 sizes: ``b``, ``b_err``
        (least squares), ``b_ci_low``, ``b_ci_high`` (95%, two-level; NaN below 3 sizes),
        ``a``, ``n_sizes``, ``p_min``, ``p_max``, ``seeds_per_size``, ``resamples_used``.
    """
    cutoff_, delta_ = main_setting(table)
    cutoff, delta = cutoff_ if cutoff is None else cutoff, delta_ if delta is None else delta
    curves = size_curves(table, cutoff=cutoff, delta=delta, quantities=quantities)
    runs = select(table, kind="diffeo", stage="best", cutoff=cutoff, delta=delta, train_size=None, layer="output")
    runs, _ = split_finite(runs[runs["train_size"].notna()], required_quantities(runs, list(quantities)))
    rows = []
    for (dataset, average, arch), curve in curves.groupby(["dataset", "average", "arch"], sort=True):
        if curve["train_size"].nunique() < 2:
            continue
        group = runs[(runs["dataset"] == dataset) & (runs["average"] == average) & (runs["arch"] == arch)]
        for quantity in quantities:
            fit = fit_power_law(curve["train_size"], curve[quantity])
            boot = seed_power_law(group["train_size"], group[quantity], group["train_size"], n_boot=n_boot, seed=seed)
            rows.append({
                "dataset": dataset, "average": average, "arch": arch, "quantity": quantity, "b": fit.b,
                "b_err": fit.b_err, "b_ci_low": boot.b_low, "b_ci_high": boot.b_high, "a": fit.a,
                "n_sizes": int(curve["train_size"].nunique()), "p_min": int(curve["train_size"].min()),
                "p_max": int(curve["train_size"].max()), "seeds_per_size": boot.seeds_per_arch,
                "resamples_used": boot.resamples_used, "cutoff": cutoff, "delta": delta,
            })
    return pd.DataFrame.from_records(rows)


def _interval(low: float, high: float) -> str:
    return "" if not (math.isfinite(low) and math.isfinite(high)) else f" [{low:.2f}, {high:.2f}]"


def size_laws_markdown(laws: pd.DataFrame) -> str:
    """The exponents as one Markdown row per dataset, average and architecture: ``b [95% interval]`` per quantity."""
    rows = []
    for (dataset, average, arch), group in laws.groupby(["dataset", "average", "arch"], sort=True):
        first = group.iloc[0]
        record = {"dataset": dataset, "average": average, "architecture": arch,
                  "P": f"{first['p_min']}-{first['p_max']} ({first['n_sizes']} sizes)",
                  "seeds": first["seeds_per_size"]}
        for row in group.to_dict("records"):
            record[row["quantity"].replace("_", " ") if row["quantity"] == "test_error" else row["quantity"]] = (
                f"{row['b']:.2f}{_interval(row['b_ci_low'], row['b_ci_high'])}")
        rows.append(record)
    return markdown_table(pd.DataFrame.from_records(rows))


def size_curves_markdown(curves: pd.DataFrame, quantities: Sequence[str] = SIZE_QUANTITIES) -> str:
    """The curves of :func:`~lightning_diffeo.analysis.points.size_curves` as Markdown: geometric means ± relative error."""
    rows = []
    for row in curves.sort_values(["dataset", "average", "arch", "train_size"]).to_dict("records"):
        record = {"dataset": row["dataset"], "average": row["average"], "architecture": row["arch"],
                  "P": int(row["train_size"]), "runs": int(row["n"])}
        for quantity in quantities:
            value, rel = row[quantity], row.get(f"{quantity}_rel_err", math.nan)
            text = f"{value:.3g}" + (f" ± {100 * rel:.0f}%" if math.isfinite(rel) else "")
            record[quantity.replace("_", " ") if quantity == "test_error" else quantity] = text
        rows.append(record)
    return markdown_table(pd.DataFrame.from_records(rows))
