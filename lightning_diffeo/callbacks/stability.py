"""``StabilityCallback``: R_f per layer at initialisation and at the best-validation weights."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from lightning_diffeo._atomic import make_unique_dir
from lightning_diffeo.checkpoint_io import read_checkpoint
from lightning_diffeo.datamodules.base import PROBE_SIZE
from lightning_diffeo.diffeo import INTERPOLATIONS
from lightning_diffeo.validation import as_float_list, check_choice, check_int, check_positive_int
from lightning_diffeo.stability import (
    AVERAGES,
    StabilityResult,
    measure_stability,
    resolve_layers,
    work_items,
)

from .report import comparison_table, metric_dict, write_report

__all__ = ["MEASURE_DEFAULTS", "StabilityCallback", "WHEN"]

WHEN: tuple[str, ...] = ("init", "best")
Stage = Literal["init", "best"]
Interpolation = Literal["bilinear", "gaussian", "nearest"]
Average = Literal["median", "mean"]

MEASURE_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(measure_stability).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}
"""Defaults of :func:`measure_stability`, shared by the callback and ``lightning-diffeo probe``."""


def _as_tuple(value: float | Sequence[float] | None, name: str) -> tuple[float, ...] | None:
    return None if value is None else tuple(as_float_list(name, value))


def _averages(average: str | Sequence[str]) -> str | tuple[str, ...]:
    if isinstance(average, str):
        return check_choice("average", average, AVERAGES)
    values = tuple(check_choice("average", value, AVERAGES) for value in average)
    if not values:
        raise ValueError(f"average must be one of {AVERAGES} or a non-empty list of them, got {average!r}")
    return values


class StabilityCallback(Callback):
    """Measure D_f, G_f and R_f per layer during ``trainer.fit``, without changing training.

    - ``init``: before the first training step, in initialisation mode (evaluation mode with
      batch-norm on batch statistics), on the freshly initialised weights.
    - ``best``: at the end of fit, in evaluation mode, on the weights of the best validation
      epoch: the best checkpoint of the trainer's ``ModelCheckpoint`` when it monitors a
      metric, else the callback keeps a copy of the weights of the best ``monitor`` value.
    - every ``every_n_epochs`` epochs (optional), in evaluation mode on the current weights,
      as stages ``epoch<k>`` (k: epochs completed).

    Results are logged to the trainer's loggers as ``stability/<stage>/<quantity>/<layer>/c<cutoff>``
    (plus ``/d<delta>`` or ``/T<temperature>`` when several are measured), written with
    every new measurement to ``stability.json`` (atomically; one ``StabilityResult`` whose
    records carry their ``stage``: ``StabilityResult.from_json(path).by_stage()``), plotted to
    ``stability.png``, and printed as an init-vs-best table at the end of fit. The files go to
    ``dirpath`` when given, else the logger's run folder (``trainer.log_dir``), else a new
    ``<default_root_dir>/stability/version_<k>`` folder; never into an existing results file
    of another run, and nowhere under ``fast_dev_run``. The callback's randomness comes from
    its own generator seeded with ``seed``; the model's parameters, buffers and training flags
    are restored exactly, so training is the same with and without it. Measurements are kept
    in the callback's checkpoint state: a run resumed with ``ckpt_path`` keeps its ``init``
    result. Under DDP, rank 0 measures and the others wait.

    Args:
        probe_images: ``[N, C, n, n]`` images in [0, 1] pixel space; by default the
            datamodule's ``probe_set(probe_size)``.
        normalize: applied to probe batches after perturbing; by default the datamodule's
            ``normalize_images`` (when the images come from it), else none.
        probe_size: number of probe images taken from the datamodule.
        cutoffs: cutoffs c (each > 1).
        deltas: typical displacements in pixels (ignored when ``temperatures`` is given).
        temperatures: explicit temperatures instead of ``deltas``.
        interpolation: ``"bilinear"``, ``"gaussian"`` or ``"nearest"``.
        layers: None for the model's ``probe_layers`` (else the output), ``"output"``, or
            module names of the LightningModule (e.g. ``"model.layer1"``).
        average: ``"median"``, ``"mean"`` or a list of both (as ``measure_stability`` takes it).
        diffeos_per_image: diffeomorphisms per probe image and temperature.
        batch_size: images per forward pass of the probe (None: ``measure_stability``'s choice).
        when: stages to measure, a subset of ``("init", "best")``; empty disables both.
        every_n_epochs: also measure every N training epochs (None: never).
        monitor: validation metric deciding the best epoch when no ``ModelCheckpoint`` monitors one.
        monitor_mode: ``"max"`` or ``"min"`` for ``monitor``.
        seed: seed of the callback's own generator.
        filename: name of the JSON file.
        dirpath: folder of the results (default: the run's log folder, see above).
        plot: also write a PNG of R_f against relative depth.
        progress: show a progress bar while measuring.
        verbose: print the init-vs-best table to stdout at the end of fit (rank 0).

    Example:
        >>> from lightning import Trainer
        >>> callback = StabilityCallback(cutoffs=[3, 5], when=["init", "best"])
        >>> trainer = Trainer(callbacks=[callback], max_epochs=1)  # doctest: +SKIP
    """

    def __init__(
        self,
        probe_images: torch.Tensor | None = None,
        normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
        probe_size: int = PROBE_SIZE,
        cutoffs: float | Sequence[float] = MEASURE_DEFAULTS["cutoffs"],
        deltas: float | Sequence[float] | None = MEASURE_DEFAULTS["deltas"],
        temperatures: float | Sequence[float] | None = None,
        interpolation: Interpolation = MEASURE_DEFAULTS["interpolation"],
        layers: str | Sequence[str] | None = None,
        average: Average | Sequence[Average] = MEASURE_DEFAULTS["average"],
        diffeos_per_image: int = MEASURE_DEFAULTS["diffeos_per_image"],
        batch_size: int | None = MEASURE_DEFAULTS["batch_size"],
        when: Sequence[Stage] = WHEN,
        every_n_epochs: int | None = None,
        monitor: str = "val/acc",
        monitor_mode: Literal["max", "min"] = "max",
        seed: int = 0,
        filename: str = "stability.json",
        dirpath: str | Path | None = None,
        plot: bool = True,
        progress: bool = False,
        verbose: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(when, str):
            raise TypeError(f"when must be a list of stages among {WHEN}, got {when!r}")
        for stage in when:
            check_choice("when", stage, WHEN)
        check_choice("interpolation", interpolation, INTERPOLATIONS)
        check_choice("monitor_mode", monitor_mode, ("max", "min"))
        if every_n_epochs is not None:
            check_int("every_n_epochs", every_n_epochs, minimum=1)
        check_int("probe_size", probe_size, minimum=2)
        if probe_images is not None and (not isinstance(probe_images, torch.Tensor) or probe_images.dim() != 4):
            raise ValueError("probe_images must be a tensor [N, C, n, n] in [0, 1] pixel space")
        check_positive_int("diffeos_per_image", diffeos_per_image)
        if batch_size is not None:  # None: measure_stability's own choice, where it has one
            check_positive_int("batch_size", batch_size)
        self.probe_images = probe_images
        self.normalize = normalize
        self.probe_size = probe_size
        self.cutoffs = _as_tuple(cutoffs, "cutoffs")
        self.temperatures = _as_tuple(temperatures, "temperatures")
        self.deltas = None if self.temperatures is not None else _as_tuple(deltas, "deltas")
        if self.deltas is None and self.temperatures is None:
            raise ValueError("give deltas or temperatures")
        # Cutoffs > 1, positive sizes: checked now, without data (the image size only scales T).
        work_items(32, self.cutoffs, self.deltas, self.temperatures, False)
        self.interpolation = interpolation
        self.layers = layers
        self.average = _averages(average)
        self.diffeos_per_image = diffeos_per_image
        self.batch_size = batch_size
        self.when = tuple(when)
        self.every_n_epochs = every_n_epochs
        self.monitor = monitor
        self.monitor_mode = monitor_mode
        self.seed = seed
        self.filename = filename
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.plot = plot
        self.progress = progress
        self.verbose = verbose
        self.results: dict[str, StabilityResult] = {}
        self.best_epoch: int | None = None
        self.best_score: float | None = None
        self._best_weights: dict[str, torch.Tensor] | None = None
        self._images: torch.Tensor | None = None
        self._normalize: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._log_dir: Path | None = None
        self._logger_dir: Path | None = None
        self._directory_chosen = False
        self._monitor_checked = False

    # ------------------------------------------------------------------ probing
    def _resolve_probe(self, trainer: Trainer) -> None:
        if self._images is not None:
            return
        self._normalize = self.normalize
        if self.probe_images is not None:
            self._images = self.probe_images
            return
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "probe_set"):
            raise ValueError(
                "StabilityCallback needs probe images: pass probe_images=... or use a datamodule with a "
                "probe_set(size) method (every lightning_diffeo datamodule has one)"
            )
        self._images = datamodule.probe_set(self.probe_size)[0]
        if self._normalize is None and hasattr(datamodule, "normalize_images"):
            self._normalize = datamodule.normalize_images

    def measure(self, pl_module: LightningModule, mode: str, images: torch.Tensor | None = None) -> StabilityResult:
        """Measure the module now (``mode`` "init" or "eval"); the model is left exactly as it was.

        Args:
            pl_module: the module to measure.
            mode: ``"init"`` (batch-norm on batch statistics) or ``"eval"``.
            images: probe images; default the ones resolved at the start of fit, else ``probe_images``.
        """
        if images is None:
            images = self._images if self._images is not None else self.probe_images
        if images is None:
            raise RuntimeError("no probe images: pass probe_images=... or call measure during fit")
        reference = next(pl_module.parameters(), None)
        device = reference.device if reference is not None else torch.device("cpu")
        return measure_stability(
            pl_module,
            images.to(device),
            cutoffs=self.cutoffs,
            deltas=self.deltas,
            temperatures=self.temperatures,
            interpolation=self.interpolation,
            layers=self.layers,
            average=self.average,
            diffeos_per_image=self.diffeos_per_image,
            batch_size=self.batch_size,
            normalize=self._input_transform(reference),
            mode=mode,
            generator=torch.Generator().manual_seed(self.seed),
            progress=self.progress,
        )

    def _input_transform(self, parameter: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Normalisation, then a cast to the parameters' dtype (e.g. ``precision="bf16-true"``)."""
        normalize = self._normalize if self._images is not None else self.normalize
        if parameter is None or not parameter.is_floating_point() or parameter.dtype == torch.float32:
            return normalize
        dtype = parameter.dtype
        return lambda images: (normalize(images) if normalize is not None else images).to(dtype)

    def check_settings(self, pl_module: LightningModule, image_size: int | None = None) -> None:
        """Check the layer names against ``pl_module`` and the sizes against ``image_size``, without data.

        ``lightning-diffeo fit`` calls this before the datamodule loads and the run folder is
        used; the callback calls it again at the start of fit, on every rank.

        Raises:
            ValueError: an unknown layer name, a cutoff <= 1, a non-positive size.
        """
        resolve_layers(pl_module, self.layers)
        if image_size is not None:
            work_items(int(image_size), self.cutoffs, self.deltas, self.temperatures, False)

    def _record(self, trainer: Trainer, stage: str, result: StabilityResult) -> None:
        result.metadata.update({
            "stage": stage, "epoch": trainer.current_epoch, "global_step": trainer.global_step,
            "sizes": "temperatures" if self.temperatures is not None else "deltas",
        })
        self.results[stage] = result
        metrics = metric_dict(result, stage)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()
        directory = self._directory(trainer)
        if directory is not None:
            write_report(directory, self.filename, self.results, self._summary(), plot=self.plot)

    def _measure_on_rank_zero(self, trainer: Trainer, pl_module: LightningModule, stage: str, mode: str) -> None:
        if trainer.is_global_zero:
            self._record(trainer, stage, self.measure(pl_module, mode))
        trainer.strategy.barrier("stability")

    @property
    def results_path(self) -> Path | None:
        """Where the JSON results of the current fit are written (None before any, or under ``fast_dev_run``)."""
        return None if self._log_dir is None else self._log_dir / self.filename

    def _directory(self, trainer: Trainer) -> Path | None:
        """The results folder, chosen on rank 0 at the first write (None under ``fast_dev_run``)."""
        if not self._directory_chosen:
            self._directory_chosen = True
            if trainer.fast_dev_run:
                self._log_dir = None
            elif self.dirpath is not None:
                self._log_dir = self.dirpath
            elif self._logger_dir is not None:
                self._log_dir = self._logger_dir
            else:
                self._log_dir = make_unique_dir(Path(trainer.default_root_dir) / "stability", "version_")
            if self._log_dir is not None and not trainer.ckpt_path and (self._log_dir / self.filename).exists():
                raise FileExistsError(
                    f"StabilityCallback: {self._log_dir / self.filename} exists and holds another run's results; "
                    "give another dirpath (or filename), or remove that file"
                )
        return self._log_dir

    def _summary(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_score": self.best_score, "monitor": self.monitor}

    # -------------------------------------------------------------------- hooks
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._directory_chosen, self._log_dir, self._monitor_checked = False, None, False
        # trainer.log_dir is a collective under DDP: every rank asks, once, before anyone measures
        self._logger_dir = Path(trainer.log_dir) if trainer.loggers and trainer.log_dir else None
        self._resolve_probe(trainer)
        self.check_settings(pl_module, int(self._images.shape[-1]))
        if "init" not in self.when or "init" in self.results:
            return
        if trainer.ckpt_path is not None:
            # The weights come from a checkpoint: measuring them now would not be initialisation.
            rank_zero_warn(
                f"StabilityCallback: resuming from {trainer.ckpt_path}, which holds no 'init' measurement of "
                "this callback; the 'init' stage is skipped (its weights are not the initial ones)"
            )
            return
        self._measure_on_rank_zero(trainer, pl_module, "init", "init")

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if trainer.is_last_batch:
            # before the ModelCheckpoints of this epoch: last.ckpt then holds this measurement
            self._measure_epoch(trainer, pl_module)
        if "best" not in self.when or self._checkpoint_monitor(trainer) is not None:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            if not self._monitor_checked:
                logged = ", ".join(sorted(trainer.callback_metrics)) or "none"
                rank_zero_warn(
                    f"StabilityCallback: monitor {self.monitor!r} is not among the logged metrics ({logged}); "
                    "the 'best' stage needs it: set monitor=... to one of them"
                )
            self._monitor_checked = True
            return
        self._monitor_checked = True
        score = float(value)
        if self.best_score is None or (score > self.best_score if self.monitor_mode == "max" else score < self.best_score):
            self.best_score, self.best_epoch = score, trainer.current_epoch
            self._best_weights = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._measure_epoch(trainer, pl_module)  # epochs without validation

    def _measure_epoch(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.every_n_epochs and epoch % self.every_n_epochs == 0 and f"epoch{epoch}" not in self.results:
            self._measure_on_rank_zero(trainer, pl_module, f"epoch{epoch}", "eval")

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if "best" in self.when:
            if trainer.is_global_zero:  # only rank 0 reads the checkpoint: no shared filesystem needed
                self._measure_best(trainer, pl_module)
            trainer.strategy.barrier("stability")
        if trainer.is_global_zero and self.results and self.verbose:
            print(comparison_table(self.results), flush=True)
            if self.results_path is not None:
                print(f"stability results: {self.results_path}", flush=True)

    # -------------------------------------------------------------- best weights
    def _measure_best(self, trainer: Trainer, pl_module: LightningModule) -> None:
        weights = self._best_state(trainer)
        if weights is None:
            rank_zero_warn(
                f"StabilityCallback: no validation value of {self.monitor!r} and no best checkpoint: "
                "the 'best' measurement is skipped (run validation or set monitor=...)"
            )
            return
        current = copy.deepcopy(pl_module.state_dict())
        pl_module.load_state_dict(weights)
        try:
            self._record(trainer, "best", self.measure(pl_module, "eval"))
        finally:
            pl_module.load_state_dict(current)

    @staticmethod
    def _checkpoint_monitor(trainer: Trainer) -> ModelCheckpoint | None:
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.monitor is not None:
                return callback
        return None

    def _best_state(self, trainer: Trainer) -> dict[str, torch.Tensor] | None:
        checkpoint = self._checkpoint_monitor(trainer)
        if checkpoint is None:
            return self._best_weights
        if not checkpoint.best_model_path:
            return None
        if checkpoint.monitor != self.monitor:
            rank_zero_warn(
                f"StabilityCallback: 'best' follows the ModelCheckpoint, which monitors {checkpoint.monitor!r}, "
                f"not the callback's monitor {self.monitor!r}"
            )
        self.best_score = None if checkpoint.best_model_score is None else float(checkpoint.best_model_score)
        self.monitor = checkpoint.monitor
        # Written by this very run, so trusted: hyper-parameters may hold objects (paths, enums)
        # that the weights-only unpickler refuses.
        state = read_checkpoint(checkpoint.best_model_path, trusted=True)
        self.best_epoch = state.get("epoch")
        return state["state_dict"]

    # ---------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "results": {stage: {"records": r.to_dicts(), "metadata": r.metadata} for stage, r in self.results.items()},
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
        }
        if self._best_weights is not None:
            state["best_weights"] = self._best_weights
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.results = {
            stage: StabilityResult.from_dicts(saved["records"], saved["metadata"])
            for stage, saved in state_dict.get("results", {}).items()
        }
        self.best_epoch = state_dict.get("best_epoch")
        self.best_score = state_dict.get("best_score")
        self._best_weights = state_dict.get("best_weights")
