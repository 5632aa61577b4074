"""Training throughput of a study's ``fit`` against a bare PyTorch loop, side by side.

The fit side is what a sweep runs: ``lightning_diffeo.runs.build_cli([...], save_config=False)``
on ``configs/fashionmnist_resnet18.yaml`` with the CPU study's settings
(``configs/sweeps/fashionmnist_study.yaml``: random crop and horizontal flip, 20 validation
batches, cutoffs 3 and 5), then ``lightning_diffeo.runs.fit_and_test(cli)``: the real
``FashionMNISTDataModule`` (Debian's files in ``/usr/share/datasets/fashion-mnist``), CSV
logging into a fresh run folder, the best checkpoint and ``last.ckpt`` every epoch, validation
every epoch, the epoch line, and the StabilityCallback at its default schedule (``init`` and
``best``). The logger points at the run folder as a sweep's does.

The bare side is a hand-written loop on the same model (same initial weights), the same
training and validation tensors, the same batch size, optimizer and schedule
(``build_optimization``), and the same batch transform (the datamodule's own
``train_transform()``: random crop, flip, normalisation, drawn per epoch): per epoch, a
``randperm`` of the subset, forward, cross-entropy, ``zero_grad``, ``backward``, ``step``,
scheduler step, loss and accuracy summed on the fly; then the validation images (normalised
once, before the loop) in eval mode under ``no_grad``; then ``torch.save`` of the model,
optimizer and scheduler state to ``last.pt``, and to ``best.pt`` when validation accuracy
improved. No logging, no stability measurement.

Metric: steady-state training throughput, images of the training subset per second of the
epochs after the first (``--epochs`` minus one), each epoch timed from its start to the start
of the next (to the end of training for the last): training, validation, checkpointing,
logging and every hook are inside, the one-off work before the first epoch (data loading,
the sanity check, the ``init`` stability measurement) and after the last (the ``best``
measurement) outside. A callback placed before the StabilityCallback records the time
stamps (its ``on_train_end`` runs before the ``best`` measurement); the StabilityCallback's
``on_fit_start`` and ``on_train_end`` are wrapped (an instance attribute of this benchmark)
to time its work, which is reported separately. Per-phase times within the measured epochs
(batch fetch and augmentation, step, validation, checkpoint writes, the rest) come from the
same stamps and from wrapping ``trainer.save_checkpoint``.

Settings: ``fp32``; ``channels_last`` (the package has no option for it: a callback of this
benchmark converts the LightningModule with ``.to(memory_format=torch.channels_last)`` at
``setup``; the bare loop converts its model and batches; FashionMNIST's one-channel batches
are channels-last already); ``bf16`` (``--trainer.precision bf16-mixed`` against
``torch.autocast("cpu", torch.bfloat16)`` around the bare loop's forward passes and loss).

Repeats alternate which side runs first. Reported: median images/s of each side, the median
of the per-repeat ratios fit / bare (1.0: as fast as the bare loop) and the ratio of the two
medians (steadier where the machine's speed drifts within a pair of runs). Wall clock.

Usage::

    python benchmarks/bench_fit.py                       # every model and setting, then the torch.compile
                                                         # trial on LeNet's bare loop; writes JSON (~8 min)
    python benchmarks/bench_fit.py --quick               # tiny runs: checks that it runs (~2 min)
    python benchmarks/bench_fit.py --models fc4 --settings fp32 --repeats 1 --profile 25 --no-compile-trial
    python benchmarks/bench_fit.py --models lenet --settings fp32 --interleave --epochs 12 --repeats 3 --no-compile-trial

``--interleave``: instead of separate fit and bare runs, each repeat is one fit with an epoch of
the bare loop (same model, data, batch size, optimizer; its own weights) run right after each fit
epoch, in the same process, its time left out of the fit epoch's; each pair of epochs after the
first gives a ratio. A pair is about 4 s apart instead of a pair of runs' 20 s, so a machine whose
speed drifts moves both sides of a pair alike.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import logging
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning
import torch
import torch.nn.functional as F
from lightning import Callback

from lightning_diffeo.callbacks import StabilityCallback
from lightning_diffeo.datamodules import FashionMNISTDataModule
from lightning_diffeo.models import ImageClassifier, build_optimization
from lightning_diffeo.runs import build_cli, fit_and_test

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "configs" / "fashionmnist_resnet18.yaml"
DATA_DIR = "/usr/share/datasets/fashion-mnist"
BATCH = 128
VAL_BATCHES = 20  # the CPU study's trainer.limit_val_batches
PROFILE_DIR = Path(__file__).parent / "results"  # --profile also writes pstats files here
CUTOFFS = "[3, 5]"  # the CPU study's stability.cutoffs

MODELS: dict[str, dict[str, Any]] = {  # name: model options (recipe as in the studies)
    "lenet": {"arch": "lenet", "recipe": "sgd"},
    "fc4": {"arch": "fc4", "recipe": "adam"},
    "vgg11_bn-8": {"arch": "vgg11_bn", "recipe": "sgd", "base_channels": 8},
    "resnet18-8": {"arch": "resnet18", "recipe": "sgd", "base_channels": 8},
    "vgg11_bn-16": {"arch": "vgg11_bn", "recipe": "sgd", "base_channels": 16},
    "resnet18-16": {"arch": "resnet18", "recipe": "sgd", "base_channels": 16},
}
DEFAULT_MODELS = ["lenet", "fc4", "vgg11_bn-8", "resnet18-8"]
SETTINGS = ("fp32", "channels_last", "bf16")
# Training images per epoch. LeNet and fc4: 120 batches, the CPU study's epoch
# (trainer.limit_train_batches: 120); the convolutional nets: 16 batches, to keep the run short.
TRAIN_SIZE = {"lenet": 15360, "fc4": 15360, "vgg11_bn-8": 2048, "resnet18-8": 2048,
              "vgg11_bn-16": 1024, "resnet18-16": 1024}
BF16_DIVISOR = 4  # bf16 autocast is many times slower on this CPU: a quarter of the images,
BF16_REPEATS = 2  # and at most two repeats


def _clock() -> float:
    return time.perf_counter()


# ---------------------------------------------------------------------------------- phases
@dataclass
class EpochPhases:
    """Stamps of one epoch; every duration in seconds."""

    start: float = 0.0
    end: float = 0.0
    images: int = 0
    fetch: float = 0.0  # between steps: the loader (sampler, gather, augmentation) and the loop
    step: float = 0.0  # forward, loss, backward, optimizer (and, on the fit side, the step's hooks)
    val: float = 0.0
    ckpt: float = 0.0
    excluded: float = 0.0  # --interleave: the bare epoch run inside this fit epoch

    def as_dict(self) -> dict[str, float]:
        total = self.end - self.start - self.excluded
        rest = total - self.fetch - self.step - self.val - self.ckpt
        return {"total": total, "images": self.images, "fetch": self.fetch, "step": self.step,
                "val": self.val, "ckpt": self.ckpt, "rest": rest}


class _Profile:
    """cProfile switched on over the measured epochs only (``--profile``)."""

    def __init__(self, enabled: bool) -> None:
        self.profile = cProfile.Profile() if enabled else None
        self.on = False

    def start(self) -> None:
        if self.profile is not None and not self.on:
            self.profile.enable()
            self.on = True

    def stop(self) -> None:
        if self.profile is not None and self.on:
            self.profile.disable()
            self.on = False


class EpochClock(Callback):
    """Time stamps of the fit side: epochs, steps, validation; placed before the StabilityCallback."""

    def __init__(self, profile: _Profile) -> None:
        self.epochs: list[EpochPhases] = []
        self.profile = profile
        self._batch_end: float | None = None
        self._batch_start = 0.0
        self._val_start = 0.0

    def _close(self, now: float) -> None:
        if self.epochs and not self.epochs[-1].end:
            self.epochs[-1].end = now

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        now = _clock()
        self._close(now)
        if len(self.epochs) == 1:
            self.profile.start()
        self.epochs.append(EpochPhases(start=now))
        self._batch_end = now

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch_start = _clock()
        self.epochs[-1].fetch += self._batch_start - self._batch_end
        self.epochs[-1].images += int(batch[0].shape[0])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._batch_end = _clock()
        self.epochs[-1].step += self._batch_end - self._batch_start

    def on_validation_start(self, trainer, pl_module) -> None:
        self._val_start = _clock()

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and self.epochs:
            self.epochs[-1].val += _clock() - self._val_start

    def on_train_end(self, trainer, pl_module) -> None:
        self._close(_clock())
        self.profile.stop()


class ChannelsLast(Callback):
    """The fit side's ``channels_last`` setting (the package has no option for it)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        pl_module.to(memory_format=torch.channels_last)


