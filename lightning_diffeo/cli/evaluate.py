"""``lightning-diffeo validate | test | predict``: LightningCLI's subcommands on a model from a config or checkpoint.

    lightning-diffeo test --config runs/quickstart/version_0/config.yaml --ckpt_path runs/.../last.ckpt
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from lightning_diffeo.runs import build_cli

from ._lightning import DESCRIPTION, DiffeoParser, run_guarded

__all__ = ["predict", "test", "validate"]


def _run(subcommand: Literal["validate", "test", "predict"], argv: Sequence[str]) -> None:
    def work(run_dirs: list[Path]) -> None:
        build_cli([subcommand, *argv], run=True, run_dirs=run_dirs, parser_class=DiffeoParser,
                  parser_kwargs={"prog": "lightning-diffeo", "description": DESCRIPTION})

    run_guarded(work)


def validate(argv: Sequence[str]) -> None:
    """``lightning-diffeo validate``: the validation loop once."""
    _run("validate", argv)


def test(argv: Sequence[str]) -> None:
    """``lightning-diffeo test``: the test loop once."""
    _run("test", argv)


test.__test__ = False  # not a pytest test


def predict(argv: Sequence[str]) -> None:
    """``lightning-diffeo predict``: predictions on the datamodule's predict set."""
    _run("predict", argv)
