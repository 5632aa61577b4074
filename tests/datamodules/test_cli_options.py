"""The datamodules' options as a LightningCLI sees them (``--data.*``)."""

from __future__ import annotations

import pytest
from .dm_helpers import TinyClassifier
from lightning.pytorch.cli import LightningCLI

from lightning_diffeo.datamodules import DigitsDataModule, ImageDataModule, SVHNDataModule

MODEL = ["--model.in_features", "4", "--model.num_classes", "10", "--trainer.logger", "false",
         "--trainer.max_epochs", "3", "--seed_everything", "false"]


def test_cli_sets_constant_steps_and_sizes(monkeypatch):
    monkeypatch.setattr("sys.argv", ["lightning-diffeo"])
    cli = LightningCLI(TinyClassifier, DigitsDataModule, run=False, args=MODEL + [
        "--data.constant_steps", "true", "--data.train_size", "100", "--data.image_size", "12",
        "--data.diffeo", '{"cutoff": [3, 5], "delta": 1.0}'])
    dm = cli.datamodule
    assert (dm.constant_steps, dm.train_size, dm.image_size) == (True, 100, 12)
    assert dm.diffeo == {"cutoff": (3, 5), "delta": 1.0}
    dm.trainer = cli.trainer
    assert dm.epoch_repeats() == pytest.approx(11.97)


def test_cli_subclass_mode_and_subclass_options(monkeypatch):
    monkeypatch.setattr("sys.argv", ["lightning-diffeo"])
    cli = LightningCLI(TinyClassifier, ImageDataModule, subclass_mode_data=True, run=False, args=MODEL + [
        "--data", "lightning_diffeo.datamodules.SVHNDataModule", "--data.authors_test_constants", "true",
        "--data.val_size", "7"])
    assert isinstance(cli.datamodule, SVHNDataModule)
    assert cli.datamodule.authors_test_constants and cli.datamodule.val_size == 7
    assert cli.datamodule.hparams["authors_test_constants"] is True