class BareEpochs(Callback):
    """``--interleave``: an epoch of the bare loop right after each fit epoch, in the same process,
    so that each pair of epochs meets the machine in the same state; its time is left out of the
    fit epoch's. Placed right after the EpochClock."""

    def __init__(self, bare: "BareLoop", clock: EpochClock) -> None:
        self.bare, self.clock = bare, clock
        self.epochs: list[EpochPhases] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        phases = self.bare.epoch(trainer.current_epoch)
        self.epochs.append(phases)
        self.clock.epochs[-1].excluded += phases.end - phases.start


def _timed_method(owner: Any, name: str, sink: list[float], on_call: Any = None) -> None:
    """Replace ``owner.name`` by a wrapper (an instance attribute) adding each call's seconds to ``sink``."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = _clock()
        try:
            return original(*args, **kwargs)
        finally:
            elapsed = _clock() - start
            sink.append(elapsed)
            if on_call is not None:
                on_call(elapsed)

    setattr(owner, name, wrapper)


# ------------------------------------------------------------------------------- fit side
def fit_args(model: str, setting: str, train_size: int, epochs: int, run_dir: Path) -> list[str]:
    """The command line of one fit: the FashionMNIST config with the CPU study's settings."""
    options = MODELS[model]
    args = [
        "--config", str(BASE_CONFIG),
        "--data.data_dir", DATA_DIR, "--data.batch_size", str(BATCH), "--data.train_size", str(train_size),
        "--trainer.max_epochs", str(epochs), "--trainer.limit_val_batches", str(VAL_BATCHES),
        "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
        "--trainer.default_root_dir", str(run_dir),
        "--trainer.logger", json.dumps({"class_path": "lightning.pytorch.loggers.CSVLogger",
                                        "init_args": {"save_dir": str(run_dir), "name": "", "version": ""}}),
        "--stability.cutoffs", CUTOFFS,
        "--model.arch", options["arch"], "--model.recipe", options["recipe"],
    ]
    if "base_channels" in options:
        args += ["--model.base_channels", str(options["base_channels"])]
    if setting == "bf16":
        args += ["--trainer.precision", "bf16-mixed"]
    return args


