"""Callbacks the CLI adds to every fit: per-epoch seeds (exact resume), last.ckpt every epoch, the epoch line."""

from __future__ import annotations

import pytest
import torch
from lightning import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from lightning_diffeo.callbacks import EpochLine, EpochSeeds, last_checkpoint


class Gather:
    """A dataset indexed by whole batches, as the package's datamodules are."""

    def __init__(self) -> None:
        self.x = torch.arange(24, dtype=torch.float32)[:, None]

    def __getitem__(self, indices):
        return self.x[indices], torch.zeros(len(indices), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.x)


class Recorder(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 2)
        self.seen: dict[int, list[float]] = {}

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.setdefault(self.current_epoch, []).extend(x[:, 0].tolist())
        return nn.functional.cross_entropy(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _loader() -> DataLoader:
    sampler = BatchSampler(RandomSampler(range(24), generator=torch.Generator().manual_seed(7)), 6, False)
    return DataLoader(Gather(), batch_size=None, sampler=sampler)


def _trainer(root, callbacks, epochs):
    return Trainer(max_epochs=epochs, accelerator="cpu", default_root_dir=root, callbacks=callbacks, logger=False,
                   enable_progress_bar=False, enable_model_summary=False)


@pytest.mark.parametrize("reseed", [True, False])
def test_a_resumed_fit_sees_the_batches_of_an_uninterrupted_one_only_with_epoch_seeds(tmp_path, reseed):
    seed_everything(0)
    extra = [EpochSeeds()] if reseed else []
    straight = Recorder()
    _trainer(tmp_path / "a", [*extra, ModelCheckpoint(dirpath=tmp_path / "a", every_n_epochs=1, save_top_k=-1)],
             3).fit(straight, _loader())
    resumed = Recorder()
    _trainer(tmp_path / "b", [*([EpochSeeds()] if reseed else [])], 3).fit(
        resumed, _loader(), ckpt_path=tmp_path / "a" / "epoch=1-step=8.ckpt")
    assert sorted(resumed.seen) == [2]
    assert sorted(straight.seen[2]) == sorted(range(24))  # a whole permutation either way
    assert (resumed.seen[2] == straight.seen[2]) is reseed


def test_last_checkpoint_is_rewritten_after_every_epoch(tmp_path):
    epochs = []

    class Watch(Callback):
        def on_train_epoch_start(self, trainer, pl_module):  # checkpoints are saved after other callbacks
            if trainer.current_epoch > 0:
                epochs.append(torch.load(tmp_path / "last.ckpt", weights_only=True)["epoch"])

    checkpoint = last_checkpoint()
    checkpoint.dirpath = str(tmp_path)
    _trainer(tmp_path, [Watch(), checkpoint], 3).fit(Recorder(), _loader())
    epochs.append(torch.load(tmp_path / "last.ckpt", weights_only=True)["epoch"])
    assert epochs == [0, 1, 2] and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_epoch_line_is_one_plain_line_per_epoch(tmp_path, capsys):
    _trainer(tmp_path, [EpochLine()], 2).fit(Recorder(), _loader())
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert lines == ["epoch 0  (1 of 2 epochs done)", "epoch 1  (2 of 2 epochs done)"]


def test_epoch_line_shows_what_the_module_logged_at_that_epochs_end(tmp_path, capsys):
    class EpochEndLogger(Recorder):
        def on_train_epoch_end(self):  # called by Lightning after the callbacks' on_train_epoch_end
            self.log("train/mark", float(self.current_epoch + 1))

    _trainer(tmp_path, [EpochLine()], 2).fit(EpochEndLogger(), _loader())
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert lines == ["epoch 0  train/mark=1  (1 of 2 epochs done)", "epoch 1  train/mark=2  (2 of 2 epochs done)"]
