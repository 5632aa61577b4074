"""Where a run keeps its files: one folder per run, its checkpoints in ``checkpoints/``.

::

    <run>/config.yaml                 the resolved fit config
    <run>/checkpoints/last.ckpt       the last finished epoch (rewritten every epoch)
    <run>/checkpoints/best-epoch<k>.ckpt
    <run>/checkpoints/interrupted.ckpt  mid-epoch state after SIGTERM or Ctrl-C
    <run>/metrics.csv, stability.json, ...

``lightning-diffeo fit`` runs live in ``<save_dir>/<name>/version_<k>/``; a sweep's runs in
``<study>/<run id>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "LAST_CHECKPOINT",
    "VERSION_PREFIX",
    "last_checkpoint_of",
    "last_checkpoints_under",
    "run_dir_of",
]

CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
VERSION_PREFIX = "version_"


def last_checkpoint_of(run_dir: str | os.PathLike) -> Path | None:
    """The run's ``checkpoints/last.ckpt``, or None when it has none yet."""
    path = Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT
    return path if path.is_file() else None


def last_checkpoints_under(root: str | os.PathLike) -> list[Path]:
    """Every ``version_<k>/checkpoints/last.ckpt`` under ``root``, oldest written first."""
    found = Path(root).glob(f"{VERSION_PREFIX}*/{CHECKPOINT_DIR}/{LAST_CHECKPOINT}")
    return sorted(found, key=lambda path: path.stat().st_mtime)


def run_dir_of(checkpoint: str | os.PathLike) -> Path:
    """The run folder of a checkpoint file: the parent of its ``checkpoints/`` folder (else its own folder)."""
    checkpoint = Path(checkpoint)
    return checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINT_DIR else checkpoint.parent
