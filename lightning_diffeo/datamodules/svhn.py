"""SVHN (cropped digits) from the official ``train_32x32.mat`` / ``test_32x32.mat``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.io
import torch
from torch import Tensor

from lightning_diffeo.datamodules.base import ImageDataModule, Split
from lightning_diffeo.datamodules.download import Resource
from lightning_diffeo.validation import check_bool

__all__ = ["read_svhn_mat", "SVHNDataModule"]

_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN ``*_32x32.mat`` file.

    Returns:
        ``(images [N, 3, 32, 32] uint8, labels [N] int64)``; the file's label 10 (digit 0) becomes 0.

    Raises:
        ValueError: The file is corrupt, truncated or lacks ``X``/``y`` (names the file).
    """
    path = Path(path)
    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except Exception as error:  # scipy raises a zoo of types on bad files
        raise ValueError(f"corrupt or truncated SVHN file {str(path)!r}: {error}; delete it and download again") from error
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{str(path)!r} is not an SVHN file: expected variables X and y")
    images, labels = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    if images.dtype != np.uint8 or images.shape[:3] != (32, 32, 3) or images.ndim != 4 or images.shape[3] != len(labels):
        raise ValueError(
            f"corrupt SVHN file {str(path)!r}: expected X uint8 [32, 32, 3, N] and N labels, "
            f"got X {images.dtype} {images.shape} and {len(labels)} labels"
        )
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise ValueError(f"corrupt SVHN file {str(path)!r}: labels must lie in 1..10")
    labels[labels == 10] = 0
    return np.ascontiguousarray(images.transpose(3, 2, 0, 1)), labels


class SVHNDataModule(ImageDataModule):
    """SVHN: 32x32 RGB house-number digits, 73257 training and 26032 test images, 10 classes.

    Reads ``<data_dir>/train_32x32.mat`` and ``<data_dir>/test_32x32.mat`` (torchvision's
    layout; the ``extra`` split is not used). No horizontal flip (digits).

    Normalisation: the training-set constants for every split by default. The authors
    normalised test images with test-set constants; ``authors_test_constants=True``
    reproduces that for the test batches and the probe set (``normalize_images``).
    Using test statistics peeks at the test set and shifts inputs between training and
    test, hence the default.

    Args:
        authors_test_constants: Normalise test images with the test-set constants.
        **kwargs: ``ImageDataModule`` options.
    """

    name: ClassVar[str] = "svhn"
    num_channels: ClassVar[int] = 3
    num_classes: ClassVar[int] = 10
    image_size: int = 32
    default_mean: ClassVar[tuple[float, ...] | None] = (0.4376, 0.4437, 0.4728)
    default_std: ClassVar[tuple[float, ...] | None] = (0.1976, 0.2006, 0.1965)
    test_mean: ClassVar[tuple[float, ...]] = (0.4523, 0.4524, 0.4689)
    test_std: ClassVar[tuple[float, ...]] = (0.2190, 0.2261, 0.2279)
    allows_horizontal_flip: ClassVar[bool] = False
    resources: ClassVar[tuple[Resource, ...]] = (
        Resource("http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "train_32x32.mat",
                 "e26dedcc434d2e4c54c9b2d4a06d8373"),
        Resource("http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "test_32x32.mat",
                 "eb5a983be6a315427106f1b164d9cef3"),
    )

    def __init__(self, *args: Any, authors_test_constants: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.authors_test_constants = check_bool("authors_test_constants", authors_test_constants)

    def _normalization(self, split: Split) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
        if split == "test" and self.normalize and self.authors_test_constants:
            return self.test_mean, self.test_std
        return self.mean, self.std

    def _missing_files(self) -> list[Path]:
        return [self.data_dir / name for name in _FILES.values() if not (self.data_dir / name).is_file()]

    def _load_split(self, split: Split) -> tuple[Tensor, Tensor]:
        images, labels = read_svhn_mat(self.data_dir / _FILES[split])
        return torch.from_numpy(images), torch.from_numpy(labels)
