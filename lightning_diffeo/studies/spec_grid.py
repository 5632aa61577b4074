"""A spec's combinations: ``grid`` x ``zip`` groups, plus ``include``, minus ``exclude``; and its ``seeds``.

Each combination keeps the section each of its keys came from, so that a key the fit parser
refuses later is reported as ``grid key ...``, ``zip[0] key ...`` or ``include[1] key ...``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from .spec_types import SpecError

__all__ = ["RESERVED_KEYS", "check_key", "combinations", "seeds"]

# Options a sweep sets itself: a grid over them would be silently overwritten.
RESERVED_KEYS = ("seed_everything", "trainer.logger", "trainer.default_root_dir", "data.seed", "data.init_args.seed")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

Combo = dict[str, Any]
Origin = dict[str, str]


def check_key(where: str, key: Any) -> str:
    """``key`` if it is a dotted option name the sweep does not set itself."""
    if not isinstance(key, str) or not _DOTTED.fullmatch(key):
        raise SpecError.at(where, f"keys must be dotted option names such as model.arch, got {key!r}")
    if key in RESERVED_KEYS:
        raise SpecError.at(where, f"{key!r} is set by the sweep itself (use `seeds` for seeds; the logger points at the run folder)")
    return key


def _values(where: str, key: str, values: Any, allow_scalar: bool) -> list[Any]:
    if isinstance(values, list):
        if not values:
            raise SpecError.at(f"{where}.{key}", "must be a non-empty list of values, got []")
        return values
    if allow_scalar:
        return [values]
    raise SpecError.at(f"{where}.{key}", f"must be a list of values, got {values!r}")


def _product(where: str, mapping: Any, allow_scalar: bool) -> list[Combo]:
    if not isinstance(mapping, Mapping) or not mapping:
        raise SpecError.at(where, f"must be a non-empty mapping of dotted keys to lists, got {mapping!r}")
    keys = [check_key(where, key) for key in mapping]
    lists = [_values(where, key, mapping[key], allow_scalar) for key in keys]
    return [dict(zip(keys, values)) for values in itertools.product(*lists)]


def _zipped(where: str, group: Any) -> list[Combo]:
    if not isinstance(group, Mapping) or not group:
        raise SpecError.at(where, f"must be a mapping of dotted keys to equal-length lists, got {group!r}")
    keys = [check_key(where, key) for key in group]
    lists = [_values(where, key, group[key], allow_scalar=False) for key in keys]
    lengths = {key: len(values) for key, values in zip(keys, lists)}
    if len(set(lengths.values())) != 1:
        raise SpecError.at(where, f"lists of a zip group must have the same length, got {lengths}")
    return [dict(zip(keys, values)) for values in zip(*lists)]


def _listed(raw: Mapping[str, Any], section: str, what: str) -> list[Any]:
    entries = raw.get(section) or []
    if not isinstance(entries, list):
        raise SpecError.at(section, f"must be a list of {what}, got {entries!r}")
    return entries


def _crossed(raw: Mapping[str, Any]) -> list[tuple[Combo, Origin]]:
    """The grid crossed with every zip group; each key varied by one section only."""
    parts: list[tuple[str, list[Combo]]] = []
    if raw.get("grid") is not None:
        parts.append(("grid", _product("grid", raw["grid"], allow_scalar=False)))
    groups = _listed(raw, "zip", "groups (mappings of keys to equal-length lists)")
    parts += [(f"zip[{i}]", _zipped(f"zip[{i}]", group)) for i, group in enumerate(groups)]
    origin: Origin = {}
    for section, combos in parts:
        for key in combos[0]:
            if key in origin:
                raise SpecError.at(section, f"key {key!r} is already varied by {origin[key]}")
            origin[key] = section
    if not parts:
        return []
    choices = itertools.product(*(combos for _, combos in parts))
    return [({k: v for combo in choice for k, v in combo.items()}, origin) for choice in choices]


def _included(raw: Mapping[str, Any]) -> list[tuple[Combo, Origin]]:
    entries = _listed(raw, "include", "mappings")
    return [
        (combo, dict.fromkeys(combo, f"include[{i}]"))
        for i, entry in enumerate(entries)
        for combo in _product(f"include[{i}]", entry, allow_scalar=True)
    ]


def _matches(combo: Mapping[str, Any], rule: Mapping[str, Any]) -> bool:
    for key, wanted in rule.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if key not in combo or combo[key] not in options:
            return False
    return True


def _exclude_rules(raw: Mapping[str, Any], varied: set[str]) -> list[Mapping[str, Any]]:
    """The ``exclude`` rules; a key no section varies could never match, so it is a mistake."""
    rules = _listed(raw, "exclude", "non-empty mappings")
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping) or not rule:
            raise SpecError.at(f"exclude[{i}]", f"must be a non-empty mapping of dotted keys to values, got {rule!r}")
        for key in rule:
            if check_key(f"exclude[{i}]", key) not in varied:
                raise SpecError.at(f"exclude[{i}]", f"key {key!r} is not varied by grid, zip or include: the rule matches nothing")
    return rules


def combinations(raw: Mapping[str, Any]) -> tuple[list[Combo], list[Origin]]:
    """The spec's override sets (no seeds) and, for each, the section each key comes from.

    A spec that varies nothing has one empty combination.
    """
    pairs = _crossed(raw) + _included(raw)
    rules = _exclude_rules(raw, {key for combo, _ in pairs for key in combo})
    kept = [(combo, origin) for combo, origin in pairs if not any(_matches(combo, rule) for rule in rules)]
    if pairs and not kept:
        raise SpecError.at("exclude", "removes every combination: the sweep would run nothing")
    unique: dict[str, tuple[Combo, Origin]] = {}
    for combo, origin in kept:
        unique.setdefault(json.dumps(combo, sort_keys=True, default=str), (combo, origin))
    if not unique:
        return [{}], [{}]
    return [combo for combo, _ in unique.values()], [origin for _, origin in unique.values()]


def seeds(raw: Any) -> list[int]:
    """The spec's ``seeds``: None -> [0], a count n -> 0..n-1, or a list of distinct integers >= 0."""
    if raw is None:
        return [0]
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 1:
            raise SpecError.at("seeds", f"a count must be at least 1, got {raw}")
        return list(range(raw))
    if isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in raw):
        if len(set(raw)) != len(raw):
            raise SpecError.at("seeds", f"must not repeat a seed, got {raw}")
        return list(raw)
    raise SpecError.at("seeds", f"must be a count >= 1 or a non-empty list of distinct integers >= 0, got {raw!r}")
