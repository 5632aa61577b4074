"""The probe: a model source and its images -> D_f, G_f, R_f per layer, a table, JSON, CSV and a plot.

Two sources: a checkpoint of this package on its datamodule's probe set (``ckpt_path``), or a
pretrained timm/torchvision model on a folder of images (``model`` and ``images``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from lightning_diffeo._atomic import make_unique_dir
from lightning_diffeo.datamodules.base import PROBE_SIZE
from lightning_diffeo.stability import (
    DEFAULT_AVERAGE,
    DEFAULT_CUTOFFS,
    DEFAULT_DELTAS,
    DEFAULT_DIFFEOS_PER_IMAGE,
    DEFAULT_INTERPOLATION,
    DEFAULT_MODE,
    DEFAULT_PER_IMAGE,
    Average,
    Interpolation,
    Mode,
    StabilityResult,
    check_averages,
    check_batch_size,
    check_cutoffs,
    check_diffeos_per_image,
    check_interpolation,
    check_layers,
    check_max_memory,
    check_mode,
    check_per_image,
    check_probe_size,
    check_sizes,
    measure_stability,
    resolve_layers,
)
from lightning_diffeo.provenance import provenance
from lightning_diffeo.runs import CheckpointError
from lightning_diffeo.runs.layout import run_dir_of
from lightning_diffeo.stability.result import stability_table

from .checkpoint_source import LoadedCheckpoint, load_checkpoint
from .images import list_images, load_folder_images
from .labels import read_class_index
from .outputs import OUTPUT_FILES, check_output_dir, result_label, write_outputs
from .pretrained import load_pretrained
from .pretrained_layers import expand_layers
from .pretrained_probe import DeltaUnit, check_delta_unit, probe_pretrained, scale_deltas

__all__ = [
    "OUTPUT_FILES",
    "check_output_dir",
    "probe_checkpoint",
    "run_probe",
    "write_outputs",
]


def _checkpoint_images(loaded: LoadedCheckpoint, probe_size: int = PROBE_SIZE) -> torch.Tensor:
    """The probe set [N, C, n, n] in [0, 1] of a loaded checkpoint's datamodule (never downloaded)."""
    if loaded.datamodule is None:
        raise CheckpointError(
            f"{loaded.path} does not record the class of its datamodule (it was not trained with "
            "`lightning-diffeo fit`): measure it from Python with measure_stability"
        )
    datamodule = loaded.datamodule
    try:
        images, _ = datamodule.probe_set(probe_size)
    except (ValueError, FileNotFoundError) as error:
        if "not found" not in str(error):
            raise
        raise CheckpointError(
            f"the dataset of {loaded.path} ({type(datamodule).__name__}) is not in {datamodule.data_dir}: "
            "if it moved, give its folder with --data_dir (probe does not download)"
        ) from None
    return images


def probe_checkpoint(
    loaded: LoadedCheckpoint,
    probe_size: int = PROBE_SIZE,
    device: str = "cpu",
    delta_unit: DeltaUnit = "pixel",
    images: torch.Tensor | None = None,
    **settings: Any,
) -> StabilityResult:
    """Measure a loaded checkpoint on its datamodule's probe set (``settings``: measure_stability options).

    ``delta_unit="n/32"`` reads the deltas in units of n / 32 pixels (the identity at 32 px);
    ``images``: the probe set when already loaded (as :func:`_checkpoint_images` loads it).
    """
    if images is None:
        images = _checkpoint_images(loaded, probe_size)
    datamodule = loaded.datamodule
    if "deltas" in settings:
        settings["deltas"], delta_record = scale_deltas(settings["deltas"], delta_unit, images.shape[-1])
    module = loaded.module.to(device)
    result = measure_stability(module, images.to(device), normalize=datamodule.normalize_images, **settings)
    # the training precision is not in the checkpoint; the probe itself measures in float32
    result.metadata.update({"checkpoint": str(loaded.path), "epoch": loaded.epoch,
                            "datamodule": type(datamodule).__name__, "provenance": provenance(None, images)})
    if "deltas" in settings:
        result.metadata.update(delta_record)
    return result


def _check_device(device: str) -> None:
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device: unknown device {device!r}; use e.g. cpu, cuda or cuda:1") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine; use --device cpu")


def _check_source(ckpt_path: str | None, model: str | None, data_dir: str | None, **model_options: Any) -> None:
    """Exactly one model source, each with its own options."""
    if (ckpt_path is None) == (model is None):
        given = "both" if model is not None else "neither"
        raise ValueError(f"give --ckpt_path (a checkpoint of this package) or --model (timm:NAME or "
                         f"torchvision:NAME) with --images DIR, got {given}")
    extra = [f"--{name}" for name, value in model_options.items() if value is not None]
    if ckpt_path is not None and extra:
        raise ValueError(f"{', '.join(extra)} go with --model; a checkpoint is probed on its datamodule's probe set")
    if model is not None and data_dir is not None:
        raise ValueError("--data_dir goes with --ckpt_path; with --model the images come from --images DIR")
    if model is not None and model_options.get("images") is None:
        raise ValueError("--model needs --images DIR: the folder of images to probe")


