"""The command line's one error printer: bad input is one line (and a hint), exit status 2, before any work."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from lightning_diffeo.validation import first_line

__all__ = ["TRACEBACK_ENV", "CLIError", "OneLineErrors", "condense", "fail", "parse_or_fail"]

TRACEBACK_ENV = "LIGHTNING_DIFFEO_TRACEBACK"


class CLIError(ValueError):
    """Bad input found by the command line itself."""


def fail(error: BaseException | str, hint: bool = True) -> NoReturn:
    """Print ``lightning-diffeo: error: <first line>`` (and, with ``hint``, how to see the traceback) to stderr; exit 2.

    With ``LIGHTNING_DIFFEO_TRACEBACK`` set, an exception is raised again instead (its traceback).
    """
    if isinstance(error, BaseException) and os.environ.get(TRACEBACK_ENV):
        raise error
    message = " ".join(first_line(error).split()) if isinstance(error, BaseException) else " ".join(str(error).split())
    print(f"lightning-diffeo: error: {message}", file=sys.stderr)
    if hint:
        print(f"(set {TRACEBACK_ENV}=1 for the full traceback)", file=sys.stderr)
    sys.exit(2)


def condense(message: str) -> str:
    """One line from jsonargparse's multi-line message: the option, the value given, the first reason."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "invalid arguments"
    key = re.match(r'Parser key "([^"]+)"', lines[0])
    given = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Given value:")), None)
    if key is None:
        return lines[0]
    expected = [re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", m.group(1)).replace("typing.", "")
                for line in lines if (m := re.match(r"- Expected an? (.+?)(?:\. Got value.*)?$", line))]
    reasons = [line.lstrip("- ") for line in lines[1:]
               if not line.startswith(("Given value", "Does not validate", "Subtypes", "Errors", "- Expected"))]
    reason = f"expected {' or '.join(expected)}" if expected else (reasons[0] if reasons else "invalid value")
    if given is not None:
        return f"--{key.group(1)}: invalid value {given!r} ({reason})"
    return f"--{key.group(1)}: {reason}"


class OneLineErrors:
    """jsonargparse parser mixin: a bad option is one line and exit status 2, not a usage dump."""

    def error(self, message: str, ex: Exception | None = None):
        if not getattr(self, "exit_on_error", True):
            return super().error(message, ex)  # type: ignore[misc]
        print(f"lightning-diffeo: error: {condense(message)}", file=sys.stderr)
        print(f"(see {getattr(self, 'prog', 'lightning-diffeo')} --help)", file=sys.stderr)
        sys.exit(2)


def parse_or_fail(parser: Any, argv: Sequence[str]) -> Any:
    """``parser.parse_args(argv)`` of a jsonargparse parser built with ``exit_on_error=False``; bad input: :func:`fail`."""
    try:
        return parser.parse_args(list(argv))
    except Exception as error:  # jsonargparse's ArgumentError
        fail(error, hint=False)
