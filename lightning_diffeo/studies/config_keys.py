"""Dotted keys in a resolved fit config: ``data.train_size`` finds ``data: {class_path, init_args: {train_size}}``.

The fit parser accepts a class's options with or without ``init_args`` in the key; this walk
reads a resolved config (a mapping, as ``config.yaml`` holds it) the same way. Planning uses
it to check that an override landed on an option, ``collect`` to read a run's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["find_option", "option_names", "option_value"]


def _child(node: Any, part: str) -> Any:
    if not isinstance(node, Mapping):
        raise KeyError(part)
    if part in node:
        return node[part]
    init_args = node.get("init_args")
    if isinstance(init_args, Mapping) and part in init_args:
        return init_args[part]
    if part == "init_args" and node.get("class_path"):
        return init_args or {}  # a class given without options
    raise KeyError(part)


def find_option(config: Mapping[str, Any], key: str) -> Any:
    """The value of dotted ``key`` in a resolved fit config, looking through ``class_path``/``init_args``.

    Raises:
        KeyError: with the first component of ``key`` that is not there.

    Example:
        >>> config = {"data": {"class_path": "x.DigitsDataModule", "init_args": {"train_size": 64}}}
        >>> find_option(config, "data.train_size"), find_option(config, "data.init_args.train_size")
        (64, 64)
    """
    node: Any = config
    for part in key.split("."):
        node = _child(node, part)
    return node


def option_value(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """:func:`find_option`, or ``default`` where ``key`` is not in ``config``."""
    try:
        return find_option(config, key)
    except KeyError:
        return default


def option_names(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every dotted key of a resolved fit config, in the short form (no ``init_args``), sections included.

    Example:
        >>> option_names({"trainer": {"max_epochs": 3}, "data": {"class_path": "x.D", "init_args": {"seed": 0}}})
        ['trainer', 'trainer.max_epochs', 'data', 'data.seed']
    """
    names: list[str] = []
    for name, value in config.items():
        if name == "class_path":
            continue
        if name == "init_args" and isinstance(value, Mapping):
            names += option_names(value, prefix)
            continue
        names.append(f"{prefix}{name}")
        if isinstance(value, Mapping):
            names += option_names(value, f"{prefix}{name}.")
    return names
