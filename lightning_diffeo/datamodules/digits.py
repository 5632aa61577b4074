"""scikit-learn's bundled 8x8 handwritten digits, upsampled: the offline default dataset."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from lightning_diffeo.datamodules.base import ImageDataModule, Split
from lightning_diffeo.datamodules.splits import make_generator
from lightning_diffeo.validation import check_positive_int

__all__ = ["DigitsDataModule", "DIGITS_TEST_SIZE", "DIGITS_TEST_SEED"]

DIGITS_TEST_SIZE = 300
"""Images of the fixed Digits test split (of 1797)."""
DIGITS_TEST_SEED = 0
"""Seed of the fixed Digits test split, independent of the datamodule's ``seed``."""


def _load_digits_images(image_size: int) -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [1797, 1, 8, 8]
    if image_size != 8:
        images = torch.nn.functional.interpolate(
            images, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
        ).clamp_(0.0, 1.0)
    return images, torch.as_tensor(bunch.target, dtype=torch.int64)


class DigitsDataModule(ImageDataModule):
    """scikit-learn's 1797 handwritten digits (8x8, values 0..16), no download needed.

    Scaled to [0, 1] and upsampled bilinearly (antialiased) to ``image_size``; 1 channel,
    10 classes. A fixed random 300 images (seed ``DIGITS_TEST_SEED``, whatever ``seed``)
    form the test split; the remaining 1497 are the "official" training split, of which
    ``val_size`` (default 300) are held out, leaving P_max = 1197 by default. Not
    normalised (like MNIST, whose role it plays); no horizontal flip. The default probe
    set is capped at the 300 test images.

    Args:
        image_size: Side of the upsampled images, in pixels.
        **kwargs: ``ImageDataModule`` options (``data_dir`` and ``download`` are unused).

    >>> dm = DigitsDataModule(batch_size=32, train_size=100, random_crop=True)
    >>> dm.setup("fit")
    >>> images, labels = next(iter(dm.train_dataloader()))
    >>> tuple(images.shape), labels.dtype
    ((32, 1, 28, 28), torch.int64)
    >>> probe, probe_labels = dm.probe_set()  # 300: the default 500 capped at the test split
    >>> tuple(probe.shape)
    (300, 1, 28, 28)
    """

    name: ClassVar[str] = "digits"
    num_channels: ClassVar[int] = 1
    num_classes: ClassVar[int] = 10
    default_val_size: ClassVar[int] = 300
    allows_horizontal_flip: ClassVar[bool] = False

    def __init__(self, *args: Any, image_size: int = 28, **kwargs: Any) -> None:
        self.image_size = check_positive_int("image_size", image_size)
        super().__init__(*args, **kwargs)

    def _load_split(self, split: Split) -> tuple[Tensor, Tensor]:
        images, labels = _load_digits_images(self.image_size)
        order = torch.randperm(len(labels), generator=make_generator(DIGITS_TEST_SEED, "digits-test"))
        index = order[:DIGITS_TEST_SIZE] if split == "test" else order[DIGITS_TEST_SIZE:]
        return images[index].contiguous(), labels[index]
