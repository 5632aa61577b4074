"""Along training: R_f as a network trains, its learning curves, and whether its epoch budget has converged.

- ``along_training``: R_f of the output (main setting) against the epochs trained and against the
  validation error, from the ``epoch<k>`` stages a ``StabilityCallback(every_n_epochs=...)`` records
  (``init`` is 0 epochs trained, ``epoch<k>`` is k + 1).
- ``learning_curves``: training and validation error per epoch of every run, from the table of
  ``collect_curves`` (``lightning-diffeo collect --curves``).
- ``convergence_check``: a study against the same study with twice the epochs (one seed): does the
  best validation accuracy rise beyond the spread of the seeds?
"""

from __future__ import annotations

import math
import re
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lightning_diffeo.analysis._plot import LABELS, arch_colours, band, runs_per_point, set_log, slug
from lightning_diffeo.analysis.figure_base import FigureOptions, FigureResult
from lightning_diffeo.analysis.finite import collect_dropped, note_merged
from lightning_diffeo.analysis.points import main_setting
from lightning_diffeo.analysis.stats import aggregate, default_keys
from lightning_diffeo.analysis.table import select, size_text

__all__ = ["along_training", "convergence_check", "convergence_markdown", "learning_curves", "read_curves",
           "training_trajectories"]

_EPOCH_STAGE = re.compile(r"epoch(\d+)")
_AVERAGE_STYLES = {"median": "-", "mean": "--"}
_REFERENCE = {"color": "grey", "linestyle": ":", "linewidth": 1.2}
# Columns of a curves table that identify a configuration (the rest are the run's and the epoch's).
_CURVE_VALUES = ("run_id", "seed", "best_epoch", "best_val_acc", "epoch", "train_loss", "train_acc", "val_loss",
                 "val_acc")


def training_trajectories(table: pd.DataFrame, *, cutoff: float | None = None, delta: float | None = None,
                          average: str | None = None) -> pd.DataFrame:
    """Output-layer R_f per architecture at ``init`` and every ``epoch<k>`` stage, aggregated over seeds.

    Columns: the configuration keys, ``epochs_trained`` (0 at init, k + 1 at ``epoch<k>``), ``n``,
    ``R_f`` and ``R_f_rel_err`` (geometric mean over seeds), and ``val_error`` (1 - validation
    accuracy of the measured weights, geometric mean over the same seeds; NaN at init). Only the
    architectures measured along training (an ``epoch<k>`` stage) are kept.
    """
    default_cutoff, default_delta = main_setting(table)
    rows = select(table, kind="diffeo", stage=None, cutoff=default_cutoff if cutoff is None else cutoff,
                  delta=default_delta if delta is None else delta, layer="output", average=average)
    epochs = rows["stage"].astype(str).str.fullmatch(_EPOCH_STAGE.pattern)
    along = rows.loc[epochs, "arch"].unique()
    rows = rows[(epochs | (rows["stage"] == "init")) & rows["arch"].isin(along)].copy()
    if rows.empty:
        return pd.DataFrame(columns=["arch", "epochs_trained", "n", "R_f", "R_f_rel_err", "val_error"])
    rows["epochs_trained"] = [0 if stage == "init" else int(stage[5:]) + 1 for stage in rows["stage"]]
    rows["val_error"] = 1.0 - rows["val_acc"].astype(float)
    keys = [key for key in default_keys(rows) if key not in ("layer", "relative_depth")]
    trained = aggregate(rows[rows["stage"] != "init"], by=keys, quantities=["R_f", "val_error"])
    init = aggregate(rows[rows["stage"] == "init"], by=keys, quantities=["R_f"])
    return pd.concat([init, trained], ignore_index=True).sort_values(["dataset", "arch", "average", "epochs_trained"])


