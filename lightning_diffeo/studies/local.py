"""The local executor: N worker slots, each run in a fresh interpreter, failures isolated."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .execute import LAUNCH_ENV, read_run

__all__ = ["LOG_FILE", "run_local"]

LOG_FILE = "log.txt"
_CLAIMED_ELSEWHERE = 3


def _run_one(run_dir: Path) -> tuple[Path, int, float]:
    """Run ``run_dir`` in a new Python process; its output goes to ``run_dir/log.txt``."""
    env = dict(os.environ)
    start = time.time()
    env[LAUNCH_ENV] = repr(start)
    with open(run_dir / LOG_FILE, "ab") as log:
        code = subprocess.call(
            [sys.executable, "-m", "lightning_diffeo.studies.execute", str(run_dir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    return run_dir, code, time.time() - start


def _describe(run_dir: Path, code: int, seconds: float) -> str:
    record = read_run(run_dir) or {}
    if code == _CLAIMED_ELSEWHERE:
        return f"skipped {run_dir.name}: another process is running it"
    if code == 0 and record.get("status") == "done":
        error = record.get("test_error")
        detail = f"test error {error:.4f}, " if isinstance(error, float) else ""
        return f"done    {run_dir.name} ({detail}{seconds:.1f} s)"
    if record.get("status") == "interrupted" or (record.get("status") == "running" and code < 0):
        return f"interrupted {run_dir.name}: its worker was stopped ({'signal ' + str(-code) if code < 0 else 'interrupted'}); run the sweep again to resume it"
    reason = record.get("error") or f"the worker exited with status {code} (see {run_dir / LOG_FILE})"
    return f"failed  {run_dir.name}: {reason}"


def run_local(run_dirs: list[Path], workers: int, echo: Callable[[str], None] = print) -> dict[str, int]:
    """Run every folder of ``run_dirs``, ``workers`` at a time, each in its own process.

    A failing run is recorded as failed (in its ``run.json``) and does not stop the others.

    Returns:
        How many runs ended ``done``, ``failed``, ``interrupted`` (worker killed) and ``skipped``
        (claimed by another process).
    """
    counts = {"done": 0, "failed": 0, "skipped": 0, "interrupted": 0}
    total = len(run_dirs)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_run_one, Path(run_dir)) for run_dir in run_dirs]
        for finished, future in enumerate(as_completed(futures), start=1):
            run_dir, code, seconds = future.result()
            line = _describe(run_dir, code, seconds)
            counts[line.split()[0]] += 1
            echo(f"[{finished}/{total}] {line}")
    return counts
