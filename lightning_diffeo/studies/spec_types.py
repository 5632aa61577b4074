"""What a validated sweep spec holds: :class:`SweepSpec` (trained runs), :class:`ZooSpec` (pretrained
models probed without training), their executor settings, and :class:`SpecError`.

Reading and checking a spec's YAML is :mod:`.spec`'s (and :mod:`.zoo_spec`'s) work; this module only
names the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["DEFAULT_OUTPUT_ROOT", "ERRORS", "EXECUTORS", "ExecutorSpec", "SlurmSpec", "SpecError", "SweepSpec", "ZooModel", "ZooSpec"]

DEFAULT_OUTPUT_ROOT = Path("runs") / "sweeps"
"""Where a spec without ``output`` puts its study: ``runs/sweeps/<spec name>``."""
ExecutorName = Literal["local", "slurm"]
EXECUTORS: tuple[str, ...] = ("local", "slurm")
ERRORS: tuple[str, ...] = ("published", "measured")
"""What a zoo's ``test_error`` is: 1 - the published top-1 accuracy, or the top-1 error measured on the folder."""


class SpecError(ValueError):
    """A sweep spec that cannot be run; the message is one line naming the bad key."""

    @classmethod
    def at(cls, where: str, message: str) -> SpecError:
        """``"<where>: <message>"``, where ``where`` is the spec key (``grid.model.arch``, ``seeds``)."""
        return cls(f"{where}: {message}")


@dataclass(frozen=True)
class SlurmSpec:
    """SLURM resources of every job of the array (submitit's ``slurm_*`` parameters).

    Attributes:
        partition: partition name (None: the cluster's default).
        gpus_per_task: GPUs per run.
        cpus_per_task: CPU cores per run.
        mem_gb: memory per run in GB (None: the partition's default).
        timeout_min: time limit per job in minutes; a run that hits it is requeued and resumes.
        array_parallelism: jobs of the array running at once.
        additional_parameters: extra sbatch options, e.g. ``{"qos": "normal", "account": "lab"}``.
        setup: shell lines run before each job (e.g. ``module load cuda``).
    """

    partition: str | None = None
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    mem_gb: float | None = None
    timeout_min: int = 60
    array_parallelism: int = 256
    additional_parameters: dict[str, Any] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExecutorSpec:
    """Where the runs go: ``local`` worker processes or a ``slurm`` job array."""

    name: ExecutorName = "local"
    workers: int = 1
    slurm: SlurmSpec = field(default_factory=SlurmSpec)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see :mod:`lightning_diffeo.studies.spec` for the YAML form).

    Attributes:
        base: the base fit config as a mapping.
        base_path: the base config file, or None when it is inline.
        fixed: dotted overrides applied to every run (the spec's ``set``).
        combinations: the override sets, in order, before seeds (dotted key -> value).
        seeds: the realisations; each run sets ``seed_everything`` and ``data.seed`` to its seed.
        output: the study folder.
        executor: local or SLURM settings.
        description: free text.
        path: the spec file, or None.
        origins: for each combination, the spec section each of its keys comes from
            (``grid``, ``zip[0]``, ``include[1]``), so an error names where to look; empty
            when the spec was built by hand (its keys are then called grid keys).
    """

    base: dict[str, Any]
    base_path: Path | None
    fixed: dict[str, Any]
    combinations: list[dict[str, Any]]
    seeds: list[int]
    output: Path
    executor: ExecutorSpec
    description: str = ""
    path: Path | None = None
    origins: list[dict[str, str]] = field(default_factory=list)

    @property
    def grid_keys(self) -> list[str]:
        """Every dotted key some combination overrides, in first-seen order."""
        return list(dict.fromkeys(key for combo in self.combinations for key in combo))

    def sections(self, index: int) -> dict[str, str]:
        """Dotted key -> the spec section it comes from (``set``, ``grid``, ``zip[i]``, ``include[i]``),
        for every key that combination ``index`` sets, ``set`` keys included."""
        origin = self.origins[index] if index < len(self.origins) else {}
        varied = {key: origin.get(key, "grid") for key in self.combinations[index]}
        return {**dict.fromkeys(self.fixed, "set"), **varied}

    def iter_overrides(self) -> Iterator[tuple[dict[str, Any], int]]:
        """(overrides, seed) for every run: each combination times each seed."""
        for combo in self.combinations:
            for seed in self.seeds:
                yield dict(combo), seed

    def __len__(self) -> int:
        return len(self.combinations) * len(self.seeds)


@dataclass(frozen=True)
class ZooModel:
    """One model of a zoo (see :mod:`lightning_diffeo.studies.zoo_spec` for the YAML form).

    Attributes:
        name: the model's name in the study table (its ``arch``), unique in the zoo.
        model: ``timm:NAME`` or ``torchvision:NAME``.
        weights: as ``lightning-diffeo probe --weights`` (None: random initialisation).
        weights_file: the local file of a torchvision weights name.
        image_size: square input size instead of the model's own.
        layers: probe layers instead of the model's defaults.
        top1: the published top-1 accuracy in percent, or None.
        top1_source: where ``top1`` comes from (``"spec"``, or torchvision's metadata).
    """

    name: str
    model: str
    weights: str | None = None
    weights_file: str | None = None
    image_size: int | None = None
    layers: str | list[str] | None = None
    top1: float | None = None
    top1_source: str | None = None


@dataclass(frozen=True)
class ZooSpec:
    """A validated zoo spec: pretrained (or randomly initialised) models probed on one folder of images.

    Attributes:
        models: the models, in spec order.
        images: the folder of images (an ImageFolder tree or flat), absolute.
        dataset: the table's ``dataset`` column.
        error: ``"published"`` (test_error = 1 - top1 / 100) or ``"measured"`` (the top-1 error on the
            labelled folder).
        probe: options of ``lightning-diffeo probe`` for every model (cutoffs, deltas, probe_size, seed, ...).
        intervals: half-sample re-measurements per model for the intervals of D_f, G_f, R_f (0: none).
        output: the study folder.
        executor: local or SLURM settings.
        description: free text.
        path: the spec file, or None.
    """

    models: list[ZooModel]
    images: Path
    dataset: str
    error: str
    probe: dict[str, Any]
    intervals: int
    output: Path
    executor: ExecutorSpec
    description: str = ""
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.models)
