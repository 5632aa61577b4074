"""The options of a stability measurement: their types, their defaults and their checks, each once.

``measure_stability``, ``StabilityCallback`` and ``lightning-diffeo probe`` take these options
under the same names. Each calls the one ``check_*`` function of every option it takes where
the option enters, so a bad value gives the same one-line message from all three (``"<option>
must be ..., got <value>"``); the functions inside take the checked, typed values. The rules
of single cutoffs and interpolation names are ``lightning_diffeo.diffeo``'s, called here.
What needs the image size (a temperature from a typical displacement) is checked by the
function that converts, once the size is known (:func:`~.measure.temperature_items`).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, get_args

from lightning_diffeo.diffeo import INTERPOLATIONS, Interpolation, check_log_cutoff
from lightning_diffeo.diffeo import check_interpolation as _check_interpolation_name
from lightning_diffeo.validation import as_float_list, check_bool, check_choice, check_int, check_positive_int

__all__ = [
    "AVERAGES",
    "DEFAULT_AVERAGE",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CUTOFFS",
    "DEFAULT_DELTAS",
    "DEFAULT_DIFFEOS_PER_IMAGE",
    "DEFAULT_INTERPOLATION",
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_MODE",
    "DEFAULT_PER_IMAGE",
    "DEFAULT_STORE",
    "INTERPOLATIONS",
    "MEASURE_DEFAULTS",
    "MODES",
    "OUTPUT",
    "STORES",
    "SWEEP_POINTS",
    "Average",
    "Interpolation",
    "Mode",
    "Sizes",
    "Store",
    "check_average",
    "check_averages",
    "check_batch_size",
    "check_cutoffs",
    "check_deltas",
    "check_diffeos_per_image",
    "check_interpolation",
    "check_layers",
    "check_max_memory",
    "check_mode",
    "check_normalize",
    "check_per_image",
    "check_probe_size",
    "check_sizes",
    "check_store",
    "check_temperatures",
]

# ----------------------------------------------------------------------------------- types
Average = Literal["median", "mean"]
Mode = Literal["eval", "init"]
Store = Literal["auto", "device", "host"]
AVERAGES: tuple[str, ...] = get_args(Average)
MODES: tuple[str, ...] = get_args(Mode)
STORES: tuple[str, ...] = get_args(Store)
OUTPUT = "output"
"""The layer name of a model's return value."""

# -------------------------------------------------------------------------------- defaults
DEFAULT_CUTOFFS: tuple[float, ...] = (3, 5, 15)
DEFAULT_DELTAS: tuple[float, ...] = (1.0,)
"""One pixel. Given as this very object, it yields to ``temperatures`` or ``sweep=True``."""
DEFAULT_INTERPOLATION: Interpolation = "bilinear"
DEFAULT_AVERAGE: tuple[Average, ...] = ("median", "mean")
DEFAULT_DIFFEOS_PER_IMAGE = 1
DEFAULT_MODE: Mode = "eval"
DEFAULT_STORE: Store = "auto"
DEFAULT_BATCH_SIZE = 128
"""Images per forward pass in ``eval`` mode when ``batch_size`` is None (``init``: the whole probe set)."""
SWEEP_POINTS = 30
"""Temperatures per cutoff of ``sweep=True``."""
DEFAULT_MAX_MEMORY = None
"""None: a safe fraction of the memory available where the measurement runs (see :mod:`~.budget`)."""
DEFAULT_PER_IMAGE = False
"""Whether to keep each probe image's terms at the output (:mod:`~.per_image`)."""

MEASURE_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "cutoffs": DEFAULT_CUTOFFS,
    "deltas": DEFAULT_DELTAS,
    "temperatures": None,
    "sweep": False,
    "interpolation": DEFAULT_INTERPOLATION,
    "layers": None,
    "average": DEFAULT_AVERAGE,
    "diffeos_per_image": DEFAULT_DIFFEOS_PER_IMAGE,
    "batch_size": None,
    "normalize": None,
    "mode": DEFAULT_MODE,
    "generator": None,
    "progress": True,
    "store": DEFAULT_STORE,
    "max_memory": DEFAULT_MAX_MEMORY,
    "per_image": DEFAULT_PER_IMAGE,
})
"""Every default of :func:`measure_stability` by option name (read-only), as its signature has them."""

