"""``collect(folder)``: every finished run of a study in one tidy table (pandas DataFrame).

One row per (run, stage, layer, cutoff, temperature, average) with the columns

``run_id, arch, dataset, train_size, seed`` (``train_size`` NaN: the whole training split),
one column per further grid key (named by its last dotted component, e.g. ``model.recipe`` ->
``recipe``; the full dotted key when that name is taken), ``depth, n_params, batch_norm,
skip_connections`` (:func:`~lightning_diffeo.models.model_info`), ``test_error, test_acc,
best_val_acc, best_epoch`` (at the best-validation checkpoint), ``stage`` (``init``, ``best``
or ``epoch<k>``), ``val_acc`` (the validation accuracy of the measured weights, from the run's
``metrics.csv``; NaN at ``init``), ``layer, relative_depth, cutoff, temperature, delta, average, interpolation,
D_f, G_f, R_f, fraction_diffeomorphic`` (NaN when not measured), ``kind`` (``diffeo``), and
``noise_norm``: noise-only measurements are rows of ``kind="noise"`` with ``G_f`` filled and
``cutoff, temperature, delta, D_f, R_f`` NaN.

The runs of a zoo (``kind: zoo``, pretrained models probed without training) have the same columns
and a few of their own (:mod:`.zoo_collect`: the published and the measured error, the intervals).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import yaml

from lightning_diffeo._atomic import atomic_write
from lightning_diffeo.provenance import FIELDS
from lightning_diffeo.runs.layout import CONFIG_FILE
from lightning_diffeo.runs.training_log import epoch_metrics

from .config_keys import option_value
from .execute import read_run
from .state import scan_study
from .zoo_collect import INTERVAL_COLUMNS, ZOO_COLUMNS, is_zoo_run, zoo_columns, zoo_stage

__all__ = ["COLUMNS", "RUN_COLUMNS", "check_table_path", "collect", "finished_runs", "run_folders", "run_columns", "write_table"]

RUN_COLUMNS = ("run_id", "arch", "dataset", "train_size", "seed")
MODEL_COLUMNS = ("depth", "n_params", "batch_norm", "skip_connections")
RESULT_COLUMNS = ("test_error", "test_acc", "best_val_acc", "best_epoch")
RECORD_COLUMNS = (
    "stage", "val_acc", "layer", "relative_depth", "cutoff", "temperature", "delta", "average", "interpolation",
    "D_f", "G_f", "R_f", "fraction_diffeomorphic", "kind", "noise_norm",
)
PROVENANCE_COLUMNS = tuple(field for field in FIELDS if field != "python_version")
COLUMNS = RUN_COLUMNS + MODEL_COLUMNS + RESULT_COLUMNS + RECORD_COLUMNS + PROVENANCE_COLUMNS
_NAN_IF_MISSING = ("relative_depth", "cutoff", "temperature", "delta", "D_f", "G_f", "R_f",
                   "fraction_diffeomorphic", "noise_norm")


def _dataset_name(class_path: Any) -> str | None:
    from lightning_diffeo.datamodules import DATAMODULES

    if not isinstance(class_path, str):
        return None
    name = class_path.rsplit(".", 1)[-1]
    return next((short for short, cls in DATAMODULES.items() if cls.__name__ == name), name)


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str) and value in ("inf", "-inf"):
        return float(value)
    return float(value)


def _grid_columns(keys: list[str]) -> dict[str, str]:
    taken = set(COLUMNS)
    names: dict[str, str] = {}
    for key in keys:
        short = key.split(".")[-1]
        if key in ("model.arch", "data.train_size", "data.init_args.train_size"):
            continue  # already the arch / train_size columns
        name = short if short not in taken and short not in names.values() else key
        names[key] = name
    return names


def _grid_value(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def run_columns(run_dir: Path, record: dict[str, Any], grid: dict[str, str]) -> dict[str, Any]:
    """The columns every row of one run shares: its settings, its model, its results."""
    from lightning_diffeo.models import list_models, model_info

    config = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8")) or {}
    arch = option_value(config, "model.arch")
    info = model_info(arch) if isinstance(arch, str) and arch in list_models() else {}
    train_size = option_value(config, "data.train_size")
    return {
        "run_id": run_dir.name,
        "arch": arch,
        "dataset": _dataset_name(option_value(config, "data.class_path")),
        "train_size": math.nan if train_size is None else int(train_size),
        "seed": record.get("seed"),
        **{name: _grid_value(option_value(config, key)) for key, name in grid.items()},
        "depth": info.get("depth"),
        "n_params": record.get("n_params"),
        "batch_norm": info.get("batch_norm"),
        "skip_connections": info.get("skip_connections"),
        **{key: record.get(key) for key in RESULT_COLUMNS},
        **{key: (record.get("provenance") or {}).get(key) for key in PROVENANCE_COLUMNS},
    }


def _measurement(shared: dict[str, Any], measured: dict[str, Any], epochs: dict[int, dict[str, float]],
                 extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One row: a run's shared columns and one stability record (noise-only: the diffeo columns NaN);
    ``epochs``: the run's training log by epoch, for the validation accuracy of the measured weights;
    ``extra``: further numeric keys of the record to keep (a zoo's intervals)."""
    row = dict(shared)
    noise = "noise_norm" in measured and measured.get("cutoff") is None
    stage, epoch = measured.get("stage"), measured.get("epoch")
    trained = stage != "init" and isinstance(epoch, int)
    row.update(
        stage=stage, val_acc=epochs.get(epoch, {}).get("val/acc", math.nan) if trained else math.nan, layer=measured.get("layer"), average=measured.get("average"),
        interpolation=measured.get("interpolation"), kind="noise" if noise else "diffeo",
    )
    for key in (*_NAN_IF_MISSING, *extra):
        row[key] = _number(measured.get(key))
    if noise:
        for key in ("cutoff", "temperature", "delta", "D_f", "R_f"):
            row[key] = math.nan
    return row


