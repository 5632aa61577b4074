"""From a zoo spec to runs: one run per model, its ``lightning-diffeo probe`` options in ``probe.yaml``.

A zoo run's folder holds ``probe.yaml`` (the options of ``lightning-diffeo probe``: ``lightning-diffeo
probe --config probe.yaml`` repeats its measurement on the whole folder) and ``overrides.json``, whose
``zoo`` entry records what the probe does not take: the model's name in the table, its published top-1
accuracy and where it comes from, the error the study compares, the dataset name and the intervals.
The run id is a slug of the model's name and the first 10 hex digits of the SHA-256 of both: change a
probe option, a weights file's path or a published accuracy, and the id changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .run_plan import HASH_LENGTH, PROBE_FILE, RunPlan
from .spec_types import ZooModel, ZooSpec

__all__ = ["plan_zoo", "probe_config"]


def probe_config(spec: ZooSpec, model: ZooModel) -> dict[str, Any]:
    """The ``lightning-diffeo probe`` options of one model: the spec's ``probe`` section, the model's own
    ``image_size`` and ``layers`` before it, no None values."""
    options: dict[str, Any] = {
        **spec.probe, "model": model.model, "weights": model.weights, "weights_file": model.weights_file,
        "images": str(spec.images),
    }
    if model.image_size is not None:
        options["image_size"] = model.image_size
    if model.layers is not None:
        options["layers"] = model.layers
    return {key: value for key, value in options.items() if value is not None}


def _zoo_record(spec: ZooSpec, model: ZooModel) -> dict[str, Any]:
    return {"name": model.name, "dataset": spec.dataset, "error": spec.error, "top1": model.top1,
            "top1_source": model.top1_source, "intervals": spec.intervals}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", name).strip("-")[:100] or "model"


def plan_zoo(spec: ZooSpec, output: str | Path | None = None) -> list[RunPlan]:
    """One run per model of ``spec`` (no file written, no model built).

    Args:
        spec: a validated zoo spec.
        output: overrides ``spec.output``.
    """
    root = Path(output or spec.output).resolve()
    plans = []
    for model in spec.models:
        config, zoo = probe_config(spec, model), _zoo_record(spec, model)
        digest = hashlib.sha256(json.dumps({"probe": config, "zoo": zoo}, sort_keys=True, default=str).encode())
        run_id = f"{_slug(model.name)}-{digest.hexdigest()[:HASH_LENGTH]}"
        plans.append(RunPlan(run_id=run_id, run_dir=root / run_id, overrides={"model": model.name},
                             seed=int(config.get("seed", 0)), config=config, config_file=PROBE_FILE, zoo=zoo))
    return plans
