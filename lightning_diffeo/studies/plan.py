"""From a spec to runs: each override set resolved by the fit parser, named, and given a folder.

A run id is a readable slug of its overrides plus the first 10 hex digits of the SHA-256 of
its whole resolved fit config (defaults included, the logger excluded): change the base
config, a default or an override, and the ids change, so stale results are never mixed in.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lightning_diffeo._atomic import atomic_write_text
from lightning_diffeo.runs.layout import CONFIG_FILE

from .spec import SpecError, SweepSpec

__all__ = ["RunPlan", "plan_runs", "resolve_config"]

HASH_LENGTH = 10
_LOGGER_CLASS = "lightning.pytorch.loggers.CSVLogger"
_UNHASHED = ("trainer.logger", "trainer.default_root_dir")


@dataclass(frozen=True)
class RunPlan:
    """One run of a sweep.

    Attributes:
        run_id: ``<slug>-<hash>``, the name of the run's folder.
        run_dir: the run's folder under the study folder.
        overrides: dotted key -> value, the grid's choice for this run (seed excluded).
        seed: the realisation's seed (``seed_everything`` and ``data.seed``).
        config: the resolved fit config (a mapping, as ``lightning-diffeo fit --config`` reads it),
            with the logger pointing at ``run_dir``.
    """

    run_id: str
    run_dir: Path
    overrides: dict[str, Any]
    seed: int
    config: dict[str, Any]

    @property
    def config_path(self) -> Path:
        return self.run_dir / CONFIG_FILE

    def write_config(self) -> Path:
        """Write the resolved config into the run folder (once: the id fixes its content)."""
        if not self.config_path.exists():
            atomic_write_text(self.config_path, yaml.safe_dump(self.config, sort_keys=False))
        return self.config_path


def _option(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"--{key}={text}"


def _reason(error: BaseException) -> str:
    """One line out of jsonargparse's multi-line error."""
    text = str(error)
    refused = re.search(r"Option '([^']+)' is not accepted", text)
    if refused:
        return f"option {refused.group(1)!r} is not accepted"
    if "unrecognized arguments" in text:
        return "not an option of `lightning-diffeo fit`"
    expected = list(dict.fromkeys(re.findall(r"Expected a <class '([\w.]+)'>", text)))
    given = re.findall(r"Given value: (.*)", text)
    if expected:
        return f"expected {' or '.join(expected)}, got {given[0] if given else 'another type'}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _parse(parser, args: list[str]):
    from lightning_diffeo.runs import expand_data_names

    return parser.parse_args(expand_data_names(args))


def _check_key_exists(parser, key: str, resolved: dict[str, Any]) -> None:
    node: Any = resolved
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and isinstance(node.get("init_args"), dict) and part in node["init_args"]:
            node = node["init_args"][part]
        elif isinstance(node, dict) and node.get("class_path") and part == "init_args":
            node = node.get("init_args", {})
        else:
            raise SpecError(f"grid key {key!r} is not an option of `lightning-diffeo fit` (no {part!r} there)")


def resolve_config(base: dict[str, Any], overrides: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The whole fit config of ``base`` with ``overrides`` and ``seed`` applied, defaults filled in.

    Raises:
        SpecError: an override names no fit option or has a value the option refuses.
    """
    from lightning_diffeo.runs import fit_parser

    parser = fit_parser()
    base_args = ["--config", json.dumps(base)]
    # A whole section (e.g. ``data: mnist``, a class switch) first, so its options apply to the new class.
    ordered = sorted(overrides.items(), key=lambda item: "." in item[0])
    args = base_args + [_option(key, value) for key, value in ordered]
    if seed is not None:
        args += [f"--seed_everything={seed}", f"--data.seed={seed}"]
    try:
        namespace = _parse(parser, args)
    except (Exception, SystemExit) as error:  # jsonargparse raises ArgumentError; some paths exit
        raise SpecError(_culprit(parser, base_args, overrides, error)) from None
    resolved = yaml.safe_load(parser.dump(namespace, skip_validation=True))
    for key, value in overrides.items():
        if value is not None:  # None values are left out of the dump
            _check_key_exists(parser, key, resolved)
    return resolved


def _culprit(parser, base_args: list[str], overrides: dict[str, Any], error: BaseException) -> str:
    """Name the override the parser refuses (parsing each alone), else the base config."""
    try:
        _parse(parser, base_args)
    except (Exception, SystemExit) as base_error:
        return f"base config: {_reason(base_error)}"
    for key, value in overrides.items():
        try:
            _parse(parser, base_args + [_option(key, value)])
        except (Exception, SystemExit) as key_error:
            return f"grid key {key!r}: {_reason(key_error)} (value {value!r})"
    return f"grid keys {sorted(overrides)}: {_reason(error)}"


def _with_seed(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """A copy of a resolved config with ``seed_everything`` and the datamodule's ``seed`` set."""
    config = copy.deepcopy(config)
    config["seed_everything"] = seed
    data = config.get("data")
    if isinstance(data, dict) and isinstance(data.get("init_args"), dict):
        data["init_args"]["seed"] = seed
    else:
        raise SpecError("base config: the data section must name a datamodule (data.class_path) to seed its subset")
    return config


def _hash(config: dict[str, Any]) -> str:
    hashed = json.loads(json.dumps(config, default=str))
    trainer = hashed.get("trainer", {})
    for key in _UNHASHED:
        trainer.pop(key.split(".", 1)[1], None)
    text = json.dumps(hashed, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def _slug_value(value: Any) -> str:
    if isinstance(value, str):
        text = value.rsplit(".", 1)[-1] if re.fullmatch(r"[\w.]+", value) else value
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, (int, float)):
        text = f"{value:g}"
    else:
        text = json.dumps(value, sort_keys=True)
    return re.sub(r"[^A-Za-z0-9_.+-]+", "", text)[:24] or "x"


def run_slug(overrides: dict[str, Any], seed: int) -> str:
    """Readable part of a run id: ``arch=lenet,train_size=256,seed=0`` as ``lenet-train_size256-seed0``."""
    parts = []
    for key, value in overrides.items():
        name = key.split(".")[-1]
        value_text = _slug_value(value)
        parts.append(value_text if name in ("arch", "data", "class_path") else f"{name}{value_text}")
    parts.append(f"seed{seed}")
    return "-".join(parts)[:140]


def plan_runs(spec: SweepSpec, output: str | Path | None = None) -> list[RunPlan]:
    """Resolve every run of ``spec`` (no file written, no model built).

    Args:
        spec: a validated sweep spec.
        output: overrides ``spec.output``.

    Raises:
        SpecError: a grid key is not a fit option, or a value is refused (one line naming it).
    """
    root = Path(output or spec.output).resolve()
    plans: list[RunPlan] = []
    resolved: dict[str, dict[str, Any]] = {}
    for overrides, seed in spec.iter_overrides():
        key = json.dumps(overrides, sort_keys=True, default=str)
        if key not in resolved:  # seeds change two values only: parse each combination once
            resolved[key] = resolve_config(spec.base, {**spec.fixed, **overrides}, None)
        config = _with_seed(resolved[key], seed)
        run_id = f"{run_slug(overrides, seed)}-{_hash(config)}"
        run_dir = root / run_id
        config.setdefault("trainer", {})
        config["trainer"]["logger"] = {
            "class_path": _LOGGER_CLASS,
            "init_args": {"save_dir": str(run_dir), "name": "", "version": ""},
        }
        config["trainer"]["default_root_dir"] = str(run_dir)
        plans.append(RunPlan(run_id=run_id, run_dir=run_dir, overrides=overrides, seed=seed, config=config))
    return plans
