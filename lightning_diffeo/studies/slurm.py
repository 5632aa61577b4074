"""The SLURM executor, through submitit: one job array per invocation, requeue on timeout/preemption.

Each array task runs one run folder in a fresh interpreter on a compute node
(:class:`RunJob`). When SLURM signals a time limit or a preemption, submitit calls
:meth:`RunJob.checkpoint`, which releases the run's claim and asks for a requeue of the same
call: the requeued job finds the run's ``last.ckpt`` (written at every epoch) and resumes.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import submitit

from .claims import CLAIM_FILE, read_claim
from .execute import execute_run, read_run
from .spec_types import SlurmSpec

__all__ = ["RunJob", "run_slurm", "slurm_executor"]

SUBMITIT_FOLDER = ".submitit"


class RunJob(submitit.helpers.Checkpointable):
    """The callable submitted per run: :func:`execute_run` on a run folder, requeued on timeout."""

    def __call__(self, run_dir: str) -> str:
        record = execute_run(run_dir)
        return str(record.get("status"))

    def checkpoint(self, run_dir: str) -> submitit.helpers.DelayedSubmission:
        """Called by submitit on a time limit or preemption: give the run back and requeue."""
        import os

        held = read_claim(Path(run_dir)) or {}
        if held.get("pid") == os.getpid():
            (Path(run_dir) / CLAIM_FILE).unlink(missing_ok=True)
        return submitit.helpers.DelayedSubmission(RunJob(), run_dir)


def slurm_executor(resources: SlurmSpec, folder: Path, name: str) -> submitit.AutoExecutor:
    """A submitit executor for SLURM with the spec's resources.

    Raises:
        RuntimeError: SLURM's ``sbatch`` is not on the PATH.
    """
    if shutil.which("sbatch") is None:
        raise RuntimeError("--executor slurm: sbatch is not on the PATH (no SLURM client on this machine)")
    executor = submitit.AutoExecutor(folder=str(folder / SUBMITIT_FOLDER / "%j"), cluster="slurm")
    params: dict[str, Any] = {
        "name": f"ld-{name}",
        "timeout_min": resources.timeout_min,
        "cpus_per_task": resources.cpus_per_task,
        "tasks_per_node": 1,
        "nodes": 1,
        "slurm_array_parallelism": resources.array_parallelism,
    }
    if resources.partition:
        params["slurm_partition"] = resources.partition
    if resources.gpus_per_task:
        params["gpus_per_node"] = resources.gpus_per_task
    if resources.mem_gb is not None:
        params["mem_gb"] = resources.mem_gb
    if resources.additional_parameters:
        params["slurm_additional_parameters"] = dict(resources.additional_parameters)
    if resources.setup:
        params["slurm_setup"] = list(resources.setup)
    executor.update_parameters(**params)
    return executor


def _queued(job_ids: list[str]) -> set[str]:
    """Ids (``<array>_<task>``) still known to ``squeue``; works without SLURM's accounting database."""
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    try:
        listed = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return set(job_ids)
    if listed.returncode != 0:  # squeue refuses ids it has forgotten: none of them is queued
        return set()
    return set(listed.stdout.split()) & set(job_ids)


def _finished(run_dir: Path) -> bool:
    return (read_run(run_dir) or {}).get("status") in ("done", "failed")


def wait_for(jobs: list[Any], run_dirs: list[Path], echo: Callable[[str], None], poll_s: float = 2.0) -> dict[str, int]:
    """Block until every job has left the queue, with a progress bar; count the runs' outcomes."""
    from tqdm import tqdm

    ids = [str(job.job_id) for job in jobs]
    with tqdm(total=len(jobs), desc="runs", unit="run") as bar:
        while True:
            queued = _queued(ids)
            ended = sum(job_id not in queued or _finished(run_dir) for job_id, run_dir in zip(ids, run_dirs))
            bar.update(ended - bar.n)
            if not queued:
                break
            time.sleep(poll_s)
    counts = {"done": 0, "failed": 0, "unfinished": 0}
    for run_dir in run_dirs:
        status = (read_run(run_dir) or {}).get("status")
        counts[status if status in ("done", "failed") else "unfinished"] += 1
    for run_dir in run_dirs:
        record = read_run(run_dir) or {}
        if record.get("status") == "failed":
            echo(f"failed  {run_dir.name}: {record.get('error')}")
        elif record.get("status") != "done":
            echo(f"unfinished {run_dir.name}: the job ended without finishing it (cancelled?); run again to resume")
    return counts


def run_slurm(
    run_dirs: list[Path], resources: SlurmSpec, study: Path, name: str, wait: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Submit one job array (one task per run folder); print the job ids; optionally wait.

    Returns:
        ``{"job_ids": [...]}``, plus the outcome counts when ``wait``.
    """
    executor = slurm_executor(resources, study, name)
    job = RunJob()
    with executor.batch():
        jobs = [executor.submit(job, str(run_dir)) for run_dir in run_dirs]
    ids = [str(j.job_id) for j in jobs]
    echo(f"submitted job array {ids[0].split('_')[0]}: {len(ids)} tasks ({', '.join(ids[:8])}{' ...' if len(ids) > 8 else ''})")
    result: dict[str, Any] = {"job_ids": ids}
    if wait:
        result.update(wait_for(jobs, run_dirs, echo))
        echo(f"finished: {result['done']} done, {result['failed']} failed, {result['unfinished']} unfinished")
    else:
        echo("follow it with `lightning-diffeo sweep status` (or squeue); --wait blocks until the array ends")
    return result
