"""Where the StabilityCallback writes: its folder, chosen once per fit, never another run's file."""

from __future__ import annotations

from pathlib import Path

from lightning import Trainer

from lightning_diffeo._atomic import make_unique_dir

__all__ = ["results_directory"]


def results_directory(trainer: Trainer, dirpath: Path | None, logger_dir: Path | None, filename: str) -> Path | None:
    """``dirpath``, else the logger's run folder, else a new ``<default_root_dir>/stability/version_<k>``.

    None under ``fast_dev_run`` (nothing is written).

    Raises:
        FileExistsError: the folder holds ``filename`` from another run (a resumed fit,
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
    if not trainer.ckpt_path and (directory / filename).exists():
        raise FileExistsError(
            f"StabilityCallback: {directory / filename} exists and holds another run's results; "
            "give another dirpath (or filename), or remove that file"
        )
    return directory