def _run_rows(run_dir: Path, record: dict[str, Any], grid: dict[str, str]) -> list[dict[str, Any]]:
    stability_file = record.get("stability")
    if not stability_file or not (run_dir / stability_file).is_file():
        return []
    from lightning_diffeo.stability import StabilityResult

    records = StabilityResult.from_json(run_dir / stability_file).records
    if is_zoo_run(record):
        shared, stage = zoo_columns(run_dir, record, PROVENANCE_COLUMNS), zoo_stage(record)
        return [_measurement(shared, {**measured, "stage": stage}, {}, INTERVAL_COLUMNS) for measured in records]
    shared = run_columns(run_dir, record, grid)
    epochs = epoch_metrics(run_dir)
    return [_measurement(shared, measured, epochs) for measured in records]


def run_folders(target: str | os.PathLike) -> list[Path]:
    """The run folders that :func:`collect` reads: those a spec file plans (that exist), or every
    run folder of a study folder.

    Raises:
        FileNotFoundError: ``target`` is neither a spec file nor a folder holding run folders.
        SpecError: ``target`` is a spec file that is not a valid spec.
    """
    path = Path(target)
    if path.is_file():
        from .plan import plan_runs
        from .spec import load_spec

        run_dirs = [plan.run_dir for plan in plan_runs(load_spec(path)) if plan.run_dir.is_dir()]
    elif path.is_dir():
        run_dirs = scan_study(path)
    else:
        raise FileNotFoundError(f"no sweep spec or study folder at {path}")
    if not run_dirs:
        raise FileNotFoundError(f"no run folders (with overrides.json) for {path}: nothing to collect")
    return run_dirs


def finished_runs(target: str | os.PathLike, stacklevel: int = 2) -> tuple[list[tuple[Path, dict[str, Any]]], dict[str, str]]:
    """The finished runs of ``target`` (see :func:`collect`) as (folder, ``run.json`` record), and the
    table column of each key the runs vary (``{"model.recipe": "recipe", ...}``).

    Runs that are not done are left out and counted in one warning.
    """
    run_dirs = run_folders(target)
    finished = [(d, r) for d in run_dirs if (r := read_run(d)) is not None and r.get("status") == "done"]
    left_out = len(run_dirs) - len(finished)
    if left_out:
        warnings.warn(f"collect: {left_out} of {len(run_dirs)} runs are not done and are left out", stacklevel=stacklevel)
    keys = list(dict.fromkeys(k for _, r in finished if not is_zoo_run(r) for k in (r.get("overrides") or {})))
    return finished, _grid_columns(keys)


def collect(target: str | os.PathLike):  # -> pandas.DataFrame
    """The table of every finished run of a study (see the module docstring).

    Args:
        target: a sweep spec file (only the runs it plans, so runs of an earlier version of
            the spec in the same folder are left out) or a study folder (every run in it).

    Runs that are not done (pending, running, failed) are left out and counted in a warning.

    Raises:
        FileNotFoundError: ``target`` is neither a spec file nor a folder holding run folders.
        SpecError: ``target`` is a spec file that is not a valid spec.
    """
    import pandas as pd

    finished, grid = finished_runs(target, stacklevel=3)
    rows = [row for run_dir, record in finished for row in _run_rows(run_dir, record, grid)]
    columns = list(RUN_COLUMNS) + list(grid.values()) + list(COLUMNS[len(RUN_COLUMNS):])
    if any(is_zoo_run(record) for _, record in finished):
        columns[len(RUN_COLUMNS) + len(grid):len(RUN_COLUMNS) + len(grid)] = ZOO_COLUMNS
        columns += INTERVAL_COLUMNS
    table = pd.DataFrame.from_records(rows, columns=columns)
    for column in ("batch_norm", "skip_connections"):
        if table[column].notna().all():
            table[column] = table[column].astype(bool)
    return table


def check_table_path(path: str | os.PathLike, option: str = "-o") -> Path:
    """``path`` if :func:`write_table` can write there: ``.csv`` or ``.parquet`` (with pyarrow), in an existing folder.

    Raises:
        ValueError: another extension, or a folder that does not exist.
        ImportError: Parquet without pyarrow.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"{option} must end in .csv or .parquet, got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"{option} {str(path)!r}: its folder {str(path.parent)!r} does not exist")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError("writing .parquet needs pyarrow: pip install 'lightning-diffeo[parquet]', or write .csv") from None
    return path


def write_table(table, path: str | os.PathLike) -> Path:
    """Write the table as CSV (``.csv``) or Parquet (``.parquet``, needs pyarrow), atomically.

    Raises:
        ValueError: another extension, or a folder that does not exist (:func:`check_table_path`).
        ImportError: Parquet without pyarrow.
    """
    path = check_table_path(path)
    if path.suffix.lower() == ".csv":
        return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
