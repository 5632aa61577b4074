"""The lightning-diffeo console script: quickstart fit, probe, resume, and clear errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("lightning-diffeo")
SMALL = [
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2",
    "--trainer.enable_progress_bar", "false", "--stability.probe_size", "40", "--stability.cutoffs", "[3, 5]",
]


def run(args, cwd, check=True):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("LIGHTNING_DIFFEO_TRACEBACK", None)
    out = subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    if check and out.returncode != 0:
        raise AssertionError(f"exit {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}")
    return out


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("quickstart")
    out = run(["fit", "--config", str(ROOT / "configs" / "quickstart.yaml"), *SMALL], cwd=workdir)
    return workdir, out


def test_quickstart_writes_results_metrics_and_plot(quickstart):
    workdir, out = quickstart
    version = workdir / "runs" / "quickstart" / "version_0"
    report = json.loads((version / "stability.json").read_text())
    assert set(report["stages"]) == {"init", "best"}
    init = report["stages"]["init"]
    assert init["metadata"]["mode"] == "init" and init["metadata"]["global_step"] == 0
    layers = [r["layer"] for r in init["records"] if r["cutoff"] == 3]
    assert layers[0].startswith("model.") and layers[-1] == "output"
    assert {r["cutoff"] for r in init["records"]} == {3.0, 5.0}
    assert all(r["n_images"] == 40 and r["R_f"] > 0 for r in init["records"])
    assert report["summary"]["monitor"] == "val/acc" and report["summary"]["best_epoch"] == 0
    assert (version / "stability.png").stat().st_size > 0
    with open(version / "metrics.csv") as stream:
        header = next(csv.reader(stream))
    assert "stability/init/R_f/output/c3" in header and "stability/best/R_f/output/c5" in header
    assert "val/acc" in header
    assert "R_f (delta=1)" in out.stdout + out.stderr


def test_probe_on_the_trained_checkpoint(quickstart, tmp_path):
    workdir, _ = quickstart
    ckpt = workdir / "runs" / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    out = run(["probe", "--ckpt_path", str(ckpt), "--cutoffs", "3", "--probe_size", "30", "--out", str(tmp_path),
               "--no_progress"], cwd=workdir)
    assert "output" in out.stdout
    result = json.loads((tmp_path / "stability.json").read_text())
    assert result["metadata"]["datamodule"] == "DigitsDataModule" and result["metadata"]["mode"] == "eval"
    assert {r["layer"] for r in result["records"]} >= {"output", "model.stage1"}
    assert (tmp_path / "stability.csv").read_text().startswith("layer,")
    assert (tmp_path / "stability.png").stat().st_size > 0


def test_probe_sweep_plots_against_temperature(quickstart, tmp_path):
    workdir, _ = quickstart
    ckpt = workdir / "runs" / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    run(["probe", "--ckpt_path", str(ckpt), "--cutoffs", "3", "--sweep", "--layers", "output", "--probe_size", "20",
         "--out", str(tmp_path), "--no_progress"], cwd=workdir)
    records = json.loads((tmp_path / "stability.json").read_text())["records"]
    assert len(records) == 30 and (tmp_path / "stability_sweep.png").exists()


def test_resume_keeps_the_init_measurement(quickstart):
    workdir, _ = quickstart
    first = json.loads((workdir / "runs" / "quickstart" / "version_0" / "stability.json").read_text())
    args = ["fit", "--config", str(ROOT / "configs" / "quickstart.yaml"), *SMALL]
    args[args.index("--trainer.max_epochs") + 1] = "2"
    out = run([*args, "--ckpt_path", "last"], cwd=workdir)
    assert "resuming from runs/quickstart/version_0/checkpoints/last.ckpt" in out.stderr
    resumed = json.loads((workdir / "runs" / "quickstart" / "version_1" / "stability.json").read_text())
    assert resumed["stages"]["init"] == first["stages"]["init"]
    assert resumed["stages"]["best"]["metadata"]["global_step"] > first["stages"]["best"]["metadata"]["global_step"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "--model.no_such_option", "3"], "no_such_option"),
        (["fit", "--stability.layers", "[model.no_such_layer]"], "model.no_such_layer"),
        (["probe", "--ckpt_path", "missing.ckpt"], "checkpoint not found: missing.ckpt"),
    ],
)
def test_errors_are_one_clear_message(tmp_path, args, message):
    if args[0] == "fit":
        args = [*args, "--config", str(ROOT / "configs" / "quickstart.yaml"), *SMALL]
    out = run(args, cwd=tmp_path, check=False)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_fit_with_a_corrupt_checkpoint_and_probe_on_a_missing_device(tmp_path):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint at all")
    out = run(["fit", "--config", str(ROOT / "configs" / "quickstart.yaml"), *SMALL, "--ckpt_path", str(corrupt)],
              cwd=tmp_path, check=False)
    assert out.returncode == 2 and "could not read the checkpoint" in out.stderr and "Traceback" not in out.stderr
    if not torch.cuda.is_available():
        out = run(["probe", "--ckpt_path", str(corrupt), "--device", "cuda"], cwd=tmp_path, check=False)
        assert out.returncode == 2 and "CUDA is not available" in out.stderr


def test_corrupt_and_foreign_checkpoints(tmp_path):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint at all")
    out = run(["probe", "--ckpt_path", str(corrupt)], cwd=tmp_path, check=False)
    assert out.returncode == 2 and "corrupt" in out.stderr and "Traceback" not in out.stderr
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"net.weight": torch.zeros(2)}, "hyper_parameters": {}, "epoch": 0}, foreign)
    out = run(["probe", "--ckpt_path", str(foreign)], cwd=tmp_path, check=False)
    assert out.returncode == 2 and "was not written by lightning_diffeo.models" in out.stderr


def test_fit_under_ddp_on_two_cpu_processes(tmp_path):
    # The launcher starts the second process with sys.argv: the expanded command line must be there.
    run(["fit", "--config", str(ROOT / "configs" / "quickstart.yaml"), *SMALL, "--data", "digits",
         "--trainer.strategy", "ddp", "--trainer.devices", "2"], cwd=tmp_path)
    report = json.loads((tmp_path / "runs" / "quickstart" / "version_0" / "stability.json").read_text())
    assert set(report["stages"]) == {"init", "best"}
