"""One zoo run: a pretrained (or randomly initialised) model probed on the study's folder, with intervals.

The measurement is that of ``lightning-diffeo probe --config probe.yaml`` (the same model, images,
layers, settings and seeded draws, hence the same numbers; a random initialisation is drawn after
``torch.manual_seed(seed)``, the probe's seed), written into the run folder
(``stability.json``, ``stability.csv``, ``stability.png``, ``settings.json``); each record also gets
the intervals of D_f, G_f and R_f over the images (:mod:`.zoo_intervals`). ``run.json`` then holds,
beside the fields every run has:

- ``kind``: ``"zoo"``; ``name`` (the table's ``arch``), ``model``, ``weights``, ``weights_kind``,
  ``image_size``, ``n_params``, ``n_images`` and ``n_labelled``;
- ``published_top1`` (percent) and its ``published_top1_source``; ``test_error_published`` =
  1 - published_top1 / 100; ``test_error_measured`` and ``test_top5_error_measured`` on the folder
  (null without labels);
- ``test_error``: the one the study compares (``test_error_source``: ``published`` or ``measured``, the
  spec's ``error``), and ``test_acc`` = 1 - test_error.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from .run_plan import OVERRIDES_FILE, PROBE_FILE
from .zoo_intervals import add_intervals

__all__ = ["probe_run"]

# Options that choose the model, the images, the layers and the mode; the others go to the measurement.
_NOT_SETTINGS = ("model", "weights", "weights_file", "images", "class_index", "image_size", "probe_size", "seed",
                 "device", "layers", "mode", "delta_unit")


class _Probe:
    """The model, its images and the settings of one zoo run; ``measure`` probes any subset of the images."""

    def __init__(self, options: dict[str, Any]) -> None:
        from lightning_diffeo.datamodules.base import PROBE_SIZE
        from lightning_diffeo.evaluation import list_images, load_folder_images, load_pretrained, read_class_index
        from lightning_diffeo.evaluation.pretrained_layers import expand_layers
        from lightning_diffeo.stability import DEFAULT_MODE, check_layers, resolve_layers

        self.options = options
        listing = list_images(options["images"])  # as `lightning-diffeo probe`, step by step
        class_index = options.get("class_index")
        self.label_index = read_class_index(class_index) if class_index is not None else None
        import torch

        with torch.random.fork_rng(devices=[]):  # a random initialisation drawn from the seed, the caller's RNG kept
            torch.manual_seed(options.get("seed", 0))
            self.built = load_pretrained(options["model"], options.get("weights"), options.get("weights_file"),
                                         options.get("image_size"))
        self.layers = expand_layers(check_layers(options.get("layers")), self.built.blocks) or self.built.layers
        resolve_layers(self.built.model, self.layers)
        self.folder = load_folder_images(options["images"], self.built.transform, options.get("probe_size", PROBE_SIZE),
                                         options.get("seed", 0), listing)
        for path, reason in self.folder.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        self.mode = "init" if self.built.weights_kind == "random" else options.get("mode", DEFAULT_MODE)
        self.settings = {key: value for key, value in options.items() if key not in _NOT_SETTINGS}

    def measure(self, indices: list[int] | None = None, seed: int | None = None):
        """The probe's result on the images ``indices`` (all: None), its draws seeded with ``seed``."""
        import torch

        from lightning_diffeo.evaluation import probe_pretrained

        folder = self.folder
        if indices is not None:
            folder = dataclasses.replace(
                folder, images=folder.images[list(indices)], paths=[folder.paths[i] for i in indices],
                targets=None if folder.targets is None else folder.targets[list(indices)])
        seed = self.options.get("seed", 0) if seed is None else seed
        # each image's terms (per_image) are the whole folder's only
        settings = {k: v for k, v in self.settings.items() if indices is None or k != "per_image"}
        return probe_pretrained(self.built, folder, device=self.options.get("device", "cpu"), layers=self.layers,
                                mode=self.mode, label_index=self.label_index,
                                delta_unit=self.options.get("delta_unit", "pixel"),
                                generator=torch.Generator().manual_seed(seed), progress=False, **settings)


def _print(result: Any) -> None:
    """The probe's tables into the run's log, as ``lightning-diffeo probe`` prints them."""
    from lightning_diffeo.evaluation.outputs import result_label
    from lightning_diffeo.stability.result import stability_table

    label = result_label(result.metadata)
    print("\n\n".join(stability_table({label: result}, quantity) for quantity in ("R_f", "D_f", "G_f")))
    if "top1_error" in result.metadata:
        print(f"top-1 error {result.metadata['top1_error']:.3f} on {result.metadata['n_labelled']} images")


def _errors(metadata: dict[str, Any], zoo: dict[str, Any]) -> dict[str, Any]:
    """The error columns of ``run.json``; ``error: measured`` without labels fails the run."""
    top1 = zoo.get("top1")
    errors = {"published_top1": top1, "published_top1_source": zoo.get("top1_source"),
              "test_error_published": None if top1 is None else round(1.0 - top1 / 100.0, 12),
              "test_error_measured": metadata.get("top1_error"), "test_top5_error_measured": metadata.get("top5_error"),
              "test_error_source": zoo["error"]}
    used = errors[f"test_error_{zoo['error']}"]
    if used is None:
        raise ValueError(f"error: {zoo['error']}, but there is no {zoo['error']} error: labels {metadata.get('labels')}")
    return {**errors, "test_error": used, "test_acc": round(1.0 - used, 12)}


def probe_run(run_dir: Path, record: dict[str, Any], timings: dict[str, float]) -> None:
    """Probe the model of the zoo run in ``run_dir``, write its results there and fill ``record`` (``run.json``)."""
    import torch
    import yaml

    from lightning_diffeo.evaluation import write_outputs

    start = time.perf_counter()
    options = yaml.safe_load((run_dir / PROBE_FILE).read_text(encoding="utf-8"))
    zoo = json.loads((run_dir / OVERRIDES_FILE).read_text(encoding="utf-8"))["zoo"]
    probe = _Probe(options)
    timings["build_s"] = time.perf_counter() - start
    built, n = probe.built, len(probe.folder.paths)
    print(f"{zoo['name']}: {built.name}, {built.weights}, {probe.mode} mode; {n} images of {probe.folder.found} in "
          f"{options['images']} ({probe.folder.layout}), {built.image_size} px")
    start = time.perf_counter()
    result = probe.measure()
    timings["probe_s"] = time.perf_counter() - start
    _print(result)
    start = time.perf_counter()
    seed = int(options.get("seed", 0))
    result.metadata["intervals"] = add_intervals(
        result.records, lambda subset, k: probe.measure(list(subset), seed + 1 + k).records, n, int(zoo["intervals"]),
        seed=seed)
    timings["intervals_s"] = time.perf_counter() - start
    write_outputs(result, run_dir, sweep=bool(options.get("sweep", False)), overwrite=True, images=probe.folder.images)
    metadata = result.metadata
    record.update(
        kind="zoo", name=zoo["name"], model=built.name, weights=built.weights, weights_kind=built.weights_kind,
        image_size=built.image_size, n_params=int(sum(p.numel() for p in built.model.parameters())),
        torch_threads=torch.get_num_threads(), n_images=n, n_labelled=metadata.get("n_labelled"),
        labels=metadata.get("labels"), intervals=metadata["intervals"], **_errors(metadata, zoo),
        stability="stability.json", provenance=metadata.get("provenance"),
    )