def along_training(table: pd.DataFrame, options: FigureOptions) -> list[FigureResult]:
    """R_f of the output against epochs trained (left) and against the validation error (right), per architecture."""
    kind, title = "along_training", "R_f along training, against epochs and against validation error"
    with collect_dropped() as dropped:
        curves = training_trajectories(table, cutoff=options.cutoff, delta=options.delta)
    if curves.empty:
        return [FigureResult(kind, kind, title, reason="no run was measured along training (stability.every_n_epochs)")]
    results = []
    for dataset, group in curves.groupby("dataset", sort=True):
        stem = f"{kind}_{slug(dataset)}"
        left_out = note_merged(dropped, stem, dataset=dataset)
        colours = arch_colours(sorted(group["arch"].unique()))
        fig = Figure(figsize=(11, 4.9), layout="constrained")
        by_epoch, by_error = fig.subplots(1, 2)
        for (arch, average), curve in group.groupby(["arch", "average"], sort=True):
            curve = curve.sort_values("epochs_trained")
            style = {"color": colours[arch], "linestyle": _AVERAGE_STYLES.get(average, ":"), "marker": "o",
                     "markersize": 3, "label": f"{arch}, {average}"}
            by_epoch.plot(curve["epochs_trained"], curve["R_f"], **style)
            low, high = band(curve["R_f"], curve["R_f_rel_err"])
            by_epoch.fill_between(curve["epochs_trained"], low, high, color=colours[arch], alpha=0.12, linewidth=0)
            trained = curve[curve["val_error"].notna()]
            by_error.plot(trained["val_error"], trained["R_f"], **style)
            if not trained.empty:  # the first measured epoch, where the trajectory starts
                by_error.plot(trained["val_error"].iloc[:1], trained["R_f"].iloc[:1], marker="s", markersize=6,
                              color=colours[arch], linestyle="none")
        for ax in (by_epoch, by_error):
            ax.axhline(1.0, **_REFERENCE)
            ax.set_ylabel(LABELS["R_f"])
        set_log(by_epoch, None, group["R_f"])
        set_log(by_error, None, group["R_f"])
        by_epoch.set_xlabel("epochs trained (0: initialisation)")
        by_error.set_xlabel("validation error")
        handles, _ = by_epoch.get_legend_handles_labels()
        handles += [Line2D([], [], marker="s", markersize=6, color="grey", linestyle="none", label="first measured epoch"),
                    Line2D([], [], label="$R_f = 1$", **_REFERENCE)]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)), fontsize=7)
        runs = runs_per_point(group)
        fig.suptitle(f"{dataset}: R_f of the output along training (c = {group['cutoff'].iloc[0]:g}, delta = "
                     f"{group['delta'].iloc[0]:.2g} px, {size_text(group['train_size'])}; median solid, mean dashed; "
                     f"{runs} runs per point)", fontsize=10)
        results.append(FigureResult(stem, kind, f"{dataset}: {title}", fig, runs=runs, dropped=left_out))
    return results


