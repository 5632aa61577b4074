"""From a spec to runs: each override set resolved by the fit parser, named, and given a folder.

A run id is a readable slug of its overrides plus the first 10 hex digits of the SHA-256 of
its whole resolved fit config (defaults included, the logger excluded): change the base
config, a default or an override, and the ids change, so stale results are never mixed in.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .config_keys import find_option, option_names
from .run_plan import HASH_LENGTH, RunPlan
from .spec_types import SpecError, SweepSpec, ZooSpec

__all__ = ["RunPlan", "plan_runs", "resolve_config"]

_LOGGER_CLASS = "lightning.pytorch.loggers.CSVLogger"
_UNHASHED = ("trainer.logger", "trainer.default_root_dir")


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


def _label(key: str, sections: Mapping[str, str] | None) -> str:
    """``set key 'trainer.max_epochs'``, ``grid key 'model.arch'``: the key and the spec section it came from."""
    section = (sections or {}).get(key)
    return f"{section} key {key!r}" if section else f"key {key!r}"


def _suggestion(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def resolve_config(
    base: dict[str, Any], overrides: dict[str, Any], seed: int | None, sections: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The whole fit config of ``base`` with ``overrides`` and ``seed`` applied, defaults filled in.

    Args:
        base: a fit config mapping.
        overrides: dotted key -> value.
        seed: sets ``seed_everything`` and ``data.seed``; None leaves them.
        sections: dotted key -> the spec section it came from (``set``, ``grid``, ``zip[0]``),
            named in errors.

    Raises:
        SpecError: an override names no fit option or has a value the option refuses; one
            line naming the key and its section.
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
        raise SpecError(_culprit(parser, base_args, overrides, sections, error)) from None
    resolved = yaml.safe_load(parser.dump(namespace, skip_validation=True))
    _check_landed(resolved, overrides, sections)
    return resolved


def _check_landed(resolved: dict[str, Any], overrides: dict[str, Any], sections: Mapping[str, str] | None) -> None:
    """Every override is an option of the resolved config (the parser may accept a key it then drops)."""
    for key, value in overrides.items():
        if value is None:  # None values are left out of the dump
            continue
        try:
            find_option(resolved, key)
        except KeyError as missing:
            where = f"no {missing.args[0]!r} there{_suggestion(key, option_names(resolved))}"
            raise SpecError(f"{_label(key, sections)}: not an option of `lightning-diffeo fit` ({where})") from None


def _culprit(
    parser, base_args: list[str], overrides: dict[str, Any], sections: Mapping[str, str] | None, error: BaseException,
) -> str:
    """Name the override the parser refuses (parsing each alone), else the base config."""
    try:
        base = _parse(parser, base_args)
    except (Exception, SystemExit) as base_error:
        return f"base config: {_reason(base_error)}"
    for key, value in overrides.items():
        try:
            _parse(parser, base_args + [_option(key, value)])
        except (Exception, SystemExit) as key_error:
            reason = _reason(key_error)
            hint = ""
            if reason.startswith(("not an option", "option ")):
                hint = _suggestion(key, option_names(yaml.safe_load(parser.dump(base, skip_validation=True))))
            return f"{_label(key, sections)}: {reason} (value {value!r}{hint})"
    return f"overrides {sorted(overrides)} together: {_reason(error)}"


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


def plan_runs(spec: SweepSpec | ZooSpec, output: str | Path | None = None) -> list[RunPlan]:
    """Resolve every run of ``spec`` (no file written, no model built).

    Args:
        spec: a validated sweep spec (a zoo spec: one probe run per model, :func:`.zoo_plan.plan_zoo`).
        output: overrides ``spec.output``.

    Raises:
        SpecError: a key of ``set``, ``grid``, ``zip`` or ``include`` is not a fit option, or a value
            is refused (one line naming the key and its section).
    """
    if isinstance(spec, ZooSpec):
        from .zoo_plan import plan_zoo

        return plan_zoo(spec, output)
    root = Path(output or spec.output).resolve()
    plans: list[RunPlan] = []
    for index, overrides in enumerate(spec.combinations):
        # Seeds change two values only: each combination is parsed once.
        resolved = resolve_config(spec.base, {**spec.fixed, **overrides}, None, spec.sections(index))
        plans += [_plan(root, resolved, dict(overrides), seed) for seed in spec.seeds]
    return plans


def _plan(root: Path, resolved: dict[str, Any], overrides: dict[str, Any], seed: int) -> RunPlan:
    """One run of a resolved combination: its seed, id, folder, and the logger pointing there."""
    config = _with_seed(resolved, seed)
    run_id = f"{run_slug(overrides, seed)}-{_hash(config)}"
    run_dir = root / run_id
    config.setdefault("trainer", {})
    config["trainer"]["logger"] = {
        "class_path": _LOGGER_CLASS,
        "init_args": {"save_dir": str(run_dir), "name": "", "version": ""},
    }
    config["trainer"]["default_root_dir"] = str(run_dir)
    return RunPlan(run_id=run_id, run_dir=run_dir, overrides=overrides, seed=seed, config=config)
