"""CIFAR10 from the official python pickles (``cifar-10-batches-py``)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from lightning_diffeo.datamodules.base import ImageDataModule, Split
from lightning_diffeo.datamodules.download import Resource

__all__ = ["read_cifar_batch", "CIFAR10DataModule"]

_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only what the CIFAR batches hold: dicts, lists, bytes and numpy arrays."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR batch")


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR10 batch file.

    Returns:
        ``(images [N, 3, 32, 32] uint8, labels [N] int64)``.

    Raises:
        ValueError: The file is corrupt, truncated or not a CIFAR10 batch (names the file).
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            entry = _SafeUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"corrupt or truncated CIFAR10 batch {str(path)!r}: {error}; delete it and download again") from error
    if not isinstance(entry, dict) or b"data" not in entry or b"labels" not in entry:
        raise ValueError(f"{str(path)!r} is not a CIFAR10 batch: expected a dict with b'data' and b'labels'")
    data = np.asarray(entry[b"data"])
    labels = np.asarray(entry[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(
            f"corrupt CIFAR10 batch {str(path)!r}: expected uint8 data [N, 3072] and N labels, "
            f"got data {data.dtype} {data.shape} and {len(labels)} labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"corrupt CIFAR10 batch {str(path)!r}: labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10DataModule(ImageDataModule):
    """CIFAR10: 32x32 RGB, 50000 training and 10000 test images, 10 classes.

    Reads ``<data_dir>/cifar-10-batches-py/{data_batch_1..5,test_batch}``. Normalised
    with the authors' constants; horizontal flips allowed.
    """

    name: ClassVar[str] = "cifar10"
    num_channels: ClassVar[int] = 3
    num_classes: ClassVar[int] = 10
    image_size: int = 32
    default_mean: ClassVar[tuple[float, ...] | None] = (0.4914, 0.4822, 0.4465)
    default_std: ClassVar[tuple[float, ...] | None] = (0.2023, 0.1994, 0.2010)
    resources: ClassVar[tuple[Resource, ...]] = (
        Resource("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "cifar-10-python.tar.gz",
                 "c58f30108f718f92721af3b95e74349a", extract=True),
    )

    def _folder(self) -> Path:
        return self.data_dir / "cifar-10-batches-py"

    def _missing_files(self) -> list[Path]:
        names = [name for names in _BATCHES.values() for name in names]
        return [self._folder() / name for name in names if not (self._folder() / name).is_file()]

    def _load_split(self, split: Split) -> tuple[Tensor, Tensor]:
        parts = [read_cifar_batch(self._folder() / name) for name in _BATCHES[split]]
        images = np.concatenate([images for images, _ in parts])
        labels = np.concatenate([labels for _, labels in parts])
        return torch.from_numpy(images), torch.from_numpy(labels)
