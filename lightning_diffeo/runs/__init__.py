"""One run of the package: a fit from a config, its folder and checkpoints.

- :mod:`~lightning_diffeo.runs.config`: the fit config's schema and parser (LightningCLI's),
  run folders, checks before any work (:class:`DiffeoCLI`, :func:`build_cli`, :func:`fit_parser`);
- :mod:`~lightning_diffeo.runs.fit`: :func:`fit_and_test`, used by ``lightning-diffeo fit``
  and by every sweep run;
- :mod:`~lightning_diffeo.runs.layout`: where a run keeps its files;
- :mod:`~lightning_diffeo.runs.checkpoints`: checkpoints read safely and checked against a model;
- :mod:`~lightning_diffeo.runs.datanames`: ``--data cifar10`` for a datamodule's class path.

Names load on first use (PEP 562): ``lightning_diffeo.runs.layout`` and ``.checkpoints`` import
neither torch nor Lightning, so a study's bookkeeping can read a run folder without them.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "CheckpointError": "lightning_diffeo.runs.checkpoints",
    "check_checkpoint": "lightning_diffeo.runs.checkpoints",
    "checkpoint_epoch": "lightning_diffeo.runs.checkpoints",
    "read_run_checkpoint": "lightning_diffeo.runs.checkpoints",
    "CHECKPOINT_WORDS": "lightning_diffeo.runs.config",
    "DiffeoCLI": "lightning_diffeo.runs.config",
    "EvaluateCLI": "lightning_diffeo.runs.config",
    "build_cli": "lightning_diffeo.runs.config",
    "fit_parser": "lightning_diffeo.runs.config",
    "expand_data_names": "lightning_diffeo.runs.datanames",
    "FitOutcome": "lightning_diffeo.runs.fit",
    "fit_and_test": "lightning_diffeo.runs.fit",
    "CHECKPOINT_DIR": "lightning_diffeo.runs.layout",
    "CONFIG_FILE": "lightning_diffeo.runs.layout",
    "LAST_CHECKPOINT": "lightning_diffeo.runs.layout",
    "last_checkpoint_of": "lightning_diffeo.runs.layout",
    "run_dir_of": "lightning_diffeo.runs.layout",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
