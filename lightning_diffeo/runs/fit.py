"""One fit from a config: the single place where the package trains a network.

``lightning-diffeo fit`` and every run of a sweep call :func:`fit_and_test` on a
:class:`~lightning_diffeo.runs.config.DiffeoCLI` built with ``run=False``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_diffeo.callbacks import StabilityCallback
from lightning_diffeo.provenance import provenance

from .checkpoints import checkpoint_epoch, checkpoint_progress
from .config import CHECKPOINT_WORDS
from .training_log import carry_over_metrics

__all__ = ["FitOutcome", "fit_and_test"]


@dataclass
class FitOutcome:
    """What a fit left behind.

    Attributes:
        ckpt_path: the checkpoint it started from (None: from scratch).
        interrupted: training stopped on Ctrl-C or SIGTERM (Lightning returns from ``fit`` then).
        epochs: epochs completed (Lightning's ``current_epoch`` at the end).
        best_checkpoint: the best-validation checkpoint of the ModelCheckpoint, if any.
        best_epoch: its epoch (0-based, as Lightning counts).
        best_score: its monitored value.
        test_metrics: ``trainer.test`` at the best checkpoint (empty when not tested).
        provenance: versions, commit, device, precision and probe-set hash (``lightning_diffeo.provenance``).
        fit_s: seconds in ``trainer.fit``.
        test_s: seconds in ``trainer.test`` (0 when not tested).
    """

    ckpt_path: str | None = None
    interrupted: bool = False
    epochs: int = 0
    best_checkpoint: Path | None = None
    best_epoch: int | None = None
    best_score: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    fit_s: float = 0.0
    test_s: float = 0.0


def fit_and_test(cli: Any, ckpt_path: str | None = None, test: bool = False) -> FitOutcome:
    """Check before any work, fit ``cli``'s model on its datamodule, then optionally test at the best checkpoint.

    Args:
        cli: a :class:`~lightning_diffeo.runs.config.DiffeoCLI` built with ``run=False``.
        ckpt_path: resume from this checkpoint (``"last"``: the newest ``last.ckpt`` of earlier
            runs of the config's logger folder).
        test: after fitting, run ``trainer.test`` at the best-validation checkpoint (not when
            training was interrupted).

    Raises:
        ValueError: a checkpoint or a StabilityCallback setting that does not fit the model.
    """
    trainer, model, datamodule = cli.trainer, cli.model, cli.datamodule
    outcome = FitOutcome(ckpt_path=cli.check_before_work(ckpt_path))
    if outcome.ckpt_path is not None and outcome.ckpt_path not in CHECKPOINT_WORDS:
        # the run's metrics.csv up to the checkpoint, which Lightning's CSVLogger would delete
        carry_over_metrics(trainer.logger, checkpoint_progress(outcome.ckpt_path)[1] or 0)
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=outcome.ckpt_path)
    outcome.fit_s = time.perf_counter() - start
    outcome.interrupted = bool(getattr(trainer, "interrupted", False))
    stability = next((cb for cb in trainer.callbacks if isinstance(cb, StabilityCallback) and cb.provenance), None)
    outcome.provenance = stability.provenance if stability is not None else provenance(str(trainer.precision))
    outcome.epochs = int(trainer.current_epoch)
    checkpoint = trainer.checkpoint_callback
    best = getattr(checkpoint, "best_model_path", "") or ""
    if best:
        outcome.best_checkpoint = Path(best)
        outcome.best_epoch = checkpoint_epoch(best)
        score = checkpoint.best_model_score
        outcome.best_score = float(score) if score is not None else None
    if test and not outcome.interrupted:
        start = time.perf_counter()
        tested = trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        outcome.test_s = time.perf_counter() - start
        outcome.test_metrics = {key: float(value) for key, value in (tested[0] if tested else {}).items()}
    return outcome
