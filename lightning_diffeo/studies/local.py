"""The local executor: N worker slots, each run in a process of its own, failures isolated.

Runs are forked from a fork server that imported torch, lightning and the package once (and
ran nothing), so every run starts from the same clean state without paying the imports again;
a run that crashes or is killed takes nothing else down. Where fork servers do not exist
(macOS and Windows default to spawn), each run is a fresh interpreter.

The cores are shared out: each run uses ``cores // workers`` threads (at least one; the cores
this process may run on), unless ``OMP_NUM_THREADS`` says otherwise. PyTorch would otherwise
give every run all the cores, and two runs of two threads on two cores each step 3.6x slower
than two runs of one thread (a width-8 ResNet18, batch 128: 710 against 195 ms).

The run processes are not children of the sweep (they are the fork server's), so a SIGTERM to
the sweep is passed on to them: each stops as an interrupted run (resumed by the next ``sweep
run``) and no further run starts.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from .execute import CLAIMED_ELSEWHERE, LAUNCH_ENV, SETTLED, read_run

__all__ = ["LOG_FILE", "run_local", "threads_per_run"]

LOG_FILE = "log.txt"


# Imported once by the fork server, then shared by every run it forks: a run's own process starts
# in milliseconds instead of re-importing torch and lightning (seconds per run).
_PRELOAD = ["lightning_diffeo.studies.execute", "lightning_diffeo.runs.config", "lightning_diffeo.runs.fit"]


def _context(start_method: Literal["forkserver", "spawn"] | None = None) -> multiprocessing.context.BaseContext:
    if start_method == "spawn":
        return multiprocessing.get_context("spawn")
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def threads_per_run(workers: int, cores: int | None = None) -> int | None:
    """Torch threads for each of ``workers`` concurrent runs: ``cores // workers``, at least 1.

    None when ``OMP_NUM_THREADS`` is set (the user's choice stands). ``cores`` defaults to the
    CPUs this process may run on.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def _child(run_dir: str, launched: float, retry_failed: bool = True, threads: int | None = None) -> None:
    """In the run's own process: output to ``log.txt``, ``threads`` torch threads, then :func:`execute.main`."""
    log = os.open(Path(run_dir) / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ[LAUNCH_ENV] = repr(launched)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    from .execute import main

    code = main([run_dir] if retry_failed else [run_dir, "--skip-failed"])
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


NOT_STARTED = -1000
"""Exit code ``_run_one`` reports for a run it did not start because the sweep was stopped."""


class _Workers:
    """The live run processes of one ``run_local`` call; once stopped, it starts no more."""

    def __init__(self) -> None:
        self.processes: set[multiprocessing.process.BaseProcess] = set()
        self.stopped = False
        self._lock = threading.Lock()

    def start(self, process: multiprocessing.process.BaseProcess) -> bool:
        with self._lock:
            if self.stopped:
                return False
            process.start()
            self.processes.add(process)
            return True

    def stop(self) -> None:
        """SIGTERM to every live run (Lightning stops it as interrupted), and no new run."""
        with self._lock:
            self.stopped = True
            for process in self.processes:
                if process.is_alive():
                    process.terminate()


@contextmanager
def _passing_sigterm_to(workers: _Workers, echo: Callable[[str], None]) -> Iterator[None]:
    """While running, a SIGTERM to this process stops ``workers`` (only the main thread can set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        echo("SIGTERM: stopping the running runs (the next sweep run resumes them), starting no more")
        workers.stop()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_one(context: multiprocessing.context.BaseContext, workers: _Workers, run_dir: Path,
             retry_failed: bool, threads: int | None) -> tuple[Path, int, float]:
    """Run ``run_dir`` in a new process of its own; its output goes to ``run_dir/log.txt``."""
    start = time.time()
    process = context.Process(target=_child, args=(str(run_dir), start, retry_failed, threads),
                              name=f"run-{run_dir.name}")
    if not workers.start(process):
        return run_dir, NOT_STARTED, 0.0
    process.join()
    return run_dir, int(process.exitcode if process.exitcode is not None else 1), time.time() - start


def _skipped(run_dir: Path, code: int, record: dict[str, Any]) -> str | None:
    """Why another process, not this one, accounts for the run (None: this one ran it)."""
    if code == CLAIMED_ELSEWHERE:
        return f"skipped {run_dir.name}: another process is running it"
    if code != SETTLED:
        return None
    if record.get("status") == "failed":
        return f"skipped {run_dir.name}: failed in another process (rerun it with --retry-failed)"
    return f"skipped {run_dir.name}: already done by another process"


def _describe(run_dir: Path, code: int, seconds: float) -> str:
    if code == NOT_STARTED:
        return f"stopped {run_dir.name}: not started, the sweep was stopped; run the sweep again to run it"
    record = read_run(run_dir) or {}
    skipped = _skipped(run_dir, code, record)
    if skipped:
        return skipped
    if code == 0 and record.get("status") == "done":
        error = record.get("test_error")
        detail = f"test error {error:.4f}, " if isinstance(error, float) else ""
        return f"done    {run_dir.name} ({detail}{seconds:.1f} s)"
    if record.get("status") == "interrupted" or (record.get("status") in ("running", None) and code < 0):
        return f"interrupted {run_dir.name}: its worker was stopped ({'signal ' + str(-code) if code < 0 else 'interrupted'}); run the sweep again to resume it"
    reason = record.get("error") or f"the worker exited with status {code} (see {run_dir / LOG_FILE})"
    return f"failed  {run_dir.name}: {reason}"


def _summary(counts: dict[str, int]) -> str:
    line = f"finished: {counts['done']} done, {counts['failed']} failed, {counts['interrupted']} interrupted"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped (run by another process)"
    if counts["stopped"]:
        line += f", {counts['stopped']} not started (the sweep was stopped)"
    return line


def run_local(
    run_dirs: list[Path], workers: int, echo: Callable[[str], None] = print,
    start_method: Literal["forkserver", "spawn"] | None = None, retry_failed: bool = True,
) -> dict[str, int]:
    """Run every folder of ``run_dirs``, ``workers`` at a time, each in its own process.

    A failing run is recorded as failed (in its ``run.json``) and does not stop the others.
    A run that another process is running, or finished after the caller chose it (done, or
    failed when ``retry_failed`` is False), is skipped, and its line says so.
    ``start_method="spawn"`` starts a fresh interpreter per run instead of forking from the
    fork server (the default where there is one).

    Each run gets ``threads_per_run(workers)`` torch threads. A SIGTERM to this process stops the running runs as interrupted and starts no more
    (``stopped``); the next call resumes them.

    Returns:
        How many runs this call ended ``done``, ``failed``, ``interrupted`` (worker killed or
        stopped), ``skipped`` (run, or being run, by another process), and ``stopped`` (not
        started: the sweep was stopped).
    """
    counts = {"done": 0, "failed": 0, "skipped": 0, "interrupted": 0, "stopped": 0}
    total = len(run_dirs)
    context = _context(start_method)
    live = _Workers()
    threads = threads_per_run(workers)
    if threads is not None:
        echo(f"each run on {threads} torch thread{'' if threads == 1 else 's'} ({max(1, workers)} at a time)")
    with _passing_sigterm_to(live, echo), ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_run_one, context, live, Path(run_dir), retry_failed, threads) for run_dir in run_dirs]
        for finished, future in enumerate(as_completed(futures), start=1):
            run_dir, code, seconds = future.result()
            line = _describe(run_dir, code, seconds)
            counts[line.split()[0]] += 1
            echo(f"[{finished}/{total}] {line}")
    echo(_summary(counts))
    return counts
