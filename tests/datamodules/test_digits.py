"""The offline Digits datamodule: splits, seeds, probe set, augmentation, training."""

from __future__ import annotations

import pytest
import torch
from .dm_helpers import fit_and_test

from lightning_diffeo.datamodules import DATAMODULES, DigitsDataModule, create_datamodule


def _all(loader):
    images, labels = zip(*loader)
    return torch.cat(images), torch.cat(labels)


def test_attributes_before_setup():
    dm = DigitsDataModule(image_size=20)
    assert (dm.num_channels, dm.num_classes, dm.image_size, dm.mean, dm.std) == (1, 10, 20, None, None)
    assert dm.train_indices is None


def test_splits_shapes_ranges():
    dm = DigitsDataModule(batch_size=500)
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.train_indices), len(dm.val_indices), dm.p_max) == (1197, 300, 1197)
    assert len(set(dm.train_indices.tolist()) | set(dm.val_indices.tolist())) == 1497
    images, labels = _all(dm.test_dataloader())
    assert images.shape == (300, 1, 28, 28) and images.dtype == torch.float32 and labels.dtype == torch.int64
    assert images.min() >= 0 and images.max() <= 1 and images.max() > 0.9
    assert set(labels.tolist()) == set(range(10))
    train_images, train_labels = _all(dm.train_dataloader())
    assert len(train_labels) == 1197 and set(train_labels.tolist()) == set(range(10))


def test_upsampling_preserves_the_8x8_image():
    small, large = DigitsDataModule(image_size=8), DigitsDataModule(image_size=32)
    x8, y8 = small.probe_set(size=50)
    x32, y32 = large.probe_set(size=50)
    assert torch.equal(y8, y32)
    # Bilinear upsampling (half-pixel centres) keeps each image's mean intensity, bar border effects.
    assert (x32.mean((1, 2, 3)) - x8.mean((1, 2, 3))).abs().max() < 0.02
    assert x32.shape == (50, 1, 32, 32) and x32.min() >= 0 and x32.max() <= 1
    assert set((x8 * 16).round().unique().tolist()) <= set(range(17))


def test_test_split_fixed_whatever_the_seed():
    a, b = DigitsDataModule(seed=1), DigitsDataModule(seed=2, val_size=100, train_size=50)
    for dm in (a, b):
        dm.setup("test")
    assert torch.equal(_all(a.test_dataloader())[0], _all(b.test_dataloader())[0])


def test_seed_determines_subset():
    def indices(seed, **kw):
        dm = DigitsDataModule(seed=seed, train_size=100, **kw)
        dm.setup("fit")
        return dm.train_indices, dm.val_indices

    (t1, v1), (t2, v2), (t3, v3) = indices(0), indices(0), indices(1)
    assert torch.equal(t1, t2) and torch.equal(v1, v2)
    assert not torch.equal(t1, t3) and not torch.equal(v1, v3)
    assert not set(t1.tolist()) & set(v1.tolist())
    # The validation split does not depend on P; training subsets are nested in P.
    dm = DigitsDataModule(seed=0, train_size=400)
    dm.setup("fit")
    assert torch.equal(dm.val_indices, v1)
    assert torch.equal(dm.train_indices[:100], t1)


def test_shuffling_reproducible_and_varies_by_epoch():
    def epochs(seed):
        dm = DigitsDataModule(seed=seed, batch_size=1197)
        dm.setup("fit")
        loader = dm.train_dataloader()
        return [next(iter(loader))[1] for _ in range(2)]

    first, second = epochs(0), epochs(0)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], first[1])
    assert torch.equal(first[0].sort().values, first[1].sort().values)


def test_augmentation_in_training_only():
    plain = DigitsDataModule(batch_size=1197, seed=3)
    aug = DigitsDataModule(batch_size=1197, seed=3, random_crop=True)
    for dm in (plain, aug):
        dm.setup("fit")
    assert torch.equal(_all(plain.val_dataloader())[0], _all(aug.val_dataloader())[0])
    x_plain, y_plain = next(iter(plain.train_dataloader()))
    x_aug, y_aug = next(iter(aug.train_dataloader()))
    assert torch.equal(y_plain, y_aug)  # same shuffling stream
    moved = (x_plain - x_aug).flatten(1).abs().amax(1) > 0
    # Offsets (dy, dx) uniform on 9 x 9; only (4, 4) leaves an image in place: P(moved) = 80/81.
    assert moved.float().mean() > 0.95
    assert x_aug.min() >= 0 and x_aug.max() <= 1


def test_probe_set_fixed_and_in_pixel_space():
    a = DigitsDataModule(seed=0, train_size=10, random_crop=True)
    b = DigitsDataModule(seed=5, val_size=50)
    xa, ya = a.probe_set(size=100)
    xb, yb = b.probe_set(size=100)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert xa.shape == (100, 1, 28, 28) and xa.dtype == torch.float32 and 0 <= xa.min() and xa.max() <= 1
    assert torch.equal(a.probe_set(size=40)[0], xa[:40])
    assert not torch.equal(a.probe_set(size=100, seed=1)[1], ya)
    assert len(a.probe_set()[1]) == 300  # the default 500 is capped at the test split
    with pytest.raises(ValueError, match="probe_set size=301 exceeds the 300 images"):
        a.probe_set(size=301)
    assert torch.equal(a.normalize_images(xa), xa)


def test_fit_and_test_digits():
    dm = DigitsDataModule(batch_size=64, image_size=12, train_size=256)
    model = fit_and_test(dm, max_epochs=2, limit_val_batches=2)
    assert model.train_batches == 8
    assert model.test_seen == 300


def test_horizontal_flip_refused():
    with pytest.raises(ValueError, match="horizontal_flip is not offered for DigitsDataModule"):
        DigitsDataModule(horizontal_flip=True)


def test_registry():
    assert set(DATAMODULES) == {"digits", "mnist", "fashionmnist", "svhn", "cifar10", "tinyimagenet32"}
    assert isinstance(create_datamodule("Digits", image_size=10), DigitsDataModule)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; expected one of"):
        create_datamodule("imagenet")
    with pytest.raises(ValueError, match="unknown option for DigitsDataModule"):
        create_datamodule("digits", colour=True)
