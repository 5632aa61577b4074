"""LightningDataModules for the paper's datasets, plus the offline Digits default.

``DATAMODULES`` maps short names to classes; ``create_datamodule(name, **options)``
builds one by name.
"""

from __future__ import annotations

from typing import Any

from lightning_diffeo.datamodules.augment import BatchTransform, random_crop, random_horizontal_flip
from lightning_diffeo.datamodules.base import DEFAULT_MAX_EPOCHS, PROBE_SEED, PROBE_SIZE, ImageDataModule
from lightning_diffeo.datamodules.cifar10 import CIFAR10DataModule
from lightning_diffeo.datamodules.digits import DigitsDataModule
from lightning_diffeo.datamodules.mnist import FashionMNISTDataModule, MNISTDataModule
from lightning_diffeo.datamodules.splits import MAX_RESCALED_EPOCHS, epoch_repeats, split_indices
from lightning_diffeo.datamodules.svhn import SVHNDataModule
from lightning_diffeo.datamodules.tiny_imagenet import TinyImageNet32DataModule

__all__ = [
    "DATAMODULES",
    "create_datamodule",
    "ImageDataModule",
    "DigitsDataModule",
    "MNISTDataModule",
    "FashionMNISTDataModule",
    "SVHNDataModule",
    "CIFAR10DataModule",
    "TinyImageNet32DataModule",
    "BatchTransform",
    "random_crop",
    "random_horizontal_flip",
    "split_indices",
    "epoch_repeats",
    "PROBE_SIZE",
    "PROBE_SEED",
    "DEFAULT_MAX_EPOCHS",
    "MAX_RESCALED_EPOCHS",
]

DATAMODULES: dict[str, type[ImageDataModule]] = {
    "digits": DigitsDataModule,
    "mnist": MNISTDataModule,
    "fashionmnist": FashionMNISTDataModule,
    "svhn": SVHNDataModule,
    "cifar10": CIFAR10DataModule,
    "tinyimagenet32": TinyImageNet32DataModule,
}


def create_datamodule(name: str, **options: Any) -> ImageDataModule:
    """Build the datamodule registered as ``name`` (case-insensitive) with ``options``.

    Raises:
        ValueError: ``name`` is not in ``DATAMODULES``, or an option is unknown.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in DATAMODULES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATAMODULES)}")
    try:
        return DATAMODULES[key](**options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise ValueError(f"unknown option for {DATAMODULES[key].__name__}: {error}") from error
        raise
