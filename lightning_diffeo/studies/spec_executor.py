"""A spec's ``executor`` section: ``local`` with N workers, or ``slurm`` with the job array's resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .spec_types import EXECUTORS, ExecutorSpec, SlurmSpec, SpecError

__all__ = ["executor_spec"]

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


def _integer(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise SpecError.at(where, f"must be {wanted}, got {value!r}")
    return value


def _unknown(where: str, raw: Mapping[str, Any], known: tuple[str, ...] | dict[str, Any]) -> None:
    unknown = sorted(set(raw) - set(known), key=str)
    if unknown:
        raise SpecError.at(f"{where}.{unknown[0]}", f"unknown key; expected one of {', '.join(known)}")


def _check_slurm_values(values: Mapping[str, Any]) -> None:
    where = "executor.slurm"
    if values["partition"] is not None and not isinstance(values["partition"], str):
        raise SpecError.at(f"{where}.partition", f"must be a partition name, got {values['partition']!r}")
    _integer(f"{where}.gpus_per_task", values["gpus_per_task"], minimum=0)
    for key in ("cpus_per_task", "timeout_min", "array_parallelism"):
        _integer(f"{where}.{key}", values[key], minimum=1)
    mem = values["mem_gb"]
    if mem is not None and (isinstance(mem, bool) or not isinstance(mem, (int, float)) or mem <= 0):
        raise SpecError.at(f"{where}.mem_gb", f"must be a positive number of GB or null, got {mem!r}")
    if not isinstance(values["additional_parameters"], Mapping):
        raise SpecError.at(f"{where}.additional_parameters", f"must be a mapping of sbatch options, got {values['additional_parameters']!r}")
    setup = values["setup"]
    if not isinstance(setup, list) or not all(isinstance(line, str) for line in setup):
        raise SpecError.at(f"{where}.setup", f"must be a list of shell lines, got {setup!r}")


def _slurm(raw: Any) -> SlurmSpec:
    if raw is None:
        return SlurmSpec()
    if not isinstance(raw, Mapping):
        raise SpecError.at("executor.slurm", f"must be a mapping, got {raw!r}")
    _unknown("executor.slurm", raw, _SLURM_DEFAULTS)
    values = {**_SLURM_DEFAULTS, **raw}
    _check_slurm_values(values)
    return SlurmSpec(**{**values, "additional_parameters": dict(values["additional_parameters"])})


def executor_spec(raw: Any) -> ExecutorSpec:
    """The ``executor`` section (None, ``local``, ``slurm`` or a mapping) as an :class:`ExecutorSpec`.

    Raises:
        SpecError: one line naming the bad key (``executor.workers``, ``executor.slurm.mem_gb``).
    """
    if raw is None:
        return ExecutorSpec()
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, Mapping):
        raise SpecError.at("executor", f"must be 'local', 'slurm' or a mapping, got {raw!r}")
    _unknown("executor", raw, _EXECUTOR_KEYS)
    name = raw.get("name", "local")
    if name not in EXECUTORS:
        raise SpecError.at("executor.name", f"must be one of {', '.join(EXECUTORS)}, got {name!r}")
    workers = _integer("executor.workers", raw.get("workers", 1), minimum=1)
    return ExecutorSpec(name=name, workers=workers, slurm=_slurm(raw.get("slurm")))