def _default_out(ckpt: Path) -> Path:
    """``<run folder>/probe-<checkpoint name>-<k>``: a new folder for every invocation."""
    return make_unique_dir(run_dir_of(ckpt), f"probe-{ckpt.stem}-")


def _model_out(model: str) -> Path:
    """``probes/<framework>-<name>-<k>`` in the working folder: a new folder for every invocation."""
    return make_unique_dir(Path("probes"), model.replace(":", "-").replace("/", "_") + "-")


def _write(result: StabilityResult, out: str | None, default: Any, sweep: bool, overwrite: bool,
           images: torch.Tensor) -> dict[str, Path]:
    directory = Path(out) if out is not None else default()
    paths = write_outputs(result, directory, sweep=sweep, overwrite=overwrite, images=images)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return paths


def _probe_model(model: str, images: str, options: dict[str, Any], settings: dict[str, Any], *, probe_size: int,
                 seed: int, device: str, progress: bool) -> tuple[StabilityResult, torch.Tensor]:
    """Build the model, check its layers, decode the images (skips on stderr), measure: the ``--model`` path.

    Returns the result and the probe images [N, 3, n, n].
    """
    listing = list_images(images)
    class_index = options["class_index"]
    label_index = read_class_index(class_index) if class_index is not None else None
    built = load_pretrained(model, options["weights"], options["weights_file"], options["image_size"])
    layers = expand_layers(settings.pop("layers"), built.blocks) or built.layers
    resolve_layers(built.model, layers)  # an unknown name: one line before the images are decoded
    folder = load_folder_images(images, built.transform, probe_size, seed, listing)
    for path, reason in folder.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if folder.skipped:
        print(f"skipped {len(folder.skipped)} unreadable file(s)", file=sys.stderr)
    mode = "init" if built.weights_kind == "random" else settings.pop("mode")
    settings.pop("mode", None)
    print(f"{built.name}: {built.weights}, {mode} mode; {len(folder.paths)} images of {folder.found} in {images} "
          f"({folder.layout}), {built.image_size} px")
    result = probe_pretrained(built, folder, device=device, layers=layers, mode=mode, label_index=label_index,
                              delta_unit=options["delta_unit"], generator=torch.Generator().manual_seed(seed),
                              progress=progress, **settings)
    return result, folder.images


