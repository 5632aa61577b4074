"""Claim files: one process at a time runs a run, across invocations, hosts and SLURM jobs.

A claim is ``<run_dir>/.claim``, created with ``O_CREAT | O_EXCL`` (atomic on local and NFS
filesystems) and holding who took it. Its owner touches it every ``HEARTBEAT_S`` seconds. A
claim is stale when its process is gone (same host) or its heartbeat is older than
``STALE_AFTER_S``; a stale claim is broken by renaming it away first (only one contender's
rename succeeds), so two invocations never both take over the same run.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Claim", "ClaimHeld", "claim_state", "read_claim"]

CLAIM_FILE = ".claim"
HEARTBEAT_S = float(os.environ.get("LIGHTNING_DIFFEO_CLAIM_HEARTBEAT_S", 30))
STALE_AFTER_S = float(os.environ.get("LIGHTNING_DIFFEO_CLAIM_STALE_S", 300))


class ClaimHeld(RuntimeError):
    """Another live process holds the run."""


def _owner() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "token": uuid.uuid4().hex,
        "since": time.time(),
    }


def read_claim(run_dir: Path) -> dict[str, Any] | None:
    """The claim's content, or None when the run is not claimed (or the file is unreadable)."""
    try:
        return json.loads((Path(run_dir) / CLAIM_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) still answers kill(pid, 0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def claim_state(run_dir: Path) -> str:
    """``"free"``, ``"live"`` (held by a running process) or ``"stale"``."""
    path = Path(run_dir) / CLAIM_FILE
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return "free"
    owner = read_claim(run_dir)
    if owner is None:
        return "stale" if age > STALE_AFTER_S else "live"  # being written, or garbage
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        if not _pid_alive(owner["pid"]):
            return "stale"
    return "stale" if age > STALE_AFTER_S else "live"


@dataclass
class Claim:
    """Hold ``run_dir``'s claim while the ``with`` block runs, refreshing its heartbeat.

    Raises:
        ClaimHeld: on entering, when another live process holds the claim.

    Example:
        >>> with Claim(run_dir):  # doctest: +SKIP
        ...     execute(run_dir)
    """

    run_dir: Path
    owner: dict[str, Any] = field(default_factory=_owner)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / CLAIM_FILE

    def _create(self) -> bool:
        try:
            handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(self.owner, stream)
        return True

    def _same_slurm_job(self) -> bool:
        """A requeued SLURM job keeps its id: its own claim from before the requeue is ours."""
        held = read_claim(self.run_dir) or {}
        job = os.environ.get("SLURM_JOB_ID")
        return job is not None and held.get("slurm_job_id") == job and held.get("pid") != os.getpid()

    def acquire(self) -> None:
        """Take the claim, breaking a stale one; raise :class:`ClaimHeld` if it is live."""
        Path(self.run_dir).mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            if self._create():
                break
            if claim_state(self.run_dir) == "live" and not self._same_slurm_job():
                held = read_claim(self.run_dir) or {}
                raise ClaimHeld(f"{self.run_dir.name} is being run by pid {held.get('pid')} on {held.get('host')}")
            broken = self.path.with_name(f"{CLAIM_FILE}.stale-{uuid.uuid4().hex}")
            try:
                os.rename(self.path, broken)  # only one contender wins this rename
            except FileNotFoundError:
                continue
            broken.unlink(missing_ok=True)
        else:
            raise ClaimHeld(f"{self.run_dir.name}: could not take the claim (contended)")
        self._thread = threading.Thread(target=self._beat, name="claim-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        """Stop the heartbeat and remove the claim if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        held = read_claim(self.run_dir)
        if held is not None and held.get("token") == self.owner["token"]:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
