"""A planned run (:class:`RunPlan`) and the files every run folder of a study starts with.

A run folder holds its config (``config.yaml``, the resolved fit config; a zoo run's ``probe.yaml``,
the options of ``lightning-diffeo probe``) and ``overrides.json`` (its id, its grid choice, its seed
and, for a zoo run, its ``zoo`` entry), written once by ``state.prepare_runs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lightning_diffeo._atomic import atomic_write_text
from lightning_diffeo.runs.layout import CONFIG_FILE

__all__ = ["HASH_LENGTH", "OVERRIDES_FILE", "PROBE_FILE", "RunPlan"]

HASH_LENGTH = 10
"""Hex digits of the SHA-256 of a run's config in its id."""
OVERRIDES_FILE = "overrides.json"
PROBE_FILE = "probe.yaml"
"""A zoo run's config: the options of ``lightning-diffeo probe`` (its folder has no ``config.yaml``)."""


@dataclass(frozen=True)
class RunPlan:
    """One run of a sweep.

    Attributes:
        run_id: ``<slug>-<hash>``, the name of the run's folder.
        run_dir: the run's folder under the study folder.
        overrides: dotted key -> value, the grid's choice for this run (seed excluded).
        seed: the realisation's seed (``seed_everything`` and ``data.seed``).
        config: the resolved fit config (a mapping, as ``lightning-diffeo fit --config`` reads it),
            with the logger pointing at ``run_dir``; for a zoo run, the ``lightning-diffeo probe``
            options (:mod:`.zoo_plan`).
        config_file: the name of the config's file in the run folder (``config.yaml``, a zoo
            run's ``probe.yaml``).
        zoo: what a zoo run records beside its probe options (its name, published top-1, the
            error it compares, the intervals); None for a trained run.
    """

    run_id: str
    run_dir: Path
    overrides: dict[str, Any]
    seed: int
    config: dict[str, Any]
    config_file: str = CONFIG_FILE
    zoo: dict[str, Any] | None = None

    @property
    def config_path(self) -> Path:
        return self.run_dir / self.config_file

    def write_config(self) -> Path:
        """Write the resolved config into the run folder (once: the id fixes its content)."""
        if not self.config_path.exists():
            atomic_write_text(self.config_path, yaml.safe_dump(self.config, sort_keys=False))
        return self.config_path
