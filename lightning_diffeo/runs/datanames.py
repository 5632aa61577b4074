"""Datamodule names: ``--data cifar10`` for the class path, and a class path back to its class."""

from __future__ import annotations

from collections.abc import Sequence

from lightning_diffeo.datamodules import DATAMODULES

__all__ = ["class_path_of", "datamodule_class", "expand_data_names"]


def class_path_of(cls: type) -> str:
    """The public class path of a package datamodule: ``lightning_diffeo.datamodules.CIFAR10DataModule``."""
    return f"{cls.__module__.rsplit('.', 1)[0]}.{cls.__name__}"


def datamodule_class(class_path: str) -> type | None:
    """The package datamodule named by ``class_path`` (public, or with its module), else None."""
    for cls in DATAMODULES.values():
        if class_path in (class_path_of(cls), f"{cls.__module__}.{cls.__name__}"):
            return cls
    return None


def expand_data_names(argv: Sequence[str]) -> list[str]:
    """``--data cifar10`` (or ``CIFAR10DataModule``) -> ``--data lightning_diffeo.datamodules.CIFAR10DataModule``.

    Only the list given is changed (never ``sys.argv``): DDP launchers start the other
    processes with the original command line, which expands the same way there.

    Raises:
        ValueError: a bare name that is neither a short name nor a class name of the package.
    """
    by_name = dict(DATAMODULES)
    by_name.update({cls.__name__.lower(): cls for cls in DATAMODULES.values()})
    expanded = list(argv)
    for i, token in enumerate(expanded):
        value, prefix = None, ""
        if token == "--data" and i + 1 < len(expanded):
            value, i = expanded[i + 1], i + 1
        elif token.startswith("--data="):
            value, prefix = token.split("=", 1)[1], "--data="
        if value is None:
            continue
        if value.lower() in by_name:
            cls = by_name[value.lower()]
            expanded[i] = f"{prefix}{class_path_of(cls)}"
        elif value.isidentifier():  # not a class path, a file or inline YAML
            raise ValueError(
                f"--data {value}: unknown datamodule; expected one of {', '.join(DATAMODULES)} "
                "or a class path such as lightning_diffeo.datamodules.CIFAR10DataModule"
            )
    return expanded
