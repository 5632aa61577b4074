"""The SLURM executor on a real single-node cluster (Debian's slurmctld, slurmd, munge)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from lightning_diffeo.studies import read_run, run_state, run_sweep
from lightning_diffeo.cli.sweep import main as sweep_main
from tests.studies.test_zoo import MODELS, write_photos, zoo_spec


def _spec_file(tmp_path, tiny_base, **raw):
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps({
        "base": tiny_base, "output": str(tmp_path / "study"),
        "executor": {"name": "local", "slurm": {"cpus_per_task": 1, "timeout_min": 10, "array_parallelism": 4}},
        **raw,
    }))
    return path


@pytest.mark.slow  # the cluster's start and one job: about 20 s
def test_one_run_through_sbatch(slurm_cluster, tiny_base, tmp_path, capsys):
    """Submit, wait, the run is done by a SLURM job."""
    spec = _spec_file(tmp_path, tiny_base, grid={"model.arch": ["fc2"]})
    sweep_main(["run", str(spec), "--executor", "slurm", "--wait"])
    out = capsys.readouterr().out
    assert "submitted job array" in out and "finished: 1 done, 0 failed, 0 unfinished" in out
    (record,) = [read_run(p) for p in (tmp_path / "study").iterdir() if p.name.startswith("fc2-")]
    assert record["status"] == "done" and record["slurm_job_id"] and 0 <= record["test_error"] <= 1


@pytest.mark.slow
def test_four_run_sweep_completes_through_sbatch(slurm_cluster, tiny_base, tmp_path, capsys):
    spec = _spec_file(tmp_path, tiny_base, grid={"model.arch": ["lenet", "fc2"]}, seeds=2)
    sweep_main(["run", str(spec), "--executor", "slurm", "--wait"])
    out = capsys.readouterr().out
    assert "submitted job array" in out and "4 tasks" in out
    assert "finished: 4 done, 0 failed, 0 unfinished" in out
    records = [read_run(p) for p in (tmp_path / "study").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(records) == 4 and all(r["status"] == "done" and r["slurm_job_id"] for r in records)
    sweep_main(["run", str(spec), "--executor", "slurm"])
    assert "nothing to do: all 4 runs are accounted for (4 done)" in capsys.readouterr().out



def _submit_until_last_checkpoint(tmp_path, tiny_base, epochs: int):
    """Submit one long fc2 run to the cluster; return (spec, job id, run folder) once it wrote a last.ckpt."""
    spec = _spec_file(tmp_path, tiny_base, grid={"model.arch": ["fc2"]},
                      set={"data.train_size": 512, "trainer.max_epochs": epochs})
    result = run_sweep(spec, executor="slurm")
    (job_id,) = result["result"]["job_ids"]
    run_dir = next(p for p in (tmp_path / "study").iterdir() if p.name.startswith("fc2-"))
    deadline = time.time() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").is_file():
        assert time.time() < deadline, "the job never wrote a last.ckpt"
        time.sleep(0.2)
    return spec, job_id, run_dir


@pytest.mark.slow
def test_scancelled_job_resumes_on_rerun(slurm_cluster, tiny_base, tmp_path, capsys):
    spec, job_id, run_dir = _submit_until_last_checkpoint(tmp_path, tiny_base, epochs=25)
    deadline = time.time() + 300
    subprocess.run(["scancel", job_id], check=True)
    while subprocess.run(["squeue", "-h", "-j", job_id.split("_")[0]], capture_output=True, text=True).stdout.strip():
        assert time.time() < deadline + 120, "the cancelled job never left the queue"
        time.sleep(0.5)
    assert read_run(run_dir)["status"] == "interrupted"  # SIGTERM from scancel: no failure
    state = run_state(run_dir)
    assert state.state == "pending" and state.resumable
    capsys.readouterr()
    sweep_main(["run", str(spec), "--executor", "slurm", "--wait"])
    assert "finished: 1 done" in capsys.readouterr().out
    record = read_run(run_dir)
    assert record["status"] == "done" and record["attempts"] == 2 and record["epochs"] == 25
    assert record["resumed_from"].endswith("checkpoints/last.ckpt")


@pytest.mark.slow
def test_a_job_signalled_for_its_time_limit_is_requeued_and_resumes(slurm_cluster, tiny_base, tmp_path, capsys):
    # SLURM sends USR2 ahead of the time limit (submitit asks for it with --signal) or on preemption;
    # sending it by hand makes the test independent of the machine's speed.
    spec, job_id, run_dir = _submit_until_last_checkpoint(tmp_path, tiny_base, epochs=40)
    deadline = time.time() + 300
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    capsys.readouterr()
    sweep_main(["run", str(spec), "--executor", "slurm", "--wait"])  # nothing to submit: the job is requeued
    assert "nothing to do" in capsys.readouterr().out
    while subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True).stdout.strip():
        assert time.time() < deadline + 600, "the requeued job never finished"
        time.sleep(1)
    record = read_run(run_dir)
    assert record["status"] == "done" and record["epochs"] == 40
    assert record["attempts"] == 2 and record["resumed_from"].endswith("checkpoints/last.ckpt")


def _zoo_file(path, raw):
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.slow
def test_a_zoo_through_sbatch(slurm_cluster, tmp_path, capsys):
    write_photos(tmp_path / "photos")
    raw = zoo_spec(tmp_path, models=MODELS[:1], intervals=0,
                   executor={"name": "slurm", "slurm": {"cpus_per_task": 1, "timeout_min": 10}})
    sweep_main(["run", str(_zoo_file(tmp_path / "zoo.yaml", raw)), "--wait"])
    assert "finished: 1 done, 0 failed, 0 unfinished" in capsys.readouterr().out
    (record,) = [read_run(d) for d in (tmp_path / "study").iterdir() if not d.name.startswith(".")]
    assert record["status"] == "done" and record["slurm_job_id"] and record["kind"] == "zoo"
