"""MNIST and FashionMNIST from their raw IDX files (gzipped or not)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from lightning_diffeo.datamodules.base import ImageDataModule, Split
from lightning_diffeo.datamodules.download import Resource

__all__ = ["read_idx", "MNISTDataModule", "FashionMNISTDataModule"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (``.gz`` or not) into an array of its stored shape and type.

    Raises:
        ValueError: The file is not IDX, or is truncated or corrupt (names the file).
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"corrupt or truncated file {str(path)!r}: {error}; delete it and download again") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number); delete it and download again")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"truncated IDX file {str(path)!r}: header cut short")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"truncated or corrupt IDX file {str(path)!r}: {len(data)} bytes, expected {expected} for shape "
            f"{shape}; delete it and download again"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


class MNISTDataModule(ImageDataModule):
    """MNIST: 28x28 grey handwritten digits, 60000 training and 10000 test images, 10 classes.

    Reads ``<data_dir>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``
    (torchvision's layout). No normalisation (as the authors); no horizontal flip.
    """

    name: ClassVar[str] = "mnist"
    folder: ClassVar[str] = "MNIST"
    num_channels: ClassVar[int] = 1
    num_classes: ClassVar[int] = 10
    image_size: int = 28
    allows_horizontal_flip: ClassVar[bool] = False
    resources: ClassVar[tuple[Resource, ...]] = tuple(
        Resource(f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}", name, md5)
        for name, md5 in (
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        )
    )

    def _download_dir(self) -> Path:
        return self.data_dir / self.folder / "raw"

    def _find(self, stem: str) -> Path | None:
        for candidate in (self._download_dir() / stem, self._download_dir() / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def _missing_files(self) -> list[Path]:
        stems = [stem for pair in _FILES.values() for stem in pair]
        return [self._download_dir() / f"{stem}[.gz]" for stem in stems if self._find(stem) is None]

    def _load_split(self, split: Split) -> tuple[Tensor, Tensor]:
        image_path, label_path = (self._find(stem) for stem in _FILES[split])
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{str(image_path)!r}: expected uint8 images [N, 28, 28], got {images.dtype} {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"{str(label_path)!r}: expected {len(images)} labels to match {str(image_path)!r}, got shape {labels.shape}"
            )
        if labels.size and int(labels.max()) >= self.num_classes:
            raise ValueError(f"{str(label_path)!r}: labels must lie in 0..{self.num_classes - 1}, found {int(labels.max())}")
        return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


class FashionMNISTDataModule(MNISTDataModule):
    """FashionMNIST: 28x28 grey clothing images, 60000 training and 10000 test, 10 classes.

    Reads ``<data_dir>/FashionMNIST/raw/`` (same IDX files as MNIST). Normalised with
    mean 0.5, std 0.5 (the authors'); horizontal flips allowed.
    """

    name: ClassVar[str] = "fashionmnist"
    folder: ClassVar[str] = "FashionMNIST"
    default_mean: ClassVar[tuple[float, ...] | None] = (0.5,)
    default_std: ClassVar[tuple[float, ...] | None] = (0.5,)
    allows_horizontal_flip: ClassVar[bool] = True
    resources: ClassVar[tuple[Resource, ...]] = tuple(
        Resource(f"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{name}", name, md5)
        for name, md5 in (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        )
    )
