"""The ``lightning-diffeo`` command: a table of subcommands, each a module of this package.

Each entry names the module and function that parse and run it, imported only when chosen,
so ``lightning-diffeo --help`` answers without loading torch or Lightning.
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import NamedTuple

from .errors import check_config_files, fail

__all__ = ["SUBCOMMANDS", "Subcommand", "main"]


class Subcommand(NamedTuple):
    module: str
    function: str
    purpose: str


SUBCOMMANDS: dict[str, Subcommand] = {
    "fit": Subcommand("lightning_diffeo.cli.fit", "main",
                      "train a network from a config; R_f per layer at initialisation and at the best epoch"),
    "validate": Subcommand("lightning_diffeo.cli.evaluate", "validate", "run the validation loop on a config or checkpoint"),
    "test": Subcommand("lightning_diffeo.cli.evaluate", "test", "run the test loop on a config or checkpoint"),
    "predict": Subcommand("lightning_diffeo.cli.evaluate", "predict", "predict with a config or checkpoint"),
    "probe": Subcommand("lightning_diffeo.cli.probe", "main", "measure D_f, G_f, R_f per layer of a saved checkpoint or a pretrained model"),
    "sweep": Subcommand("lightning_diffeo.cli.sweep", "main",
                        "run a study (architectures x sizes x seeds) locally or on SLURM, or show where it stands"),
    "collect": Subcommand("lightning_diffeo.cli.collect", "main", "gather a study's finished runs into one table"),
    "report": Subcommand("lightning_diffeo.cli.report", "main",
                         "the paper's figures, Table 2 and report.md from a collected table"),
}


def usage() -> str:
    """The subcommands, one line each."""
    width = max(map(len, SUBCOMMANDS))
    lines = [
        "usage: lightning-diffeo SUBCOMMAND [options]  (lightning-diffeo SUBCOMMAND --help for its options)",
        "",
        "Train image classifiers and measure their relative stability to diffeomorphisms R_f = D_f / G_f per layer.",
        "",
        "subcommands:",
    ]
    lines += [f"  {name:<{width}}  {entry.purpose}" for name, entry in SUBCOMMANDS.items()]
    return "\n".join(lines)


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith("💡 Tip")


def _quiet_lightning() -> None:
    """Silence Lightning's advertising tips and the ``srun`` hint (a run outside SLURM is no mistake)."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in logger.filters):
        logger.addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system")
    # Lightning's own use of a torch API torch deprecated: nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``lightning-diffeo`` console script (``argv``: None for ``sys.argv[1:]``)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in ("-h", "--help"):
        print(usage())
        return
    if not words or words[0] not in SUBCOMMANDS:
        given = f"unknown subcommand {words[0]!r}" if words else "no subcommand given"
        fail(f"{given}; expected one of {', '.join(SUBCOMMANDS)} (lightning-diffeo --help says what each does)")
    check_config_files(words[1:])
    _quiet_lightning()
    entry = SUBCOMMANDS[words[0]]
    getattr(importlib.import_module(entry.module), entry.function)(words[1:])
