"""The measurement skeleton shared by ``measure_stability`` and ``measure_noise_stability``.

A :class:`ProbeSession` checks the settings both measurements share (with the functions of
:mod:`~lightning_diffeo.stability.settings`) before any work, puts the model in
the requested mode, captures the probed layers with forward hooks, computes the clean
activations and their pair denominators, and then turns batches of perturbed images into
numerators for every requested average from the same forward passes (the passes themselves:
:mod:`~lightning_diffeo.stability.prober`).

Working dtype: the forward passes run in the images' dtype (after ``normalize``); captured
activations, squared differences and medians are float32; sums are float64.

Memory: before any work the session estimates the measurement's peak from one forward pass
of two images and plans it within ``max_memory`` (:mod:`~lightning_diffeo.stability.memory`):
as asked, with a smaller batch, or with the layers in groups measured one after the other
(:meth:`ProbeSession.begin` starts each group; the caller repeats the same seeded
perturbations for each).

Storage: on the CPU everything stays on the CPU. On another device (CUDA), activations and
reductions stay on the device when the plan fits there without layer groups
(``store="auto"``), with no host synchronisation per batch; otherwise they go to the host.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lightning_diffeo.stability.budget import default_max_memory, format_bytes
from lightning_diffeo.stability.capture import ActivationCapture, relative_depths, resolve_layers
from lightning_diffeo.stability.denominators import pair_denominators
from lightning_diffeo.stability.footprint import Footprint, footprint
from lightning_diffeo.stability.memory import MemoryPlan, estimate_peak, plan_memory
from lightning_diffeo.stability.modes import model_mode
from lightning_diffeo.stability.prober import Normalize, Prober, batch_slices, check_model_inputs
from lightning_diffeo.stability.settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_STORE,
    STORES,
    Store,
    check_averages,
    check_batch_size,
    check_max_memory,
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


class ProbeSession:
    """Validated settings, model mode, memory plan, hooks, clean activations and denominators of one measurement.

    Use as a context manager. On entry the session puts the model in its mode and plans the
    measurement within ``max_memory`` (:attr:`plan`; a ``ValueError`` line when nothing fits,
    before any measuring pass). Then, for each group of :attr:`plan`, :meth:`begin` hooks the
    group's layers and computes their clean activations and denominators
    (:attr:`denominators`, ``{layer: {average: denominator}}``), and :meth:`numerators` turns
    perturbed images into ``{layer: {average: numerator}}`` for the group's layers. Every
    setting is checked on construction; the images by the caller
    (:func:`~lightning_diffeo.stability.perturb.check_probe_images`).

    Args:
        model: any module.
        images: checked probe images [N, C, n, n] in [0, 1] pixel space, N >= 2.
        layers: as in :func:`~lightning_diffeo.stability.capture.resolve_layers`.
        average: ``"median"``, ``"mean"`` or a sequence of them.
        mode: ``"eval"`` or ``"init"``.
        batch_size: images per forward pass; None: 128 in ``eval`` mode and the whole probe set
            (N images, each set of N perturbed images) in ``init`` mode. The plan may lower it.
        normalize: applied to every batch before the forward pass.
        store: ``"auto"``, ``"device"`` or ``"host"`` (see the module docstring).
        progress: show a progress bar of (``steps`` + 1) steps per group.
        steps: number of perturbation items.
        desc: progress-bar label.
        reference: the clean images every comparison uses (default ``images``; x~ with
            Gaussian interpolation).
        rows_per_image: perturbed images per probe image and quantity.
        max_memory: the budget in bytes or a string such as ``"4GB"``; None: a safe fraction of
            the available memory (:func:`~lightning_diffeo.stability.budget.default_max_memory`).
        perturbation: the interpolation of the diffeomorphisms, or ``"noise"`` (for the estimate).
        quantities: perturbed sets per item (2: deformed and noisy; 1: noise only).
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
        max_memory: int | str | None = None,
        perturbation: str = "bilinear",
        quantities: int = 2,
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
        self.max_memory = check_max_memory(max_memory)
        self.names = resolve_layers(model, layers)
        self.depths = dict(zip(self.names, relative_depths(self.names)))
        self.progress, self.steps, self.desc = progress, steps, desc
        self.reference = images if reference is None else reference
        self.rows_per_image, self.perturbation, self.quantities = rows_per_image, perturbation, quantities
        self.clean: dict[str, torch.Tensor] = {}
        self.denominators: dict[str, dict[str, float]] = {}
        self.store_device: torch.device = torch.device("cpu")
        self.plan: MemoryPlan | None = None
        self.active: tuple[str, ...] = ()
        self._capture: ActivationCapture | None = None
        self._modified: frozenset[str] = frozenset()

    def __enter__(self) -> ProbeSession:
        self._grad = torch.no_grad()
        self._mode = model_mode(self.model, self.mode)
        self._grad.__enter__()
        try:
            self._mode.__enter__()
            try:
                self.plan = self._plan()
            except BaseException as error:
                self._mode.__exit__(type(error), error, error.__traceback__)
                raise
        except BaseException:
            self._grad.__exit__(None, None, None)
            raise
        self.batch_size = self.plan.batch_size
        self._bar = progress_bar(len(self.plan.groups) * (self.steps + 1), self.progress, self.desc)
        return self

    def _plan(self) -> MemoryPlan:
        """The memory plan (and the store device), from one forward pass of two images."""
        fp = footprint(self.model, self.reference, self.names, self.normalize)
        self._modified = fp.modified_in_place
        device = self.images.device
        budget = self.max_memory if self.max_memory is not None else default_max_memory(device)
        settings = dict(count=self.count, rows_per_image=self.rows_per_image, batch_size=self.batch_size,
                        averages=self.averages, perturbation=self.perturbation, budget=budget,
                        keep_batch=self.mode == "init")
        self.store_device = device
        if device.type == "cpu" or self.store == "device":
            plan = plan_memory(fp, self.names, **settings)
        elif self.store == "host":
            plan = self._host_plan(fp, settings)
        else:
            plan = self._auto_plan(fp, settings)
        if self.mode == "init" and plan.batch_size < plan.requested_batch_size:
            warnings.warn(
                f"init mode: batches of {plan.batch_size} images instead of {plan.requested_batch_size} to fit "
                f"max_memory={format_bytes(budget)}: batch-norm normalises each batch with its own statistics",
                RuntimeWarning, stacklevel=4,
            )
        return plan

    def _host_plan(self, fp: Footprint, settings: dict[str, Any]) -> MemoryPlan:
        """Forward passes on the device within ``budget``, activations on the host within its default budget."""
        self.store_device = torch.device("cpu")
        budget, host = settings["budget"], default_max_memory("cpu")

        def measure(layers: Sequence[str], batch: int, count: int) -> int:
            peak = estimate_peak(fp, layers, count=count, rows_per_image=self.rows_per_image, batch_size=batch,
                                 averages=self.averages, perturbation=self.perturbation, store_apart=True)
            # both budgets as one: the device's, with the host's part scaled to it
            return max(peak.compute, peak.store * budget // host if budget and host else 0)

        return plan_memory(fp, self.names, measure=measure, **settings)

    def _auto_plan(self, fp: Footprint, settings: dict[str, Any]) -> MemoryPlan:
        """On the device when it fits there in one group, else on the host when that needs fewer groups."""
        try:
            on_device: MemoryPlan | None = plan_memory(fp, self.names, **settings)
        except ValueError as error:
            on_device, refused = None, error
        if on_device is not None and len(on_device.groups) == 1:
            return on_device
        try:
            on_host = self._host_plan(fp, settings)
        except ValueError:
            on_host = None
        if on_host is not None and (on_device is None or len(on_host.groups) < len(on_device.groups)):
            warnings.warn(
                f"the measurement needs about {format_bytes(on_host.requested)} on {self.images.device}, more than "
                f"max_memory={format_bytes(settings['budget'])}: reducing on the host instead (slower); "
                "pass store='device' to insist", RuntimeWarning, stacklevel=5,
            )
            return on_host
        self.store_device = self.images.device
        if on_device is None:
            raise refused
        return on_device

    def begin(self, names: Sequence[str]) -> None:
        """Start a group: hook ``names`` (one group of :attr:`plan`), compute their clean activations and denominators."""
        self._release()
        self._capture = ActivationCapture(self.model, names, device=self.store_device, copy="when_modified")
        self._capture.modified_in_place |= self._modified & set(names)
        self._capture.__enter__()
        self.active = tuple(names)
        self._prober = Prober(self._capture, self.batch_size, self.normalize, self.store_device)
        self.clean = self._prober.features(self.reference)
        self.denominators.update({name: pair_denominators(self.clean[name], self.averages) for name in names})
        self._bar.update(1)

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.remove()
        self._capture, self.clean, self.active = None, {}, ()

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._release()
        finally:
            try:
                self._mode.__exit__(*exc_info)
            finally:
                self._grad.__exit__(*exc_info)
                self._bar.close()

    def numerators(
        self, perturbed: torch.Tensor, per_image: Mapping[str, torch.Tensor] | None = None
    ) -> dict[str, dict[str, float]]:
        """``{layer: {average: numerator}}`` of the group's layers for perturbed images [k * N, C, n, n] (pixel space).

        ``per_image``: ``{layer: float64 [N] buffer on store_device}``, each image's squared
        distances (summed over its k rows) added in (see :meth:`Prober.numerators`).
        """
        return self._prober.numerators(perturbed, self.clean, self.averages, self.active, per_image)

    def step(self) -> None:
        """Advance the progress bar by one item."""
        self._bar.update(1)

    def metadata(self, **extra: Any) -> dict[str, Any]:
        """Metadata common to both measurements (the memory plan included), plus ``extra``."""
        average = self.averages[0] if len(self.averages) == 1 else list(self.averages)
        passes = 1 + self.quantities * self.steps * self.rows_per_image
        memory = self.plan.metadata(passes) if self.plan is not None else {}
        return {
            "model": type(self.model).__name__, "n_images": self.count, "channels": self.images.shape[1],
            "image_size": self.images.shape[-1], "average": average, "mode": self.mode,
            "batch_size": self.batch_size, "layers": self.names, "device": str(self.images.device),
            "store": str(self.store_device), "memory": memory, **extra,
        }