_LAYERS = "None, 'output', a module name or a non-empty list of module names"
_AVERAGE = "'median', 'mean' or a non-empty list of them"
_MAX_MEMORY = "None, a positive number of bytes or a string such as '4GB' or '512MiB'"
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_MEMORY = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*([a-z]*)\s*", re.IGNORECASE)


# ------------------------------------------------------------------ cutoffs and sizes
def check_cutoffs(cutoffs: Any) -> tuple[float, ...]:
    """A number or a non-empty list of numbers, each > 1 (``diffeo``'s rule: the formulas use ln c).

    >>> check_cutoffs(3), check_cutoffs([3, 5])
    ((3.0,), (3.0, 5.0))
    """
    values = tuple(as_float_list("cutoffs", cutoffs, positive=True))
    try:
        for value in values:
            check_log_cutoff("cutoffs", value)
    except ValueError:
        raise ValueError(f"every cutoff must be > 1 (the formulas use ln c), got cutoffs={cutoffs!r}") from None
    return values


def check_deltas(deltas: Any) -> tuple[float, ...]:
    """Typical displacements in pixels: a positive number or a non-empty list of them."""
    return tuple(as_float_list("deltas", deltas, positive=True))


def check_temperatures(temperatures: Any) -> tuple[float, ...]:
    """Temperatures: a positive number or a non-empty list of them."""
    return tuple(as_float_list("temperatures", temperatures, positive=True))


class Sizes(NamedTuple):
    """How the temperatures of a measurement are chosen: exactly one of the three, checked."""

    deltas: tuple[float, ...] | None
    temperatures: tuple[float, ...] | None
    sweep: bool


def check_sizes(deltas: Any, temperatures: Any, sweep: Any = None) -> Sizes:
    """One of ``deltas`` (:data:`DEFAULT_DELTAS` yields to the others), ``temperatures`` or ``sweep``.

    Args:
        deltas: typical displacements, or None.
        temperatures: temperatures, or None.
        sweep: True for the sweep; None where the caller has no sweep option (the message
            then offers only deltas and temperatures).

    >>> check_sizes(DEFAULT_DELTAS, [1e-3], False)
    Sizes(deltas=None, temperatures=(0.001,), sweep=False)
    """
    given = {"deltas": deltas is not None and deltas is not DEFAULT_DELTAS,
             "temperatures": temperatures is not None, "sweep": bool(sweep)}
    values = {"deltas": deltas, "temperatures": temperatures, "sweep": sweep}
    chosen = [name for name, on in given.items() if on]
    options = ("deltas", "temperatures") if sweep is None else ("deltas", "temperatures", "sweep=True")
    offered = ", ".join(options[:-1]) + " or " + options[-1]
    if len(chosen) > 1:
        shown = " and ".join(f"{name}={values[name]!r}" for name in chosen)
        raise ValueError(f"give only one of {offered}, got {shown}")
    if sweep:
        return Sizes(None, None, True)
    if temperatures is not None:
        return Sizes(None, check_temperatures(temperatures), False)
    if deltas is None:
        raise ValueError(f"give {offered}, got none of them")
    return Sizes(check_deltas(deltas), None, False)


# ------------------------------------------------------------------------ the rest
def check_interpolation(interpolation: Any) -> str:
    """``"bilinear"``, ``"gaussian"`` or ``"nearest"`` (``diffeo``'s rule)."""
    return _check_interpolation_name("interpolation", interpolation)


