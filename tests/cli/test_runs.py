"""Runs that never lose work: last.ckpt every epoch, exact resume, one folder per run, no empty folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_diffeo._atomic import atomic_write_text, make_unique_dir
from lightning_diffeo.cli import main
from lightning_diffeo.stability import StabilityResult

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
TINY = [
    "fit", "--config", QUICKSTART, "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
    "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    "--stability.when", "[]", "--data.init_args.image_size", "16",
]


class StopAfter(Callback):
    """Stops fit once, after ``epochs`` epochs, as a killed run would (the schedule still spans max_epochs).

    A run resumed with the same config (this callback included) trains on to max_epochs.
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 == self.epochs:
            trainer.should_stop = True


class TermAt(Callback):
    """Sends this process SIGTERM in the middle of epoch ``epoch``, as a cluster's preemption would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == 0:
            os.kill(os.getpid(), signal.SIGTERM)


def _fit(save_dir: Path, epochs: int, *extra: str) -> None:
    main([*TINY, "--trainer.max_epochs", str(epochs), "--trainer.logger.init_args.save_dir", str(save_dir), *extra])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.parametrize("augment", [[], ["--data.random_crop", "true", "--data.diffeo", "{cutoff: [2, 5]}"]],
                         ids=["plain", "augmented"])
def test_last_checkpoint_is_the_last_epoch_and_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch, augment):
    monkeypatch.chdir(tmp_path)
    _fit(tmp_path / "a", 4, *augment, "--trainer.callbacks+", f"{__name__}.StopAfter", "--trainer.callbacks.epochs", "2")
    assert (tmp_path / "a" / "quickstart" / "version_0" / "metrics.csv").is_file()
    first = tmp_path / "a" / "quickstart" / "version_0" / "checkpoints"
    assert torch.load(first / "last.ckpt", weights_only=True)["epoch"] == 1  # the last epoch, whatever val/acc did
    stop = ["--trainer.callbacks+", f"{__name__}.StopAfter", "--trainer.callbacks.epochs", "2"]
    _fit(tmp_path / "a", 4, *augment, *stop, "--ckpt_path", "last")
    resumed = tmp_path / "a" / "quickstart" / "version_0"  # resumed in place
    assert sorted(p.name for p in (tmp_path / "a" / "quickstart").iterdir()) == ["version_0"]
    _fit(tmp_path / "b", 4, *augment)
    straight = tmp_path / "b" / "quickstart" / "version_0"
    epochs = [line.split(",") for line in (resumed / "metrics.csv").read_text().splitlines()]
    header = epochs[0]
    steps = [int(row[header.index("step")]) for row in epochs[1:]]
    trained = sorted({int(row[header.index("epoch")]) for row in epochs[1:] if row[header.index("epoch")]})
    assert trained == [0, 1, 2, 3] and steps == sorted(steps)  # the whole log, each epoch once
    a, b = _weights(resumed / "checkpoints" / "last.ckpt"), _weights(straight / "checkpoints" / "last.ckpt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not list(tmp_path.glob("*.json")) and not list(tmp_path.glob("*.png"))  # nothing in the working directory


def test_sigterm_saves_an_interrupted_checkpoint_beside_last(tmp_path):
    with pytest.raises(SIGTERMException):  # how Lightning ends a SIGTERMed fit
        _fit(tmp_path, 4, "--trainer.callbacks+", f"{__name__}.TermAt", "--trainer.callbacks.epoch", "2")
    checkpoints = tmp_path / "quickstart" / "version_0" / "checkpoints"
    interrupted = torch.load(checkpoints / "interrupted.ckpt", weights_only=True)
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1 and last["global_step"] == 4  # two finished epochs of 2 batches
    assert interrupted["global_step"] == 5  # one batch into the third epoch
    _fit(tmp_path, 1)  # a fit that ends normally leaves no interrupted.ckpt
    assert sorted(p.name for p in (tmp_path / "quickstart" / "version_1" / "checkpoints").iterdir()) == [
        "best-epoch000.ckpt", "last.ckpt"]


def test_a_failed_start_leaves_no_run_folder(tmp_path, capsys):
    for bad in (["--stability.when", "[init]", "--stability.layers", "[model.nope]"],
                ["--stability.when", "[init]", "--stability.cutoffs", "[0.5]"]):
        with pytest.raises(SystemExit) as exit_info:
            _fit(tmp_path, 1, *bad)
        assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "model.nope" in err and "cutoff must be > 1" in err and "Traceback" not in err
    assert not (tmp_path / "quickstart").exists() or not any((tmp_path / "quickstart").iterdir())


def test_an_explicit_version_never_overwrites_another_runs_config(tmp_path, capsys):
    _fit(tmp_path, 1)
    config = (tmp_path / "quickstart" / "version_0" / "config.yaml").read_text()
    with pytest.raises(SystemExit) as exit_info:
        _fit(tmp_path, 2, "--trainer.logger.init_args.version", "0")
    assert exit_info.value.code == 2
    assert "config.yaml exists: that run folder holds another run" in capsys.readouterr().err
    assert (tmp_path / "quickstart" / "version_0" / "config.yaml").read_text() == config


def test_unique_dirs_under_contention(tmp_path):
    (tmp_path / "version_0").mkdir()
    (tmp_path / "version_7").mkdir()
    assert make_unique_dir(tmp_path, "version_").name == "version_8"
    assert make_unique_dir(tmp_path, "version_").name == "version_9"


_ALLOCATE = "import sys; from lightning_diffeo._atomic import make_unique_dir; print(make_unique_dir(sys.argv[1], 'version_').name)"


def test_processes_started_together_get_different_folders(tmp_path):
    processes = [subprocess.Popen([sys.executable, "-c", _ALLOCATE, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}) for _ in range(8)]
    names = [p.communicate(timeout=60)[0].strip() for p in processes]
    assert sorted(names) == sorted(f"version_{k}" for k in range(8))


def test_files_follow_the_umask_and_refuse_to_replace(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "x.txt", "one")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    with pytest.raises(FileExistsError, match="File exists"):
        atomic_write_text(path, "two", overwrite=False)
    assert path.read_text() == "one" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def _script(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("lightning-diffeo")), *args]


@pytest.mark.slow
def test_four_concurrent_fits_give_four_intact_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    processes = [
        subprocess.Popen(_script(*TINY, "--trainer.max_epochs", str(epochs), "--trainer.logger.init_args.save_dir", "runs"),
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for epochs in (1, 2, 1, 2)
    ]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
    runs = sorted((tmp_path / "runs" / "quickstart").iterdir())
    assert [r.name for r in runs] == [f"version_{k}" for k in range(4)]
    epochs = []
    for run in runs:
        config = (run / "config.yaml").read_text()
        last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
        max_epochs = int(config.split("max_epochs:")[1].split()[0])
        assert last["epoch"] == max_epochs - 1  # the config.yaml is the config this run ran
        assert f"version: {run.name.removeprefix('version_')}" in config
        epochs.append(max_epochs)
    assert sorted(epochs) == [1, 1, 2, 2]


@pytest.mark.slow
def test_sigkilled_fit_resumes_the_remaining_epochs_exactly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    # "best" = the lowest epoch index: epoch 0, before the kill, whatever the losses do
    args = [*TINY, "--trainer.logger.init_args.save_dir", "runs", "--trainer.limit_train_batches", "8",
            "--data.init_args.batch_size", "8", "--checkpoint.monitor", "epoch", "--checkpoint.mode", "min",
            "--stability.when", "[best]", "--stability.probe_size", "20", "--stability.cutoffs", "[3]"]
    first = subprocess.Popen(_script(*args, "--trainer.max_epochs", "20"), cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    run = tmp_path / "runs" / "quickstart" / "version_0"
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if last.exists() and torch.load(last, weights_only=True)["epoch"] >= 2:
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = torch.load(last, weights_only=True)["epoch"]
    assert 2 <= done < 19
    resumed = subprocess.run(_script(*args, "--trainer.max_epochs", "20", "--ckpt_path", "last"), cwd=tmp_path,
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    subprocess.run(_script(*args, "--trainer.max_epochs", "20", "--trainer.logger.init_args.save_dir", "straight"),
                   cwd=tmp_path, env=env, check=True, capture_output=True)
    assert sorted(p.name for p in run.parent.iterdir()) == ["version_0"]  # resumed in place
    lines = (run / "metrics.csv").read_text().splitlines()
    column = lines[0].split(",").index("epoch")
    trained = sorted({int(float(line.split(",")[column])) for line in lines[1:] if line.split(",")[column]})
    assert trained == list(range(20))  # the whole log: no epoch repeated, none skipped
    a = _weights(last)
    b = _weights(tmp_path / "straight" / "quickstart" / "version_0" / "checkpoints" / "last.ckpt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the best epoch and its measurement are those from before the kill
    assert [p.name for p in (run / "checkpoints").glob("best-*.ckpt")] == ["best-epoch000.ckpt"]
    saved = StabilityResult.from_json(run / "stability.json")
    assert saved.metadata["summary"]["best_epoch"] == 0 and saved.by_stage()["best"].metadata["epoch"] == 0
    # a finished run asked to resume says so and writes nothing
    files = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    again = subprocess.run(_script(*args, "--trainer.max_epochs", "20", "--ckpt_path", "last"), cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 2 and "nothing to resume" in again.stderr
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == files