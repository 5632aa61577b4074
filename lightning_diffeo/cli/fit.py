"""``lightning-diffeo fit``: train a network from a config, measuring R_f at initialisation and at the best epoch.

    lightning-diffeo fit --config configs/quickstart.yaml
    lightning-diffeo fit --model.arch resnet18 --data cifar10 --data.train_size 1024
    lightning-diffeo fit --config configs/quickstart.yaml --ckpt_path last
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning_diffeo.runs import build_cli, fit_and_test

from ._lightning import DESCRIPTION, DiffeoParser, run_guarded

__all__ = ["main"]


def main(argv: Sequence[str]) -> None:
    """Parse the fit options (LightningCLI's, plus ``--ckpt_path``), then :func:`~lightning_diffeo.runs.fit_and_test`."""

    def work(run_dirs: list[Path]) -> None:
        cli = build_cli(list(argv), fit_command=True, run_dirs=run_dirs, parser_class=DiffeoParser,
                        parser_kwargs={"prog": "lightning-diffeo fit", "description": DESCRIPTION})
        fit_and_test(cli, ckpt_path=cli.config.get("ckpt_path"))

    run_guarded(work)
