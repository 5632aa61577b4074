"""Resuming a run in its own folder, with its own saved config.

``lightning-diffeo fit --ckpt_path last`` (the most recently written unfinished run of the
config's logger folder) or ``--ckpt_path RUN/checkpoints/last.ckpt`` continue that run where it
stopped: same folder, same ``config.yaml``, so ``ModelCheckpoint`` keeps its best score, best
path and top-k, and "best" is the best over the whole run. A config given beside it must be
the run's own: any differing key is refused, since the schedule and the data depend on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .checkpoints import check_checkpoint, read_run_checkpoint
from .datanames import expand_data_names
from .layout import CHECKPOINT_DIR, CONFIG_FILE, LAST_CHECKPOINT, VERSION_PREFIX, run_dir_of

__all__ = [
    "INTERRUPTED_CHECKPOINT",
    "ResumeError",
    "RunToResume",
    "check_same_config",
    "config_differences",
    "find_run_to_resume",
    "resolve_fit_config",
    "saved_config_args",
]

INTERRUPTED_CHECKPOINT = "interrupted.ckpt"
_NOT_COMPARED = ("ckpt_path", "trainer.logger.init_args.version", "trainer.default_root_dir", "stability.dirpath")


class ResumeError(ValueError):
    """No run to resume, a finished run, or a config that is not the run's own."""


@dataclass(frozen=True)
class RunToResume:
    """A run folder, the checkpoint it continues from and its epoch (0-based), and the run's config file."""

    run_dir: Path
    checkpoint: Path
    epoch: int
    config_path: Path

    @property
    def config(self) -> dict[str, Any]:
        return yaml.safe_load(self.config_path.read_text(encoding="utf-8")) or {}


def _max_epochs(config: dict[str, Any]) -> int | None:
    value = (config.get("trainer") or {}).get("max_epochs")
    return int(value) if isinstance(value, int) and value >= 0 else None


def _candidate(run_dir: Path, checkpoint: Path | None = None) -> RunToResume | None:
    """The run continuing from ``checkpoint``, by default its newest one (``interrupted.ckpt`` when newer
    than ``last.ckpt``); None when the folder holds no config or no checkpoint."""
    folder = run_dir / CHECKPOINT_DIR
    found = [path for path in (folder / LAST_CHECKPOINT, folder / INTERRUPTED_CHECKPOINT) if path.is_file()]
    if (checkpoint is None and not found) or not (run_dir / CONFIG_FILE).is_file():
        return None
    checkpoint = checkpoint or max(found, key=lambda path: path.stat().st_mtime)
    state = read_run_checkpoint(checkpoint, mmap=True)  # the epoch only: the tensors are mapped, not read
    epoch = int(state.get("epoch", 0)) if isinstance(state, dict) else 0
    return RunToResume(run_dir, checkpoint, epoch, run_dir / CONFIG_FILE)


def is_finished(run: RunToResume) -> bool:
    """A ``last.ckpt`` at the config's last epoch: every epoch was trained."""
    max_epochs = _max_epochs(run.config)
    return run.checkpoint.name == LAST_CHECKPOINT and max_epochs is not None and run.epoch + 1 >= max_epochs


def _logger_root(config: dict[str, Any]) -> Path:
    logger = (config.get("trainer") or {}).get("logger")
    if isinstance(logger, dict) and isinstance(logger.get("init_args"), dict):
        init_args = logger["init_args"]
        return Path(init_args.get("save_dir") or ".") / (init_args.get("name") or "lightning_logs")
    return Path((config.get("trainer") or {}).get("default_root_dir") or ".") / "lightning_logs"


def find_run_to_resume(ckpt_path: str | os.PathLike, given: dict[str, Any] | None) -> RunToResume:
    """The run that ``--ckpt_path`` names: ``"last"`` (under ``given``'s logger folder) or a checkpoint of a run folder.

    Args:
        ckpt_path: ``"last"`` or a checkpoint file inside a run folder (``<run>/checkpoints/``).
        given: the resolved fit config given beside it (None: none given; ``"last"`` needs one).

    Raises:
        ResumeError: nothing to resume, a finished run, or a checkpoint outside a run folder.
        CheckpointError: a missing, unreadable, unsafe or foreign checkpoint.
    """
    if str(ckpt_path) == "last":
        if given is None:
            raise ResumeError("--ckpt_path last needs the run's config (--config ...) to find its folder; or give "
                              "the checkpoint file of the run to resume")
        root = _logger_root(given)
        runs = [run for run_dir in sorted(root.glob(f"{VERSION_PREFIX}*")) if (run := _candidate(run_dir))]
        unfinished = [run for run in runs if not is_finished(run)]
        if not unfinished:
            detail = f"every run under {root} finished" if runs else f"no run with a checkpoint under {root}"
            raise ResumeError(f"--ckpt_path last: {detail}; nothing to resume (start a new run without --ckpt_path)")
        return max(unfinished, key=lambda run: run.checkpoint.stat().st_mtime)
    path = Path(ckpt_path)
    check_checkpoint(path)  # missing, foreign, unsafe or not Lightning's: one line each
    run = _candidate(run_dir_of(path), path) if path.parent.name == CHECKPOINT_DIR else None
    if run is None:
        raise ResumeError(f"--ckpt_path {path}: not a checkpoint of a run folder (no {CONFIG_FILE} beside its "
                          f"{CHECKPOINT_DIR}/ folder); resuming continues a run of lightning-diffeo fit in its own folder")
    if is_finished(run):
        raise ResumeError(f"{run.run_dir} finished all {_max_epochs(run.config)} epochs (its {path.name} is epoch "
                          f"{run.epoch}): nothing to resume; start a new run without --ckpt_path")
    return run


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat.update(_flat(value, name) if isinstance(value, dict) and value else {name: value})
    return flat


def config_differences(run_config: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between a run's saved config and a config given to resume it."""
    ours, theirs = _flat(run_config), _flat(given)
    keys = sorted(set(ours) | set(theirs))
    return [key for key in keys if not key.startswith(_NOT_COMPARED) and ours.get(key) != theirs.get(key)]


def resolve_fit_config(args: list[str]) -> dict[str, Any]:
    """The whole fit config of command-line ``args`` (defaults filled in), parsed without building anything."""
    from .config import fit_parser

    parser = fit_parser()
    return yaml.safe_load(parser.dump(parser.parse_args(expand_data_names(args)), skip_validation=True))


def saved_config_args(run: RunToResume) -> list[str]:
    """``--config <the run's saved config>`` for the fit parser (its ``ckpt_path`` left out)."""
    saved = {key: value for key, value in run.config.items() if key != "ckpt_path"}
    return ["--config", yaml.safe_dump(saved)]


def check_same_config(run: RunToResume, given: dict[str, Any]) -> None:
    """Refuse a given config that differs from the run's own in any key (one line naming them)."""
    normalized = resolve_fit_config(saved_config_args(run))
    differing = config_differences(normalized, given)
    if differing:
        shown = ", ".join(f"{key} (run: {_flat(normalized).get(key)!r}, given: {_flat(given).get(key)!r})"
                          for key in differing[:4])
        more = f" and {len(differing) - 4} more" if len(differing) > 4 else ""
        raise ResumeError(f"the config given differs from {run.config_path} in {shown}{more}: a run resumes with "
                          f"its own config (give --ckpt_path alone, or start a new run)")
