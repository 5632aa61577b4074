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

``kind: zoo`` makes a spec of another form: pretrained (or randomly initialised) models probed on
one folder of images, without training (:mod:`.zoo_spec`); ``kind: train``, the default, is the
form above.

Every key is validated before any work, with one line naming the bad key. The sections are
read by :mod:`.spec_grid` (combinations, seeds) and :mod:`.spec_executor`; whether each key is
an option of ``lightning-diffeo fit`` is checked when the runs are planned (:mod:`.plan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .spec_executor import executor_spec
from .spec_grid import check_key, combinations, seeds
from .spec_types import DEFAULT_OUTPUT_ROOT, SpecError, SweepSpec, ZooSpec

__all__ = ["DEFAULT_OUTPUT_ROOT", "load_spec", "parse_spec"]

TOP_KEYS = ("kind", "description", "base", "set", "output", "grid", "zip", "include", "exclude", "seeds", "executor")
KINDS = ("train", "zoo")


def _read_yaml(path: Path, what: str) -> Any:
    """The content of the YAML file ``path`` (``what`` names it in errors: "sweep spec", "config file").

    Raises:
        SpecError: the file is missing, a folder, not text or not YAML; one line naming it.
    """
    if path.is_dir():
        raise SpecError(f"{what} {path} is a folder, not a YAML file")
    if not path.is_file():
        raise SpecError(f"{what} not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"{what} {path} is not a text (YAML) file") from None
    except OSError as error:
        raise SpecError(f"{what} {path} cannot be read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise SpecError(f"{what} {path} is not valid YAML ({_yaml_problem(error)})") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem}, line {mark.line + 1} column {mark.column + 1}" if mark is not None else problem


def _base(raw: Any, directory: Path) -> tuple[dict[str, Any], Path | None]:
    if isinstance(raw, Mapping):
        return dict(raw), None
    if not isinstance(raw, str) or not raw:
        raise SpecError.at("base", f"must be a fit config path (relative to the spec file) or a mapping, got {raw!r}")
    path = (directory / raw).resolve()
    try:
        loaded = _read_yaml(path, "config file")
    except SpecError as error:
        raise SpecError.at("base", str(error)) from None
    if not isinstance(loaded, Mapping):
        raise SpecError.at("base", f"{path} does not hold a mapping of fit options")
    return dict(loaded), path


def _kind(raw: Any, path: Path | None) -> str:
    """``train`` or ``zoo``, once ``raw`` is known to be a mapping."""
    if not isinstance(raw, Mapping):
        given = "an empty file" if raw is None else f"a {type(raw).__name__}"
        where = f"{path}: " if path else ""
        raise SpecError(f"{where}a sweep spec must be a mapping with keys {', '.join(TOP_KEYS)}, got {given}")
    kind = raw.get("kind", "train")
    if kind not in KINDS:
        raise SpecError.at("kind", f"must be train (fit every run, the default) or zoo (probe pretrained models), "
                                   f"got {kind!r}")
    return kind


def _check_top(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    unknown = [key for key in raw if key not in TOP_KEYS]
    if unknown:
        raise SpecError.at(str(unknown[0]), f"unknown key; expected one of {', '.join(TOP_KEYS)}")
    if "base" not in raw:
        raise SpecError.at("base", "missing: give a `lightning-diffeo fit` config path or mapping")
    return raw


def _output(raw: Any) -> str | None:
    if raw is not None and (not isinstance(raw, str) or not raw):
        raise SpecError.at("output", f"must be a folder path, got {raw!r}")
    return raw


def _fixed(raw: Any) -> dict[str, Any]:
    fixed = raw or {}
    if not isinstance(fixed, Mapping):
        raise SpecError.at("set", f"must be a mapping of dotted keys to values, got {fixed!r}")
    return {check_key("set", key): value for key, value in fixed.items()}


def parse_spec(
    raw: Any, directory: str | Path = ".", name: str = "sweep", path: Path | None = None,
) -> SweepSpec | ZooSpec:
    """Validate a spec given as a mapping (the YAML's content); ``kind: zoo`` gives a :class:`ZooSpec`.

    Args:
        raw: the spec mapping.
        directory: folder that a relative ``base`` path is resolved against.
        name: study name for the default output folder ``runs/sweeps/<name>``.
        path: the spec file, if any (kept for the record).

    Raises:
        SpecError: one line naming the bad key. Whether each key is a fit option is checked
            later, by :func:`lightning_diffeo.studies.plan_runs`.
    """
    if _kind(raw, path) == "zoo":
        from .zoo_spec import parse_zoo_spec

        return parse_zoo_spec(raw, name=name, path=path)
    raw = _check_top(raw)
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise SpecError.at("description", f"must be text, got {description!r}")
    base, base_path = _base(raw["base"], Path(directory))
    fixed = _fixed(raw.get("set"))
    output = _output(raw.get("output"))
    combos, origins = combinations(raw)
    return SweepSpec(
        base=base,
        base_path=base_path,
        fixed=fixed,
        combinations=combos,
        seeds=seeds(raw.get("seeds")),
        output=Path(output) if output else DEFAULT_OUTPUT_ROOT / name,
        executor=executor_spec(raw.get("executor")),
        description=description,
        path=path,
        origins=origins,
    )


def load_spec(path: str | Path) -> SweepSpec | ZooSpec:
    """Read and validate a sweep spec YAML file (a zoo spec with ``kind: zoo``).

    Raises:
        SpecError: the file is missing, not YAML, or a key is invalid (one line naming it).
    """
    path = Path(path)
    raw = _read_yaml(path, "sweep spec")
    return parse_spec(raw, directory=path.resolve().parent, name=path.stem, path=path.resolve())
