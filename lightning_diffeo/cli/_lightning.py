"""What the LightningCLI-based subcommands (fit, validate, test, predict) share: the parser class and their guard."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from lightning.pytorch.cli import LightningArgumentParser

from lightning_diffeo.runs.layout import CONFIG_FILE

from .errors import CLIError, OneLineErrors, fail

__all__ = ["DESCRIPTION", "DiffeoParser", "run_guarded"]

DESCRIPTION = (
    "Train image classifiers and measure their relative stability to diffeomorphisms R_f = D_f / G_f per layer "
    "(lightning-diffeo --help lists every subcommand)."
)
_RUN_FILES = frozenset({CONFIG_FILE, "hparams.yaml"})


class DiffeoParser(OneLineErrors, LightningArgumentParser):
    """The LightningCLI parser with one-line errors."""


def _remove_unused(created: list[Path]) -> None:
    """A failed start leaves nothing behind: the folders it made, innermost first, while they hold no more than the saved config."""
    for folder in reversed(created):
        if not folder.is_dir():
            continue
        entries = list(folder.iterdir())
        if all(entry.is_file() and entry.name in _RUN_FILES for entry in entries):
            for entry in entries:
                entry.unlink()
            folder.rmdir()


def run_guarded(work: Callable[[list[Path]], None]) -> None:
    """Run ``work(run_dirs)``: bad input becomes one line and exit 2; a failed start leaves no empty run folder."""
    run_dirs: list[Path] = []
    try:
        work(run_dirs)
    except (TypeError, ValueError, FileNotFoundError, FileExistsError) as error:
        _remove_unused(run_dirs)
        fail(error)
    except RuntimeError as error:
        found = re.search(r"SaveConfigCallback expected (.+?) to NOT exist", str(error))
        if found is None:
            _remove_unused(run_dirs)
            raise
        fail(CLIError(f"{found.group(1)} exists: that run folder holds another run; leave "
                      "--trainer.logger.init_args.version unset to get a new folder"))
    except BaseException:
        _remove_unused(run_dirs)
        raise
