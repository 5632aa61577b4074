"""Batched augmentations, and the Diffeo switch."""

from __future__ import annotations

import torch
import pytest
from .dm_helpers import fit_and_test

from lightning_diffeo.datamodules import BatchTransform, DigitsDataModule, random_crop, random_horizontal_flip


def test_random_crop_is_a_per_image_crop_of_the_padded_image():
    images = torch.rand(64, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    out = random_crop(images, 4, torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    found = []
    for i in range(64):  # reference, one image at a time: which of the 81 crops is it?
        matches = [(dy, dx) for dy in range(9) for dx in range(9)
                   if torch.equal(out[i], padded[i, :, dy:dy + 10, dx:dx + 10])]
        assert len(matches) == 1
        found.append(matches[0])
    assert len(set(found)) > 20  # per-image offsets, not one shared shift
    again = random_crop(images, 4, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)


def test_random_crop_shift_distribution():
    images = torch.zeros(4000, 1, 9, 9)
    images[:, :, 4, 4] = 1.0
    out = random_crop(images, 4, torch.Generator().manual_seed(0))
    position = out.flatten(1).argmax(1)
    rows, cols = position // 9, position % 9
    assert out.flatten(1).sum(1).eq(1).all()  # a 4-pixel shift keeps the centre pixel in view
    # Each of the 9 shifts has probability 1/9: counts 444 +- 3 sigma (sigma = sqrt(4000 * 1/9 * 8/9) = 19.9).
    for coordinate in (rows, cols):
        counts = torch.bincount(coordinate, minlength=9).float()
        assert (counts - 4000 / 9).abs().max() < 60


def test_flip_is_per_image():
    images = torch.arange(2 * 8, dtype=torch.float32).reshape(2, 1, 1, 8).repeat(500, 1, 4, 1)
    out = random_horizontal_flip(images, 0.5, torch.Generator().manual_seed(0))
    flipped = (out == images.flip(-1)).flatten(1).all(1)
    kept = (out == images).flatten(1).all(1)
    assert (flipped ^ kept).all()
    assert abs(flipped.float().mean().item() - 0.5) < 0.07  # 3 sigma = 3 * sqrt(0.25 / 1000)


def test_transform_order_and_normalisation():
    transform = BatchTransform((0.5,), (0.25,))
    x = torch.tensor([0, 255], dtype=torch.uint8).reshape(2, 1, 1, 1)
    assert torch.equal(transform(x).flatten(), torch.tensor([-2.0, 2.0]))
    assert not transform.augments


def test_diffeo_augmentation_switch():
    options = {"cutoff": [3, 5], "delta": 1.0}  # a list, as YAML gives it
    dm = DigitsDataModule(batch_size=1197, seed=0, diffeo=options)
    plain = DigitsDataModule(batch_size=1197, seed=0)
    assert dm.diffeo == {"cutoff": (3, 5), "delta": 1.0}
    for d in (dm, plain):
        d.setup("fit")
    x_diffeo, y_diffeo = next(iter(dm.train_dataloader()))
    x_plain, y_plain = next(iter(plain.train_dataloader()))
    assert torch.equal(y_diffeo, y_plain)
    change = (x_diffeo - x_plain).flatten(1).abs().amax(1)
    assert (change > 1e-3).float().mean() > 0.95  # every image gets a field
    assert x_diffeo.min() >= 0 and x_diffeo.max() <= 1
    # Seeded: the same datamodule seed gives the same deformed batch.
    again = DigitsDataModule(batch_size=1197, seed=0, diffeo=options)
    again.setup("fit")
    assert torch.equal(next(iter(again.train_dataloader()))[0], x_diffeo)
    # Not applied at evaluation.
    assert torch.equal(next(iter(dm.val_dataloader()))[0], next(iter(plain.val_dataloader()))[0])


def test_diffeo_before_normalisation():
    """The deformation acts in [0, 1] pixel space; normalisation comes after, on the same draws."""
    options = {"cutoff": 3, "delta": 1.0}
    raw = DigitsDataModule(batch_size=64, diffeo=options, train_size=64)
    normed = DigitsDataModule(batch_size=64, diffeo=options, train_size=64)
    normed.mean, normed.std = (0.25,), (0.5,)
    x_raw, x_normed = (next(iter(dm.train_dataloader()))[0] for dm in (raw, normed))
    assert x_raw.min() >= 0 and x_raw.max() <= 1
    torch.testing.assert_close(x_normed, (x_raw - 0.25) / 0.5)


def test_workers_reproducible():
    def first_batch():
        dm = DigitsDataModule(batch_size=128, random_crop=True, num_workers=1, seed=2)
        dm.setup("fit")
        return next(iter(dm.train_dataloader()))[0]

    assert torch.equal(first_batch(), first_batch())


@pytest.mark.parametrize("options", [{"random_crop": True}, {"diffeo": {"cutoff": 3, "delta": 0.5}}])
def test_fit_with_augmentation(options):
    dm = DigitsDataModule(batch_size=128, image_size=16, train_size=256, **options)
    model = fit_and_test(dm, limit_val_batches=1, limit_test_batches=1)
    assert model.train_batches == 2
