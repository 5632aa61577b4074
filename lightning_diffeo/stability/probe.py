"""The measurement skeleton shared by ``measure_stability`` and ``measure_noise_stability``.

A :class:`ProbeSession` checks the settings both measurements share (with the functions of
:mod:`~lightning_diffeo.stability.settings`) before any work, puts the model in
the requested mode, captures the probed layers with forward hooks, computes the clean
activations and their pair denominators, and then turns batches of perturbed images into
numerators for every requested average from the same forward passes (the passes themselves:
:mod:`~lightning_diffeo.stability.prober`).

Working dtype: the forward passes run in the images' dtype (after ``normalize``); captured
activations, squared differences and medians are float32; sums are float64.

Storage: on the CPU everything stays on the CPU. On another device (CUDA), activations and
reductions stay on the device when the estimate of the buffers fits in its free memory
(``store="auto"``), with no host synchronisation per batch; otherwise they go to the host.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lightning_diffeo.stability.capture import ActivationCapture, relative_depths, resolve_layers
from lightning_diffeo.stability.denominators import pair_denominators
from lightning_diffeo.stability.modes import model_mode
from lightning_diffeo.stability.prober import Normalize, Prober, batch_slices, check_model_inputs
from lightning_diffeo.stability.settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_STORE,
    STORES,
    Store,
    check_averages,
    check_batch_size,
    check_mode,
    check_normalize,
    check_store,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "STORES",
    "ProbeSession",
    "Prober",
    "batch_slices",
    "check_model_device",
    "check_model_inputs",
    "new_generator",
    "progress_bar",
]

_DEVICE_MEMORY_FRACTION = 0.8  # of the free device memory the buffers may take


def progress_bar(total: int, enabled: bool, desc: str):
    """A tqdm bar over measurement items (disabled: a no-op bar)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, leave=False)


def check_model_device(model: nn.Module, images: torch.Tensor) -> None:
    """Raise if the model's parameters live on another device than the images."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.device != images.device:
        raise ValueError(
            f"images are on {images.device} but the model's parameters are on {parameter.device}: "
            f"move the images (or the model) to one device"
        )


def new_generator(generator: torch.Generator | None) -> tuple[torch.Generator, int]:
    """The caller's generator, or a fresh non-deterministically seeded CPU one (never the global RNG)."""
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator, generator.initial_seed()


def _buffer_bytes(clean: dict[str, torch.Tensor], rows: int, averages: Sequence[str]) -> int:
    """Bytes of the clean activations plus one layer-set of median buffers of ``rows`` rows."""
    per_row = sum(value.shape[1] for value in clean.values()) * 4
    buffers = rows * per_row if "median" in averages else 0
    return next(iter(clean.values())).shape[0] * per_row + buffers


