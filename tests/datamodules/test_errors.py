"""Missing, corrupt and truncated data; bad options."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
from .dm_helpers import make_cifar10, make_mnist, make_svhn, make_tiny_imagenet, write_idx

from lightning_diffeo.datamodules import (
    CIFAR10DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    SVHNDataModule,
    TinyImageNet32DataModule,
)

MISSING = [
    (MNISTDataModule, "MNIST/raw/train-images-idx3-ubyte", "ossci-datasets"),
    (FashionMNISTDataModule, "FashionMNIST/raw/train-images-idx3-ubyte", "fashion-mnist"),
    (CIFAR10DataModule, "cifar-10-batches-py/data_batch_1", "cifar-10-python.tar.gz"),
    (SVHNDataModule, "train_32x32.mat", "housenumbers"),
    (TinyImageNet32DataModule, "tiny-imagenet-200/wnids.txt", "tiny-imagenet-200.zip"),
]


@pytest.mark.parametrize(("cls", "path", "source"), MISSING)
def test_missing_data_names_path_and_remedy(tmp_path, cls, path, source, monkeypatch):
    data, system = tmp_path / "data", tmp_path / "system"
    data.mkdir()
    if hasattr(cls, "system_data_dirs"):  # never the real system folders here
        monkeypatch.setattr(cls, "system_data_dirs", (system,))
    dm = cls(data_dir=data)
    for call in (dm.prepare_data, lambda: dm.setup("fit"), dm.probe_set):
        with pytest.raises(ValueError, match="data not found") as info:
            call()
        message = str(info.value)
        assert "\n" not in message
        assert str(data / path) in message and "download=True" in message and source in message
        if hasattr(cls, "system_data_dirs"):
            assert f"Also looked in {str(system)!r}" in message
    assert list(data.iterdir()) == []  # nothing downloaded or created


def test_truncated_idx_gz(tmp_path):
    make_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ValueError, match=f"corrupt or truncated file '{path}'"):
        MNISTDataModule(data_dir=tmp_path).setup("fit")


def test_truncated_idx_raw(tmp_path):
    make_mnist(tmp_path, compress=False)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match=f"truncated or corrupt IDX file '{path}'.*expected"):
        MNISTDataModule(data_dir=tmp_path).probe_set()


def test_bad_idx_magic_and_label_mismatch(tmp_path):
    make_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    with gzip.open(raw / "train-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz' is not an IDX file"):
        MNISTDataModule(data_dir=tmp_path).setup("fit")
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(7, np.uint8))  # uncompressed file wins
    with pytest.raises(ValueError, match="expected 60 labels"):
        MNISTDataModule(data_dir=tmp_path).setup("fit")


def test_corrupt_cifar_pickle(tmp_path):
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=f"corrupt or truncated CIFAR10 batch '{path}'"):
        CIFAR10DataModule(data_dir=tmp_path).setup("fit")


def test_cifar_pickle_cannot_run_code(tmp_path):
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ValueError, match="refusing to load"):
        CIFAR10DataModule(data_dir=tmp_path).setup("test")
    assert not marker.exists()


def test_corrupt_svhn_mat(tmp_path):
    make_svhn(tmp_path)
    path = tmp_path / "test_32x32.mat"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=f"corrupt or truncated SVHN file '{path}'"):
        SVHNDataModule(data_dir=tmp_path).setup("test")


def test_corrupt_jpeg(tmp_path):
    source = make_tiny_imagenet(tmp_path)
    path = next((source / "val" / "images").glob("*.JPEG"))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match=f"corrupt or truncated image '{path}'"):
        TinyImageNet32DataModule(data_dir=tmp_path, val_size=2).prepare_data()
    assert not list(tmp_path.glob("*.npz")) and not list(tmp_path.glob(".*part"))


def test_bad_annotation(tmp_path):
    source = make_tiny_imagenet(tmp_path)
    (source / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="val_annotations.txt' line 1"):
        TinyImageNet32DataModule(data_dir=tmp_path, val_size=2).prepare_data()


def test_svhn_and_mnist_refuse_flips(tmp_path):
    for cls in (MNISTDataModule, SVHNDataModule):
        with pytest.raises(ValueError, match="horizontal_flip is not offered"):
            cls(data_dir=tmp_path, horizontal_flip=True)
    assert FashionMNISTDataModule(data_dir=tmp_path, horizontal_flip=True).horizontal_flip


def test_bad_options():
    with pytest.raises(ValueError, match=r"unknown diffeo option\(s\) \['sigma'\]; Diffeo accepts"):
        DigitsDataModule(diffeo={"sigma": 1.0})
    with pytest.raises(ValueError, match="unknown diffeo option.*generator"):
        DigitsDataModule(diffeo={"generator": None})
    with pytest.raises(ValueError, match="invalid diffeo options"):
        DigitsDataModule(diffeo={"interpolation": "cubic"})
    with pytest.raises(TypeError, match="diffeo must be a dict"):
        DigitsDataModule(diffeo=3)
    with pytest.raises(TypeError, match="^random_crop must be True or False, got 'yes'$"):
        DigitsDataModule(random_crop="yes")
    with pytest.raises(ValueError, match="^image_size must be a positive integer, got 0$"):
        DigitsDataModule(image_size=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        DigitsDataModule(colour=True)
    with pytest.raises(TypeError, match="^authors_test_constants must be True or False, got 1$"):
        SVHNDataModule(authors_test_constants=1)
