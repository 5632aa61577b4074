"""The sweep spec: a YAML file naming a base ``fit`` config, a grid of overrides, seeds and an executor.

.. code-block:: yaml

    description: LeNet and fc2 on Digits, two training-set sizes, two seeds
    base: ../quickstart.yaml          # a `lightning-diffeo fit` config (relative to this file) or a mapping
    set: {trainer.max_epochs: 5}      # dotted overrides applied to every run (in the hash, not the run name)
    output: runs/sweeps/digits_tiny   # the study folder (relative to the working directory)
    grid:                             # dotted fit options -> lists of values: Cartesian product
      model.arch: [lenet, fc2]
      data.train_size: [256, 512]
    zip:                              # groups of options varied together (equal-length lists)
      - {model.recipe: [sgd, adam], model.lr: [0.05, 0.01]}
    include:                          # extra combinations (each a small grid; scalars allowed)
      - {model.arch: efficientnet_b0, model.recipe: transfer}
    exclude:                          # drop combinations matching every given key (lists: any of)
      - {model.arch: fc2, data.train_size: 256}
    seeds: [0, 1]                     # or a count: 3 -> [0, 1, 2]; sets seed_everything AND data.seed
    executor:
      name: local                     # or slurm
      workers: 2
      slurm: {partition: gpu, gpus_per_task: 1, cpus_per_task: 8, mem_gb: 32, timeout_min: 600,
              array_parallelism: 64, additional_parameters: {qos: normal}}

Every key is validated before any work, with one line naming the bad key.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = ["ExecutorSpec", "SlurmSpec", "SpecError", "SweepSpec", "load_spec", "parse_spec"]

ExecutorName = Literal["local", "slurm"]
EXECUTORS: tuple[str, ...] = ("local", "slurm")
DEFAULT_OUTPUT_ROOT = Path("runs") / "sweeps"

_TOP_KEYS = ("description", "base", "set", "output", "grid", "zip", "include", "exclude", "seeds", "executor")
_EXECUTOR_KEYS = ("name", "workers", "slurm")
_SLURM_DEFAULTS: dict[str, Any] = {
    "partition": None,
    "gpus_per_task": 0,
    "cpus_per_task": 1,
    "mem_gb": None,
    "timeout_min": 60,
    "array_parallelism": 256,
    "additional_parameters": {},
    "setup": [],
}
# Options a sweep sets itself: a grid over them would be silently overwritten.
RESERVED_KEYS = ("seed_everything", "trainer.logger", "trainer.default_root_dir", "data.seed", "data.init_args.seed")


class SpecError(ValueError):
    """A sweep spec that cannot be run; the message is one line naming the bad key."""


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
    """A validated sweep spec (see the module docstring for the YAML form).

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

    @property
    def grid_keys(self) -> list[str]:
        """Every dotted key some combination overrides, in first-seen order."""
        return list(dict.fromkeys(key for combo in self.combinations for key in combo))

    def iter_overrides(self) -> Iterator[tuple[dict[str, Any], int]]:
        """(overrides, seed) for every run: each combination times each seed."""
        for combo in self.combinations:
            for seed in self.seeds:
                yield dict(combo), seed

    def __len__(self) -> int:
        return len(self.combinations) * len(self.seeds)


def _fail(where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}")


def _check_key(where: str, key: Any) -> str:
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
        raise _fail(where, f"keys must be dotted option names such as model.arch, got {key!r}")
    if key in RESERVED_KEYS:
        raise _fail(where, f"{key!r} is set by the sweep itself (use `seeds` for seeds; the logger points at the run folder)")
    return key


def _check_values(where: str, key: str, values: Any, allow_scalar: bool) -> list[Any]:
    if isinstance(values, list):
        if not values:
            raise _fail(f"{where}.{key}", "must be a non-empty list of values, got []")
        return values
    if allow_scalar:
        return [values]
    raise _fail(f"{where}.{key}", f"must be a list of values, got {values!r}")


def _product(where: str, mapping: Any, allow_scalar: bool) -> list[dict[str, Any]]:
    if not isinstance(mapping, Mapping) or not mapping:
        raise _fail(where, f"must be a non-empty mapping of dotted keys to lists, got {mapping!r}")
    keys = [_check_key(where, key) for key in mapping]
    lists = [_check_values(where, key, mapping[key], allow_scalar) for key in keys]
    return [dict(zip(keys, values)) for values in itertools.product(*lists)]