def check_layers(layers: Any) -> tuple[str, ...] | None:
    """The syntax of ``layers``: None, ``"output"``, a module name, or a non-empty list of names.

    Returns None, or the names without duplicates. Whether the names exist is checked where the
    model is (:func:`~.capture.resolve_layers`).
    """
    if layers is None:
        return None
    if isinstance(layers, str):
        return (layers,)
    try:
        names = tuple(dict.fromkeys(layers))
    except TypeError:
        raise TypeError(f"layers must be {_LAYERS}, got {layers!r}") from None
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"layers must be {_LAYERS}, got {layers!r}")
    if not names:
        raise ValueError(f"layers must be {_LAYERS}, got {layers!r}")
    return names


def check_average(average: Any) -> str:
    """The name of one average: ``"median"`` or ``"mean"``."""
    return check_choice("average", average, AVERAGES)


def check_averages(average: Any) -> tuple[str, ...]:
    """One average or a non-empty sequence of them, as a tuple without duplicates.

    >>> check_averages("mean"), check_averages(["median", "mean", "median"])
    (('mean',), ('median', 'mean'))
    """
    if isinstance(average, str):
        return (check_average(average),)
    try:
        names = tuple(dict.fromkeys(average))
    except TypeError:
        raise TypeError(f"average must be {_AVERAGE}, got {average!r}") from None
    if not names:
        raise ValueError(f"average must be {_AVERAGE}, got {average!r}")
    return tuple(check_average(name) for name in names)


def check_mode(mode: Any) -> str:
    """``"eval"`` (trained networks) or ``"init"`` (batch-norm on batch statistics)."""
    return check_choice("mode", mode, MODES)


def check_store(store: Any) -> str:
    """``"auto"``, ``"device"`` or ``"host"``."""
    return check_choice("store", store, STORES)


def check_batch_size(batch_size: Any) -> int | None:
    """None (chosen by the mode) or a positive integer."""
    return None if batch_size is None else check_positive_int("batch_size", batch_size)


def check_diffeos_per_image(diffeos_per_image: Any) -> int:
    """A positive integer."""
    return check_positive_int("diffeos_per_image", diffeos_per_image)


def check_per_image(per_image: Any) -> bool:
    """True or False: keep each probe image's terms at the output (it must be among the layers)."""
    return check_bool("per_image", per_image)


def check_probe_size(probe_size: Any) -> int:
    """An integer >= 2: the denominator averages over pairs of probe images."""
    return check_int("probe_size", probe_size, minimum=2)


def check_normalize(normalize: Any) -> Callable[..., Any] | None:
    """None or a callable applied to every batch before the forward pass."""
    if normalize is not None and not callable(normalize):
        raise TypeError(f"normalize must be callable or None, got {type(normalize).__name__}")
    return normalize


def check_max_memory(max_memory: Any) -> int | None:
    """None (a safe fraction of the available memory), or a budget in bytes: a number or a string.

    Strings take decimal (``kB``, ``MB``, ``GB``, ``TB``) or binary (``KiB``, ``MiB``, ``GiB``,
    ``TiB``) units, any case; a bare number is bytes.

    >>> check_max_memory("4GB"), check_max_memory("1.5 GiB"), check_max_memory(10**9)
    (4000000000, 1610612736, 1000000000)
    """
    if max_memory is None:
        return None
    if isinstance(max_memory, str):
        match = _MEMORY.fullmatch(max_memory)
        unit = match.group(3).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(f"max_memory must be {_MAX_MEMORY}, got {max_memory!r}")
        value = float(match.group(1) + ("e" + match.group(2) if match.group(2) else "")) * _UNITS[unit]
    elif isinstance(max_memory, numbers.Real) and not isinstance(max_memory, bool):
        value = max_memory if isinstance(max_memory, numbers.Integral) else float(max_memory)
    else:
        raise TypeError(f"max_memory must be {_MAX_MEMORY}, got {max_memory!r}")
    if value < 1 or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"max_memory must be {_MAX_MEMORY}, got {max_memory!r}")
    return int(value)
