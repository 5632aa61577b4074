"""One run: fit (with the StabilityCallback), test at the best-validation checkpoint, ``run.json``.

A zoo run (its folder holds ``probe.yaml`` instead of ``config.yaml``) probes a pretrained model
instead (:mod:`.zoo_run`), under the same claim, records and exit statuses.

A run folder holds ``config.yaml`` (the resolved fit config), ``overrides.json`` (its grid
choice), and, once run, ``checkpoints/`` (``last.ckpt`` and the best checkpoint),
``metrics.csv``, ``stability.json`` and ``run.json``, the summary, written atomically:

- ``status``: ``"running"``, ``"done"``, ``"failed"`` (``error`` then says why) or
  ``"interrupted"`` (cancelled or preempted: resumed by the next invocation);
- ``best_epoch`` (0-based, as Lightning counts), ``best_val_acc``, ``test_acc``,
  ``test_error`` (= 1 - test_acc) and ``test_loss`` at the best-validation checkpoint;
- ``epochs`` (completed), ``wall_time_s`` (all attempts), ``attempts``, ``n_params``,
  ``stability`` (file name of the stability results in the run folder, or null),
  ``resumed_from`` (the ``last.ckpt`` the latest attempt started from, or null), ``timings``,
  ``torch_threads`` (the intra-op threads the latest attempt ran with).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from lightning_diffeo._atomic import atomic_write_text
from lightning_diffeo.runs.layout import CONFIG_FILE

from .claims import Claim
from .run_plan import OVERRIDES_FILE, PROBE_FILE

__all__ = ["RUN_FILE", "OVERRIDES_FILE", "execute_run", "read_run", "write_run"]

RUN_FILE = "run.json"
LAUNCH_ENV = "LIGHTNING_DIFFEO_LAUNCHED_AT"
# Exit statuses of ``main`` beyond 0 (done) and 1 (failed): the run was not this process's to run.
CLAIMED_ELSEWHERE = 3
SETTLED = 4


def read_run(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``run.json``, or None when it has none (or an unreadable one)."""
    try:
        data = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_run(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``run.json`` atomically (a reader never sees a partial file)."""
    return atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(record, indent=1, default=str))


def _fit_and_test(run_dir: Path, record: dict[str, Any], timings: dict[str, float]) -> None:
    start = time.perf_counter()  # imports included: they are part of a run's start-up cost
    from lightning_diffeo.callbacks import StabilityCallback
    from lightning_diffeo.runs import build_cli, fit_and_test, last_checkpoint_of

    cli = build_cli(["--config", str(run_dir / CONFIG_FILE)], save_config=False)
    timings["build_s"] = time.perf_counter() - start
    last = last_checkpoint_of(run_dir)
    record["resumed_from"] = str(last) if last else None
    record["n_params"] = int(sum(p.numel() for p in cli.model.parameters()))
    import torch

    record["torch_threads"] = torch.get_num_threads()

    outcome = fit_and_test(cli, ckpt_path=str(last) if last else None, test=True)
    timings["fit_s"], timings["test_s"] = outcome.fit_s, outcome.test_s
    if outcome.interrupted:  # Lightning swallows Ctrl-C: the run is interrupted, not done
        raise KeyboardInterrupt("training was interrupted")
    best = outcome.best_checkpoint
    test_acc = outcome.test_metrics.get("test/acc")
    stability = next((cb for cb in cli.trainer.callbacks if isinstance(cb, StabilityCallback)), None)
    record.update(
        best_checkpoint=str(best.relative_to(run_dir)) if best and best.is_relative_to(run_dir) else (str(best) if best else None),
        best_epoch=outcome.best_epoch,
        best_val_acc=outcome.best_score if best else None,
        test_acc=test_acc,
        test_error=1.0 - test_acc if test_acc is not None else None,
        test_loss=outcome.test_metrics.get("test/loss"),
        epochs=outcome.epochs,
        provenance=outcome.provenance,
        stability=stability.filename if stability is not None and (run_dir / stability.filename).is_file() else None,
    )


def _settled(previous: dict[str, Any], retry_failed: bool) -> bool:
    """Nothing to do: the run is done, or failed and not to be retried."""
    status = previous.get("status")
    return status == "done" or (status == "failed" and not retry_failed)


def _first_record(run_dir: Path, previous: dict[str, Any]) -> dict[str, Any]:
    """``run.json`` of a starting attempt: ``running``, its grid choice, where and when."""
    plan = json.loads((run_dir / OVERRIDES_FILE).read_text(encoding="utf-8"))
    return {
        "run_id": run_dir.name,
        "status": "running",
        "overrides": plan.get("overrides", {}),
        "seed": plan.get("seed"),
        "attempts": int(previous.get("attempts", 0)) + 1,
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _error_text(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def _attempt(run_dir: Path, previous: dict[str, Any], entered: float) -> dict[str, Any]:
    """One attempt at a claimed run: fit and test, with ``run.json`` written before and after."""
    timings: dict[str, float] = {}
    launched = os.environ.get(LAUNCH_ENV)
    if launched:
        timings["startup_s"] = max(0.0, entered - float(launched))
    record = _first_record(run_dir, previous)
    prior_wall = float(previous.get("wall_time_s") or 0.0)
    write_run(run_dir, record)
    start = time.perf_counter()
    try:
        if (run_dir / PROBE_FILE).is_file():
            from .zoo_run import probe_run

            probe_run(run_dir, record, timings)
        else:
            _fit_and_test(run_dir, record, timings)
    except BaseException as error:
        # A cancel or preemption (SIGTERM, which Lightning turns into SIGTERMException) or submitit's
        # exit after requeueing a job at its time limit (SystemExit) is no failure.
        interrupted = isinstance(error, (KeyboardInterrupt, SystemExit)) or type(error).__name__ == "SIGTERMException"
        record.update(status="interrupted" if interrupted else "failed", error=_error_text(error))
        record.update(wall_time_s=prior_wall + time.perf_counter() - start, timings=timings)
        write_run(run_dir, record)
        raise
    record["status"] = "done"
    record["wall_time_s"] = prior_wall + time.perf_counter() - start
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_started = time.perf_counter()
    write_run(run_dir, record)
    timings["write_s"] = time.perf_counter() - write_started
    record["timings"] = timings
    write_run(run_dir, record)
    return record


def _claim_and_run(run_dir: str | os.PathLike, retry_failed: bool = True) -> tuple[dict[str, Any], bool]:
    """:func:`execute_run`, also saying whether this call ran the run (False: it was settled already).

    A run is settled when its ``run.json`` says done, or failed and ``retry_failed`` is False:
    another process finished it since the caller looked, and this one must not claim it.
    """
    run_dir = Path(run_dir).resolve()
    entered = time.time()
    with Claim(run_dir):
        previous = read_run(run_dir) or {}
        if _settled(previous, retry_failed):
            return previous, False
        return _attempt(run_dir, previous, entered), True


def execute_run(run_dir: str | os.PathLike, retry_failed: bool = True) -> dict[str, Any]:
    """Run one sweep run in this process, under its claim, and return its ``run.json`` record.

    A run whose ``run.json`` says done (or failed, with ``retry_failed=False``) is returned as
    is; a run with a ``last.ckpt`` resumes from it. Errors of the run are recorded
    (``status: failed``) and re-raised.

    Raises:
        ClaimHeld: another live process is running it.
    """
    return _claim_and_run(run_dir, retry_failed)[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m lightning_diffeo.studies.execute RUN_DIR [--skip-failed]``.

    Exit status: 0 done, 1 failed, 3 claimed by another live process, 4 settled before this
    process claimed it (done, or failed with ``--skip-failed``): another process ran it.
    """
    from .claims import ClaimHeld

    args = sys.argv[1:] if argv is None else list(argv)
    skip_failed = "--skip-failed" in args
    args = [arg for arg in args if arg != "--skip-failed"]
    if len(args) != 1:
        print("usage: python -m lightning_diffeo.studies.execute RUN_DIR [--skip-failed]", file=sys.stderr)
        return 2
    try:
        _, ran = _claim_and_run(args[0], retry_failed=not skip_failed)
    except ClaimHeld as error:
        print(f"skipped: {error}", file=sys.stderr)
        return CLAIMED_ELSEWHERE
    except BaseException:
        traceback.print_exc()
        return 1
    if not ran:
        print(f"skipped: {Path(args[0]).name} was settled by another process", file=sys.stderr)
        return SETTLED
    return 0


if __name__ == "__main__":
    sys.exit(main())