def _zipped(where: str, group: Any) -> list[dict[str, Any]]:
    if not isinstance(group, Mapping) or not group:
        raise _fail(where, f"must be a mapping of dotted keys to equal-length lists, got {group!r}")
    keys = [_check_key(where, key) for key in group]
    lists = [_check_values(where, key, group[key], allow_scalar=False) for key in keys]
    lengths = {key: len(values) for key, values in zip(keys, lists)}
    if len(set(lengths.values())) != 1:
        raise _fail(where, f"lists of a zip group must have the same length, got {lengths}")
    return [dict(zip(keys, values)) for values in zip(*lists)]


def _matches(combo: Mapping[str, Any], rule: Mapping[str, Any]) -> bool:
    for key, wanted in rule.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if key not in combo or combo[key] not in options:
            return False
    return True


def _combinations(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts: list[list[dict[str, Any]]] = []
    if raw.get("grid") is not None:
        parts.append(_product("grid", raw["grid"], allow_scalar=False))
    zips = raw.get("zip") or []
    if not isinstance(zips, list):
        raise _fail("zip", f"must be a list of groups (mappings of keys to equal-length lists), got {zips!r}")
    parts.extend(_zipped(f"zip[{i}]", group) for i, group in enumerate(zips))
    seen: dict[str, str] = {}
    for part, name in zip(parts, ["grid"] * (raw.get("grid") is not None) + [f"zip[{i}]" for i in range(len(zips))]):
        for key in part[0]:
            if key in seen:
                raise _fail(name, f"key {key!r} is already varied by {seen[key]}")
            seen[key] = name
    combos = [dict(itertools.chain.from_iterable(c.items() for c in choice)) for choice in itertools.product(*parts)] if parts else []
    includes = raw.get("include") or []
    if not isinstance(includes, list):
        raise _fail("include", f"must be a list of mappings, got {includes!r}")
    for i, entry in enumerate(includes):
        combos.extend(_product(f"include[{i}]", entry, allow_scalar=True))
    excludes = raw.get("exclude") or []
    if not isinstance(excludes, list) or not all(isinstance(rule, Mapping) and rule for rule in excludes):
        raise _fail("exclude", f"must be a list of non-empty mappings, got {excludes!r}")
    for i, rule in enumerate(excludes):
        for key in rule:
            _check_key(f"exclude[{i}]", key)
    combos = [combo for combo in combos if not any(_matches(combo, rule) for rule in excludes)]
    if not combos and (parts or includes):
        raise _fail("exclude", "removes every combination: the sweep would run nothing")
    unique = list({json.dumps(c, sort_keys=True, default=str): c for c in combos}.values())
    return unique or [{}]


def _seeds(raw: Any) -> list[int]:
    if raw is None:
        return [0]
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 1:
            raise _fail("seeds", f"a count must be at least 1, got {raw}")
        return list(range(raw))
    if isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in raw):
        if len(set(raw)) != len(raw):
            raise _fail("seeds", f"must not repeat a seed, got {raw}")
        return list(raw)
    raise _fail("seeds", f"must be a count >= 1 or a non-empty list of distinct integers >= 0, got {raw!r}")


def _positive_int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(where, f"must be a positive integer, got {value!r}")
    return value