def run_probe(
    ckpt_path: str | None = None,
    model: str | None = None,
    weights: str | None = None,
    weights_file: str | None = None,
    images: str | None = None,
    class_index: str | None = None,
    image_size: int | None = None,
    cutoffs: float | list[float] = DEFAULT_CUTOFFS,
    deltas: float | list[float] | None = None,
    delta_unit: DeltaUnit = "pixel",
    temperatures: float | list[float] | None = None,
    sweep: bool = False,
    interpolation: Interpolation = DEFAULT_INTERPOLATION,
    layers: str | list[str] | None = None,
    average: Average | Sequence[Average] = DEFAULT_AVERAGE,
    mode: Mode = DEFAULT_MODE,
    probe_size: int = PROBE_SIZE,
    diffeos_per_image: int = DEFAULT_DIFFEOS_PER_IMAGE,
    batch_size: int | None = None,
    max_memory: int | str | None = None,
    per_image: bool = DEFAULT_PER_IMAGE,
    seed: int = 0,
    device: str = "cpu",
    data_dir: str | None = None,
    out: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Measure D_f, G_f and R_f per layer of a checkpoint, or of a pretrained model on a folder of images.

    Prints the table (the same format as ``fit``'s; with ``model`` also D_f and G_f) and writes
    ``stability.json`` (the ``StabilityResult`` layout), ``stability.csv``, a plot and
    ``settings.json`` (with ``per_image``, also ``per_image.csv`` and ``per_image.png``) into a
    new folder (``<run folder>/probe-<checkpoint>-<k>/``, or ``probes/<framework>-<model>-<k>/``),
    or into ``out``.

    Args:
        ckpt_path: checkpoint written by ``lightning-diffeo fit`` (or give ``model``).
        model: ``timm:NAME`` or ``torchvision:NAME``, probed on ``images``.
        weights: the model's weights: a local file, ``hub`` (timm, local cache only), a
            torchvision weights name (``IMAGENET1K_V1``); none: random initialisation, probed
            in ``init`` mode whatever ``mode`` says.
        weights_file: the local file of the torchvision weights named by ``weights``.
        images: a folder of images (an ImageFolder tree or flat) for ``model``.
        class_index: JSON map of class folder names to output indices (default: the classes
            the model names, e.g. ImageNet's), for the top-1 error on a labelled folder.
        image_size: square input size in pixels instead of the model's own.
        cutoffs: cutoffs c of the diffeomorphisms (each > 1).
        deltas: typical displacements (None: ``measure_stability``'s default, 1; excludes
            temperatures and sweep), in ``delta_unit``.
        delta_unit: ``pixel``, or ``n/32``: deltas in units of n / 32 pixels, the relative
            deformation of that many pixels at 32 px (1 -> 7 px at 224); recorded in the JSON.
        temperatures: explicit temperatures instead of deltas.
        sweep: 30 temperatures from T_min/15 to 2 T_max per cutoff.
        interpolation: resampling of the deformed images.
        layers: module names, or "output" (default: the model's probe layers); with ``model``,
            "blocks" is every block of a vision transformer.
        average: "median", "mean", or a list of both.
        mode: "eval" (trained weights) or "init" (batch-norm on batch statistics).
        probe_size: number of images probed (>= 2; a folder's seeded subset, or all its images).
        diffeos_per_image: diffeomorphisms per image and temperature.
        batch_size: images per forward pass.
        max_memory: bytes, or e.g. "4GB", the measurement may use (None: 70% of the available RAM,
            or 80% of the free memory of a CUDA device); it plans smaller batches or layer groups
            to fit, or refuses with one line before measuring.
        per_image: also write each image's terms at the output (averaged over its draws) to
            ``per_image.csv`` (with the file of each folder image) and ``per_image.png`` (the most
            and least stable images, original and deformed); the output must be among the layers.
        seed: seed of the diffeomorphisms, the noise and a folder's subset.
        device: where to run, e.g. cpu or cuda.
        data_dir: the dataset folder of ``ckpt_path``, if it moved since training.
        out: output folder (default: a new folder, see above).
        overwrite: replace the results already in ``out``.
        progress: show a progress bar.

    Returns:
        Kind of output (json, csv, plot, settings; per_image_csv, per_image_plot) -> file written.

    Every option is checked first, by ``measure_stability``'s checks
    (:mod:`lightning_diffeo.stability.settings`), before the checkpoint or the model loads; with
    ``model``, the images folder, the weights and the layers are checked before any image is decoded.
    """
    cutoffs = check_cutoffs(cutoffs)
    sizes = check_sizes(DEFAULT_DELTAS if deltas is None else deltas, temperatures, sweep)
    settings: dict[str, Any] = dict(
        cutoffs=cutoffs, deltas=sizes.deltas, temperatures=sizes.temperatures, sweep=sizes.sweep,
        interpolation=check_interpolation(interpolation), layers=check_layers(layers),
        average=check_averages(average), mode=check_mode(mode),
        diffeos_per_image=check_diffeos_per_image(diffeos_per_image), batch_size=check_batch_size(batch_size),
        max_memory=check_max_memory(max_memory), per_image=check_per_image(per_image),
    )
    probe_size = check_probe_size(probe_size)
    delta_unit = check_delta_unit(delta_unit)
    scale_deltas(sizes.deltas, delta_unit, 32)  # refuses n/32 with temperatures or a sweep
    _check_device(device)
    options = dict(weights=weights, weights_file=weights_file, images=images, class_index=class_index,
                   image_size=image_size)
    _check_source(ckpt_path, model, data_dir, **options)
    if out is not None:
        check_output_dir(out, overwrite)  # before measuring: never minutes of work for nothing
    if model is not None:
        result, probed = _probe_model(model, images, {**options, "delta_unit": delta_unit},  # type: ignore[arg-type]
                                      settings, probe_size=probe_size, seed=seed, device=device, progress=progress)
        label = result_label(result.metadata)
        print("\n\n".join(stability_table({label: result}, quantity) for quantity in ("R_f", "D_f", "G_f")))
        if "top1_error" in result.metadata:
            print(f"top-1 error {result.metadata['top1_error']:.3f}, top-5 error "
                  f"{result.metadata.get('top5_error', float('nan')):.3f} on {result.metadata['n_labelled']} images")
        elif result.metadata["images"]["layout"] == "imagefolder":
            print(f"no top-1 error: labels {result.metadata['labels']}")
        return _write(result, out, lambda: _model_out(model), sweep, overwrite, probed)
    loaded = load_checkpoint(ckpt_path, data_dir=data_dir)  # type: ignore[arg-type]
    probed = _checkpoint_images(loaded, probe_size)
    result = probe_checkpoint(
        loaded, probe_size=probe_size, device=device, delta_unit=delta_unit, images=probed,
        generator=torch.Generator().manual_seed(seed), progress=progress, **settings,
    )
    print(stability_table({result_label(result.metadata): result}))
    return _write(result, out, lambda: _default_out(loaded.path), sweep, overwrite, probed)
