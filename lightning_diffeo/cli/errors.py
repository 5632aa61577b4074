"""The command line's one error printer: bad input is one line on stderr, exit status 2, before any work."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .argv import option_values

__all__ = [
    "TRACEBACK_ENV", "CLIError", "OneLineErrors", "check_config_files", "condense", "fail", "one_line", "parse_or_fail",
]

TRACEBACK_ENV = "LIGHTNING_DIFFEO_TRACEBACK"


class CLIError(ValueError):
    """Bad input found by the command line itself."""


def fail(error: BaseException | str) -> NoReturn:
    """Print ``lightning-diffeo: error: <one line>`` to stderr and exit with status 2.

    With ``LIGHTNING_DIFFEO_TRACEBACK`` set, an exception is raised again instead (its traceback).
    """
    if isinstance(error, BaseException) and os.environ.get(TRACEBACK_ENV):
        raise error
    print(f"lightning-diffeo: error: {one_line(error)}", file=sys.stderr)
    sys.exit(2)


def _union_reason(lines: list[str]) -> str | None:
    """The package's own message among jsonargparse's "Does not validate against any of the Union subtypes"."""
    if not any("Does not validate against any of the Union subtypes" in line for line in lines):
        return None
    reasons = [line.lstrip("- ").strip() for line in lines if line.startswith("- ")]
    own = [reason for reason in reasons if not reason.startswith("Expected a")]
    return own[0] if own else None


def one_line(error: BaseException | str) -> str:
    """One line out of an error: jsonargparse's multi-line messages condensed, others their first line."""
    text = str(error).strip()
    if not text:
        return type(error).__name__ if isinstance(error, BaseException) else "invalid arguments"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines[0].startswith("Parser key"):
        return condense(text)
    own = _union_reason(lines)
    if own is not None:
        return own
    required = re.match(r"the following arguments are required: (?:\w+\.)?data\b", lines[0])
    if required:
        return ("no datamodule given: pass --config <run>/config.yaml (the config the checkpoint was trained "
                "with) or --data NAME")
    return " ".join(lines[0].split()) if isinstance(error, BaseException) else " ".join(text.split())


def condense(message: str) -> str:
    """One line from jsonargparse's multi-line message: the option, the value given, the first reason."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "invalid arguments"
    key = re.match(r'Parser key "([^"]+)":?\s*(.*)', lines[0])
    if key is None:
        return one_line(message) if not lines[0].startswith("Parser key") else lines[0]
    if key.group(2):  # the reason on the same line, e.g. 'Parser key "config": File does not exist: ...'
        return f"--{key.group(1)}: {key.group(2)}"
    given = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Given value:")), None)
    own = _union_reason(lines)
    if own is not None:
        return f"--{key.group(1)}: {own}"
    expected = [re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", m.group(1)).replace("typing.", "")
                for line in lines if (m := re.match(r"- Expected an? (.+?)(?:\. Got value.*)?$", line))]
    reasons = [line.lstrip("- ") for line in lines[1:]
               if not line.startswith(("Given value", "Does not validate", "Subtypes", "Errors", "- Expected"))]
    reason = f"expected {' or '.join(expected)}" if expected else (reasons[0] if reasons else "invalid value")
    if given is not None:
        return f"--{key.group(1)}: invalid value {given!r} ({reason})"
    return f"--{key.group(1)}: {reason}"


class OneLineErrors:
    """jsonargparse parser mixin: a bad option is one line and exit status 2, not a usage dump.

    Abbreviated option names are refused (``--trainer.max_epoch`` is not ``--trainer.max_epochs``),
    as in sweep specs.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str, ex: Exception | None = None):
        if not getattr(self, "exit_on_error", True):
            return super().error(message, ex)  # type: ignore[misc]
        print(f"lightning-diffeo: error: {one_line(message)} (see {getattr(self, 'prog', 'lightning-diffeo')} --help)",
              file=sys.stderr)
        sys.exit(2)


def parse_or_fail(parser: Any, argv: Sequence[str]) -> Any:
    """``parser.parse_args(argv)`` of a jsonargparse parser built with ``exit_on_error=False``; bad input: :func:`fail`."""
    try:
        return parser.parse_args(list(argv))
    except Exception as error:  # jsonargparse's ArgumentError
        fail(error)


def check_config_files(argv: Sequence[str]) -> None:
    """Every ``--config FILE`` exists and is valid YAML (or JSON), else :func:`fail` naming the file.

    A value that is not a file name (inline YAML such as ``--config '{trainer: {max_epochs: 2}}'``)
    is left to the parser.
    """
    import yaml

    for value in option_values(argv, "-c", "--config"):
        path = Path(value)
        if path.suffix.lower() not in (".yaml", ".yml", ".json") and not path.is_file():
            continue
        if not path.is_file():
            fail(f"--config {value}: file not found")
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            fail(f"--config {value}: not valid YAML ({problem}{where})")
