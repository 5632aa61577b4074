"""StabilityCallback under DDP with 2 CPU processes: rank 0 measures, the other waits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lightning_diffeo.stability import StabilityResult


@pytest.mark.slow  # the CLI under DDP: tests/cli/test_cli.py
def test_ddp_two_cpu_processes(tmp_path):
    script = Path(__file__).with_name("ddp_fit.py")
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "STAGES ['best', 'init']" in out.stdout
    (run,) = (tmp_path / "stability").iterdir()
    assert set(StabilityResult.from_json(run / "stability.json").stages) == {"init", "best"}