def _slurm(raw: Any) -> SlurmSpec:
    if raw is None:
        return SlurmSpec()
    if not isinstance(raw, Mapping):
        raise _fail("executor.slurm", f"must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - set(_SLURM_DEFAULTS))
    if unknown:
        raise _fail(f"executor.slurm.{unknown[0]}", f"unknown key; expected one of {', '.join(_SLURM_DEFAULTS)}")
    values = {**_SLURM_DEFAULTS, **raw}
    if values["partition"] is not None and not isinstance(values["partition"], str):
        raise _fail("executor.slurm.partition", f"must be a partition name, got {values['partition']!r}")
    gpus = values["gpus_per_task"]
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise _fail("executor.slurm.gpus_per_task", f"must be an integer >= 0, got {gpus!r}")
    for key in ("cpus_per_task", "timeout_min", "array_parallelism"):
        _positive_int(f"executor.slurm.{key}", values[key])
    mem = values["mem_gb"]
    if mem is not None and (isinstance(mem, bool) or not isinstance(mem, (int, float)) or mem <= 0):
        raise _fail("executor.slurm.mem_gb", f"must be a positive number of GB or null, got {mem!r}")
    if not isinstance(values["additional_parameters"], Mapping):
        raise _fail("executor.slurm.additional_parameters", f"must be a mapping of sbatch options, got {values['additional_parameters']!r}")
    setup = values["setup"]
    if not isinstance(setup, list) or not all(isinstance(line, str) for line in setup):
        raise _fail("executor.slurm.setup", f"must be a list of shell lines, got {setup!r}")
    return SlurmSpec(**{**values, "additional_parameters": dict(values["additional_parameters"])})


def _executor(raw: Any) -> ExecutorSpec:
    if raw is None:
        return ExecutorSpec()
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, Mapping):
        raise _fail("executor", f"must be 'local', 'slurm' or a mapping, got {raw!r}")
    unknown = sorted(set(raw) - set(_EXECUTOR_KEYS))
    if unknown:
        raise _fail(f"executor.{unknown[0]}", f"unknown key; expected one of {', '.join(_EXECUTOR_KEYS)}")
    name = raw.get("name", "local")
    if name not in EXECUTORS:
        raise _fail("executor.name", f"must be one of {', '.join(EXECUTORS)}, got {name!r}")
    workers = _positive_int("executor.workers", raw.get("workers", 1))
    return ExecutorSpec(name=name, workers=workers, slurm=_slurm(raw.get("slurm")))


def _base(raw: Any, directory: Path) -> tuple[dict[str, Any], Path | None]:
    if isinstance(raw, Mapping):
        return dict(raw), None
    if not isinstance(raw, str) or not raw:
        raise _fail("base", f"must be a fit config path (relative to the spec file) or a mapping, got {raw!r}")
    path = (directory / raw).resolve()
    if not path.is_file():
        raise _fail("base", f"config file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise _fail("base", f"{path} is not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(loaded, Mapping):
        raise _fail("base", f"{path} does not hold a mapping of fit options")
    return dict(loaded), path


def parse_spec(raw: Any, directory: str | Path = ".", name: str = "sweep", path: Path | None = None) -> SweepSpec:
    """Validate a spec given as a mapping (the YAML's content).

    Args:
        raw: the spec mapping.
        directory: folder that a relative ``base`` path is resolved against.
        name: study name for the default output folder ``runs/sweeps/<name>``.
        path: the spec file, if any (kept for the record).

    Raises:
        SpecError: one line naming the bad key. Grid keys are checked against the fit
            options later, by :func:`lightning_diffeo.studies.runs.plan_runs`.
    """
    if not isinstance(raw, Mapping):
        raise SpecError(f"a sweep spec must be a mapping with keys {', '.join(_TOP_KEYS)}, got {type(raw).__name__}")
    unknown = [key for key in raw if key not in _TOP_KEYS]
    if unknown:
        raise _fail(str(unknown[0]), f"unknown key; expected one of {', '.join(_TOP_KEYS)}")
    if "base" not in raw:
        raise _fail("base", "missing: give a `lightning-diffeo fit` config path or mapping")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise _fail("description", f"must be text, got {description!r}")
    base, base_path = _base(raw["base"], Path(directory))
    fixed = raw.get("set") or {}
    if not isinstance(fixed, Mapping):
        raise _fail("set", f"must be a mapping of dotted keys to values, got {fixed!r}")
    for key in fixed:
        _check_key("set", key)
    output = raw.get("output")
    if output is not None and (not isinstance(output, str) or not output):
        raise _fail("output", f"must be a folder path, got {output!r}")
    return SweepSpec(
        base=base,
        base_path=base_path,
        fixed=dict(fixed),
        combinations=_combinations(raw),
        seeds=_seeds(raw.get("seeds")),
        output=Path(output) if output else DEFAULT_OUTPUT_ROOT / name,
        executor=_executor(raw.get("executor")),
        description=description,
        path=path,
    )


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec YAML file.

    Raises:
        SpecError: the file is missing, not YAML, or a key is invalid (one line naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"sweep spec not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SpecError(f"{path} is not valid YAML ({str(error).splitlines()[0]})") from None
    return parse_spec(raw, directory=path.resolve().parent, name=path.stem, path=path.resolve())
