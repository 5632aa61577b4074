"""The table of subcommands: every one listed with its purpose, dispatched by name, found without torch."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from lightning_diffeo.cli import SUBCOMMANDS, main


def test_help_lists_every_subcommand_with_its_purpose(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    for name, entry in SUBCOMMANDS.items():
        assert f"  {name}" in out and entry.purpose in out
    assert set(SUBCOMMANDS) == {"fit", "validate", "test", "predict", "probe", "sweep", "collect", "report"}


@pytest.mark.parametrize("argv, given", [([], "no subcommand given"), (["fitt"], "unknown subcommand 'fitt'")])
def test_a_missing_or_unknown_subcommand_is_one_line_naming_them_all(capsys, argv, given):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert given in err and "fit, validate, test, predict, probe, sweep, collect, report" in err


def test_every_entry_names_a_callable_of_its_module():
    for entry in SUBCOMMANDS.values():
        assert callable(getattr(importlib.import_module(entry.module), entry.function))


def test_help_answers_without_importing_torch_or_lightning():
    code = ("import sys; from lightning_diffeo.cli import main; main(['--help']); "
            "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "lightning_diffeo.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "subcommands:" in done.stdout


def test_the_last_checkpoint_callback_writes_the_layouts_file_name():
    from lightning_diffeo.callbacks import last_checkpoint
    from lightning_diffeo.runs.layout import LAST_CHECKPOINT

    assert f"{last_checkpoint().filename}{last_checkpoint().FILE_EXTENSION}" == LAST_CHECKPOINT
