"""Markdown tables of a study's results: Table 2, the power laws, the per-architecture points."""

from __future__ import annotations

import math

import pandas as pd

from lightning_diffeo.analysis._plot import fmt
from lightning_diffeo.analysis.table import MEASURES

__all__ = ["laws_markdown", "markdown_table", "points_markdown", "table2_markdown"]


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _with_interval(value: float, low: float, high: float) -> str:
    if not isinstance(value, float) or not math.isfinite(value):
        return "n/a"
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]" if math.isfinite(low) else fmt(value)


def table2_markdown(table2: pd.DataFrame) -> str:
    rows = []
    for row in table2.to_dict("records"):
        n_archs, seeds = row.get("n_archs", row["architectures"]), row.get("seeds_per_arch", row["runs_per_point"])
        record = {"dataset": row["dataset"], "average": row["average"], "n_archs": n_archs, "seeds per arch": seeds,
                  "resampling": row.get("resampling", "points")}
        for prefix, suffix in (("", ""), ("Spearman ", "_spearman")):
            for quantity in MEASURES:
                name = f"{quantity}{suffix}"
                text = _with_interval(row.get(name, math.nan), row.get(f"{name}_ci_low", math.nan),
                                      row.get(f"{name}_ci_high", math.nan))
                own = (row.get(f"{quantity}_n_archs", n_archs), row.get(f"{quantity}_seeds_per_arch", seeds))
                if text != "n/a" and own != (n_archs, seeds):  # this coefficient rests on fewer points
                    text += f" ({own[0]} archs x {own[1]} seeds)"
                record[f"{prefix}{quantity}"] = text
        for quantity in MEASURES:
            value = row.get(f"paper_{quantity}", math.nan)
            record[f"paper {quantity}"] = "" if value is None or (isinstance(value, float) and math.isnan(value)) \
                else f"{value:.2f}"
        rows.append(record)
    return markdown_table(pd.DataFrame.from_records(rows))


def laws_markdown(laws: pd.DataFrame) -> str:
    rows = []
    for row in laws.to_dict("records"):
        paper = "" if math.isnan(row["paper_a"]) else f"{row['paper_a']:g} X^{row['paper_b']:g}"
        fit = "n/a" if math.isnan(row["b"]) else (
            f"{row['a']:.3g} X^({row['b']:.2f} ± {fmt(row['b_err'])})")
        low, high = row.get("b_ci_low", math.nan), row.get("b_ci_high", math.nan)
        interval = "" if math.isnan(row["b"]) or not math.isfinite(low) else f"[{fmt(low)}, {fmt(high)}]"
        rows.append({"dataset": row["dataset"], "average": row["average"], "X": row["quantity"], "fit": fit,
                     "b 95% interval": interval,
                     "a ± a_err": "n/a" if math.isnan(row["a"]) else f"{row['a']:.3g} ± {row['a_err']:.2g}",
                     "n_archs": row.get("n_archs", row["n_points"]), "seeds per arch": row.get("seeds_per_arch", ""),
                     "resampling": row.get("resampling", ""), "paper": paper})
    return markdown_table(pd.DataFrame.from_records(rows))


def _with_error(value: float, rel_err: float, digits: int = 3) -> str:
    if not isinstance(value, float) or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g} ± {100 * rel_err:.0f}%" if math.isfinite(rel_err) else f"{value:.{digits}g}"


def points_markdown(points: pd.DataFrame) -> str:
    """The architecture points (``architecture_points``) as a Markdown table: per dataset, average and
    architecture, the parameters, the runs, and test error, D_f, G_f, R_f (geometric means over the
    seeds ± their relative error), sorted by test error."""
    rows = []
    for row in points.sort_values(["dataset", "average", "test_error"]).to_dict("records"):
        record = {"dataset": row["dataset"], "average": row["average"], "architecture": row["arch"]}
        if "n_params" in row:
            record["parameters"] = "" if pd.isna(row["n_params"]) else f"{int(row['n_params']):,}"
        record["runs"] = int(row["n"])
        for quantity in ("test_error", *MEASURES):
            if quantity in row:
                record[quantity.replace("_", " ") if quantity == "test_error" else quantity] = _with_error(
                    row[quantity], row.get(f"{quantity}_rel_err", math.nan))
        rows.append(record)
    return markdown_table(pd.DataFrame.from_records(rows))

