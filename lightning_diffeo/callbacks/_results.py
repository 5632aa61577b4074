"""Where the StabilityCallback writes: its folder, chosen once per fit, never another run's file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning import Trainer

from lightning_diffeo._atomic import make_unique_dir

__all__ = ["ResultsFolder", "results_directory"]


def results_directory(trainer: Trainer, dirpath: Path | None, logger_dir: Path | None,
                      filenames: Sequence[str]) -> Path | None:
    """``dirpath``, else the logger's run folder, else a new ``<default_root_dir>/stability/version_<k>``.

    None under ``fast_dev_run`` (nothing is written).

    Raises:
        FileExistsError: the folder holds one of ``filenames`` from another run (a resumed fit,
            ``trainer.ckpt_path`` set, continues its own).
    """
    if trainer.fast_dev_run:
        return None
    if dirpath is not None:
        directory = dirpath
    elif logger_dir is not None:
        directory = logger_dir
    else:
        directory = make_unique_dir(Path(trainer.default_root_dir) / "stability", "version_")
    taken = [name for name in filenames if (directory / name).exists()]
    if not trainer.ckpt_path and taken:
        raise FileExistsError(
            f"StabilityCallback: {directory / taken[0]} exists and holds another run's results; "
            "give another dirpath (or filename), or remove that file"
        )
    return directory


class ResultsFolder:
    """The callback's results folder for one fit: chosen on rank 0 at the first write.

    Args:
        dirpath: the folder, when given (see :func:`results_directory`).
        filenames: the files the callback may write there; another run's copy of any is refused.
    """

    def __init__(self, dirpath: Path | None, filenames: Sequence[str]) -> None:
        self.dirpath, self.filenames = dirpath, tuple(filenames)
        self.path: Path | None = None
        self._logger_dir: Path | None = None
        self._chosen = False

    def start(self, trainer: Trainer) -> None:
        """At the start of a fit, on every rank: forget the last fit's folder, note the logger's."""
        # trainer.log_dir is a collective under DDP: every rank asks, once, before anyone measures
        self._logger_dir = Path(trainer.log_dir) if trainer.loggers and trainer.log_dir else None
        self.path, self._chosen = None, False

    def choose(self, trainer: Trainer) -> Path | None:
        """The folder, chosen at the first call of the fit (None under ``fast_dev_run``)."""
        if not self._chosen:
            self._chosen = True
            self.path = results_directory(trainer, self.dirpath, self._logger_dir, self.filenames)
        return self.path