def run_fit(model: str, setting: str, train_size: int, epochs: int, profile: _Profile,
            interleave: "BareLoop | None" = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench_fit_") as tmp:
        run_dir = Path(tmp) / "run"
        log = io.StringIO()  # the epoch lines and the stability table
        with contextlib.redirect_stdout(log):
            cli = build_cli(fit_args(model, setting, train_size, epochs, run_dir), save_config=False)
            trainer = cli.trainer
            init_state = {k: v.detach().clone() for k, v in cli.model.state_dict().items()}
            clock = EpochClock(profile)
            stability = next(cb for cb in trainer.callbacks if isinstance(cb, StabilityCallback))
            trainer.callbacks.insert(trainer.callbacks.index(stability), clock)
            bare_epochs = BareEpochs(interleave, clock) if interleave is not None else None
            if bare_epochs is not None:
                trainer.callbacks.insert(trainer.callbacks.index(stability), bare_epochs)
            if setting == "channels_last":
                trainer.callbacks.insert(0, ChannelsLast())
            stability_s: dict[str, list[float]] = {"init": [], "best": []}
            _timed_method(stability, "on_fit_start", stability_s["init"])
            _timed_method(stability, "on_train_end", stability_s["best"])

            def on_save(elapsed: float) -> None:
                if clock.epochs and not clock.epochs[-1].end:
                    clock.epochs[-1].ckpt += elapsed
            saves: list[float] = []
            _timed_method(trainer, "save_checkpoint", saves, on_save)
            outcome = fit_and_test(cli)
        order = [type(cb).__name__ for cb in trainer.callbacks]
        if order.index("EpochClock") > order.index("StabilityCallback"):
            raise RuntimeError(f"the clock must run before the StabilityCallback: {order}")
        written = sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt"))
        if "last.ckpt" not in written or not any(name.startswith("best") for name in written):
            raise RuntimeError(f"expected last.ckpt and a best checkpoint, found {written}")
        if not (run_dir / "metrics.csv").is_file() or not (run_dir / "stability.json").is_file():
            raise RuntimeError(f"metrics.csv or stability.json missing from the run folder: "
                               f"{sorted(os.listdir(run_dir))}")
        if len(clock.epochs) != epochs:
            raise RuntimeError(f"{len(clock.epochs)} epochs timed, {epochs} expected")
        interleaved = {} if bare_epochs is None else {"bare_epochs": [e.as_dict() for e in bare_epochs.epochs]}
        return {**interleaved, "epochs": [e.as_dict() for e in clock.epochs], "fit_s": outcome.fit_s,
                "stability_init_s": sum(stability_s["init"]), "stability_best_s": sum(stability_s["best"]),
                "checkpoint_writes": len(saves), "checkpoints": written,
                "stability_stages": sorted(stability.results), "init_state": init_state,
                "final_train_loss": float(trainer.callback_metrics.get("train/loss", float("nan")))}


# ------------------------------------------------------------------------------ bare side
@dataclass
class Data:
    """The fit side's training subset and validation images, as tensors."""

    train_images: torch.Tensor  # uint8 [P, 1, 28, 28]
    train_labels: torch.Tensor
    transform: Any  # the datamodule's training batch transform
    val_images: torch.Tensor  # float32, normalised [V, 1, 28, 28]
    val_labels: torch.Tensor
    extra: dict[str, Any] = field(default_factory=dict)


def load_data(train_size: int) -> Data:
    datamodule = FashionMNISTDataModule(data_dir=DATA_DIR, batch_size=BATCH, train_size=train_size,
                                        random_crop=True, horizontal_flip=True)
    datamodule.prepare_data()
    datamodule.setup("fit")
    train = datamodule.train_dataloader().dataset
    val = datamodule.val_dataloader().dataset
    n_val = min(len(val), VAL_BATCHES * BATCH)
    val_images, val_labels = val[torch.arange(n_val)]
    return Data(train.images, train.labels, train.transform, val_images, val_labels)


def _model(model: str) -> ImageClassifier:
    options = {k: v for k, v in MODELS[model].items()}
    arch = options.pop("arch")
    torch.manual_seed(0)  # the CLI's seed_everything: 0, then the model is built
    return ImageClassifier(arch, in_channels=1, num_classes=10, image_size=28, **options)


class BareLoop:
    """The bare side, one epoch per call to :meth:`epoch`; checkpoints go to ``folder``."""

    def __init__(self, model: str, setting: str, data: Data, epochs: int, folder: Path,
                 compile_model: bool = False) -> None:
        module = _model(model)
        self.init_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self.net = net = module.model
        self.channels_last = setting == "channels_last"
        if self.channels_last:
            net.to(memory_format=torch.channels_last)
        if compile_model:
            net.compile()
        self.autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if setting == "bf16" \
            else contextlib.nullcontext
        self.data, self.folder = data, folder
        self.n = len(data.train_labels)
        config = build_optimization(net, module.recipe, total_steps=epochs * math.ceil(self.n / BATCH))
        self.optimizer = config["optimizer"]
        self.scheduler = config.get("lr_scheduler", {}).get("scheduler")
        self.generator = torch.Generator().manual_seed(0)
        self.val_x = data.val_images.contiguous(memory_format=torch.channels_last) if self.channels_last \
            else data.val_images
        self.best = -1.0
        self.train_loss = float("nan")

    def epoch(self, epoch: int) -> EpochPhases:
        """Train one epoch, validate, write ``last.pt`` (and ``best.pt``); the phases' times."""
        data, net, optimizer, scheduler, n = self.data, self.net, self.optimizer, self.scheduler, self.n
        ep = EpochPhases(start=_clock(), images=n)
        net.train()
        data.transform.set_epoch(epoch)
        order = torch.randperm(n, generator=self.generator)
        total_loss = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, BATCH):
            t0 = _clock()
            index = order[i:i + BATCH]
            x, y = data.transform(data.train_images[index]), data.train_labels[index]
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            t1 = _clock()
            with self.autocast():
                logits = net(x)
                loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.detach() * len(y)
            correct += (logits.detach().argmax(dim=1) == y).sum()
            t2 = _clock()
            ep.fetch += t1 - t0
            ep.step += t2 - t1
        self.train_loss, _ = (total_loss / n).item(), (correct / n).item()
        t0 = _clock()
        net.eval()
        val_correct = 0
        with torch.no_grad(), self.autocast():
            for i in range(0, len(self.val_x), BATCH):
                logits = net(self.val_x[i:i + BATCH])
                val_correct += int((logits.argmax(dim=1) == data.val_labels[i:i + BATCH]).sum())
        val_acc = val_correct / len(self.val_x)
        t1 = _clock()
        state = {"epoch": epoch, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict() if scheduler is not None else None}
        torch.save(state, self.folder / "last.pt")
        if val_acc > self.best:
            self.best = val_acc
            torch.save(state, self.folder / "best.pt")
        t2 = _clock()
        ep.val += t1 - t0
        ep.ckpt += t2 - t1
        ep.end = _clock()
        return ep


