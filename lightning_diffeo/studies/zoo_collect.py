"""The columns of a zoo run in the study table (:func:`~lightning_diffeo.studies.collect`).

A zoo run is one model: ``arch`` is its name in the spec, ``dataset`` the spec's, ``train_size``
NaN, ``seed`` the probe's seed; ``depth``, ``batch_norm``, ``skip_connections``, ``best_val_acc`` and
``best_epoch`` are empty (no model of this package, no training). Its rows take the ``stage``
``best`` for loaded weights (the published weights stand where a trained run's best checkpoint
stands) and ``init`` for a random initialisation. Further columns (:data:`ZOO_COLUMNS`):

``model`` (``timm:NAME`` / ``torchvision:NAME``), ``weights``, ``weights_kind`` (``random``, ``file``,
``hub``, ``torchvision``), ``image_size`` (the model's input size, px), ``published_top1`` (percent),
``test_error_published`` (1 - published_top1 / 100), ``test_error_measured`` and
``test_top5_error_measured`` (on the folder's labelled images; NaN without labels),
``test_error_source`` (which of the two ``test_error`` is: the spec's ``error``), ``n_images``
(probed), and per record the intervals ``D_f_ci_low, D_f_ci_high, G_f_ci_low, G_f_ci_high, R_f_ci_low,
R_f_ci_high`` (:mod:`.zoo_intervals`; NaN when none were measured).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .run_plan import OVERRIDES_FILE
from .zoo_intervals import INTERVAL_COLUMNS

__all__ = ["INTERVAL_COLUMNS", "ZOO_COLUMNS", "is_zoo_run", "zoo_columns", "zoo_stage"]

ZOO_COLUMNS = ("model", "weights", "weights_kind", "image_size", "published_top1", "test_error_published",
               "test_error_measured", "test_top5_error_measured", "test_error_source", "n_images")


def is_zoo_run(record: dict[str, Any]) -> bool:
    """Whether a ``run.json`` record is a zoo run's."""
    return record.get("kind") == "zoo"


def zoo_stage(record: dict[str, Any]) -> str:
    """``init`` for a random initialisation, ``best`` for loaded weights."""
    return "init" if record.get("weights_kind") == "random" else "best"


def _nan(value: Any) -> Any:
    return math.nan if value is None else value


def zoo_columns(run_dir: Path, record: dict[str, Any], provenance_columns: tuple[str, ...]) -> dict[str, Any]:
    """The columns every row of one zoo run shares (the collect table's, and :data:`ZOO_COLUMNS`)."""
    zoo = json.loads((Path(run_dir) / OVERRIDES_FILE).read_text(encoding="utf-8")).get("zoo") or {}
    return {
        "run_id": Path(run_dir).name, "arch": record.get("name"), "dataset": zoo.get("dataset"), "train_size": math.nan,
        "seed": record.get("seed"), "depth": None, "n_params": record.get("n_params"), "batch_norm": None,
        "skip_connections": None, "test_error": _nan(record.get("test_error")), "test_acc": _nan(record.get("test_acc")),
        "best_val_acc": math.nan, "best_epoch": math.nan,
        **{key: _nan(record.get(key)) for key in ZOO_COLUMNS},
        **{key: (record.get("provenance") or {}).get(key) for key in provenance_columns},
    }
