"""Reading an option's value straight from the argument list, before any parser is built (no torch needed)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["option_values", "split_option"]


def _value(words: list[str], i: int, names: tuple[str, ...]) -> tuple[str | None, int]:
    """(value, words used) of the option at ``words[i]``, or (None, 0) when it is not one of ``names``."""
    word = words[i]
    if word in names:
        return (words[i + 1], 2) if i + 1 < len(words) else ("", 1)
    name, equals, value = word.partition("=")
    return (value, 1) if equals and name in names else (None, 0)


def option_values(argv: Sequence[str], *names: str) -> list[str]:
    """Every value given to one of ``names`` (``--opt value`` or ``--opt=value``); ``""`` when one has none."""
    words, found, i = list(argv), [], 0
    while i < len(words):
        value, used = _value(words, i, names)
        if value is not None:
            found.append(value)
        i += used or 1
    return found


def split_option(argv: Sequence[str], name: str) -> tuple[str | None, list[str]]:
    """The last value given to ``name`` (None: not given), and the arguments without it."""
    words, rest, value, i = list(argv), [], None, 0
    while i < len(words):
        found, used = _value(words, i, (name,))
        if found is None:
            rest.append(words[i])
            i += 1
        else:
            value, i = found, i + used
    return value, rest