def run_bare(model: str, setting: str, data: Data, epochs: int, profile: _Profile,
             compile_model: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench_bare_") as tmp:
        bare = BareLoop(model, setting, data, epochs, Path(tmp), compile_model)
        phases = []
        for epoch in range(epochs):
            if epoch == 1:
                profile.start()
            phases.append(bare.epoch(epoch))
        profile.stop()
    for before, after in zip(phases, phases[1:]):  # epochs back to back, as the fit side's clock counts them
        before.end = after.start
    return {"epochs": [e.as_dict() for e in phases], "init_state": bare.init_state,
            "final_train_loss": bare.train_loss}


# ------------------------------------------------------------------------------- the runs
def steady(result: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Images/s over the epochs after the first, and the per-image seconds of each phase there."""
    measured = result["epochs"][1:]
    images = sum(e["images"] for e in measured)
    seconds = sum(e["total"] for e in measured)
    phases = {k: sum(e[k] for e in measured) / images for k in ("fetch", "step", "val", "ckpt", "rest")}
    return images / seconds, phases


def _same_init(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    keys = [k for k in a if k.startswith("model.")]
    return all(torch.equal(a[k], b[k]) for k in keys) and set(keys) == {k for k in b if k.startswith("model.")}


def _loadavg() -> float:
    return os.getloadavg()[0]


def bench(model: str, setting: str, train_size: int, epochs: int, repeats: int, profile_top: int) -> dict[str, Any]:
    data = load_data(train_size)
    sides: dict[str, list[dict[str, Any]]] = {"fit": [], "bare": []}
    same_init = None
    load = [_loadavg()]
    off = _Profile(False)
    for r in range(repeats):
        order = ("fit", "bare") if r % 2 == 0 else ("bare", "fit")
        for side in order:
            result = run_fit(model, setting, train_size, epochs, off) if side == "fit" else \
                run_bare(model, setting, data, epochs, off)
            result["images_per_s"], result["phase_s_per_image"] = steady(result)
            sides[side].append(result)
            extra = (f", stability init {result['stability_init_s']:.2f} s + best {result['stability_best_s']:.2f} s"
                     if side == "fit" else "")
            print(f"  {model} {setting} repeat {r} {side:4s}: {result['images_per_s']:9.1f} img/s steady{extra}",
                  flush=True)
        if same_init is None:
            same_init = _same_init(sides["fit"][0]["init_state"], sides["bare"][0]["init_state"])
        load.append(_loadavg())
    for results in sides.values():
        for result in results:
            result.pop("init_state")
    ratios = [f["images_per_s"] / b["images_per_s"] for f, b in zip(sides["fit"], sides["bare"])]
    out: dict[str, Any] = {
        "model": model, "options": MODELS[model], "setting": setting, "train_size": train_size,
        "batch_size": BATCH, "epochs": epochs, "measured_epochs": epochs - 1, "repeats": repeats,
        "val_images": VAL_BATCHES * BATCH, "same_initial_weights": same_init, "load_average_1min": load,
        "fit_images_per_s": statistics.median(r["images_per_s"] for r in sides["fit"]),
        "bare_images_per_s": statistics.median(r["images_per_s"] for r in sides["bare"]),
        "ratio": statistics.median(ratios), "ratios": ratios,
        # Robust to a machine whose speed drifts faster than a pair of runs takes.
        "ratio_of_medians": statistics.median(r["images_per_s"] for r in sides["fit"])
        / statistics.median(r["images_per_s"] for r in sides["bare"]),
        "stability_init_s": statistics.median(r["stability_init_s"] for r in sides["fit"]),
        "stability_best_s": statistics.median(r["stability_best_s"] for r in sides["fit"]),
        "phases_ms_per_batch": {
            side: {k: 1000 * BATCH * statistics.median(r["phase_s_per_image"][k] for r in results)
                   for k in ("fetch", "step", "val", "ckpt", "rest")}
            for side, results in sides.items()
        },
        "runs": sides,
    }
    if profile_top > 0:  # one more run of each side, under cProfile, not counted above
        out["profiles"] = {}
        for side in ("fit", "bare"):
            profile = _Profile(True)
            if side == "fit":
                run_fit(model, setting, train_size, epochs, profile)
            else:
                run_bare(model, setting, data, epochs, profile)
            PROFILE_DIR.mkdir(parents=True, exist_ok=True)
            profile.profile.dump_stats(PROFILE_DIR / f"bench_fit_{model}_{setting}_{side}.prof")
            text = io.StringIO()
            pstats.Stats(profile.profile, stream=text).sort_stats("tottime").print_stats(profile_top)
            out["profiles"][side] = text.getvalue()
            print(f"\n--- cProfile, {model} {setting}, {side} side, the epochs after the first, by own time ---")
            print(text.getvalue().strip())
    return out


def bench_interleaved(model: str, setting: str, train_size: int, epochs: int, repeats: int) -> dict[str, Any]:
    """``--interleave``: each repeat is one fit with a bare epoch after each of its epochs; the
    ratios are per pair of epochs (the first pair of each repeat left out)."""
    data = load_data(train_size)
    off = _Profile(False)
    runs: list[dict[str, Any]] = []
    same_init = True
    load = [_loadavg()]
    for r in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench_bare_") as tmp:
            bare = BareLoop(model, setting, data, epochs, Path(tmp))
            result = run_fit(model, setting, train_size, epochs, off, interleave=bare)
        same_init = same_init and _same_init(result.pop("init_state"), bare.init_state)
        pairs = list(zip(result["epochs"], result["bare_epochs"]))[1:]
        result["ratios"] = [b["total"] / f["total"] for f, b in pairs]
        runs.append(result)
        load.append(_loadavg())
        print(f"  {model} {setting} repeat {r}: fit/bare per pair of epochs "
              f"{' '.join(f'{x:.2f}' for x in result['ratios'])}", flush=True)
    ratios = [x for run in runs for x in run["ratios"]]
    fit = [e for run in runs for e in run["epochs"][1:]]
    bare = [e for run in runs for e in run["bare_epochs"][1:]]
    fit_ips = statistics.median(e["images"] / e["total"] for e in fit)
    bare_ips = statistics.median(e["images"] / e["total"] for e in bare)
    phases = {side: {k: 1000 * BATCH * sum(e[k] for e in epochs) / sum(e["images"] for e in epochs)
                     for k in ("fetch", "step", "val", "ckpt", "rest")}
              for side, epochs in (("fit", fit), ("bare", bare))}
    return {
        "model": model, "options": MODELS[model], "setting": setting, "train_size": train_size,
        "batch_size": BATCH, "epochs": epochs, "mode": "interleaved", "repeats": repeats,
        "val_images": VAL_BATCHES * BATCH, "same_initial_weights": same_init, "load_average_1min": load,
        "fit_images_per_s": fit_ips, "bare_images_per_s": bare_ips,
        "ratio": statistics.median(ratios), "ratios": ratios, "ratio_of_medians": fit_ips / bare_ips,
        "ratio_pooled": sum(e["total"] for e in bare) / sum(e["total"] for e in fit),
        "stability_init_s": statistics.median(r["stability_init_s"] for r in runs),
        "stability_best_s": statistics.median(r["stability_best_s"] for r in runs),
        "phases_ms_per_batch": phases, "runs": runs,
    }


def compile_trial(epochs: int) -> dict[str, Any]:
    """LeNet's bare loop, fp32: eager, then ``nn.Module.compile()`` (inductor, compiled once), then eager."""
    train_size = TRAIN_SIZE["lenet"]
    data = load_data(train_size)
    result: dict[str, Any] = {"model": "lenet", "train_size": train_size, "epochs": epochs}
    off = _Profile(False)
    try:
        result["eager_before"] = steady(run_bare("lenet", "fp32", data, epochs, off))[0]
        torch._dynamo.reset()
        start = _clock()
        compiled = run_bare("lenet", "fp32", data, epochs, off, compile_model=True)
        result["compiled_run_s"] = _clock() - start
        result["compiled_first_epoch_s"] = compiled["epochs"][0]["total"]
        result["compiled"] = steady(compiled)[0]
        result["eager_after"] = steady(run_bare("lenet", "fp32", data, epochs, off))[0]
        result["ratio_compiled_over_eager"] = result["compiled"] / statistics.mean(
            [result["eager_before"], result["eager_after"]])
        print(f"  compile trial: eager {result['eager_before']:.0f}, compiled {result['compiled']:.0f}, eager "
              f"{result['eager_after']:.0f} img/s steady (first epoch with compilation "
              f"{result['compiled_first_epoch_s']:.1f} s)", flush=True)
    except Exception as error:  # report it: a missing compiler, an inductor failure on this CPU
        result["error"] = f"{type(error).__name__}: {error}"[:2000]
        print(f"  torch.compile failed: {result['error'][:500]}", flush=True)
    return result


def _machine() -> dict[str, Any]:
    model_name = platform.processor()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model_name = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "cpu": model_name, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(), "clock": "wall",
            "mkldnn_bf16_supported": bool(getattr(torch.backends.mkldnn, "is_bf16_supported", lambda: None)())}


def print_table(rows: list[dict[str, Any]]) -> None:
    unit = "pair-of-epochs (--interleave)" if any(r.get("mode") == "interleaved" for r in rows) else "repeat"
    print(f"\nfit/bare: median of the per-{unit} ratios (range); of medians: fit's median img/s over bare's")
    print(f"{'model':12s} {'setting':14s} {'P':>5s} {'fit img/s':>10s} {'bare img/s':>11s} {'fit/bare':>9s} "
          f"{'(range)':>13s} {'of medians':>11s} {'stab. init+best':>16s}")
    for r in rows:
        low, high = min(r["ratios"]), max(r["ratios"])
        print(f"{r['model']:12s} {r['setting']:14s} {r['train_size']:5d} {r['fit_images_per_s']:10.0f} "
              f"{r['bare_images_per_s']:11.0f} {r['ratio']:9.2f} {f'({low:.2f}-{high:.2f})':>13s} "
              f"{r['ratio_of_medians']:11.2f} {r['stability_init_s']:7.2f}+{r['stability_best_s']:.2f} s")
    differ = [f"{r['model']} {r['setting']}" for r in rows if not r["same_initial_weights"]]
    print(f"same initial weights on both sides: {'all' if not differ else 'not for ' + ', '.join(differ)}")
    print("\nms per batch of 128 in the measured epochs (fetch: loader and augmentation; rest: hooks, logging, loop)")
    print(f"{'model':12s} {'setting':14s} {'side':5s} {'fetch':>7s} {'step':>7s} {'val':>7s} {'ckpt':>7s} {'rest':>7s}")
    for r in rows:
        for side in ("fit", "bare"):
            p = r["phases_ms_per_batch"][side]
            print(f"{r['model']:12s} {r['setting']:14s} {side:5s} {p['fetch']:7.2f} {p['step']:7.2f} "
                  f"{p['val']:7.2f} {p['ckpt']:7.2f} {p['rest']:7.2f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=list(MODELS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is left out (default 3)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=None, help="training images (default per model)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after the repeats, one more run of each side under cProfile (the epochs after the "
                             "first), printing the top N functions by own time")
    parser.add_argument("--compile-trial", action=argparse.BooleanOptionalAction, default=None,
                        help="also time LeNet's bare loop under torch.compile against eager "
                             "(default: on, off with --quick)")
    parser.add_argument("--interleave", action="store_true",
                        help="run a bare epoch after each fit epoch in the same process and compare the pairs "
                             "(steadier on a machine whose speed drifts; use --epochs 12 or more)")
    parser.add_argument("--quick", action="store_true", help="tiny runs (256 images, 2 epochs, 1 repeat)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, the cores)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_fit.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats, args.train_size = 2, 1, 256
    if args.compile_trial is None:
        args.compile_trial = not args.quick
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is left out)")
    if args.threads:
        torch.set_num_threads(args.threads)
    for pattern in (".*does not have many workers.*", ".*LeafSpec.*", ".*precision.*", ".*bf16.*",
                    ".*Checkpoint directory.*exists.*", ".*TensorBoard.*"):
        warnings.filterwarnings("ignore", pattern)
    for name in ("lightning.pytorch", "lightning.fabric"):  # start-up chatter only, outside the timed epochs
        logging.getLogger(name).setLevel(logging.WARNING)
    started = _clock()
    rows = []
    for model in args.models:
        for setting in args.settings:
            if setting == "channels_last" and MODELS[model]["arch"].startswith("fc"):
                continue  # no convolution: nothing to lay out
            size = args.train_size or TRAIN_SIZE[model]
            if setting == "bf16" and not args.train_size:
                size = max(BATCH, size // BF16_DIVISOR)
            repeats = min(args.repeats, BF16_REPEATS) if setting == "bf16" else args.repeats
            print(f"{model} {setting}: P = {size}, {args.epochs} epochs, {repeats} repeats, "
                  f"load {_loadavg():.2f}", flush=True)
            if args.interleave:
                rows.append(bench_interleaved(model, setting, size, args.epochs, repeats))
            else:
                rows.append(bench(model, setting, size, args.epochs, repeats, args.profile))
    trial = compile_trial(args.epochs) if args.compile_trial else None
    wall = _clock() - started
    report = {
        "benchmark": "fit_vs_bare_training",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_fit.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": _machine(),
        "versions": {"torch": torch.__version__, "lightning": lightning.__version__},
        "wall_s": wall, "rows": rows, "compile_trial": trial,
    }
    print_table(rows)
    if trial is not None:
        if "error" in trial:
            print(f"\ntorch.compile (LeNet, bare loop): failed: {trial['error'][:300]}")
        else:
            print(f"\ntorch.compile (LeNet, bare loop, fp32): compiled/eager x{trial['ratio_compiled_over_eager']:.2f} "
                  f"(eager {trial['eager_before']:.0f} and {trial['eager_after']:.0f}, "
                  f"compiled {trial['compiled']:.0f} "
                  f"img/s; first epoch, with compilation, {trial['compiled_first_epoch_s']:.1f} s)")
    print(f"\nwall time {wall:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
