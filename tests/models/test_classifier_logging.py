"""ImageClassifier's logged values: epoch averages equal a direct computation, per-step loss kept."""

from __future__ import annotations

import csv
import warnings

import pytest
import torch
import torch.nn.functional as F
from lightning import Trainer
from lightning.pytorch.loggers import CSVLogger

from lightning_diffeo.models import ImageClassifier

from .conftest import make_loader


def _fit_with_csv(tmp_path, module, loader, every):
    trainer = Trainer(
        accelerator="cpu", max_epochs=1, logger=CSVLogger(tmp_path, name="run"), log_every_n_steps=every,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*log_every_n_steps.*")
        trainer.fit(module, loader, loader)
    with open(trainer.logger.log_dir + "/metrics.csv", newline="") as stream:
        return trainer, list(csv.DictReader(stream))


@pytest.mark.parametrize("every, written", [(2, [1, 3]), (3, [2])])
def test_step_loss_is_written_every_log_every_n_steps(tmp_path, every, written):
    torch.manual_seed(0)
    _, rows = _fit_with_csv(tmp_path, ImageClassifier("lenet", image_size=16), make_loader(n=18, batch=4), every)
    assert [int(row["step"]) for row in rows if row.get("train/loss_step")] == written  # 5 steps: 0..4


def test_epoch_values_equal_a_direct_computation_and_every_step_is_logged(tmp_path):
    torch.manual_seed(0)
    module = ImageClassifier("lenet", image_size=16, recipe="sgd", lr=1e-30)  # float32 weights never move
    loader = make_loader(n=18, batch=4)  # batches of 4, 4, 4, 4, 2: the means are weighted by batch size
    trainer = Trainer(
        accelerator="cpu", max_epochs=1, logger=CSVLogger(tmp_path, name="run"), log_every_n_steps=1,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        trainer.fit(module, loader, loader)
    x, y = loader.dataset.tensors
    with torch.no_grad():
        module.train()
        logits = module(x)
    loss, acc = F.cross_entropy(logits, y), (logits.argmax(1) == y).double().mean()
    metrics = trainer.callback_metrics
    assert float(metrics["train/loss"]) == pytest.approx(float(loss), rel=1e-5)
    assert float(metrics["train/acc"]) == pytest.approx(float(acc), abs=1e-6)
    assert float(metrics["val/loss"]) == pytest.approx(float(loss), rel=1e-5)  # no dropout or batch-norm in LeNet
    with open(trainer.logger.log_dir + "/metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    steps = [row for row in rows if row.get("train/loss_step")]
    assert len(steps) == 5  # one per optimizer step
    epochs = [row for row in rows if row.get("train/loss")]
    assert len(epochs) == 1 and float(epochs[0]["train/loss"]) == pytest.approx(float(loss), rel=1e-5)
