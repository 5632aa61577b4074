"""Checks of user-given options: one clear line naming the bad option, before any work.

Pure standard library, so every subpackage (including ``analysis``) can use it. Every
check takes ``(name, value, ...)``, returns the value in its canonical type and raises

- ``TypeError`` when the value has the wrong type (a string for a number, a bool for an
  integer, a float for an integer), and
- ``ValueError`` when the type is right but the value is not allowed (out of range, not
  finite, not one of the choices, an empty list),

with the message ``"<name> must be ..., got <value!r>"``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "as_float_list",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_positive_int",
    "first_line",
]


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none), for one-line reports."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool, else raise TypeError."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """Return ``value`` as an int; bools and non-integers (also ``3.0``) are rejected.

    Args:
        name: Option name used in the message.
        value: The value to check (``int`` or another ``numbers.Integral``).
        minimum: Smallest allowed value (inclusive), or None for no bound.
    """
    bound = "" if minimum is None else f" >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer{bound}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is an integer >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    minimum: float | None = None,
    exclusive_minimum: float | None = None,
) -> float:
    """Return ``value`` as a finite float (ints allowed, bools rejected).

    Args:
        name: Option name used in the message.
        value: The value to check (a real number).
        minimum: Smallest allowed value (inclusive), or None.
        exclusive_minimum: The value must be strictly greater than this, or None.
    """
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if exclusive_minimum is not None:
        bounds.append(f"> {exclusive_minimum:g}")
    what = "a finite number" + (" " + " and ".join(bounds) if bounds else "")
    number = _as_real(value)
    if number is None:
        raise TypeError(f"{name} must be {what}, got {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if exclusive_minimum is not None and number <= exclusive_minimum:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return number


def as_float_list(name: str, value: Any, positive: bool = True) -> list[float]:
    """Return a number or a non-empty list of finite numbers as a list of floats.

    Args:
        name: Option name used in the message.
        value: One number, or an iterable of numbers (not a string or a mapping).
        positive: Also require every number to be > 0.
    """
    what = "a number or a non-empty list of finite" + (" positive" if positive else "") + " numbers"
    single = _as_real(value)
    if single is not None:
        items: list[float | None] = [single]
    elif isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    else:
        items = [_as_real(item) for item in value]
        if any(item is None for item in items):
            raise TypeError(f"{name} must be {what}, got {value!r}")
    if not items:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    floats = [float(item) for item in items if item is not None]
    if any(not math.isfinite(v) or (positive and v <= 0) for v in floats):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return floats


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of the strings ``choices``, else raise ValueError."""
    options = tuple(choices)
    listed = ", ".join(repr(choice) for choice in options)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {listed}, got {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def _as_real(value: Any) -> float | None:
    """``float(value)`` for a real number that is not a bool (NumPy and 0-d tensors too), else None."""
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "__float__") and not isinstance(value, numbers.Complex):
        if str(getattr(value, "dtype", "")).endswith("bool"):  # NumPy and torch booleans
            return None
        try:
            return float(value)
        except (TypeError, ValueError, RuntimeError):
            return None
    return None
