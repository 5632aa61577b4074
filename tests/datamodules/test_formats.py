"""Each on-disk dataset read through its real format and trained with a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from .dm_helpers import fit_and_test, make_cifar10, make_mnist, make_svhn, make_tiny_imagenet

from lightning_diffeo.datamodules import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    SVHNDataModule,
    TinyImageNet32DataModule,
)

LOSSLESS = {
    "mnist": (MNISTDataModule, lambda root: make_mnist(root)),
    "mnist-raw": (MNISTDataModule, lambda root: make_mnist(root, compress=False)),
    "fashionmnist": (FashionMNISTDataModule, lambda root: make_mnist(root, folder="FashionMNIST")),
    "cifar10": (CIFAR10DataModule, make_cifar10),
    "svhn": (SVHNDataModule, make_svhn),
}


def _expected(arrays, split):
    images = torch.from_numpy(np.asarray(arrays[f"{split}_images"])).float() / 255
    if images.ndim == 3:
        images = images[:, None]
    return images, torch.from_numpy(np.asarray(arrays[f"{split}_labels"]).astype(np.int64))


@pytest.mark.parametrize("key", sorted(LOSSLESS))
def test_pixels_and_labels_round_trip(tmp_path, key):
    cls, writer = LOSSLESS[key]
    arrays = writer(tmp_path)
    dm = cls(data_dir=tmp_path, batch_size=7, val_size=10, normalize=False)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    images, labels = zip(*dm.test_dataloader())
    images, labels = torch.cat(images), torch.cat(labels)
    want_images, want_labels = _expected(arrays, "test")
    assert images.shape == (len(want_labels), dm.num_channels, dm.image_size, dm.image_size)
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    torch.testing.assert_close(images, want_images, rtol=0, atol=1e-7)
    assert torch.equal(labels, want_labels)
    # Training batches come from the official training split at the drawn indices.
    train_images, train_labels = _expected(arrays, "train")
    batch_images, batch_labels = zip(*dm.val_dataloader())
    torch.testing.assert_close(torch.cat(batch_images), train_images[dm.val_indices], rtol=0, atol=1e-7)
    assert torch.equal(torch.cat(batch_labels), train_labels[dm.val_indices])


@pytest.mark.parametrize("key", ["mnist", "fashionmnist", "cifar10", "svhn"])
def test_fit_and_test(tmp_path, key):
    cls, writer = LOSSLESS[key]
    arrays = writer(tmp_path)
    dm = cls(data_dir=tmp_path, batch_size=16, val_size=10, train_size=30)
    model = fit_and_test(dm)
    assert model.train_batches == 2  # ceil(30 / 16)
    assert model.test_seen == len(arrays["test_labels"])
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (16, dm.num_channels, dm.image_size, dm.image_size)
    assert set(labels.tolist()) <= set(range(dm.num_classes))


def test_normalisation_constants(tmp_path):
    make_cifar10(tmp_path)
    raw = CIFAR10DataModule(data_dir=tmp_path, val_size=10, normalize=False)
    normed = CIFAR10DataModule(data_dir=tmp_path, val_size=10)
    x = next(iter(raw.test_dataloader()))[0]
    y = next(iter(normed.test_dataloader()))[0]
    mean = torch.tensor([0.4914, 0.4822, 0.4465])[:, None, None]
    std = torch.tensor([0.2023, 0.1994, 0.2010])[:, None, None]
    torch.testing.assert_close(y, (x - mean) / std)
    assert normed.mean == (0.4914, 0.4822, 0.4465) and raw.mean is None and raw.std is None
    assert MNISTDataModule(data_dir=tmp_path).mean is None  # the authors did not normalise MNIST
    assert FashionMNISTDataModule(data_dir=tmp_path).std == (0.5,)


def test_evaluation_batches_are_the_per_batch_transform_bit_for_bit(tmp_path):
    """Validation and test images are normalised once, at loader creation: each batch equals
    normalising that batch of raw images alone, with each split's own constants."""
    from lightning_diffeo.datamodules.augment import normalize

    make_svhn(tmp_path)
    options = dict(data_dir=tmp_path, val_size=10, batch_size=4)
    normed = SVHNDataModule(**options, authors_test_constants=True)
    raw = SVHNDataModule(**options, normalize=False)
    for dm in (normed, raw):
        dm.setup("fit")
        dm.setup("test")
    for loader, constants in (("val_dataloader", (normed.mean, normed.std)),
                              ("test_dataloader", (normed.test_mean, normed.test_std))):
        pairs = list(zip(getattr(normed, loader)(), getattr(raw, loader)()))
        assert len(pairs) > 1
        for (x, y), (x_raw, y_raw) in pairs:
            assert torch.equal(y, y_raw) and x.dtype == torch.float32
            assert torch.equal(x, normalize(x_raw, *constants))
    assert normed.test_mean != normed.mean


