"""Tiny ImageNet resized to 32x32, cached once as a uint8 ``.npz`` beside the source folder."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from tqdm.auto import tqdm

from lightning_diffeo._atomic import atomic_write
from lightning_diffeo.datamodules.base import ImageDataModule, Split
from lightning_diffeo.datamodules.download import Resource

__all__ = ["TinyImageNet32DataModule", "source_fingerprint", "build_tiny_imagenet_cache"]

_CACHE_VERSION = "1"
_SOURCE = "tiny-imagenet-200"


def _source_files(root: Path) -> list[Path]:
    files = [root / "wnids.txt", root / "val" / "val_annotations.txt"]
    files += sorted((root / "train").glob("*/images/*"))
    files += sorted((root / "val" / "images").glob("*"))
    return files


def source_fingerprint(root: str | Path, size: int = 32) -> str:
    """SHA-256 of the source's file list with sizes and modification times (and the cache format).

    Any file added, removed, rewritten or touched changes it.
    """
    root = Path(root)
    digest = hashlib.sha256(f"v{_CACHE_VERSION} size={size}\n".encode())
    for path in _source_files(root):
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {str(path)!r}: {error}") from error


def _index(root: Path) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    wnids = sorted(_read_lines(root / "wnids.txt"))
    label = {wnid: i for i, wnid in enumerate(wnids)}
    train = [(path, label[wnid]) for wnid in wnids for path in sorted((root / "train" / wnid / "images").glob("*"))]
    test = []
    annotations = root / "val" / "val_annotations.txt"
    for number, line in enumerate(_read_lines(annotations), 1):
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in label:
            raise ValueError(f"{str(annotations)!r} line {number}: expected '<file>\\t<wnid from wnids.txt>...', got {line!r}")
        test.append((root / "val" / "images" / fields[0], label[fields[1]]))
    return wnids, train, sorted(test)


def _decode(items: list[tuple[Path, int]], size: int, desc: str) -> tuple[np.ndarray, np.ndarray]:
    images = np.empty((len(items), size, size, 3), dtype=np.uint8)
    # One-off cache build: PIL decodes one JPEG at a time, the training loop never sees this.
    for i, (path, _) in enumerate(tqdm(items, desc=desc, unit="img")):
        try:
            with Image.open(path) as image:
                images[i] = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise ValueError(f"corrupt or truncated image {str(path)!r}: {error}") from error
    labels = np.fromiter((label for _, label in items), dtype=np.int64, count=len(items))
    return images.transpose(0, 3, 1, 2).copy(), labels


def build_tiny_imagenet_cache(root: str | Path, cache: str | Path, size: int = 32) -> None:
    """Resize every image of a ``tiny-imagenet-200`` folder to ``size`` and save a uint8 ``.npz``.

    Antialiased (PIL's bilinear filter widens with the downscale factor). The source
    folder is only read. The cache is written to a temporary file and renamed into
    place, so an interrupted build never leaves a half-written cache.

    Arrays: ``train_images [100000, 3, size, size]``, ``train_labels``, ``test_images``
    (the labelled val split), ``test_labels``, ``wnids`` (label i is ``wnids[i]``,
    sorted), ``fingerprint``.
    """
    root, cache = Path(root), Path(cache)
    fingerprint = source_fingerprint(root, size)
    wnids, train, test = _index(root)
    train_images, train_labels = _decode(train, size, "Tiny ImageNet train -> 32x32")
    test_images, test_labels = _decode(test, size, "Tiny ImageNet val -> 32x32")

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as out:  # a file object: np.savez would append .npz to a name
            np.savez(out, train_images=train_images, train_labels=train_labels, test_images=test_images,
                     test_labels=test_labels, wnids=np.array(wnids), fingerprint=np.array(fingerprint))

    atomic_write(cache, write)


class TinyImageNet32DataModule(ImageDataModule):
    """Tiny ImageNet resized to 32x32: 200 classes, 100000 training and 10000 test images.

    Reads the official ``<data_dir>/tiny-imagenet-200`` layout (``wnids.txt``,
    ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` with ``val/val_annotations.txt``)
    without modifying it. The labelled val split is the test split. Every image is
    resized once and cached as ``<data_dir>/tiny-imagenet-200-32x32.npz`` (uint8,
    ~340 MB); the cache is rebuilt when the source's file list, sizes or modification
    times change, and used alone if the source folder was removed. Class i is the i-th
    wnid in sorted order. Default ``val_size`` 10000. Normalised with the authors'
    training constants.
    """

    name: ClassVar[str] = "tinyimagenet32"
    num_channels: ClassVar[int] = 3
    num_classes: ClassVar[int] = 200
    image_size: int = 32
    default_val_size: ClassVar[int] = 10000
    default_mean: ClassVar[tuple[float, ...] | None] = (0.4802, 0.4481, 0.3975)
    default_std: ClassVar[tuple[float, ...] | None] = (0.2768, 0.2688, 0.2818)
    resources: ClassVar[tuple[Resource, ...]] = (
        Resource("http://cs231n.stanford.edu/tiny-imagenet-200.zip", "tiny-imagenet-200.zip",
                 "90528d7ca1a48142e341f4ef8d21d0de", extract=True),
    )

    _cache_checked: bool = False

    @property
    def source_dir(self) -> Path:
        """The official ``tiny-imagenet-200`` folder."""
        return self.data_dir / _SOURCE

    @property
    def cache_path(self) -> Path:
        """The 32x32 uint8 cache."""
        return self.data_dir / f"{_SOURCE}-{self.image_size}x{self.image_size}.npz"

    def _missing_files(self) -> list[Path]:
        if self.cache_path.is_file():
            return []
        needed = [self.source_dir / "wnids.txt", self.source_dir / "train",
                  self.source_dir / "val" / "images", self.source_dir / "val" / "val_annotations.txt"]
        return [path for path in needed if not path.exists()]

    def _cached_fingerprint(self) -> str | None:
        try:
            with np.load(self.cache_path) as cache:
                return str(cache["fingerprint"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
            return None

    def ensure_cache(self) -> Path:
        """Build the 32x32 cache unless an up-to-date one exists; returns its path.

        Checked once per datamodule instance (the fingerprint stats every source file).
        """
        self._check_present()
        if self._cache_checked or not (self.source_dir / "wnids.txt").is_file():
            return self.cache_path  # checked already, or the source was removed: the cache is all there is
        if self._cached_fingerprint() != source_fingerprint(self.source_dir, self.image_size):
            build_tiny_imagenet_cache(self.source_dir, self.cache_path, self.image_size)
            self._arrays.clear()
        self._cache_checked = True
        return self.cache_path

    def prepare_data(self) -> None:
        """Download if asked, then build the cache (once, in the main process)."""
        super().prepare_data()
        self.ensure_cache()

    def _load_split(self, split: Split) -> tuple[Tensor, Tensor]:
        path = self.ensure_cache()
        try:
            with np.load(path) as cache:
                images, labels = cache[f"{split}_images"], cache[f"{split}_labels"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise ValueError(
                f"corrupt cache {str(path)!r}: {error}; delete it to rebuild it from {str(self.source_dir)!r}"
            ) from error
        return torch.from_numpy(images), torch.from_numpy(labels)
