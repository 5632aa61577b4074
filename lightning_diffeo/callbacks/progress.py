"""Checkpoint and progress callbacks that ``lightning-diffeo fit`` adds to every run."""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path
from typing import Any

import torch

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

__all__ = ["EpochLine", "EpochSeeds", "InterruptCheckpoint", "last_checkpoint"]


def last_checkpoint() -> ModelCheckpoint:
    """A ``ModelCheckpoint`` that rewrites ``last.ckpt`` at the end of every training epoch.

    ``save_last=True`` on a monitoring ModelCheckpoint only refreshes ``last.ckpt`` when the
    monitored metric improves; this one keeps the latest epoch whatever the metric did, in the
    run's ``checkpoints/`` folder, so ``--ckpt_path last`` resumes from the last finished epoch.
    """
    return ModelCheckpoint(filename="last", monitor=None, save_top_k=1, every_n_epochs=1,
                           enable_version_counter=False)


def _sampler_generators(loader: Any) -> list[torch.Generator]:
    """The ``torch.Generator`` of a DataLoader's (batch) sampler, however the samplers are nested."""
    found, stack, seen = [], [loader], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        generator = getattr(node, "generator", None)
        if isinstance(generator, torch.Generator) and node is not loader:
            found.append(generator)
        stack.extend(getattr(node, name, None) for name in ("sampler", "batch_sampler"))
    return found


class EpochSeeds(Callback):
    """Reseed the training sampler's generator from (its seed, epoch) before every epoch.

    A seeded sampler otherwise continues one random stream across epochs, which a run
    resumed from ``last.ckpt`` restarts: its epoch k would be shuffled like epoch 0. With
    the order a function of (seed, epoch), the resumed run sees the batches of the
    uninterrupted one and ends with the same weights. Samplers without a generator (the
    global RNG) are left alone. A training dataset with a ``set_epoch(epoch)`` method (the
    package's datamodules) is told the epoch too, so its random augmentation is drawn per
    epoch as well.
    """

    def __init__(self) -> None:
        self._seeds: dict[int, int] = {}

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        dataset = getattr(trainer.train_dataloader, "dataset", None)
        if callable(getattr(dataset, "set_epoch", None)):  # the package's datasets: augmentation per epoch
            dataset.set_epoch(trainer.current_epoch)
        for generator in _sampler_generators(trainer.train_dataloader):
            base = self._seeds.setdefault(id(generator), generator.initial_seed())
            digest = hashlib.sha256(f"{base}:epoch{trainer.current_epoch}".encode()).digest()
            generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)


class InterruptCheckpoint(Checkpoint):
    """Save ``interrupted.ckpt`` beside the run's checkpoints when fit stops on SIGTERM, Ctrl-C or an error.

    Lightning turns SIGTERM (e.g. a cluster's preemption) into an exception at the next batch
    and Ctrl-C into ``KeyboardInterrupt``; both reach ``on_exception``. The file holds the
    mid-epoch state (resume from it with ``--ckpt_path .../interrupted.ckpt``); ``last.ckpt``
    keeps the last finished epoch. A fit that ends normally removes the file. SIGKILL cannot
    be caught: then ``last.ckpt`` is what remains.

    Lightning's ``OnExceptionCheckpoint`` needs its folder before the run folder exists, and
    its presence makes every later ``fit(ckpt_path=None)`` resume from "last" implicitly; this
    one resolves the folder from the run's ``ModelCheckpoint`` and changes nothing else.
    """

    def __init__(self, filename: str = "interrupted") -> None:
        self.filename = filename
        self.path: Path | None = None

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
        if dirpath is None or trainer.fast_dev_run or trainer.sanity_checking or trainer.global_step == 0:
            return  # nothing trained yet, or no run folder: nothing worth saving
        self.path = Path(dirpath) / f"{self.filename}.ckpt"
        trainer.save_checkpoint(self.path)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
        if stage == "fit" and dirpath is not None:
            trainer.strategy.remove_checkpoint(Path(dirpath) / f"{self.filename}.ckpt")


class EpochLine(Callback):
    """One plain line per epoch on stdout, for redirected logs.

    ``epoch 3  train/loss=0.41  val/acc=0.87  (4 of 20 epochs done)``: the epoch's index is
    Lightning's (0-based, as in checkpoint names and ``probe``), the count in brackets says so.
    Lightning calls the LightningModule's ``on_train_epoch_end`` (where the epoch's training
    loss and accuracy are logged) after the callbacks' hook, so the line of epoch k is printed
    when epoch k + 1 starts, or when training ends.
    """

    def __init__(self) -> None:
        self._ended: int | None = None

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._ended = trainer.current_epoch + 1

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._print(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._print(trainer)

    @rank_zero_only
    def _print(self, trainer: Trainer) -> None:
        if self._ended is None:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if "/" in k and not k.startswith("stability/")}
        shown = "  ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if math.isfinite(v))
        total = f" of {trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        done = f"({self._ended}{total} epochs done)"
        print("  ".join(part for part in (f"epoch {self._ended - 1}", shown, done) if part), file=sys.stdout, flush=True)
        self._ended = None
