"""Running the command in this process, as the tests of every subcommand do."""

from __future__ import annotations

import contextlib
import io

from lightning_diffeo.cli import main


def run_main(args: list[str]) -> tuple[str, str, int]:
    """main(args) in this process: (stdout, stderr, exit status)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exit_info:
            code = exit_info.code if isinstance(exit_info.code, int) else 1
    return out.getvalue(), err.getvalue(), code
