"""``collect_curves(folder)``: the learning curves of every finished run of a study, one row per epoch.

Columns: ``run_id, arch, dataset, train_size, seed``, one column per further key the runs
vary (as in :func:`~lightning_diffeo.studies.collect`), ``best_epoch, best_val_acc``, then
``epoch`` (0-based, as Lightning counts) and the epoch-level metrics of the run's
``metrics.csv``: ``train_loss, train_acc, val_loss, val_acc`` (NaN where not logged).
"""

from __future__ import annotations

import math
import os
from typing import Any

from lightning_diffeo.runs.training_log import epoch_metrics

from .collect import RUN_COLUMNS, finished_runs, run_columns

__all__ = ["CURVE_COLUMNS", "collect_curves"]

CURVE_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
_KEPT = ("best_epoch", "best_val_acc")


def collect_curves(target: str | os.PathLike):  # -> pandas.DataFrame
    """The per-epoch learning curves of every finished run of ``target`` (a sweep spec or study folder).

    Raises:
        FileNotFoundError: ``target`` is neither a spec file nor a folder holding run folders.
        SpecError: ``target`` is a spec file that is not a valid spec.
    """
    import pandas as pd

    finished, grid = finished_runs(target, stacklevel=3)
    rows: list[dict[str, Any]] = []
    for run_dir, record in finished:
        shared = run_columns(run_dir, record, grid)
        shared = {key: shared[key] for key in (*RUN_COLUMNS, *grid.values(), *_KEPT)}
        for epoch, metrics in epoch_metrics(run_dir).items():
            values = {name: metrics.get(name.replace("_", "/", 1), math.nan) for name in CURVE_COLUMNS[1:]}
            rows.append({**shared, "epoch": epoch, **values})
    columns = [*RUN_COLUMNS, *grid.values(), *_KEPT, *CURVE_COLUMNS]
    return pd.DataFrame.from_records(rows, columns=columns)
