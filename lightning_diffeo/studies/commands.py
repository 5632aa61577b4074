"""``lightning-diffeo sweep run|status`` and ``lightning-diffeo collect``: thin jsonargparse front ends.

    lightning-diffeo sweep run configs/sweeps/digits_tiny.yaml [--executor local|slurm] [--workers N]
                               [--dry-run] [--wait] [--retry-failed] [--output FOLDER]
    lightning-diffeo sweep status configs/sweeps/digits_tiny.yaml   # or the study folder
    lightning-diffeo collect runs/sweeps/digits_tiny -o results.csv  # or .parquet
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Literal, Optional

from jsonargparse import ActionConfigFile, ArgumentParser

__all__ = ["collect_main", "sweep_main"]

_TRACEBACK_ENV = "LIGHTNING_DIFFEO_TRACEBACK"


def _fail(message: str) -> None:
    print(f"lightning-diffeo: error: {message}", file=sys.stderr)
    sys.exit(2)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _parse(parser: ArgumentParser, argv: Sequence[str]):
    try:
        return parser.parse_args(list(argv))
    except Exception as error:  # ArgumentError with exit_on_error=False
        _fail(_first_line(error))


def _sweep_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="lightning-diffeo sweep", exit_on_error=False,
        description="Run a study (a grid of `lightning-diffeo fit` runs) locally or on SLURM, and follow it.",
    )
    commands = parser.add_subcommands(dest="command")
    run = ArgumentParser(exit_on_error=False, description="Run every run of a sweep spec that is not done yet.")
    run.add_argument("--config", action=ActionConfigFile)
    run.add_argument("spec", type=str, help="sweep spec YAML file")
    run.add_argument("--executor", type=Optional[Literal["local", "slurm"]], default=None, help="default: the spec's")
    run.add_argument("--workers", type=Optional[int], default=None, help="local worker processes (default: the spec's)")
    run.add_argument("--output", type=Optional[str], default=None, help="study folder (default: the spec's)")
    run.add_argument("--dry-run", action="store_true", help="list the runs and their state, run nothing")
    run.add_argument("--wait", action="store_true", help="SLURM: block until the job array ends")
    run.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    status = ArgumentParser(exit_on_error=False, description="Done, running, failed and pending runs of a study.")
    status.add_argument("--config", action=ActionConfigFile)
    status.add_argument("target", type=str, help="sweep spec YAML file or study folder")
    commands.add_subcommand("run", run, help="run a sweep")
    commands.add_subcommand("status", status, help="where a sweep stands")
    return parser


def sweep_main(argv: Sequence[str]) -> None:
    """``lightning-diffeo sweep``: exit status 2 and one line on bad input."""
    from .spec import SpecError
    from .sweep import run_sweep, status_lines

    args = _parse(_sweep_parser(), argv)
    try:
        if args.command == "run":
            options = args.run
            result = run_sweep(
                options.spec, executor=options.executor, workers=options.workers, output=options.output,
                dry_run=options.dry_run, wait=options.wait, retry_failed=options.retry_failed,
            )
            outcome = result.get("result") or {}
            if isinstance(outcome, dict) and any(outcome.get(k) for k in ("failed", "interrupted", "unfinished")):
                sys.exit(1)
        else:
            print("\n".join(status_lines(args.status.target)))
    except (SpecError, FileNotFoundError, RuntimeError) as error:
        if os.environ.get(_TRACEBACK_ENV):
            raise
        _fail(_first_line(error))


def collect_main(argv: Sequence[str]) -> None:
    """``lightning-diffeo collect FOLDER -o results.csv|.parquet``."""
    from .collect import collect, write_table

    parser = ArgumentParser(
        prog="lightning-diffeo collect", exit_on_error=False,
        description="Gather the finished runs of a study into one table: one row per (run, stage, "
        "layer, cutoff, temperature, average), written as CSV or Parquet.",
    )
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("folder", type=str, help="sweep spec (its runs only) or study folder (every run in it)")
    parser.add_argument("-o", "--output", type=str, required=True, help="results.csv or results.parquet")
    args = _parse(parser, argv)
    try:
        table = collect(args.folder)
        path = write_table(table, args.output)
    except (ValueError, FileNotFoundError, ImportError) as error:
        if os.environ.get(_TRACEBACK_ENV):
            raise
        _fail(_first_line(error))
    runs = table["run_id"].nunique() if len(table) else 0
    print(f"{len(table)} rows from {runs} runs -> {path}")
