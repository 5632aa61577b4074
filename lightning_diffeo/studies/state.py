"""Where each run of a study stands: done, running, failed or pending (never run, or interrupted)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lightning_diffeo.runs.layout import last_checkpoint_of

from .claims import claim_state
from .execute import OVERRIDES_FILE, read_run
from .plan import RunPlan

__all__ = ["RunState", "prepare_runs", "run_state", "scan_study", "summarize"]

State = Literal["done", "running", "failed", "pending"]
STATES: tuple[str, ...] = ("done", "running", "failed", "pending")


@dataclass(frozen=True)
class RunState:
    """A run folder and its state; ``resumable`` when a pending run left a ``last.ckpt``."""

    run_dir: Path
    state: State
    resumable: bool = False
    error: str | None = None

    @property
    def run_id(self) -> str:
        return self.run_dir.name


def run_state(run_dir: Path) -> RunState:
    """The state of one run folder (a live claim, or a SLURM job still queued for it, means running)."""
    run_dir = Path(run_dir)
    record = read_run(run_dir) or {}
    resumable = last_checkpoint_of(run_dir) is not None
    if record.get("status") == "done":
        return RunState(run_dir, "done")
    if claim_state(run_dir) == "live" or _requeued_on_slurm(record):
        return RunState(run_dir, "running", resumable)
    if record.get("status") == "failed":
        return RunState(run_dir, "failed", resumable, record.get("error") or "unknown error")
    return RunState(run_dir, "pending", resumable)


def _requeued_on_slurm(record: dict[str, Any]) -> bool:
    """An interrupted run whose SLURM job is still queued (requeued after a time limit or preemption)."""
    job_id = record.get("slurm_job_id")
    if not job_id or record.get("status") not in ("running", "interrupted") or shutil.which("squeue") is None:
        return False
    try:
        listed = subprocess.run(["squeue", "-h", "-o", "%A", "-j", str(job_id)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and str(job_id) in listed.stdout.split()


def prepare_runs(plans: list[RunPlan]) -> list[Path]:
    """Create each run folder with its resolved config and overrides (kept when already there)."""
    for plan in plans:
        plan.write_config()
        path = plan.run_dir / OVERRIDES_FILE
        if not path.exists():
            from lightning_diffeo._atomic import atomic_write_text

            payload = {"run_id": plan.run_id, "overrides": plan.overrides, "seed": plan.seed,
                       **({"zoo": plan.zoo} if plan.zoo is not None else {})}
            atomic_write_text(path, json.dumps(payload, indent=1, default=str))
    return [plan.run_dir for plan in plans]


def scan_study(folder: Path) -> list[Path]:
    """Run folders of a study folder: every sub-folder holding an ``overrides.json``."""
    return sorted(path.parent for path in Path(folder).glob(f"*/{OVERRIDES_FILE}"))


def summarize(states: list[RunState]) -> dict[str, Any]:
    """Counts per state (every state present, zeros included)."""
    counts = Counter(state.state for state in states)
    return {name: counts.get(name, 0) for name in STATES}
