"""The answers that need no model: --help, an unknown subcommand, a missing file and (outside LightningCLI) a bad option."""

from __future__ import annotations

import json
import subprocess
import sys

from lightning_diffeo.cli.argv import option_values, split_option

# One interpreter runs every case: main() then the heavy modules it left imported.
_SCRIPT = """
import json, sys
from lightning_diffeo.cli import main
seen = {}
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit:
        pass
    seen[" ".join(argv)] = sorted(m for m in ("torch", "lightning") if m in sys.modules)
print(json.dumps(seen))
"""

CASES = [
    ["--help"],
    ["fitt"],
    ["fit", "--config", "missing.yaml"],
    ["test", "--config=missing.yaml"],
    ["probe", "--ckpt_path", "missing.ckpt"],
    ["sweep", "run", "missing.yaml"],
    ["sweep", "run", "x.yaml", "--work", "2"],
    ["collect", "missing", "-o", "x.csv"],
    ["report", "missing.csv", "-o", "r"],
    ["report", "x.csv", "-o", "r", "--n_bot", "3"],
]


def test_help_bad_options_and_missing_files_answer_without_torch_or_lightning(tmp_path):
    done = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(CASES)], cwd=tmp_path, capture_output=True,
                          text=True, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {" ".join(argv): [] for argv in CASES}
    assert done.stderr.count("lightning-diffeo: error:") == len(CASES) - 1  # all but --help
    assert list(tmp_path.iterdir()) == []


def test_option_values_and_split_option_read_both_spellings():
    argv = ["--config", "a.yaml", "-c=b.yaml", "--ckpt_path=last", "--x", "1", "--ckpt_path"]
    assert option_values(argv, "-c", "--config") == ["a.yaml", "b.yaml"]
    assert split_option(argv, "--ckpt_path") == ("", ["--config", "a.yaml", "-c=b.yaml", "--x", "1"])
    assert split_option(["--ckpt_path", "last", "--y"], "--ckpt_path") == ("last", ["--y"])
    assert split_option(["--y"], "--ckpt_path") == (None, ["--y"])
