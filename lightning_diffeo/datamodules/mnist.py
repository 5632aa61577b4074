"""MNIST and FashionMNIST from their raw IDX files (gzipped or not).

The files are searched in ``<data_dir>/<folder>/raw`` first, then in the system dataset
folders (Debian's ``dataset-fashion-mnist`` package installs FashionMNIST in
``/usr/share/datasets/fashion-mnist``). The first folder holding all four files is read.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
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
    (torchvision's layout), else the same file names in a folder of
    ``system_data_dirs`` (``/usr/share/datasets/mnist``). No normalisation (as the
    authors); no horizontal flip.
    """

    name: ClassVar[str] = "mnist"
    folder: ClassVar[str] = "MNIST"
    system_data_dirs: ClassVar[tuple[Path, ...]] = (Path("/usr/share/datasets/mnist"),)
    """Folders searched, in order, after ``<data_dir>/<folder>/raw``."""
    system_package: ClassVar[str | None] = None
    """Debian package that installs the files in ``system_data_dirs``, if any."""
    _source: Path | None = None
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

    def search_dirs(self) -> list[Path]:
        """Folders searched for the IDX files, in order: ``<data_dir>/<folder>/raw``, then the system ones."""
        return [self._download_dir(), *(Path(folder) for folder in self.system_data_dirs)]

    @staticmethod
    def _find(folder: Path, stem: str) -> Path | None:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
        return None

    @staticmethod
    def _missing_in(folder: Path) -> list[Path]:
        stems = [stem for pair in _FILES.values() for stem in pair]
        return [folder / f"{stem}[.gz]" for stem in stems if MNISTDataModule._find(folder, stem) is None]

    def source_dir(self) -> Path | None:
        """The first folder of ``search_dirs()`` holding all four files, or None."""
        return next((folder for folder in self.search_dirs() if not self._missing_in(folder)), None)

    def _missing_files(self) -> list[Path]:
        return [] if self.source_dir() is not None else self._missing_in(self._download_dir())

    def _also_looked(self) -> str:
        others = ", ".join(repr(str(folder)) for folder in self.system_data_dirs)
        if not others:
            return ""
        install = f" (install it with `sudo apt-get install {self.system_package}`)" if self.system_package else ""
        return f" Also looked in {others}{install}."

    def _load_split(self, split: Split) -> tuple[Tensor, Tensor]:
        source = self.source_dir()
        if source is None:
            self._check_present()
        if source != self._source:
            rank_zero_info(f"{type(self).__name__}: reading the IDX files in {str(source)!r}")
            self._source = source
        image_path, label_path = (self._find(source, stem) for stem in _FILES[split])
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

    Reads ``<data_dir>/FashionMNIST/raw/`` (same IDX files as MNIST), else Debian's
    ``/usr/share/datasets/fashion-mnist`` (``sudo apt-get install dataset-fashion-mnist``).
    Debian's ``.gz`` files are recompressed, so their checksums differ from the upstream
    downloads'; files already on disk are never checked against the download checksums,
    only their decompressed size and IDX header (``read_idx``). Normalised with mean 0.5,
    std 0.5 (the authors'); horizontal flips allowed.
    """

    name: ClassVar[str] = "fashionmnist"
    folder: ClassVar[str] = "FashionMNIST"
    system_data_dirs: ClassVar[tuple[Path, ...]] = (Path("/usr/share/datasets/fashion-mnist"),)
    system_package: ClassVar[str | None] = "dataset-fashion-mnist"
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
