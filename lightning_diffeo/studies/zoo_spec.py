"""The zoo spec (``kind: zoo``): pretrained or randomly initialised models probed on one folder, no training.

.. code-block:: yaml

    kind: zoo
    description: three EfficientNet-Lite models on the photographs
    images: zoo_data/photos           # an ImageFolder tree (labels) or a flat folder, relative to the working directory
    dataset: imagenet-photos          # the table's dataset column (default: the folder's name)
    error: published                  # test_error = 1 - top1/100 (published) or the top-1 error on the folder (measured)
    probe: {cutoffs: [3, 5], deltas: [1.0], probe_size: 500, seed: 0}   # `lightning-diffeo probe` options
    intervals: 20                     # half-sample re-measurements per model for the intervals (0: none)
    models:
      - {model: timm:tf_efficientnet_lite0, weights: zoo_data/tf_efficientnet_lite0.pth, top1: 75.1}
      - {model: torchvision:resnet18, top1: IMAGENET1K_V1}   # random init; top-1 from torchvision's metadata
    output: runs/sweeps/zoo           # the study folder (relative to the working directory)
    executor: {name: local, workers: 1}

Every key is checked here, before any work, with one line naming it: the model names (timm's and
torchvision's registries), the weights (a file that exists, ``hub``, a torchvision weights name the
model has), the folder (it holds images; with ``error: measured`` in class folders), the probe
options (those of ``lightning-diffeo probe``, each by its own check) and every published top-1.
Relative paths (``images``, weights files, ``probe.class_index``) are read from the working
directory, as ``output`` and ``lightning-diffeo probe`` read them.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .spec_executor import executor_spec
from .spec_types import DEFAULT_OUTPUT_ROOT, ERRORS, SpecError, ZooModel, ZooSpec

__all__ = ["DEFAULT_INTERVALS", "MODEL_KEYS", "ZOO_KEYS", "parse_zoo_spec", "probe_option_names"]

ZOO_KEYS = ("kind", "description", "images", "dataset", "error", "probe", "intervals", "models", "output", "executor")
MODEL_KEYS = ("name", "model", "weights", "weights_file", "image_size", "layers", "top1")
DEFAULT_INTERVALS = 20
# Options of `lightning-diffeo probe` a zoo sets itself, and where each goes instead.
_NOT_PROBE_OPTIONS = {
    "ckpt_path": "a zoo probes timm and torchvision models (models[i].model)",
    "model": "set per model, under models", "weights": "set per model, under models",
    "weights_file": "set per model, under models", "images": "the spec's top-level images",
    "data_dir": "a zoo probes the spec's images", "out": "each model writes into its run folder",
    "overwrite": "each model writes into its run folder", "progress": "runs print no progress bar",
}


def probe_option_names() -> list[str]:
    """The options of ``lightning-diffeo probe`` a zoo's ``probe`` section takes (``run_probe``'s parameters)."""
    from lightning_diffeo.evaluation import run_probe

    return [name for name in inspect.signature(run_probe).parameters if name not in _NOT_PROBE_OPTIONS]


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_probe_values(options: Mapping[str, Any]) -> None:
    """Each option by its own check (``stability``'s ``check_<option>``; sizes and the delta unit together)."""
    from lightning_diffeo import stability
    from lightning_diffeo.evaluation import read_class_index
    from lightning_diffeo.evaluation.pretrained_probe import check_delta_unit, scale_deltas
    from lightning_diffeo.validation import check_int

    special = {"average": stability.check_averages, "seed": lambda v: check_int("seed", v, minimum=0),
               "image_size": lambda v: check_int("image_size", v, minimum=8), "class_index": read_class_index,
               "device": lambda v: v if isinstance(v, str) and v else _raise(f"device must be e.g. cpu or cuda, got {v!r}")}
    sizes = stability.check_sizes(options.get("deltas", stability.DEFAULT_DELTAS), options.get("temperatures"),
                                  options.get("sweep", False))
    scale_deltas(sizes.deltas, check_delta_unit(options.get("delta_unit", "pixel")), 32)
    for key, value in options.items():
        if key not in ("deltas", "temperatures", "sweep", "delta_unit"):
            check = special.get(key) or getattr(stability, f"check_{key}", None)
            if check is not None and not (key == "class_index" and value is None):
                check(value)


def _raise(message: str) -> Any:
    raise ValueError(message)


def _probe(raw: Any) -> dict[str, Any]:
    options = raw or {}
    if not isinstance(options, Mapping):
        raise SpecError.at("probe", f"must be a mapping of `lightning-diffeo probe` options, got {options!r}")
    known = probe_option_names()
    for key in options:
        if key in _NOT_PROBE_OPTIONS:
            raise SpecError.at(f"probe.{key}", f"not a zoo's probe option: {_NOT_PROBE_OPTIONS[key]}")
        if key not in known:
            raise SpecError.at(f"probe.{key}", f"not an option of `lightning-diffeo probe`{_suggest(key, known)}")
    options = dict(options)
    if isinstance(options.get("class_index"), str):
        options["class_index"] = str(Path(options["class_index"]).resolve())
    try:
        _check_probe_values(options)
    except (TypeError, ValueError, FileNotFoundError) as error:
        raise SpecError.at("probe", str(error)) from None
    return options


def _images(raw: Any, error: str) -> Path:
    if not isinstance(raw, str) or not raw:
        raise SpecError.at("images", f"missing: give the folder of images to probe (a path), got {raw!r}")
    from lightning_diffeo.evaluation import list_images

    folder = Path(raw).resolve()
    try:
        layout = list_images(folder)[0]
    except (FileNotFoundError, ValueError) as problem:
        raise SpecError.at("images", str(problem).removeprefix("--images ")) from None
    if error == "measured" and layout != "imagefolder":
        raise SpecError.at("images", f"{raw} is a flat folder, and `error: measured` needs labels: put the images "
                                     "in class folders named by ImageNet category (e.g. tabby) or WordNet id")
    return folder


def _top1(where: str, raw: Any, model: str) -> tuple[float | None, str | None]:
    """(percent, source): a number in percent, or a torchvision weights name read from torchvision's metadata."""
    if raw is None:
        return None, None
    if isinstance(raw, str):
        from lightning_diffeo.evaluation import published_top1

        try:
            return published_top1(model, raw)
        except ValueError as problem:
            raise SpecError.at(where, str(problem)) from None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or not 1 < raw <= 100:
        raise SpecError.at(where, "the published top-1 accuracy in percent (e.g. 75.1), or a torchvision weights "
                                  f"name to read it from torchvision's metadata (e.g. IMAGENET1K_V1), got {raw!r}")
    return float(raw), "spec"


def _absolute(weights: Any) -> Any:
    from lightning_diffeo.evaluation.pretrained_model import is_weights_file

    return str(Path(weights).resolve()) if isinstance(weights, str) and is_weights_file(weights) else weights


def _model(index: int, raw: Any, error: str) -> ZooModel:
    where = f"models[{index}]"
    if not isinstance(raw, Mapping) or "model" not in raw:
        raise SpecError.at(where, f"must be a mapping with a model (timm:NAME or torchvision:NAME), got {raw!r}")
    unknown = [key for key in raw if key not in MODEL_KEYS]
    if unknown:
        raise SpecError.at(f"{where}.{unknown[0]}", f"unknown key{_suggest(unknown[0], list(MODEL_KEYS))}; expected "
                                                    f"one of {', '.join(MODEL_KEYS)} (probe options go under probe)")
    from lightning_diffeo.evaluation import check_pretrained
    from lightning_diffeo.stability import check_layers

    weights, weights_file = raw.get("weights"), raw.get("weights_file")
    for key in ("weights", "weights_file"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise SpecError.at(f"{where}.{key}", f"must be a path or a name, got {raw[key]!r}")
    try:
        check_pretrained(raw["model"], weights, weights_file, raw.get("image_size"))
        layers = check_layers(raw.get("layers"))
    except (TypeError, ValueError, FileNotFoundError) as problem:
        raise SpecError.at(where, f"{raw['model']}: {problem}") from None
    top1, source = _top1(f"{where}.top1", raw.get("top1"), raw["model"])
    if error == "published" and top1 is None:
        raise SpecError.at(f"{where}.top1", "missing: `error: published` compares each model's published top-1 "
                                            "accuracy; give it in percent (or a torchvision weights name), or set "
                                            "`error: measured`")
    name = raw.get("name", raw["model"])
    if not isinstance(name, str) or not name.strip():
        raise SpecError.at(f"{where}.name", f"must be a non-empty text, got {name!r}")
    return ZooModel(name=name.strip(), model=raw["model"], weights=_absolute(weights),
                    weights_file=_absolute(weights_file), image_size=raw.get("image_size"),
                    layers=None if layers is None else list(layers), top1=top1, top1_source=source)


def _models(raw: Any, error: str) -> list[ZooModel]:
    if not isinstance(raw, list) or not raw:
        raise SpecError.at("models", f"must be a non-empty list of models ({{model: timm:NAME, ...}}), got {raw!r}")
    models: list[ZooModel] = []
    for index, entry in enumerate(raw):
        model = _model(index, entry, error)
        taken = next((i for i, other in enumerate(models) if other.name == model.name), None)
        if taken is not None:
            raise SpecError.at(f"models[{index}]", f"name {model.name!r} is taken by models[{taken}]: give each a name")
        models.append(model)
    return models


def _choice(raw: Mapping[str, Any]) -> str:
    error = raw.get("error", "published")
    if error not in ERRORS:
        raise SpecError.at("error", f"must be one of {', '.join(ERRORS)}, got {error!r}")
    return error


def _intervals(raw: Any) -> int:
    value = DEFAULT_INTERVALS if raw is None else raw
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value == 1:
        raise SpecError.at("intervals", f"must be 0 (none) or a number of half-samples >= 2, got {raw!r}")
    return value


def _text(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or (key != "description" and not value):
        raise SpecError.at(key, f"must be text, got {value!r}")
    return value


def parse_zoo_spec(raw: Mapping[str, Any], name: str = "zoo", path: Path | None = None) -> ZooSpec:
    """Validate a zoo spec given as a mapping (the YAML's content, with ``kind: zoo``).

    Args:
        raw: the spec mapping.
        name: study name for the default output folder ``runs/sweeps/<name>``.
        path: the spec file, if any.

    Raises:
        SpecError: one line naming the bad key.
    """
    unknown = [key for key in raw if key not in ZOO_KEYS]
    if unknown:
        raise SpecError.at(str(unknown[0]), f"not a key of a zoo spec{_suggest(unknown[0], list(ZOO_KEYS))}; "
                                            f"expected one of {', '.join(ZOO_KEYS)}")
    error = _choice(raw)
    images = _images(raw.get("images"), error)
    probe = _probe(raw.get("probe"))
    output = _text(raw, "output", str(DEFAULT_OUTPUT_ROOT / name))
    return ZooSpec(
        models=_models(raw.get("models"), error), images=images, dataset=_text(raw, "dataset", images.name),
        error=error, probe=probe, intervals=_intervals(raw.get("intervals")), output=Path(output),
        executor=executor_spec(raw.get("executor")), description=_text(raw, "description", ""), path=path,
    )
