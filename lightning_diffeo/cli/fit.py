"""``lightning-diffeo fit``: train a network from a config, measuring R_f at initialisation and at the best epoch.

    lightning-diffeo fit --config configs/quickstart.yaml
    lightning-diffeo fit --model.arch resnet18 --data cifar10 --data.train_size 1024
    lightning-diffeo fit --config configs/quickstart.yaml --ckpt_path last     # resume in place
    lightning-diffeo fit --ckpt_path runs/quickstart/version_3/checkpoints/last.ckpt
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from lightning_diffeo.callbacks import StabilityCallback, comparison_table
from lightning_diffeo.runs import build_cli, fit_and_test
from lightning_diffeo.runs.resume import check_same_config, find_run_to_resume, resolve_fit_config, saved_config_args

from ._lightning import DESCRIPTION, DiffeoParser, run_guarded
from .argv import split_option
from .errors import CLIError, one_line

__all__ = ["main"]

_PARSER_KWARGS = {"prog": "lightning-diffeo fit", "description": DESCRIPTION}


def _resolve(args: list[str]) -> dict:
    try:
        return resolve_fit_config(args)
    except Exception as error:  # jsonargparse's ArgumentError: one line
        raise CLIError(one_line(error)) from None


def _resume(ckpt_path: str, rest: list[str], run_dirs: list[Path]) -> None:
    """Continue a run in its own folder with its own config (options given beside it must not change it)."""
    if ckpt_path == "last":  # the config given names the folder to look in
        given = _resolve(rest) if rest else None
        run = find_run_to_resume(ckpt_path, given)
    else:  # options given beside a checkpoint apply on top of its run's config
        run = find_run_to_resume(ckpt_path, None)
        given = _resolve([*saved_config_args(run), *rest]) if rest else None
    if given is not None:
        check_same_config(run, given)
    print(f"lightning-diffeo: resuming {run.run_dir} from {run.checkpoint.name} (epoch {run.epoch})", file=sys.stderr)
    cli = build_cli(["--config", str(run.config_path)], fit_command=True, new_run=False, save_config=False,
                    run_dirs=run_dirs, parser_class=DiffeoParser, parser_kwargs=_PARSER_KWARGS)
    fit_and_test(cli, ckpt_path=str(run.checkpoint))


def main(argv: Sequence[str]) -> None:
    """Parse the fit options (LightningCLI's, plus ``--ckpt_path``), then :func:`~lightning_diffeo.runs.fit_and_test`."""

    def work(run_dirs: list[Path]) -> None:
        ckpt_path, rest = split_option(argv, "--ckpt_path")
        if ckpt_path == "":
            raise CLIError("--ckpt_path: expected a checkpoint file or 'last'")
        if ckpt_path in ("null", "None"):
            ckpt_path = None
        if ckpt_path is not None and not {"-h", "--help", "--print_config"} & {w.split("=")[0] for w in rest}:
            _resume(ckpt_path, rest, run_dirs)
            return
        cli = build_cli(list(argv), fit_command=True, run_dirs=run_dirs, parser_class=DiffeoParser,
                        parser_kwargs=_PARSER_KWARGS)
        if cli.config.get("ckpt_path") is not None:  # from a config file: resuming is a command-line choice
            raise CLIError(f"ckpt_path {cli.config.ckpt_path!r} in a config file: give --ckpt_path on the command "
                           "line to resume a run")
        outcome = fit_and_test(cli)
        if outcome.epochs == 0 and cli.trainer.max_epochs == 0:
            _say_nothing_trained(cli)

    run_guarded(work)


def _say_nothing_trained(cli) -> None:
    """``--trainer.max_epochs 0``: Lightning returns at once; say what the run holds."""
    stability = next((c for c in cli.trainer.callbacks if isinstance(c, StabilityCallback)), None)
    if stability is not None and stability.results:
        print(comparison_table(stability.results))
    measured = f"; the initial network was measured: {stability.results_path}" if (
        stability is not None and stability.results_path is not None) else ""
    print(f"lightning-diffeo: --trainer.max_epochs 0: no epoch was trained{measured} (run folder {cli.trainer.log_dir})")
