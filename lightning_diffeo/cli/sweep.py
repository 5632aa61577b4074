"""``lightning-diffeo sweep run|status``: run a study (a grid of fits) locally or on SLURM, and follow it.

    lightning-diffeo sweep run configs/sweeps/digits_tiny.yaml [--executor local|slurm] [--workers N]
                               [--dry-run] [--wait] [--retry-failed] [--output FOLDER]
    lightning-diffeo sweep status configs/sweeps/digits_tiny.yaml [--output FOLDER]   # or the study folder

Bad input (the spec, an option) is one line on stderr and exit status 2, before any run starts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Optional

from jsonargparse import ActionConfigFile, ArgumentParser

from .errors import fail, parse_or_fail

__all__ = ["main"]


def _parser(description: str) -> ArgumentParser:
    # No prefix matching: `--work 2` is a mistake to report, not `--workers 2`.
    return ArgumentParser(exit_on_error=False, allow_abbrev=False, description=description)


def _sweep_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="lightning-diffeo sweep", exit_on_error=False, allow_abbrev=False,
        description="Run a study (a grid of `lightning-diffeo fit` runs) locally or on SLURM, and follow it.",
    )
    commands = parser.add_subcommands(dest="command")
    run = _parser("Run every run of a sweep spec that is not done yet.")
    run.add_argument("--config", action=ActionConfigFile)
    run.add_argument("spec", type=str, help="sweep spec YAML file")
    # Checked by run_sweep, the one place that knows the executors (library callers included).
    run.add_argument("--executor", type=Optional[str], default=None, help="local or slurm (default: the spec's)")
    run.add_argument("--workers", type=Optional[int], default=None, help="local worker processes (default: the spec's)")
    run.add_argument("--output", type=Optional[str], default=None, help="study folder (default: the spec's)")
    run.add_argument("--dry-run", action="store_true", help="list the runs and their state, run nothing")
    run.add_argument("--wait", action="store_true", help="SLURM: block until the job array ends")
    run.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    status = _parser("Done, running, failed and pending runs of a study.")
    status.add_argument("--config", action=ActionConfigFile)
    status.add_argument("target", type=str, help="sweep spec YAML file or study folder")
    status.add_argument("--output", type=Optional[str], default=None,
                        help="with a spec: its runs in this study folder (as given to `sweep run --output`)")
    commands.add_subcommand("run", run, help="run a sweep")
    commands.add_subcommand("status", status, help="where a sweep stands")
    return parser


def _run(options: Any) -> None:
    from lightning_diffeo.studies import run_sweep

    result = run_sweep(
        options.spec, executor=options.executor, workers=options.workers, output=options.output,
        dry_run=options.dry_run, wait=options.wait, retry_failed=options.retry_failed,
    )
    outcome = result.get("result") or {}
    if isinstance(outcome, dict) and any(outcome.get(k) for k in ("failed", "interrupted", "unfinished", "stopped")):
        sys.exit(1)


def main(argv: Sequence[str]) -> None:
    """``lightning-diffeo sweep``: exit status 2 and one line on bad input."""
    from lightning_diffeo.studies import SpecError, status_lines

    args = parse_or_fail(_sweep_parser(), argv)
    try:
        if args.command == "run":
            _run(args.run)
        else:
            print("\n".join(status_lines(args.status.target, output=args.status.output)))
    except (SpecError, FileNotFoundError, RuntimeError) as error:
        fail(error)
