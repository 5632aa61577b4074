"""Split sizes, size errors and constant optimizer steps."""

from __future__ import annotations

import math

import pytest
import torch
from .dm_helpers import TinyClassifier, fit_and_test

import lightning as L
from lightning_diffeo.datamodules import DigitsDataModule, epoch_repeats, split_indices
from lightning_diffeo.datamodules.splits import random_batches, sequential_batches


def test_split_indices_sizes_and_disjointness():
    train, val = split_indices(1000, 300, 100, seed=4)
    assert len(train) == 300 and len(val) == 100
    assert len(set(train.tolist()) | set(val.tolist())) == 400
    assert train.dtype == torch.int64 and 0 <= int(train.min()) and int(train.max()) < 1000
    full, val_again = split_indices(1000, None, 100, seed=4)
    assert len(full) == 900 and torch.equal(val, val_again)
    assert set(full.tolist()) == set(range(1000)) - set(val.tolist())


@pytest.mark.parametrize(
    ("train_size", "val_size", "message"),
    [
        (0, 10, "train_size must be an integer >= 1, got 0"),
        (10, -1, "val_size must be an integer >= 1, got -1"),
        (91, 10, "train_size=91 is larger than the 90 images available"),
        (5, 100, "val_size=100 leaves no training images"),
    ],
)
def test_split_errors(train_size, val_size, message):
    with pytest.raises(ValueError, match=message):
        split_indices(100, train_size, val_size, seed=0)


def test_datamodule_size_errors():
    with pytest.raises(ValueError, match="^train_size must be a positive integer, got 0$"):
        DigitsDataModule(train_size=0)
    with pytest.raises(ValueError, match="^val_size must be a positive integer, got -3$"):
        DigitsDataModule(val_size=-3)
    with pytest.raises(TypeError, match="^batch_size must be a positive integer, got 1.5$"):
        DigitsDataModule(batch_size=1.5)
    with pytest.raises(ValueError, match="^num_workers must be an integer >= 0, got -1$"):
        DigitsDataModule(num_workers=-1)
    dm = DigitsDataModule(train_size=1198)
    with pytest.raises(ValueError, match=r"train_size=1198 is larger than the 1197 images available.*"
                                         r"train_size \+ val_size must be at most 1497"):
        dm.setup("fit")


def test_epoch_repeats_rule():
    assert epoch_repeats(512, 45000, 250) == 20.0  # capped: 250 * 20 = 5000 epochs
    assert epoch_repeats(10000, 45000, 250) == 4.5
    assert epoch_repeats(45000, 45000, 250) == 1.0
    assert epoch_repeats(512, 45000, None) == 45000 / 512
    assert epoch_repeats(512, 45000, -1) == 45000 / 512
    assert epoch_repeats(512, 45000, 10000) == 1.0  # never below one pass


def test_batch_sampler_repeats_permutations():
    sampler = random_batches(10, 4, num_samples=25, generator=torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 7 and [len(b) for b in batches][-1] == 1
    flat = torch.tensor(sum(batches, []))
    counts = torch.bincount(flat, minlength=10)
    assert sorted(counts.tolist()) == [2] * 5 + [3] * 5  # 2 full passes + half a pass
    assert torch.equal(flat[:10].sort().values, torch.arange(10))  # each pass a permutation
    assert torch.equal(flat[10:20].sort().values, torch.arange(10))
    assert len(set(flat[20:].tolist())) == 5


def test_batch_sampler_seeded_and_continues_across_epochs():
    def draws(seed):
        sampler = random_batches(10, 4, generator=torch.Generator().manual_seed(seed))
        return [sum(list(sampler), []) for _ in range(2)]  # two epochs

    first, again, other = draws(0), draws(0), draws(1)
    assert first == again and first != other
    assert first[0] != first[1]  # a new order each epoch
    assert all(sorted(epoch) == list(range(10)) for epoch in first)


def test_sequential_batches():
    assert list(sequential_batches(7, 3)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_constant_steps_matches_full_run():
    full = DigitsDataModule(batch_size=256, image_size=8)
    small = DigitsDataModule(batch_size=256, image_size=8, train_size=100, constant_steps=True)
    off = DigitsDataModule(batch_size=256, image_size=8, train_size=100)
    assert small.epoch_repeats(max_epochs=3) == pytest.approx(1197 / 100)
    assert small.train_samples_per_epoch(max_epochs=3) == 1197
    assert small.epoch_repeats(max_epochs=1000) == 5.0  # 5000 / 1000
    assert off.epoch_repeats(max_epochs=3) == 1.0
    # Without a trainer the paper's 250 epochs are assumed: cap 5000 / 250 = 20 > 11.97.
    assert len(small.train_dataloader()) == len(full.train_dataloader()) == math.ceil(1197 / 256)
    # Through a Trainer: max_epochs is read from it.
    models = {name: fit_and_test(dm, max_epochs=2, limit_val_batches=1)
              for name, dm in {"full": full, "small": small, "off": off}.items()}
    assert models["small"].train_batches == models["full"].train_batches == 2 * math.ceil(1197 / 256)
    assert models["off"].train_batches == 2


def test_constant_steps_cap_reads_trainer():
    dm = DigitsDataModule(batch_size=50, train_size=100, constant_steps=True)
    trainer = L.Trainer(max_epochs=2500, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_train_batches=1, limit_val_batches=0, max_steps=1)
    trainer.fit(TinyClassifier(28 * 28, 10), datamodule=dm)
    assert dm.epoch_repeats() == 2.0  # min(11.97, 5000 / 2500)
    assert len(dm.train_dataloader()) == 4
