"""Atomic file writes and unique folders: a reader never sees a partial file, two runs never share a folder."""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_csv", "atomic_write_text", "make_unique_dir"]


def _temporary_file(directory: Path, name: str) -> Path:
    """A new empty file beside the target, created with mode 0o666 minus the process umask.

    ``tempfile.mkstemp`` would create it with mode 0o600, which the final file would keep:
    unreadable by the rest of a group on a shared cluster.
    """
    while True:
        temporary = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return temporary


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], overwrite: bool = True) -> Path:
    """Call ``write(temporary_path)`` next to ``path``, then move the file into place.

    Args:
        path: final file; its folder is created if needed.
        write: writes the whole file to the path it is given.
        overwrite: False refuses to replace an existing ``path`` (``FileExistsError``),
            checked atomically when the file is moved into place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_file(path.parent, path.name)
    try:
        write(temporary)
        if overwrite:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if ``path`` exists: no window for a silent replace
            temporary.unlink()
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), overwrite=overwrite)


def atomic_write_csv(path: str | os.PathLike, records: Sequence[Mapping[str, Any]], overwrite: bool = True) -> Path:
    """Write ``records`` as CSV to ``path`` atomically: a header of every key in first-seen order, a row each."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(records)
    return atomic_write_text(path, buffer.getvalue(), overwrite=overwrite)


def make_unique_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """Create and return ``parent/<prefix><k>`` for the smallest free ``k`` above the existing ones.

    The folder is created with ``mkdir(exist_ok=False)``, retrying with ``k + 1`` when another
    process took ``k`` first: processes started at the same moment get different folders.
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"{re.escape(prefix)}(\d+)$")
    taken = [int(m.group(1)) for entry in os.listdir(parent) if (m := pattern.match(entry))]
    index = max(taken, default=-1) + 1
    while True:
        candidate = parent / f"{prefix}{index}"
        try:
            candidate.mkdir()
        except FileExistsError:
            index += 1
            continue
        return candidate
