"""Claims between invocations, and a local sweep whose worker is SIGKILLed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lightning_diffeo.studies import Claim, ClaimHeld, collect, parse_spec, read_run, run_state, run_sweep
from lightning_diffeo.studies.claims import CLAIM_FILE, claim_state


def test_a_live_claim_excludes_a_second_taker(tmp_path):
    with Claim(tmp_path / "run"):
        assert claim_state(tmp_path / "run") == "live"
        with pytest.raises(ClaimHeld, match=r"run is being run by pid \d+ on "):
            Claim(tmp_path / "run").acquire()
    assert claim_state(tmp_path / "run") == "free"


def test_the_claim_of_a_dead_process_is_stale_and_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    import socket

    (run_dir / CLAIM_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "x"}))
    assert claim_state(run_dir) == "stale"
    with Claim(run_dir) as claim:
        assert json.loads((run_dir / CLAIM_FILE).read_text())["token"] == claim.owner["token"]
    assert not list(run_dir.glob(".claim*"))


def test_a_claim_from_another_host_is_live_until_its_heartbeat_is_old(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / CLAIM_FILE).write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "x"}))
    assert claim_state(run_dir) == "live"
    old = time.time() - 3600
    os.utime(run_dir / CLAIM_FILE, (old, old))
    assert claim_state(run_dir) == "stale"


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_sigkilled_worker_resumes_without_redoing_finished_runs(tiny_base, tmp_path, capsys):
    long = {"model.arch": "fc2", "data.train_size": 512, "trainer.max_epochs": 25}
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(json.dumps({
        "base": tiny_base, "grid": {"model.arch": ["lenet"]}, "include": [long],
        "output": str(tmp_path / "study"), "executor": {"workers": 1},
    }))
    spec = parse_spec(json.loads(spec_file.read_text()), directory=tmp_path)
    command = [sys.executable, "-c", "from lightning_diffeo.cli import main; main()", "sweep", "run", str(spec_file)]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    study = tmp_path / "study"
    long_dir = lambda: next((p for p in study.glob("fc2-*")), None)  # noqa: E731
    _wait_for(lambda: long_dir() is not None and (long_dir() / "checkpoints" / "last.ckpt").is_file(), 300, "a last.ckpt")
    finished = {p.name: (p / "run.json").stat().st_mtime_ns for p in study.glob("lenet-*")}
    assert [read_run(study / name)["status"] for name in finished] == ["done"]
    worker = json.loads((long_dir() / CLAIM_FILE).read_text())["pid"]
    os.kill(worker, signal.SIGKILL)
    output, _ = sweep.communicate(timeout=120)
    assert "interrupted fc2-" in output and "run the sweep again to resume it" in output

    state = run_state(long_dir())
    assert state.state == "pending" and state.resumable
    result = run_sweep(spec_file)
    assert result["selected"] == 1 and result["result"]["done"] == 1
    assert "1 resuming from last.ckpt" in capsys.readouterr().out
    record = read_run(long_dir())
    assert record["status"] == "done" and record["attempts"] == 2 and record["epochs"] == 25
    assert record["resumed_from"].endswith("checkpoints/last.ckpt")
    assert {p.name: (p / "run.json").stat().st_mtime_ns for p in study.glob("lenet-*")} == finished
    for path in study.rglob("*.json"):
        json.loads(path.read_text())  # no partial file anywhere
    assert not list(study.rglob("*.tmp"))
    table = collect(study)
    assert table["run_id"].nunique() == 2 and set(table["stage"]) == {"init", "best"}


@pytest.mark.slow
def test_sigterm_to_the_sweep_stops_its_runs_as_interrupted_and_starts_no_more(tiny_base, tmp_path):
    long = {"model.arch": "fc2", "data.train_size": 512, "trainer.max_epochs": 25}
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(json.dumps({
        "base": tiny_base, "include": [long, {"model.arch": "lenet"}],
        "output": str(tmp_path / "study"), "executor": {"workers": 1},
    }))
    command = [sys.executable, "-c", "from lightning_diffeo.cli import main; main()", "sweep", "run", str(spec_file)]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    study = tmp_path / "study"
    long_dir = lambda: next((p for p in study.glob("fc2-*")), None)  # noqa: E731
    _wait_for(lambda: long_dir() is not None and (long_dir() / "checkpoints" / "last.ckpt").is_file(), 300, "a last.ckpt")
    worker = json.loads((long_dir() / CLAIM_FILE).read_text())["pid"]
    sweep.send_signal(signal.SIGTERM)
    output, _ = sweep.communicate(timeout=120)
    assert sweep.returncode == 1, output
    assert "SIGTERM: stopping the running runs" in output and "interrupted fc2-" in output, output
    assert "stopped lenet-" in output and "1 not started (the sweep was stopped)" in output, output
    _wait_for(lambda: not Path(f"/proc/{worker}").exists() or "zombie" in Path(f"/proc/{worker}/status").read_text()
              .lower(), 30, "the worker to end")  # not left running on its own
    assert read_run(long_dir())["status"] == "interrupted" and run_state(long_dir()).resumable
    lenet = next(study.glob("lenet-*"))
    assert run_state(lenet).state == "pending"
    result = run_sweep(spec_file)
    assert result["selected"] == 2 and result["result"]["done"] == 2
    assert read_run(long_dir())["epochs"] == 25 and read_run(long_dir())["attempts"] == 2
