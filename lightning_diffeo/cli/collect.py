"""``lightning-diffeo collect``: gather the finished runs of a study into one table (CSV or Parquet).

    lightning-diffeo collect runs/sweeps/digits_tiny -o results.csv  # or .parquet
    lightning-diffeo collect runs/sweeps/digits_tiny -o results.csv --curves curves.csv  # and the learning curves

Bad input (no runs there, an output path that cannot be written) is one line on stderr and
exit status 2, before any run is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser

from .errors import fail, parse_or_fail

__all__ = ["main"]


def _parse(argv: Sequence[str]) -> Any:
    parser = ArgumentParser(
        prog="lightning-diffeo collect", exit_on_error=False, allow_abbrev=False,
        description="Gather the finished runs of a study into one table: one row per (run, stage, "
        "layer, cutoff, temperature, average), written as CSV or Parquet.",
    )
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("folder", type=str, help="sweep spec (its runs only) or study folder (every run in it)")
    parser.add_argument("-o", "--output", type=str, required=True, help="results.csv or results.parquet")
    parser.add_argument("--curves", type=str, default=None,
                        help="also write every run's learning curves (one row per epoch: train and validation loss and "
                        "accuracy) to this .csv or .parquet (for report --curves)")
    return parse_or_fail(parser, argv)


def main(argv: Sequence[str]) -> None:
    """``lightning-diffeo collect FOLDER -o results.csv|.parquet``."""
    from lightning_diffeo.studies import check_table_path, collect, collect_curves, run_folders, write_table

    args = _parse(argv)
    try:
        run_folders(args.folder)  # the input first, then the outputs, then the work
        check_table_path(args.output)
        if args.curves is not None:
            check_table_path(args.curves, "--curves")
            if Path(args.curves).resolve() == Path(args.output).resolve():
                raise ValueError(f"--curves {args.curves!r} is the same file as -o")
        table = collect(args.folder)
        path = write_table(table, args.output)
        curves = collect_curves(args.folder) if args.curves is not None else None
        curves_path = write_table(curves, args.curves) if curves is not None else None
    except (ValueError, FileNotFoundError, ImportError) as error:
        fail(error)
    runs = table["run_id"].nunique() if len(table) else 0
    print(f"{len(table)} rows from {runs} runs -> {path}")
    if curves is not None:
        print(f"{len(curves)} epochs of {curves['run_id'].nunique() if len(curves) else 0} runs -> {curves_path}")
