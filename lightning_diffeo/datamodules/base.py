"""The shared base of the image datamodules: splits, probe set, augmentation, loaders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lightning_diffeo.datamodules.augment import BatchTransform, check_diffeo_options, normalize, to_unit_float
from lightning_diffeo.datamodules.download import Resource, fetch_resource
from lightning_diffeo.datamodules.splits import (
    derive_seed,
    epoch_repeats,
    make_generator,
    random_batches,
    sequential_batches,
    split_indices,
)
from lightning_diffeo.validation import check_bool, check_int, check_positive_int

__all__ = ["ImageDataModule", "TensorImageDataset", "PROBE_SIZE", "PROBE_SEED", "DEFAULT_MAX_EPOCHS"]

Split = Literal["train", "test"]

PROBE_SIZE = 500
"""Default number of test images in the probe set (paper, section 4)."""
PROBE_SEED = 0
"""Default seed of the probe set: the same images for every run, whatever its ``seed``."""
DEFAULT_MAX_EPOCHS = 250
"""Epochs assumed by ``constant_steps`` when no Trainer is attached (the paper's 250)."""


class TensorImageDataset(Dataset):
    """In-memory images gathered a batch at a time.

    Indexing with a list (or 1-D tensor) of indices returns a whole batch
    ``(transform(images[idx]) [B, C, n, n] float32, labels[idx] [B] int64)``, which is
    how the datamodules' batch samplers use it; an int index returns one sample.

    Args:
        images: ``[N, C, n, n]`` uint8 (0..255) or float in [0, 1].
        labels: ``[N]`` int64.
        transform: Batch transform to float32 (augmentation, normalisation).
    """

    def __init__(self, images: Tensor, labels: Tensor, transform: BatchTransform) -> None:
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Seed the transform's random augmentation for ``epoch`` (see ``BatchTransform.set_epoch``)."""
        self.transform.set_epoch(epoch)

    def __getitem__(self, index: int | Sequence[int] | Tensor) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(index, dtype=torch.long)
        if idx.ndim == 0:
            images, labels = self.__getitem__(idx[None])
            return images[0], labels[0]
        return self.transform(self.images[idx]), self.labels[idx]


class ImageDataModule(L.LightningDataModule):
    """Base of the image-classification datamodules.

    Subclasses set the class attributes and implement ``_load_split`` (and, for data on
    disk, ``_missing_files``). The base handles the validation split, the training
    subset of size P, augmentation, normalisation, constant optimizer steps and the probe set.

    Batches are ``(images [B, C, n, n] float32, normalised; labels [B] int64)``.

    Args:
        data_dir: Folder holding the dataset (see each subclass for the layout).
        batch_size: Images per batch.
        num_workers: DataLoader worker processes; 0 (load in the main process) is the
            right choice on a couple of CPU cores since batches are gathered from memory.
        train_size: P, images drawn (with ``seed``) from the official training split
            minus the validation images; None for all of them (P_max).
        val_size: Images held out from the official training split for validation
            (never from the test split); None for the dataset's default.
        seed: Seed of the validation split, the training subset, the shuffling and the
            augmentation draws.
        random_crop: Random translation: zero-pad 4 pixels, crop back (training only).
        horizontal_flip: Random left-right flip (training only; refused for digits).
        diffeo: Keyword arguments of ``lightning_diffeo.diffeo.Diffeo`` to deform the
            training images in [0, 1] pixel space before normalisation, or None.
        normalize: Normalise with the dataset's constants (paper's NOTES section 5).
        download: Fetch missing data from the official source (checksums verified).
        constant_steps: With P < P_max, draw ``min(P_max / P, 5000 / max_epochs)`` passes
            over the subset per epoch, so a run does as many optimizer steps as a
            full-data run (capped at 5000 rescaled epochs). ``max_epochs`` is read
            from the attached Trainer, else ``DEFAULT_MAX_EPOCHS``.
    """

    name: ClassVar[str] = ""
    num_channels: ClassVar[int]
    num_classes: ClassVar[int]
    image_size: int
    default_mean: ClassVar[tuple[float, ...] | None] = None
    default_std: ClassVar[tuple[float, ...] | None] = None
    default_val_size: ClassVar[int] = 5000
    allows_horizontal_flip: ClassVar[bool] = True
    resources: ClassVar[tuple[Resource, ...]] = ()

    def __init__(
        self,
        data_dir: str | Path = "data",
        batch_size: int = 128,
        num_workers: int = 0,
        train_size: int | None = None,
        val_size: int | None = None,
        seed: int = 0,
        random_crop: bool = False,
        horizontal_flip: bool = False,
        diffeo: dict[str, Any] | None = None,
        normalize: bool = True,
        download: bool = False,
        constant_steps: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int("batch_size", batch_size)
        check_int("num_workers", num_workers, minimum=0)
        check_int("seed", seed, minimum=0)
        for option, value in (("train_size", train_size), ("val_size", val_size)):
            if value is not None:
                check_positive_int(option, value)
        for option, value in (("random_crop", random_crop), ("horizontal_flip", horizontal_flip),
                              ("normalize", normalize), ("download", download),
                              ("constant_steps", constant_steps)):
            check_bool(option, value)
        if horizontal_flip and not self.allows_horizontal_flip:
            raise ValueError(
                f"horizontal_flip is not offered for {type(self).__name__}: a mirrored digit is not the "
                "same digit. Use random_crop and/or diffeo instead."
            )
        self.data_dir = Path(data_dir)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.train_size = train_size
        self.val_size = self.default_val_size if val_size is None else val_size
        self.seed = seed
        self.random_crop = random_crop
        self.horizontal_flip = horizontal_flip
        self.diffeo = None if diffeo is None else check_diffeo_options(diffeo)
        self.normalize = normalize
        self.download = download
        self.constant_steps = constant_steps
        self.mean: tuple[float, ...] | None = self.default_mean if normalize else None
        self.std: tuple[float, ...] | None = self.default_std if normalize else None
        self._arrays: dict[str, tuple[Tensor, Tensor]] = {}
        self.train_indices: Tensor | None = None
        self.val_indices: Tensor | None = None
        data_dir = str(data_dir)  # hyper-parameters must load with torch.load(weights_only=True)
        self.save_hyperparameters()

    # ---- what subclasses provide -------------------------------------------------
    def _load_split(self, split: Split) -> tuple[Tensor, Tensor]:
        """Images ``[N, C, n, n]`` (uint8, or float in [0, 1]) and labels ``[N]`` int64 of a split."""
        raise NotImplementedError

    def _missing_files(self) -> list[Path]:
        """Files the dataset needs that are not on disk."""
        return []

    def _download_dir(self) -> Path:
        return self.data_dir

    def _normalization(self, split: Split) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
        """(mean, std) applied to images of ``split`` (the probe set uses "test")."""
        return self.mean, self.std

    # ---- data on disk --------------------------------------------------------------
    def _also_looked(self) -> str:
        """Other places searched for the data, for the not-found message (" Also looked in ...")."""
        return ""

    def _check_present(self) -> None:
        missing = self._missing_files()
        if not missing:
            return
        shown = ", ".join(str(path) for path in missing[:4]) + (" ..." if len(missing) > 4 else "")
        source = ", ".join(resource.url for resource in self.resources) or "its official site"
        raise ValueError(
            f"{type(self).__name__}: data not found, missing {shown}.{self._also_looked()} Pass download=True "
            f"(`--data.download true` on the command line) to fetch it from {source} into "
            f"{str(self._download_dir())!r}, or download it yourself and place the files there."
        )

    def prepare_data(self) -> None:
        """Download the data if ``download=True`` and it is missing; check it is present."""
        if self.download and self._missing_files():
            for resource in self.resources:
                fetch_resource(resource, self._download_dir())
        self._check_present()

    def _split_arrays(self, split: Split) -> tuple[Tensor, Tensor]:
        if split not in self._arrays:
            self._check_present()
            images, labels = self._load_split(split)
            self._arrays[split] = (images, labels)
        return self._arrays[split]

    # ---- splits ------------------------------------------------------------------------
    @property
    def p_max(self) -> int:
        """Largest training-set size: the official training split minus the validation images."""
        return len(self._split_arrays("train")[1]) - self.val_size

    def setup(self, stage: str | None = None) -> None:
        """Load the splits ``stage`` needs and draw the validation split and training subset."""
        if stage in (None, "fit", "validate") and self.train_indices is None:
            _, labels = self._split_arrays("train")
            self.train_indices, self.val_indices = split_indices(
                len(labels), self.train_size, self.val_size, self.seed
            )
        if stage in (None, "test", "predict"):
            self._split_arrays("test")

    def _dataset(self, split: Split, indices: Tensor | None, transform: BatchTransform) -> TensorImageDataset:
        images, labels = self._split_arrays(split)
        if indices is not None:
            images, labels = images[indices], labels[indices]
        return TensorImageDataset(images, labels, transform)

    def _eval_dataset(self, split: Split, indices: Tensor | None) -> TensorImageDataset:
        """Evaluation images of ``split``, normalised once here rather than per batch.

        The transform is elementwise and draws nothing, so the batches are bit for bit what a
        per-batch transform would give; each epoch's validation then only gathers (float32
        keeps 4 bytes per pixel: 61 MB for 5000 CIFAR10 images).
        """
        per_batch = self._dataset(split, indices, BatchTransform(*self._normalization(split)))
        return TensorImageDataset(per_batch.transform(per_batch.images), per_batch.labels, BatchTransform())

    def train_transform(self) -> BatchTransform:
        """The training batch transform: augmentation then normalisation."""
        mean, std = self._normalization("train")
        return BatchTransform(
            mean, std, random_crop=self.random_crop, horizontal_flip=self.horizontal_flip,
            diffeo=self.diffeo, seed=derive_seed(self.seed, "augment"),
        )

    # ---- constant optimizer steps --------------------------------------------------
    def epoch_repeats(self, max_epochs: int | None = None) -> float:
        """Passes over the training subset per epoch (1 unless ``constant_steps``).

        Args:
            max_epochs: Planned epochs; None reads the attached Trainer's ``max_epochs``,
                else uses ``DEFAULT_MAX_EPOCHS``. Negative (unlimited) means no 5000 cap.
        """
        if not self.constant_steps:
            return 1.0
        if max_epochs is None:
            trainer = getattr(self, "trainer", None)
            max_epochs = trainer.max_epochs if trainer is not None else None
            max_epochs = DEFAULT_MAX_EPOCHS if max_epochs is None else max_epochs
        if self.train_indices is None:
            self.setup("fit")
        return epoch_repeats(len(self.train_indices), self.p_max, max_epochs)

    def train_samples_per_epoch(self, max_epochs: int | None = None) -> int:
        """Images drawn per training epoch: ``round(P * epoch_repeats(max_epochs))``."""
        if self.train_indices is None:
            self.setup("fit")
        return round(len(self.train_indices) * self.epoch_repeats(max_epochs))

    # ---- loaders -----------------------------------------------------------------------
    def _loader(self, dataset: TensorImageDataset, sampler: Any, tag: str) -> DataLoader:
        return DataLoader(
            dataset, batch_size=None, sampler=sampler, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(),
            generator=make_generator(self.seed, f"workers-{tag}"),
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches of the subset, ``train_samples_per_epoch()`` images per epoch."""
        if self.train_indices is None:
            self.setup("fit")
        dataset = self._dataset("train", self.train_indices, self.train_transform())
        sampler = random_batches(
            len(dataset), self.batch_size, self.train_samples_per_epoch(),
            generator=make_generator(self.seed, "shuffle"),
        )
        return self._loader(dataset, sampler, "train")

    def val_dataloader(self) -> DataLoader:
        """Validation batches in a fixed order, no augmentation."""
        if self.val_indices is None:
            self.setup("fit")
        dataset = self._eval_dataset("train", self.val_indices)
        return self._loader(dataset, sequential_batches(len(dataset), self.batch_size), "val")

    def test_dataloader(self) -> DataLoader:
        """The whole official test split in order, no augmentation."""
        dataset = self._eval_dataset("test", None)
        return self._loader(dataset, sequential_batches(len(dataset), self.batch_size), "test")

    def predict_dataloader(self) -> DataLoader:
        """Same as ``test_dataloader``."""
        return self.test_dataloader()

    # ---- stability measurement ----------------------------------------------------------
    def probe_set(self, size: int = PROBE_SIZE, seed: int | None = None) -> tuple[Tensor, Tensor]:
        """A fixed random subset of the test split, in [0, 1] pixel space (not normalised).

        The same images whatever ``train_size``, ``val_size``, ``seed`` of the datamodule
        or augmentation; subsets of growing size are nested. Deform these, then apply
        ``normalize_images``. If the test split has fewer images than the default size
        (Digits: 300), the default is capped at the test split; an explicit larger
        ``size`` raises.

        Args:
            size: Number of images.
            seed: Seed of the subset; None for ``PROBE_SEED``.

        Returns:
            ``(images [size, C, n, n] float32 in [0, 1], labels [size] int64)``.
        """
        check_positive_int("size", size)
        images, labels = self._split_arrays("test")
        available = len(labels)
        if size > available:
            if size != PROBE_SIZE:
                raise ValueError(
                    f"probe_set size={size} exceeds the {available} images of the "
                    f"{type(self).__name__} test split"
                )
            size = available
        generator = make_generator(PROBE_SEED if seed is None else seed, "probe")
        index = torch.randperm(available, generator=generator)[:size]
        return to_unit_float(images[index]), labels[index].clone()

    def normalize_images(self, images: Tensor) -> Tensor:
        """Normalise ``[..., C, n, n]`` [0, 1] images as the test batches are; identity if ``normalize=False``."""
        mean, std = self._normalization("test")
        return normalize(images, mean, std)
