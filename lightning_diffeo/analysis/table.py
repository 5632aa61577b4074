"""The collected study table: reading it, checking it, and picking the rows a figure needs.

The table (written by ``lightning-diffeo collect``) has one row per
(run, stage, layer, cutoff, temperature, average); noise-only measurements are rows with
``kind == "noise"``, a ``noise_norm`` and only ``G_f``. See ``docs/reports.md``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "MEASURES",
    "REQUIRED_COLUMNS",
    "image_size_of",
    "load_table",
    "nearest_value",
    "output_rows",
    "by_dataset_and_average",
    "per_point_text",
    "select",
    "size_text",
]

MEASURES = ("D_f", "G_f", "R_f")
REQUIRED_COLUMNS = ("run_id", "arch", "dataset", "train_size", "seed", "stage", "layer", "relative_depth", "average")

# Image side in pixels of the package's datamodules, for tables without an image_size column.
_IMAGE_SIZES = {"mnist": 28, "fashionmnist": 28, "digits": 28, "cifar10": 32, "svhn": 32, "tinyimagenet32": 32,
                "tinyimagenet": 32}


def _normalise_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def load_table(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The study table from a CSV or parquet file, or a copy of a DataFrame, checked.

    Missing optional columns are filled: ``kind`` with ``"diffeo"`` (tables without noise
    rows), ``noise_norm`` with NaN.

    Raises:
        FileNotFoundError: ``source`` is a path that does not exist.
        ValueError: an unknown file type, an empty table, or missing required columns.
    """
    if isinstance(source, pd.DataFrame):
        table = source.copy()
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"results table {str(path)!r} does not exist")
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            raise ValueError(f"results table must be a .csv or .parquet file, got {str(path)!r}")
        try:
            table = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        except (ValueError, OSError, UnicodeDecodeError) as error:  # pandas' and pyarrow's many read errors
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"results table {str(path)!r} is not a readable {suffix[1:]} table ({reason})") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(
            f"results table lacks the column(s) {', '.join(missing)}; expected the table written by "
            "`lightning-diffeo collect`"
        )
    if table.empty:
        raise ValueError("results table has no rows")
    if "kind" not in table.columns:
        table["kind"] = "diffeo"
    if "noise_norm" not in table.columns:
        table["noise_norm"] = np.nan
    for column in ("batch_norm", "skip_connections"):
        if column in table.columns and table[column].dtype == object:
            table[column] = table[column].map({"True": True, "False": False, "true": True, "false": False,
                                               True: True, False: False})
    return table


def image_size_of(table: pd.DataFrame, dataset: str, default: int | None = None) -> int | None:
    """Image side in pixels for ``dataset``: the table's ``image_size`` column, else the package's default.

    Returns ``default`` when neither knows the dataset.
    """
    if "image_size" in table.columns:
        sizes = table.loc[table["dataset"] == dataset, "image_size"].dropna().unique()
        if len(sizes) == 1:
            return int(sizes[0])
    return _IMAGE_SIZES.get(_normalise_name(dataset), default)


def nearest_value(values: Sequence[float] | np.ndarray | pd.Series, target: float) -> float:
    """The element of ``values`` (positive) closest to ``target`` on a log scale; NaN if none."""
    candidates = np.asarray(pd.Series(values).dropna().unique(), dtype=float)
    candidates = candidates[candidates > 0]
    if candidates.size == 0:
        return math.nan
    return float(candidates[np.argmin(np.abs(np.log(candidates / target)))])


def output_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each run's last probed layer (largest ``relative_depth``, the network output)."""
    deepest = table.groupby(["run_id", "stage"], dropna=False)["relative_depth"].transform("max")
    return table[np.isclose(table["relative_depth"], deepest) | (table["relative_depth"].isna() & deepest.isna())]


def by_dataset_and_average(frame: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """``frame`` grouped by (dataset, average): datasets in order, the median (the paper's) before the mean."""
    order = {"median": 0, "mean": 1}
    groups = list(frame.groupby(["dataset", "average"], sort=True))
    return sorted(groups, key=lambda item: (str(item[0][0]), order.get(item[0][1], 2), str(item[0][1])))


def per_point_text(runs: int) -> str:
    """"1 run per point" or "3 runs per point", for titles."""
    return f"{runs} run{'' if runs == 1 else 's'} per point"


def size_text(values: Sequence[float] | pd.Series) -> str:
    """"P = 4096", "P = 256-4096" or "whole training split" (train_size NaN) for titles."""
    sizes = pd.Series(values, dtype=float)
    known = sorted(sizes.dropna().unique())
    parts = []
    if known:
        parts.append(f"P = {known[0]:g}" if len(known) == 1 else f"P = {known[0]:g}-{known[-1]:g}")
    if sizes.isna().any():
        parts.append("whole training split")
    return ", ".join(parts)


def _close(series: pd.Series, value: float) -> pd.Series:
    return pd.Series(np.isclose(series.astype(float), value, rtol=1e-6, atol=0.0), index=series.index)


def select(
    table: pd.DataFrame,
    *,
    kind: Literal["diffeo", "noise"] = "diffeo",
    stage: str | None = "best",
    cutoff: float | None = None,
    delta: float | None = None,
    train_size: int | Literal["max"] | None = "max",
    layer: Literal["output", "all"] = "output",
    average: str | None = None,
) -> pd.DataFrame:
    """Rows of one measurement setting.

    Args:
        table: the study table.
        kind: ``"diffeo"`` rows or ``"noise"`` rows.
        stage: ``"init"``, ``"best"``, ``"epoch<k>"``, or None for every stage.
        cutoff: keep this cutoff; None keeps all (noise rows have none).
        delta: keep the measured delta (pixels) closest to this one on a log scale, per
            dataset and cutoff (temperature sweeps measure different deltas at each cutoff);
            None keeps all.
        train_size: ``"max"`` keeps, per dataset, the largest training-set size P in the table
            (the paper compares architectures at full P), or the rows of the whole training
            split (``train_size`` NaN) where there are some; an integer keeps that P; None all.
        layer: ``"output"`` keeps each run's last probed layer, ``"all"`` every layer.
        average: ``"median"`` or ``"mean"``; None keeps both.
    """
    rows = table[table["kind"] == kind]
    if stage is not None:
        rows = rows[rows["stage"] == stage]
    if average is not None:
        rows = rows[rows["average"] == average]
    if cutoff is not None and "cutoff" in rows.columns:
        rows = rows[_close(rows["cutoff"], cutoff)]
    if delta is not None and "delta" in rows.columns and not rows.empty:
        parts = []
        keys = ["dataset", "cutoff"] if "cutoff" in rows.columns else ["dataset"]
        for _, part in rows.groupby(keys, sort=False, dropna=False):
            parts.append(part[_close(part["delta"], nearest_value(part["delta"], delta))])
        rows = pd.concat(parts) if parts else rows.iloc[:0]
    if train_size == "max" and not rows.empty:
        whole = rows["train_size"].isna()
        whole_in_dataset = whole.groupby(rows["dataset"]).transform("any")
        largest = rows["train_size"] == rows.groupby("dataset")["train_size"].transform("max")
        rows = rows[(whole_in_dataset & whole) | (~whole_in_dataset & largest)]
    elif train_size is not None and train_size != "max":
        rows = rows[rows["train_size"] == train_size]
    if layer == "output":
        rows = output_rows(rows)
    return rows
