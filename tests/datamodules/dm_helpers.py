"""Writers of tiny datasets in the real on-disk formats, and a tiny LightningModule."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import lightning as L
import numpy as np
import scipy.io
import torch
from PIL import Image
from torch import nn


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


def make_mnist(root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20,
               compress: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    raw = root / folder / "raw"
    write_idx(raw / "train-images-idx3-ubyte", arrays["train_images"], compress)
    write_idx(raw / "train-labels-idx1-ubyte", arrays["train_labels"], compress)
    write_idx(raw / "t10k-images-idx3-ubyte", arrays["test_images"], compress)
    write_idx(raw / "t10k-labels-idx1-ubyte", arrays["test_labels"], compress)
    return arrays


def make_cifar10(root: Path, per_batch: int = 12, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        with open(folder / f"data_batch_{i}", "wb") as handle:
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": []}, handle)
        train_images.append(data)
        train_labels += labels
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    test_labels = [i % 10 for i in range(n_test)]
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({b"batch_label": b"t", b"labels": test_labels, b"data": test, b"filenames": []}, handle)
    return {
        "train_images": np.concatenate(train_images).reshape(-1, 3, 32, 32),
        "train_labels": np.array(train_labels),
        "test_images": test.reshape(-1, 3, 32, 32),
        "test_labels": np.array(test_labels),
    }


def make_svhn(root: Path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = np.arange(n) % 10 + 1  # 1..10, 10 means digit 0
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": images.transpose(2, 3, 1, 0), "y": labels[:, None]})
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels % 10
    return arrays


TINY_WNIDS = ("n01443537", "n01629819", "n01641577")


def make_tiny_imagenet(root: Path, per_class: int = 4, n_val: int = 6, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    source = root / "tiny-imagenet-200"
    (source / "val" / "images").mkdir(parents=True, exist_ok=True)
    (source / "wnids.txt").write_text("\n".join(reversed(TINY_WNIDS)) + "\n")
    for wnid in TINY_WNIDS:
        folder = source / "train" / wnid / "images"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{wnid}_{i}.JPEG", quality=95)
    lines = []
    for i in range(n_val):
        name = f"val_{i}.JPEG"
        Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(source / "val" / "images" / name)  # grey
        lines.append(f"{name}\t{TINY_WNIDS[i % 3]}\t0\t0\t63\t63")
    (source / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return source


class TinyClassifier(L.LightningModule):
    """A linear classifier on flattened images, recording what it saw."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))
        self.train_batches = 0
        self.test_seen = 0

    def training_step(self, batch, batch_idx):
        images, labels = batch
        assert images.dtype == torch.float32 and labels.dtype == torch.int64
        self.train_batches += 1
        loss = nn.functional.cross_entropy(self.net(images), labels)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        self.log("val_loss", nn.functional.cross_entropy(self.net(images), labels))

    def test_step(self, batch, batch_idx):
        images, labels = batch
        self.test_seen += len(labels)
        self.log("test_acc", (self.net(images).argmax(1) == labels).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit_and_test(dm, max_epochs: int = 1, **trainer_kwargs) -> TinyClassifier:
    torch.manual_seed(0)
    model = TinyClassifier(dm.num_channels * dm.image_size**2, dm.num_classes)
    trainer = L.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, **trainer_kwargs)
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    return model
