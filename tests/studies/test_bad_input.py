"""Every bad input to `sweep run`, `sweep status` and `collect`: one line on stderr, exit status 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightning_diffeo.cli.collect import main as collect_main
from lightning_diffeo.cli.sweep import main as sweep_main

GOOD = {"grid": {"model.arch": ["lenet"]}}

# Spec files the cases refer to by name: a dict is a spec (the tiny base and an output folder
# added), text is written as is. "{tmp}" in an argv stands for the test's folder.
SPECS: dict[str, dict | str | bytes] = {
    "good": GOOD,
    "not_yaml": "base: [unclosed\n  x: :\n",
    "binary": b"\x89PNG\r\n\x1a\n\x00\xff\xfe",
    "empty": "",
    "a_list": "- grid\n- seeds\n",
    "top_key": {**GOOD, "grids": {"model.arch": ["fc2"]}},
    "grid_scalar": {"grid": {"model.arch": "lenet"}},
    "grid_value": {"grid": {"model.lr": ["fast"]}},
    "set_value": {**GOOD, "set": {"model.lr": "fast"}},
    "grid_empty": {"grid": {"model.arch": []}},
    "grid_misspelt": {"grid": {"model.archh": ["lenet"]}},
    "grid_abbrev": {"grid": {"trainer.max_epoch": [3]}},
    "set_abbrev": {**GOOD, "set": {"trainer.max_epoch": 3}},
    "zip_misspelt": {"zip": [{"model.arch": ["lenet", "fc2"], "model.reciep": ["sgd", "adam"]}]},
    "include_misspelt": {**GOOD, "include": [{"model.arch": "fc2", "stability.probesize": 10}]},
    "exclude_unvaried": {**GOOD, "exclude": [{"model.ach": "lenet"}]},
    "seeds_bad": {**GOOD, "seeds": [0, 0]},
    "executor_key": {**GOOD, "executor": {"name": "local", "worker": 2}},
}

CASES = [
    # sweep run: the spec file
    ("sweep", ["run", "{tmp}/missing.yaml"], "missing.yaml"),
    ("sweep", ["run", "{tmp}"], "is a folder"),
    ("sweep", ["run", "{tmp}/not_yaml.yaml"], "not_yaml.yaml is not valid YAML"),
    ("sweep", ["run", "{tmp}/binary.yaml"], "binary.yaml is not a text"),
    ("sweep", ["run", "{tmp}/empty.yaml"], "empty.yaml: a sweep spec must be a mapping"),
    ("sweep", ["run", "{tmp}/a_list.yaml"], "a_list.yaml: a sweep spec must be a mapping"),
    # sweep run: the spec's keys and values
    ("sweep", ["run", "{tmp}/top_key.yaml"], "grids: unknown key"),
    ("sweep", ["run", "{tmp}/grid_scalar.yaml"], "grid.model.arch: must be a list"),
    ("sweep", ["run", "{tmp}/grid_value.yaml"], "grid key 'model.lr': expected float"),
    ("sweep", ["run", "{tmp}/set_value.yaml"], "set key 'model.lr': expected float"),
    ("sweep", ["run", "{tmp}/grid_empty.yaml"], "grid.model.arch: must be a non-empty list"),
    ("sweep", ["run", "{tmp}/grid_misspelt.yaml"], "grid key 'model.archh': not an option"),
    ("sweep", ["run", "{tmp}/grid_abbrev.yaml"], "grid key 'trainer.max_epoch': not an option"),
    ("sweep", ["run", "{tmp}/set_abbrev.yaml"], "set key 'trainer.max_epoch': not an option"),
    ("sweep", ["run", "{tmp}/zip_misspelt.yaml"], "zip[0] key 'model.reciep'"),
    ("sweep", ["run", "{tmp}/include_misspelt.yaml"], "include[0] key 'stability.probesize'"),
    ("sweep", ["run", "{tmp}/exclude_unvaried.yaml"], "exclude[0]: key 'model.ach'"),
    ("sweep", ["run", "{tmp}/seeds_bad.yaml"], "seeds: must not repeat"),
    ("sweep", ["run", "{tmp}/executor_key.yaml"], "executor.worker: unknown key"),
    # sweep run: its options
    ("sweep", ["run"], "spec"),
    ("sweep", ["run", "{tmp}/good.yaml", "--wrkers", "2"], "--wrkers"),
    ("sweep", ["run", "{tmp}/good.yaml", "--work", "2"], "--work 2"),
    ("sweep", ["run", "{tmp}/good.yaml", "--workers", "0"], "--workers must be a positive integer, got 0"),
    ("sweep", ["run", "{tmp}/good.yaml", "--workers", "-2"], "--workers must be a positive integer, got -2"),
    ("sweep", ["run", "{tmp}/good.yaml", "--workers", "two"], "--workers: invalid value 'two'"),
    ("sweep", ["run", "{tmp}/good.yaml", "--executor", "pbs"], "--executor must be local or slurm, got 'pbs'"),
    ("sweep", ["run", "{tmp}/good.yaml", "--output", "{tmp}/good.yaml"], "good.yaml' is a file"),
    ("sweep", ["rnu", "{tmp}/good.yaml"], "'rnu'"),
    # sweep status
    ("sweep", ["status", "{tmp}/nowhere"], "nowhere"),
    ("sweep", ["status", "{tmp}/no_runs"], "no_runs"),
    ("sweep", ["status", "{tmp}/top_key.yaml"], "grids: unknown key"),
    ("sweep", ["status", "{tmp}/good.yaml", "--verbose"], "--verbose"),
    ("sweep", ["status", "{tmp}/study", "--output", "{tmp}/elsewhere"], "--output goes with a sweep spec file"),
    # collect
    ("collect", ["{tmp}/nowhere", "-o", "{tmp}/t.csv"], "nowhere"),
    ("collect", ["{tmp}/no_runs", "-o", "{tmp}/t.csv"], "no_runs"),
    ("collect", ["{tmp}/top_key.yaml", "-o", "{tmp}/t.csv"], "grids: unknown key"),
    ("collect", ["{tmp}/study", "-o", "{tmp}/no_folder/t.csv"], "no_folder"),
    ("collect", ["{tmp}/study", "-o", "{tmp}/t.xlsx"], "t.xlsx"),
    ("collect", ["{tmp}/study", "--out", "{tmp}/t.csv"], "--out"),
    ("collect", ["{tmp}/study"], "output"),
    ("collect", ["{tmp}/study", "-o", "{tmp}/t.csv", "--curves", "{tmp}/c.txt"], "--curves must end in .csv"),
    ("collect", ["{tmp}/study", "-o", "{tmp}/t.csv", "--curves", "{tmp}/t.csv"], "the same file as -o"),
]


def _files(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in sorted(root.rglob("*"))}


@pytest.fixture
def inputs(tmp_path: Path, tiny_base: dict) -> Path:
    """The spec files of SPECS, a folder without runs, and a study folder holding one run folder."""
    for name, content in SPECS.items():
        path = tmp_path / f"{name}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(json.dumps({"base": tiny_base, "output": str(tmp_path / "out"), **content}))
    (tmp_path / "no_runs").mkdir()
    (tmp_path / "study" / "lenet-seed0-0123456789").mkdir(parents=True)
    (tmp_path / "study" / "lenet-seed0-0123456789" / "overrides.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize("command, argv, culprit", CASES, ids=[" ".join(c[1]).replace("{tmp}/", "") for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(inputs, capsys, command, argv, culprit):
    before = _files(inputs)
    main = sweep_main if command == "sweep" else collect_main
    with pytest.raises(SystemExit) as exited:
        main([arg.replace("{tmp}", str(inputs)) for arg in argv])
    captured = capsys.readouterr()
    assert exited.value.code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1 and captured.err.endswith("\n"), captured.err
    assert lines[0].startswith("lightning-diffeo: error: ") and lines[0] != "lightning-diffeo: error: "
    assert culprit in lines[0], lines[0]
    assert captured.out == ""
    assert _files(inputs) == before  # no study folder, run folder or table written