def test_svhn_labels_and_test_constants(tmp_path):
    make_svhn(tmp_path)
    default = SVHNDataModule(data_dir=tmp_path, val_size=10)
    authors = SVHNDataModule(data_dir=tmp_path, val_size=10, authors_test_constants=True)
    default.setup("test")
    labels = torch.cat([batch[1] for batch in default.test_dataloader()])
    assert set(labels.tolist()) == set(range(10))  # 10 -> 0
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(default.normalize_images(x), (x - torch.tensor(default.mean)[:, None, None])
                               / torch.tensor(default.std)[:, None, None])
    torch.testing.assert_close(authors.normalize_images(x), (x - torch.tensor(authors.test_mean)[:, None, None])
                               / torch.tensor(authors.test_std)[:, None, None])
    authors.setup("fit")
    authors.setup("test")
    raw = SVHNDataModule(data_dir=tmp_path, val_size=10, normalize=False)
    raw.setup("test")
    torch.testing.assert_close(next(iter(authors.test_dataloader()))[0],
                               authors.normalize_images(next(iter(raw.test_dataloader()))[0]))


def test_tiny_imagenet(tmp_path):
    source = make_tiny_imagenet(tmp_path)
    dm = TinyImageNet32DataModule(data_dir=tmp_path, batch_size=4, val_size=3)
    assert (dm.num_channels, dm.num_classes, dm.image_size) == (3, 200, 32)
    model = fit_and_test(dm)
    assert model.test_seen == 6
    assert dm.cache_path.is_file() and dm.cache_path.parent == tmp_path and source.is_dir()
    with np.load(dm.cache_path) as cache:
        assert cache["train_images"].dtype == np.uint8
        assert cache["train_images"].shape == (12, 3, 32, 32)
        # Labels follow sorted wnids; wnids.txt lists them in reverse order.
        assert cache["train_labels"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
        assert cache["test_labels"].tolist() == [0, 1, 2, 0, 1, 2]
        grey = cache["test_images"][0]
    assert np.array_equal(grey[0], grey[1]) and np.array_equal(grey[1], grey[2])  # grey JPEG -> RGB
    images, labels = dm.probe_set(size=6)
    assert images.shape == (6, 3, 32, 32) and 0 <= images.min() and images.max() <= 1


def test_tiny_imagenet_resize_is_antialiased(tmp_path):
    source = make_tiny_imagenet(tmp_path, per_class=1, n_val=3)
    # A 1-pixel checkerboard averages to grey when antialiased; plain subsampling keeps 0 or 255.
    checker = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    path = next((source / "train" / "n01443537" / "images").glob("*"))
    Image.fromarray(np.stack([checker] * 3, -1)).save(path.with_suffix(".png"), format="PNG")
    path.unlink()
    dm = TinyImageNet32DataModule(data_dir=tmp_path, val_size=1, normalize=False)
    dm.prepare_data()
    with np.load(dm.cache_path) as cache:
        images, labels = cache["train_images"], cache["train_labels"]
    first = torch.from_numpy(images[labels == 0][0]).float()
    assert (first - 127.5).abs().max() < 3