def _configurations(curves: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per configuration of a curves table: the architecture and every other key that varies."""
    keys = [c for c in curves.columns if c not in _CURVE_VALUES and c != "dataset"]
    varying = [k for k in keys if k != "arch" and curves[k].nunique(dropna=False) > 1]
    parts = []
    for values, rows in curves.groupby(["arch", *varying], sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        extra = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in zip(varying, values[1:])
                          if not (isinstance(v, float) and math.isnan(v)))
        parts.append((f"{values[0]}" + (f" ({extra})" if extra else ""), rows))
    return parts


def learning_curves(curves: pd.DataFrame) -> list[FigureResult]:
    """Training (dashed) and validation (solid) error per epoch, one panel per configuration, one line per seed."""
    kind, title = "learning_curves", "training and validation error per epoch"
    if curves.empty or "epoch" not in curves.columns:
        return [FigureResult(kind, kind, title, reason="the curves table has no epochs")]
    results = []
    for dataset, group in curves.groupby("dataset", sort=True):
        configurations = _configurations(group)
        ncols = min(4, len(configurations))
        nrows = math.ceil(len(configurations) / ncols)
        fig = Figure(figsize=(3.9 * ncols, 3.1 * nrows + 0.6), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[len(configurations):]:
            ax.set_axis_off()
        for ax, (label, rows) in zip(axes, configurations):
            for index, (seed, run) in enumerate(rows.groupby("seed", sort=True)):
                run = run.sort_values("epoch")
                colour = f"C{index % 10}"
                ax.plot(run["epoch"], 1 - run["val_acc"], color=colour, label=f"seed {seed}")
                ax.plot(run["epoch"], 1 - run["train_acc"], color=colour, linestyle="--", linewidth=0.9)
                best = run[run["epoch"] == run["best_epoch"]]
                ax.plot(best["epoch"], 1 - best["val_acc"], marker="*", markersize=8, color=colour, linestyle="none")
            ax.set_yscale("log")
            ax.set_title("\n".join(textwrap.wrap(label, 42)), fontsize=8)
            ax.set_xlabel("epoch")
            ax.set_ylabel("error")
            ax.legend(fontsize=6)
        fig.suptitle(f"{dataset}: validation error (solid), training error (dashed, on augmented batches), best "
                     "validation epoch (star)", fontsize=10)
        seeds = sorted({rows["run_id"].nunique() for _, rows in configurations})
        runs = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
        results.append(FigureResult(f"{kind}_{slug(dataset)}", kind, f"{dataset}: {title}", fig, runs=runs))
    return results


def _runs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its configuration and its results."""
    columns = [c for c in ("run_id", "dataset", "arch", "train_size", "seed", "max_epochs", "best_val_acc",
                           "best_epoch", "test_error") if c in table.columns]
    return table[columns].drop_duplicates("run_id")


def convergence_check(table: pd.DataFrame, doubled: pd.DataFrame) -> pd.DataFrame:
    """Each architecture's epoch budget against twice that budget on one seed.

    Matches the runs of ``doubled`` to those of ``table`` by (dataset, arch, train_size) and the
    same seed. Columns: ``dataset, arch, train_size, seeds`` (of the study), ``epochs`` and
    ``best_val_acc`` (mean) and ``best_val_acc_sd`` (standard deviation over the seeds, ddof = 1),
    ``seed``, ``best_val_acc_seed`` and ``best_epoch_seed`` (that seed at the study's budget),
    ``doubled_epochs``, ``doubled_best_val_acc``, ``doubled_best_epoch``, ``gain`` (doubled minus
    the same seed at the budget) and ``converged``: the gain is at most two standard deviations
    of the seeds.

    Raises:
        ValueError: a table without ``max_epochs``, or an architecture with several configurations.
    """
    if "max_epochs" not in table.columns or "max_epochs" not in doubled.columns:
        raise ValueError("both tables need a max_epochs column (vary trainer.max_epochs in the specs)")
    study, twice = _runs(table), _runs(doubled)
    keys = ["dataset", "arch", "train_size"]
    for name, runs in (("table", study), ("doubled", twice)):
        several = runs.groupby(keys, dropna=False)["max_epochs"].nunique()
        if (several > 1).any():
            raise ValueError(f"{name}: {several[several > 1].index[0]} has several epoch budgets; one per architecture")
    rows = []
    for key, extra in twice.groupby(keys, dropna=False, sort=True):
        runs = study[_nan_match(study, keys, key)]
        if runs.empty:
            continue
        for _, run in extra.iterrows():
            same = runs[runs["seed"] == run["seed"]]
            if same.empty:
                continue
            values = runs["best_val_acc"].astype(float)
            sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            gain = float(run["best_val_acc"]) - float(same["best_val_acc"].iloc[0])
            rows.append({**dict(zip(keys, key)), "seeds": len(runs), "epochs": int(runs["max_epochs"].iloc[0]),
                         "best_val_acc": float(values.mean()), "best_val_acc_sd": sd, "seed": int(run["seed"]),
                         "best_val_acc_seed": float(same["best_val_acc"].iloc[0]),
                         "best_epoch_seed": int(same["best_epoch"].iloc[0]),
                         "doubled_epochs": int(run["max_epochs"]), "doubled_best_val_acc": float(run["best_val_acc"]),
                         "doubled_best_epoch": int(run["best_epoch"]), "gain": gain,
                         "converged": bool(np.isfinite(sd) and gain <= 2 * sd)})
    return pd.DataFrame.from_records(rows)


def _nan_match(frame: pd.DataFrame, keys: list[str], values: tuple) -> pd.Series:
    """Rows equal to ``values`` where NaN equals NaN (a whole training split has train_size NaN)."""
    match = pd.Series(True, index=frame.index)
    for key, value in zip(keys, values):
        both_nan = frame[key].isna() if isinstance(value, float) and math.isnan(value) else frame[key] == value
        match &= both_nan
    return match


def read_curves(source) -> pd.DataFrame:
    """A curves table (``collect --curves``) from CSV, Parquet or a DataFrame, checked for its columns.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another format, or a table without the curve columns.
    """
    if isinstance(source, pd.DataFrame):
        curves = source
    else:
        from pathlib import Path

        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"curves table {str(path)!r} does not exist")
        if path.suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(f"curves table {str(path)!r} must be .csv or .parquet")
        curves = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    missing = [c for c in ("run_id", "dataset", "arch", "seed", "epoch", "train_acc", "val_acc", "best_epoch")
               if c not in curves.columns]
    if missing:
        raise ValueError(f"curves table lacks the columns {missing} (write it with lightning-diffeo collect --curves)")
    return curves


def convergence_markdown(check: pd.DataFrame) -> str:
    """The convergence check as a Markdown table, accuracies in percent."""
    if check.empty:
        return "No run of the doubled study matches a run of this study (same dataset, architecture, P and seed)."
    lines = ["| architecture | P | epochs | best val. acc. (mean ± sd over seeds) | seed | at the budget "
             "(best epoch) | twice the epochs (best epoch) | gain | converged |", "|---|---:|---:|---|---:|---|---|---:|---|"]
    for row in check.to_dict("records"):
        size = "all" if isinstance(row["train_size"], float) and math.isnan(row["train_size"]) else f"{row['train_size']:g}"
        lines.append(
            f"| {row['arch']} | {size} | {row['epochs']} | {100 * row['best_val_acc']:.2f} ± "
            f"{100 * row['best_val_acc_sd']:.2f} ({row['seeds']} seeds) | {row['seed']} | "
            f"{100 * row['best_val_acc_seed']:.2f} ({row['best_epoch_seed']}) | {row['doubled_epochs']} epochs: "
            f"{100 * row['doubled_best_val_acc']:.2f} ({row['doubled_best_epoch']}) | {100 * row['gain']:+.2f} | "
            f"{'yes' if row['converged'] else 'no'} |")
    lines += ["", "Accuracies in percent; epochs 0-based. Converged: doubling the epochs raises the seed's best "
              "validation accuracy by at most two standard deviations of the seeds at the study's budget."]
    return "\n".join(lines)
