"""``StabilityCallback``: R_f per layer at initialisation and at the best-validation weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

from lightning_diffeo.datamodules.base import PROBE_SIZE
from lightning_diffeo.provenance import provenance
from lightning_diffeo.stability import (
    DEFAULT_AVERAGE, DEFAULT_CUTOFFS, DEFAULT_DELTAS, DEFAULT_DIFFEOS_PER_IMAGE, DEFAULT_INTERPOLATION,
    DEFAULT_MAX_MEMORY, DEFAULT_PER_IMAGE, MEASURE_DEFAULTS, Average, Interpolation, StabilityResult, check_averages,
    check_batch_size, check_cutoffs, check_diffeos_per_image, check_interpolation, check_layers, check_max_memory,
    check_normalize, check_per_image, check_probe_images, check_probe_size, check_sizes, measure_stability,
    resolve_layers, temperature_items,
)
from lightning_diffeo.validation import check_choice, check_int

from ._best import checkpoint_monitor, improves, loaded_weights, monitored_score, read_best_checkpoint
from ._per_image import check_output_layer, per_image_files, write_per_image_files
from ._probe import Normalize, float32_module, input_transform, resolve_probe
from ._results import ResultsFolder
from .report import comparison_table, metric_dict, results_from_state, results_state, write_report

__all__ = ["MEASURE_DEFAULTS", "StabilityCallback", "WHEN"]

Stage = Literal["init", "best"]
MonitorMode = Literal["max", "min"]
WHEN: tuple[str, ...] = get_args(Stage)


def _check_when(when: Any) -> tuple[str, ...]:
    if isinstance(when, str):
        raise TypeError(f"when must be a list of stages among {WHEN}, got {when!r}")
    return tuple(check_choice("when", stage, WHEN) for stage in when)


class StabilityCallback(Callback):
    """Measure D_f, G_f and R_f per layer during ``trainer.fit``, without changing training.

    - ``init``: before the first training step, in initialisation mode (evaluation mode with
      batch-norm on batch statistics), on the freshly initialised weights.
    - ``best``: at the end of fit, in evaluation mode, on the weights of the best validation
      epoch: the best checkpoint of the trainer's ``ModelCheckpoint`` when it monitors a
      metric, else the callback keeps a copy of the weights of the best ``monitor`` value.
    - every ``every_n_epochs`` epochs (optional), in evaluation mode on the current weights,
      as stages ``epoch<k>`` (k: the epoch's 0-based index, as Lightning counts: ``epoch4``,
      ``epoch9``, ... for 5). Each result records the ``epoch`` and ``global_step`` of its weights.

    Results are logged to the trainer's loggers as ``stability/<stage>/<quantity>/<layer>/c<cutoff>``
    (plus ``/d<delta>`` or ``/T<temperature>`` when several are measured), written with
    every new measurement to ``stability.json`` (atomically; one ``StabilityResult`` whose
    records carry their ``stage``: ``StabilityResult.from_json(path).by_stage()``), plotted to
    ``stability.png`` (with ``per_image``, ``best`` also to ``per_image.csv`` and ``per_image.png``),
    and printed as an init-vs-best table at the end of fit. The files go to
    ``dirpath`` when given, else the logger's run folder (``trainer.log_dir``), else a new
    ``<default_root_dir>/stability/version_<k>`` folder; never into an existing results file
    of another run, and nowhere under ``fast_dev_run``. The callback's randomness comes from
    its own generator seeded with ``seed``; the model's parameters, buffers and training flags
    are restored exactly, so training is the same with and without it. Measurements are kept
    in the callback's checkpoint state: a run resumed with ``ckpt_path`` keeps its ``init``
    result. Under DDP, rank 0 measures and the others wait.

    The measurement options (``probe_images`` to ``max_memory``) have ``measure_stability``'s
    names, defaults (:data:`MEASURE_DEFAULTS`) and checks
    (:mod:`lightning_diffeo.stability.settings`): they are checked here, without data; the
    layer names are checked against the model by :meth:`check_settings`.

    Args:
        probe_images: ``[N, C, n, n]`` images in [0, 1] pixel space, N >= 2; by default the
            datamodule's ``probe_set(probe_size)``.
        normalize: applied to probe batches after perturbing; by default the datamodule's
            ``normalize_images`` (when the images come from it), else none.
        probe_size: number of probe images taken from the datamodule (>= 2).
        cutoffs: cutoffs c (each > 1).
        deltas: typical displacements in pixels (ignored when ``temperatures`` is given).
        temperatures: explicit temperatures instead of ``deltas``.
        interpolation: ``"bilinear"``, ``"gaussian"`` or ``"nearest"``.
        layers: None for the model's ``probe_layers`` (else the output), ``"output"``, or
            module names of the LightningModule (e.g. ``"model.layer1"``).
        average: ``"median"``, ``"mean"`` or a list of both (as ``measure_stability`` takes it).
        diffeos_per_image: diffeomorphisms per probe image and temperature.
        batch_size: images per forward pass of the probe (None: ``measure_stability``'s choice).
        max_memory: bytes, or e.g. ``"4GB"``, the probe may use (None: a safe share of what is free).
        per_image: keep each image's terms at the output (which must be among the layers) in the ``best``
            measurement and write them to ``per_image.csv`` (with ``plot``, also ``per_image.png``).

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
        cutoffs: float | Sequence[float] = DEFAULT_CUTOFFS,
        deltas: float | Sequence[float] | None = DEFAULT_DELTAS,
        temperatures: float | Sequence[float] | None = None,
        interpolation: Interpolation = DEFAULT_INTERPOLATION,
        layers: str | Sequence[str] | None = None,
        average: Average | Sequence[Average] = DEFAULT_AVERAGE,
        diffeos_per_image: int = DEFAULT_DIFFEOS_PER_IMAGE,
        batch_size: int | None = None,
        max_memory: int | str | None = DEFAULT_MAX_MEMORY,
        per_image: bool = DEFAULT_PER_IMAGE,
        when: Sequence[Stage] = WHEN,
        every_n_epochs: int | None = None,
        monitor: str = "val/acc",
        monitor_mode: MonitorMode = "max",
        seed: int = 0,
        filename: str = "stability.json",
        dirpath: str | Path | None = None,
        plot: bool = True,
        progress: bool = False,
        verbose: bool = True,
    ) -> None:
        super().__init__()
        self.when = _check_when(when)
        self.monitor_mode = check_choice("monitor_mode", monitor_mode, get_args(MonitorMode))
        self.every_n_epochs = None if every_n_epochs is None else check_int("every_n_epochs", every_n_epochs, minimum=1)
        self.probe_images = None if probe_images is None else check_probe_images(probe_images, "probe_images")
        self.normalize = check_normalize(normalize)
        self.probe_size = check_probe_size(probe_size)
        self.cutoffs = check_cutoffs(cutoffs)
        # temperatures, when given, replace the deltas (the callback has no sweep)
        self.sizes = check_sizes(None if temperatures is not None else deltas, temperatures)
        self.deltas, self.temperatures = self.sizes.deltas, self.sizes.temperatures
        self.interpolation = check_interpolation(interpolation)
        self.layers = check_layers(layers)
        self.average = check_averages(average)
        self.diffeos_per_image = check_diffeos_per_image(diffeos_per_image)
        self.batch_size = check_batch_size(batch_size)
        self.max_memory, self.per_image = check_max_memory(max_memory), check_per_image(per_image)
        self.monitor, self.seed, self.filename = monitor, seed, filename
        self._per_image_files = per_image_files(self.per_image, self.when)
        self._folder = ResultsFolder(None if dirpath is None else Path(dirpath), (filename, *self._per_image_files))
        self.plot, self.progress, self.verbose = plot, progress, verbose
        self.results: dict[str, StabilityResult] = {}
        self.best_epoch: int | None = None
        self._best_step: int | None = None
        self.best_score: float | None = None
        self._best_weights: dict[str, torch.Tensor] | None = None
        self._images: torch.Tensor | None = None
        self._normalize: Normalize | None = None
        self._monitor_checked = False
        self._provenance: dict[str, Any] | None = None

    # ------------------------------------------------------------------ probing
    def _resolve_probe(self, trainer: Trainer) -> None:
        if self._images is None:
            self._images, self._normalize = resolve_probe(trainer, self.probe_images, self.normalize, self.probe_size)

    def measure(self, pl_module: LightningModule, mode: str, images: torch.Tensor | None = None,
                per_image: bool = DEFAULT_PER_IMAGE) -> StabilityResult:
        """Measure the module now (``mode`` "init" or "eval"), in float32 whatever the trainer's
        precision (:func:`float32_module`); the model is left exactly as it was.

        Args:
            pl_module: the module to measure.
            mode: ``"init"`` (batch-norm on batch statistics) or ``"eval"``.
            images: probe images; default the ones resolved at the start of fit, else ``probe_images``.
            per_image: also keep each image's terms at the output (``result.per_image``).
        """
        if images is None:
            images = self._images if self._images is not None else self.probe_images
        if images is None:
            raise RuntimeError("no probe images: pass probe_images=... or call measure during fit")
        with float32_module(pl_module) as module:
            reference = next(module.parameters(), None)
            device = reference.device if reference is not None else torch.device("cpu")
            normalize = input_transform(self._normalize if self._images is not None else self.normalize, reference)
            return measure_stability(
                module, images.to(device), cutoffs=self.cutoffs, deltas=self.sizes.deltas,
                temperatures=self.sizes.temperatures, interpolation=self.interpolation, layers=self.layers,
                average=self.average, diffeos_per_image=self.diffeos_per_image, batch_size=self.batch_size,
                normalize=normalize, mode=mode, generator=torch.Generator().manual_seed(self.seed),
                progress=self.progress, max_memory=self.max_memory, per_image=per_image,
            )

    def check_settings(self, pl_module: LightningModule, image_size: int | None = None) -> None:
        """Check the layer names against ``pl_module``, and with ``image_size`` the temperatures, without data.

        Every other option was checked when the callback was built. ``lightning-diffeo fit``
        calls this before the datamodule loads and the run folder is used; the callback calls
        it again at the start of fit, with the probe's image size, on every rank.

        Raises:
            ValueError: an unknown layer name; ``per_image`` without the output among the layers;
                a typical displacement that gives no temperature on ``image_size`` x ``image_size`` images.
        """
        check_output_layer(self._per_image_files, resolve_layers(pl_module, self.layers))
        if image_size is not None:  # the one conversion of deltas to temperatures, as measured
            temperature_items(int(image_size), self.cutoffs, self.sizes)

    def _record(self, trainer: Trainer, stage: str, result: StabilityResult,
                weights_at: tuple[int | None, int | None] | None = None) -> None:
        """Keep, log and write a measurement; ``weights_at``: (epoch, global_step) of the weights when not the current ones."""
        epoch, step = weights_at if weights_at is not None else (trainer.current_epoch, trainer.global_step)
        result.metadata.update({
            "stage": stage, "epoch": epoch, "global_step": step,
            "sizes": "temperatures" if self.temperatures is not None else "deltas",
        })
        self.results[stage] = result
        metrics = metric_dict(result, stage)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
            logger.save()
        directory = self._folder.choose(trainer)
        if directory is not None:
            write_report(directory, self.filename, self.results, self._summary(), plot=self.plot)
            write_per_image_files(directory, result, self._images if self.plot else None, bool(trainer.ckpt_path))

    def _measure_on_rank_zero(self, trainer: Trainer, pl_module: LightningModule, stage: str, mode: str) -> None:
        if trainer.is_global_zero:
            self._record(trainer, stage, self.measure(pl_module, mode))
        trainer.strategy.barrier("stability")

    @property
    def provenance(self) -> dict[str, Any] | None:
        """Versions, commit, device, precision and probe-set hash of the current fit (None before it starts)."""
        return self._provenance

    @property
    def results_path(self) -> Path | None:
        """Where the JSON results of the current fit are written (None before any, or under ``fast_dev_run``)."""
        return None if self._folder.path is None else self._folder.path / self.filename

    def _summary(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_score": self.best_score, "monitor": self.monitor,
                "provenance": self._provenance}

    # -------------------------------------------------------------------- hooks
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._monitor_checked = False
        self._folder.start(trainer)
        self._resolve_probe(trainer)
        self._provenance = provenance(str(trainer.precision), self._images)
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
        if "best" not in self.when or checkpoint_monitor(trainer) is not None:
            return
        score = monitored_score(trainer, self.monitor, warn=not self._monitor_checked)
        self._monitor_checked = True
        if score is not None and improves(score, self.best_score, self.monitor_mode):
            self.best_score, self.best_epoch, self._best_step = score, trainer.current_epoch, trainer.global_step
            self._best_weights = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._measure_epoch(trainer, pl_module)  # epochs without validation

    def _measure_epoch(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Every ``every_n_epochs`` epochs: stage ``epoch<k>``, k the finished epoch's index (0-based, as Lightning counts)."""
        stage = f"epoch{trainer.current_epoch}"
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0 and stage not in self.results:
            self._measure_on_rank_zero(trainer, pl_module, stage, "eval")

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
        with loaded_weights(pl_module, weights):
            result = self.measure(pl_module, "eval", per_image=self.per_image)
            self._record(trainer, "best", result, (self.best_epoch, self._best_step))

    def _best_state(self, trainer: Trainer) -> dict[str, torch.Tensor] | None:
        checkpoint = checkpoint_monitor(trainer)
        if checkpoint is None:
            return self._best_weights
        if not checkpoint.best_model_path:
            return None
        if checkpoint.monitor != self.monitor:
            rank_zero_warn(
                f"StabilityCallback: 'best' follows the ModelCheckpoint, which monitors {checkpoint.monitor!r}, "
                f"not the callback's monitor {self.monitor!r}"
            )
        self.monitor = checkpoint.monitor
        weights, self.best_epoch, self._best_step, self.best_score = read_best_checkpoint(checkpoint)
        return weights

    # ---------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "results": results_state(self.results),
            "best_epoch": self.best_epoch,
            "best_step": self._best_step,
            "best_score": self.best_score,
        }
        if self._best_weights is not None:
            state["best_weights"] = self._best_weights
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.results = results_from_state(state_dict.get("results", {}))
        self.best_epoch = state_dict.get("best_epoch")
        self._best_step = state_dict.get("best_step")
        self.best_score = state_dict.get("best_score")
        self._best_weights = state_dict.get("best_weights")