class ProbeSession:
    """Validated settings, model mode, hooks, clean activations and denominators of one measurement.

    Use as a context manager; inside, :meth:`numerators` turns perturbed images into
    ``{layer: {average: numerator}}`` and :attr:`denominators` holds
    ``{layer: {average: denominator}}``. Every setting is checked on construction, before
    any forward pass; the images are checked by the caller
    (:func:`~lightning_diffeo.stability.perturb.check_probe_images`).

    Args:
        model: any module.
        images: checked probe images [N, C, n, n] in [0, 1] pixel space, N >= 2.
        layers: as in :func:`~lightning_diffeo.stability.capture.resolve_layers`.
        average: ``"median"``, ``"mean"`` or a sequence of them.
        mode: ``"eval"`` or ``"init"``.
        batch_size: images per forward pass; None: 128 in ``eval`` mode and the whole probe set
            (N images, each set of N perturbed images) in ``init`` mode.
        normalize: applied to every batch before the forward pass.
        store: ``"auto"``, ``"device"`` or ``"host"`` (see the module docstring).
        progress: show a progress bar of ``steps`` + 1 steps.
        steps: number of perturbation items.
        desc: progress-bar label.
        reference: the clean images every comparison uses (default ``images``; x~ with
            Gaussian interpolation).
        rows_per_image: perturbed images per probe image, for the device memory estimate.
    """

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        *,
        layers: str | Sequence[str] | None,
        average: str | Sequence[str],
        mode: str,
        batch_size: int | None,
        normalize: Normalize | None,
        store: Store = DEFAULT_STORE,
        progress: bool = True,
        steps: int = 0,
        desc: str = "stability",
        reference: torch.Tensor | None = None,
        rows_per_image: int = 1,
    ) -> None:
        self.images = images
        check_model_device(model, images)
        self.model = model
        self.averages = check_averages(average)
        self.mode = check_mode(mode)
        self.count = images.shape[0]
        batch_size = check_batch_size(batch_size)
        self.batch_size = batch_size or (self.count if self.mode == "init" else DEFAULT_BATCH_SIZE)
        self.normalize = check_normalize(normalize)
        self.store = check_store(store)
        self.names = resolve_layers(model, layers)
        self.depths = dict(zip(self.names, relative_depths(self.names)))
        self.progress, self.steps, self.desc = progress, steps, desc
        self.reference = images if reference is None else reference
        self.rows_per_image = rows_per_image
        self.clean: dict[str, torch.Tensor] = {}
        self.denominators: dict[str, dict[str, float]] = {}
        self.store_device: torch.device = torch.device("cpu")

    def __enter__(self) -> ProbeSession:
        self._grad = torch.no_grad()
        self._mode = model_mode(self.model, self.mode)
        on_host = self.images.device.type == "cpu" or self.store == "host"
        self.store_device = torch.device("cpu") if on_host else self.images.device
        self._capture = ActivationCapture(self.model, self.names, device=self.store_device, copy="when_modified")
        self._bar = progress_bar(self.steps + 1, self.progress, self.desc)
        self._grad.__enter__()
        try:
            self._mode.__enter__()
            try:
                self._capture.__enter__()
                self._prober = Prober(self._capture, self.batch_size, self.normalize, self.store_device)
                self.clean = self._prober.features(self.reference)
                self._choose_store()
                self.denominators = {name: pair_denominators(self.clean[name], self.averages) for name in self.names}
                self._bar.update(1)
            except BaseException:
                self._capture.__exit__(None, None, None)
                raise
        except BaseException as error:
            self._mode.__exit__(type(error), error, error.__traceback__)
            self._grad.__exit__(None, None, None)
            self._bar.close()
            raise
        return self

    def _choose_store(self) -> None:
        if self.store_device.type == "cpu" or self.store != "auto":
            return
        needed = _buffer_bytes(self.clean, self.count * self.rows_per_image, self.averages)
        free = _free_device_memory(self.store_device)
        if free is not None and needed > _DEVICE_MEMORY_FRACTION * free:
            warnings.warn(
                f"the activation buffers need about {needed / 2**30:.2f} GiB, more than "
                f"{_DEVICE_MEMORY_FRACTION:.0%} of the {free / 2**30:.2f} GiB free on {self.store_device}: "
                "reducing on the host instead (slower); pass store='device' to insist",
                RuntimeWarning,
                stacklevel=4,
            )
            self.store_device = torch.device("cpu")
            self._capture.device = self.store_device
            self._prober.store = self.store_device
            self.clean = {name: value.cpu() for name, value in self.clean.items()}

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._capture.__exit__(*exc_info)
        finally:
            try:
                self._mode.__exit__(*exc_info)
            finally:
                self._grad.__exit__(*exc_info)
                self._bar.close()

    def numerators(self, perturbed: torch.Tensor) -> dict[str, dict[str, float]]:
        """``{layer: {average: numerator}}`` for perturbed images [k * N, C, n, n] (pixel space)."""
        return self._prober.numerators(perturbed, self.clean, self.averages, self.names)

    def step(self) -> None:
        """Advance the progress bar by one item."""
        self._bar.update(1)

    def metadata(self, **extra: Any) -> dict[str, Any]:
        """Metadata common to both measurements, plus ``extra``."""
        average = self.averages[0] if len(self.averages) == 1 else list(self.averages)
        return {
            "model": type(self.model).__name__, "n_images": self.count, "channels": self.images.shape[1],
            "image_size": self.images.shape[-1], "average": average, "mode": self.mode,
            "batch_size": self.batch_size, "layers": self.names, "device": str(self.images.device),
            "store": str(self.store_device), **extra,
        }


def _free_device_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return None
