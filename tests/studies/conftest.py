"""Fixtures of the study tests: tiny Digits specs and a real single-node SLURM cluster."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REQUIRE_SLURM = os.environ.get("LIGHTNING_DIFFEO_REQUIRE_SLURM") == "1"
_DAEMONS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scancel")

# One short epoch of LeNet/fc2 on 16x16 Digits with a 20-image probe: a few seconds per run.
TINY_BASE = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 1, "accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False,
                "log_every_n_steps": 1},
    "model": {"arch": "lenet", "recipe": "sgd", "lr": 0.05},
    "data": {"class_path": "lightning_diffeo.datamodules.DigitsDataModule",
             "init_args": {"batch_size": 64, "image_size": 16, "train_size": 128}},
    "stability": {"probe_size": 20, "cutoffs": [3], "deltas": [1.0], "when": ["init", "best"], "plot": False},
}


@pytest.fixture
def tiny_base() -> dict:
    """A fit config (mapping) of a few seconds."""
    import copy

    return copy.deepcopy(TINY_BASE)


def _skip_or_fail(reason: str) -> None:
    if REQUIRE_SLURM:
        pytest.fail(f"LIGHTNING_DIFFEO_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(pid_files: list[Path]) -> None:
    """SIGTERM every daemon, wait up to 5 s for all of them, then SIGKILL what is left."""
    pids = []
    for pid_file in pid_files:
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            pids.append(pid)
        except (OSError, ValueError):
            continue
    deadline = time.time() + 5
    while pids and time.time() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        time.sleep(0.05)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _slurm_conf(root: Path, host: str) -> str:
    ports = f"SlurmctldPort={_free_port()}\nSlurmdPort={_free_port()}\n"
    return f"""ClusterName=ldtest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
{ports}ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
KillWait=5
NodeName={host} CPUs={os.cpu_count()} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test that uses ``slurm_cluster`` outside ``test_slurm.py`` (see the fixture)."""
    strays = [item.nodeid for item in items
              if "slurm_cluster" in getattr(item, "fixturenames", ()) and item.path.name != "test_slurm.py"]
    if strays:
        raise pytest.UsageError(f"slurm_cluster is for tests in test_slurm.py only (one worker owns the cluster): {', '.join(strays)}")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real one-node SLURM cluster (munged, slurmctld, slurmd) in a temporary folder.

    Yields the folder; ``SLURM_CONF`` points at its ``slurm.conf`` while the fixture lives. Every test
    that uses it lives in ``test_slurm.py``: pytest-xdist runs a file on one worker (``--dist
    loadfile``), so one process owns the one cluster; collection stops with a usage error otherwise.
    Skips (fails under ``LIGHTNING_DIFFEO_REQUIRE_SLURM=1``) without the binaries or root.
    """
    missing = [name for name in _DAEMONS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]
    if missing:
        _skip_or_fail(f"SLURM/munge binaries not found: {', '.join(missing)} (apt-get install slurmctld slurmd slurm-client munge)")
    if os.geteuid() != 0:
        _skip_or_fail("a test SLURM cluster needs root (SlurmUser=root)")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir()
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, socket.gethostname()))
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    munged = shutil.which("munged") or "/usr/sbin/munged"
    pid_files = [root / "slurmd.pid", root / "slurmctld.pid", root / "munge" / "munged.pid"]
    try:
        subprocess.run([munged, "-f", f"--key-file={key}", f"--socket={root}/munge/munge.socket",
                        f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/log/munged.log",
                        f"--seed-file={root}/munge/seed"], check=True, capture_output=True, timeout=30)
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([shutil.which(daemon) or f"/usr/sbin/{daemon}", "-f", str(conf)],
                           check=True, capture_output=True, timeout=30)
        deadline = time.time() + 60
        state = ""
        while time.time() < deadline:
            listed = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
            state = listed.stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            logs = "\n".join(p.read_text()[-2000:] for p in (root / "log").glob("*.log"))
            pytest.fail(f"the test SLURM node never became idle (state {state!r}):\n{logs}")
        yield root
    except subprocess.CalledProcessError as error:
        _skip_or_fail(f"could not start the test SLURM cluster: {error.cmd[0]}: {error.stderr!r}")
    finally:
        subprocess.run(["scancel", "--user=root"], capture_output=True, timeout=30)
        _stop(pid_files)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
