"""The lightning-diffeo command in-process: quickstart fit, probe, resume, outputs and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_diffeo import evaluation
from lightning_diffeo.cli import main
from tests.cli.helpers import run_main
from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.stability.result import R_F_EXPLANATION

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
SMALL = [
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2",
    "--trainer.enable_model_summary", "false", "--stability.probe_size", "40", "--stability.cutoffs", "[3, 5]",
]


def fit_args(save_dir: Path, *extra: str) -> list[str]:
    return ["fit", "--config", QUICKSTART, *SMALL, "--trainer.logger.init_args.save_dir", str(save_dir), *extra]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("quickstart")
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        stdout, stderr, code = run_main(fit_args(workdir / "runs"))
    finally:
        os.chdir(cwd)
    assert code == 0, stderr
    return workdir, stdout


def _run(workdir: Path, k: int = 0) -> Path:
    return workdir / "runs" / "quickstart" / f"version_{k}"


def test_quickstart_writes_results_metrics_and_plot_in_its_run_folder(quickstart):
    workdir, stdout = quickstart
    version = _run(workdir)
    result = StabilityResult.from_json(version / "stability.json")
    stages = result.by_stage()
    assert set(stages) == {"init", "best"}
    init = stages["init"]
    assert init.metadata["mode"] == "init" and init.metadata["global_step"] == 0
    layers = [r["layer"] for r in init.records if r["cutoff"] == 3]
    assert layers[0].startswith("model.") and layers[-1] == "output"
    assert {r["cutoff"] for r in init.records} == {3.0, 5.0}
    assert all(r["n_images"] == 40 and r["R_f"] > 0 for r in init.records)
    assert result.metadata["summary"]["monitor"] == "val/acc" and result.metadata["summary"]["best_epoch"] == 0
    assert (version / "stability.png").stat().st_size > 0
    with open(version / "metrics.csv") as stream:
        header = next(csv.reader(stream))
    assert "stability/init/R_f/output/c3" in header and "stability/best/R_f/output/c5" in header
    # the table on stdout, headed by what R_f means, init and best side by side
    lines = stdout.splitlines()
    assert R_F_EXPLANATION in lines
    assert any(line.startswith("R_f (median, delta=1 px)") for line in lines)
    assert any(line.split()[:5] == ["layer", "init", "best", "init", "best"] for line in lines)
    assert sorted(os.listdir(workdir)) == ["runs"]  # nothing in the working directory
    assert {p.name for p in (version / "checkpoints").iterdir()} == {"best-epoch000.ckpt", "last.ckpt"}


def test_probe_writes_a_new_folder_per_invocation(quickstart):
    workdir, _ = quickstart
    ckpt = _run(workdir) / "checkpoints" / "last.ckpt"
    args = ["probe", "--ckpt_path", str(ckpt), "--cutoffs", "[3]", "--probe_size", "30", "--progress", "false"]
    first_out, _, code = run_main(args)
    assert code == 0
    second_out, _, code = run_main(args)
    assert code == 0
    first, second = _run(workdir) / "probe-last-0", _run(workdir) / "probe-last-1"
    assert f"json: {first / 'stability.json'}" in first_out and f"json: {second / 'stability.json'}" in second_out
    result = StabilityResult.from_json(first / "stability.json")
    assert result.metadata["datamodule"] == "DigitsDataModule" and result.metadata["mode"] == "eval"
    assert {r["layer"] for r in result.records} >= {"output", "model.stage1"}
    assert (first / "stability.csv").read_text().startswith("layer,")
    assert (first / "stability.png").read_bytes()[:4] == b"\x89PNG"
    assert R_F_EXPLANATION in first_out and "last (epoch 0)" in first_out


def test_probe_refuses_an_out_that_is_a_file_or_holds_results_before_measuring(quickstart, tmp_path, monkeypatch):
    workdir, _ = quickstart
    ckpt = str(_run(workdir) / "checkpoints" / "last.ckpt")

    def never(*args, **kwargs):
        raise AssertionError("measured although the output was refused")

    monkeypatch.setattr(evaluation.probe, "measure_stability", never)
    a_file = tmp_path / "results.txt"
    a_file.write_text("mine")
    _, err, code = run_main(["probe", "--ckpt_path", ckpt, "--out", str(a_file)])
    assert code == 2 and "is a file, not a folder" in err and a_file.read_text() == "mine"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "stability.json").write_text("{}")
    _, err, code = run_main(["probe", "--ckpt_path", ckpt, "--out", str(tmp_path / "old")])
    assert code == 2 and "already holds stability.json" in err and "--overwrite" in err
    assert err.count("\n") == 1  # one line


def test_probe_overwrite_and_sweep_every_layer(quickstart, tmp_path):
    workdir, _ = quickstart
    ckpt = str(_run(workdir) / "checkpoints" / "last.ckpt")
    (tmp_path / "stability.json").write_text("{}")
    _, err, code = run_main(["probe", "--ckpt_path", ckpt, "--cutoffs", "3", "--sweep", "true", "--probe_size", "10",
                             "--out", str(tmp_path), "--overwrite", "true", "--progress", "false"])
    assert code == 0, err
    result = StabilityResult.from_json(tmp_path / "stability.json")
    assert len(result.layers) == 5 and len(result) == 30 * 5 * 2  # temperatures x layers x (median, mean)
    assert (tmp_path / "stability_sweep.png").exists()


def test_probe_per_image_writes_the_terms_and_the_figure(quickstart, tmp_path):
    workdir, _ = quickstart
    ckpt = str(_run(workdir) / "checkpoints" / "last.ckpt")
    out, err, code = run_main(["probe", "--ckpt_path", ckpt, "--cutoffs", "[3]", "--probe_size", "10",
                               "--per_image", "true", "--out", str(tmp_path), "--progress", "false"])
    assert code == 0, err
    assert f"per_image_csv: {tmp_path / 'per_image.csv'}" in out
    with open(tmp_path / "per_image.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["image"]) for r in rows] == list(range(10)) and "file" not in rows[0]  # no folder: indices
    result = StabilityResult.from_json(tmp_path / "stability.json")
    mean = result.select(layer="output", average="mean")[0]
    assert sum(float(r["numerator_diffeo"]) for r in rows) / 10 == pytest.approx(mean["numerator_diffeo"], rel=1e-12)
    assert len(result.per_image) == 10 and (tmp_path / "per_image.png").read_bytes()[:4] == b"\x89PNG"


def test_probe_help_config_and_print_config(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--ckpt_path" in help_text and "--interpolation {bilinear,gaussian,nearest}" in help_text
    config = tmp_path / "probe.yaml"
    config.write_text("ckpt_path: some.ckpt\ncutoffs: [3, 5]\nprobe_size: 64\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--config", str(config), "--print_config"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "ckpt_path: some.ckpt" in printed and "probe_size: 64" in printed and "- 5" in printed
    # the defaults are measure_stability's: both averages, batch size chosen by the mode
    assert "batch_size: null" in printed and "interpolation: bilinear" in printed
    assert "- median" in printed and "- mean" in printed


def test_resume_keeps_the_init_measurement(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stop = ["--trainer.callbacks+", "tests.cli.test_runs.StopAfter", "--trainer.callbacks.epochs", "1"]
    args = fit_args(tmp_path / "runs", *stop)
    args[args.index("--trainer.max_epochs") + 1] = "2"
    _, err, code = run_main(args)
    assert code == 0, err
    before = StabilityResult.from_json(_run(tmp_path) / "stability.json").by_stage()
    _, err, code = run_main([*args, "--ckpt_path", "last"])
    assert code == 0, err
    assert f"resuming {_run(tmp_path)} from last.ckpt (epoch 0)" in err
    assert sorted(p.name for p in (tmp_path / "runs" / "quickstart").iterdir()) == ["version_0"]
    resumed = StabilityResult.from_json(_run(tmp_path) / "stability.json").by_stage()
    assert resumed["init"] == before["init"]
    summary = StabilityResult.from_json(_run(tmp_path) / "stability.json").metadata["summary"]
    best = torch.load(_run(tmp_path) / "checkpoints" / f"best-epoch{summary['best_epoch']:03d}.ckpt", weights_only=True)
    # "best" carries the best epoch's own epoch and step, not those of the end of training
    assert (resumed["best"].metadata["epoch"], resumed["best"].metadata["global_step"]) == (
        best["epoch"], best["global_step"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model.no_such_option", "3"], "no_such_option"),
        (["--stability.layers", "[model.no_such_layer]"], "unknown layer name(s) ['model.no_such_layer']"),
        (["--stability.cutoffs", "nan"], "--stability.cutoffs: invalid value 'nan'"),
        (["--stability.cutoffs", ".nan"], "cutoffs must be a number or a non-empty list of finite positive numbers, got nan"),
        (["--stability.interpolation", "cubic"], "--stability.interpolation"),
        (["--data", "nosuch"], "--data nosuch: unknown datamodule; expected one of digits, mnist"),
    ],
)
def test_fit_errors_are_one_line_before_any_run_folder(tmp_path, args, message):
    _, err, code = run_main(fit_args(tmp_path / "runs", *args))
    assert code == 2
    assert message in err and "Traceback" not in err and "usage:" not in err
    assert len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "runs").glob("*/version_*"))


def _quickstart_checkpoint(quickstart) -> dict:
    workdir, _ = quickstart
    return torch.load(_run(workdir) / "checkpoints" / "last.ckpt", weights_only=True)


def test_checkpoint_errors_are_one_line(quickstart, tmp_path):
    noise = tmp_path / "noise.ckpt"
    noise.write_bytes(os.urandom(4096).replace(b"\x80", b"\x00").replace(b"PK", b"pk"))
    plain = tmp_path / "plain.ckpt"
    torch.save(_quickstart_checkpoint(quickstart)["state_dict"], plain)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"net.weight": torch.zeros(2)}, "hyper_parameters": {}, "epoch": 0,
                "pytorch-lightning_version": "2.6.0"}, foreign)
    cases = [
        (["probe", "--ckpt_path", str(noise)], "is not a torch checkpoint"),
        (["probe", "--ckpt_path", str(tmp_path / "missing.ckpt")], "checkpoint not found"),
        (["probe", "--ckpt_path", str(plain)], "is not a Lightning checkpoint"),
        (["probe", "--ckpt_path", str(foreign)], "was not written by lightning_diffeo.models"),
        (fit_args(tmp_path / "runs", "--ckpt_path", str(noise)), "is not a torch checkpoint"),
        (fit_args(tmp_path / "runs", "--ckpt_path", str(plain)), "is not a Lightning checkpoint"),
        (fit_args(tmp_path / "runs", "--ckpt_path", str(foreign)), "not a checkpoint of a run folder"),
        (["test", "--config", QUICKSTART, "--trainer.logger", "false", "--ckpt_path", str(plain)],
         "is not a Lightning checkpoint"),
        (["validate", "--config", QUICKSTART, "--trainer.logger", "false", "--ckpt_path", str(foreign)],
         "holds the weights of another model"),
    ]
    for args, message in cases:
        _, err, code = run_main(args)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not list((tmp_path / "runs").glob("*/version_*"))


def test_probe_on_a_checkpoint_whose_data_moved_suggests_data_dir(quickstart, tmp_path):
    checkpoint = _quickstart_checkpoint(quickstart)
    checkpoint["datamodule_hyper_parameters"] = {
        **checkpoint["datamodule_hyper_parameters"], "_class_path": "lightning_diffeo.datamodules.MNISTDataModule",
        "data_dir": str(tmp_path / "gone"),
    }
    checkpoint["datamodule_hyper_parameters"].pop("image_size")
    moved = tmp_path / "moved.ckpt"
    torch.save(checkpoint, moved)
    _, err, code = run_main(["probe", "--ckpt_path", str(moved), "--progress", "false"])
    assert code == 2 and "--data_dir" in err and str(tmp_path / "gone") in err and "Traceback" not in err


def test_load_checkpoint_and_write_outputs_in_process(quickstart, tmp_path):
    workdir, _ = quickstart
    loaded = evaluation.load_checkpoint(_run(workdir) / "checkpoints" / "best-epoch000.ckpt")
    assert type(loaded.module).__name__ == "ImageClassifier" and not loaded.module.training
    assert type(loaded.datamodule).__name__ == "DigitsDataModule" and loaded.epoch == 0
    saved = torch.load(_run(workdir) / "checkpoints" / "best-epoch000.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(value, saved[key]) for key, value in loaded.module.state_dict().items())
    assert "lightning_diffeo" not in torch.load(_run(workdir) / "checkpoints" / "last.ckpt", weights_only=True)
    result = evaluation.probe_checkpoint(loaded, probe_size=12, cutoffs=[3], layers="output",
                                         generator=torch.Generator().manual_seed(0), progress=False)
    paths = evaluation.write_outputs(result, tmp_path / "out", sweep=False)
    assert StabilityResult.from_json(paths["json"]) == result
    assert json.loads(paths["settings"].read_text())["checkpoint"].endswith("best-epoch000.ckpt")
    with pytest.raises(FileExistsError, match="already holds"):
        evaluation.write_outputs(result, tmp_path / "out", sweep=False)
    assert evaluation.write_outputs(result, tmp_path / "out", sweep=False, overwrite=True)["json"] == paths["json"]


def test_fast_dev_run_writes_nothing_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stability.json").write_text("mine")
    out, err, code = run_main(fit_args(tmp_path / "runs", "--trainer.fast_dev_run", "true"))
    assert code == 0, err
    assert (tmp_path / "stability.json").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "stability.json"]
    assert "R_f (median" in out  # the table is still printed


def test_a_loggerless_fit_runs_in_a_folder_of_its_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, err, code = run_main(fit_args(tmp_path, "--trainer.logger", "false"))
    assert code == 0, err
    assert os.listdir(tmp_path) == ["lightning_logs"]
    run = tmp_path / "lightning_logs" / "version_0"
    assert {"config.yaml", "stability.json", "stability.png", "checkpoints"} <= set(os.listdir(run))
    assert (run / "checkpoints" / "last.ckpt").exists()


def test_probe_on_a_missing_device_and_sys_argv_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lightning-diffeo", "fit", "--data", "digits"])
    if not torch.cuda.is_available():
        (tmp_path / "x.ckpt").write_bytes(b"")  # a file: the device is checked before it is read
        _, err, code = run_main(["probe", "--ckpt_path", str(tmp_path / "x.ckpt"), "--device", "cuda"])
        assert code == 2 and "CUDA is not available" in err
    run_main(fit_args(tmp_path / "runs", "--data", "nosuch"))
    assert sys.argv == ["lightning-diffeo", "fit", "--data", "digits"]


@pytest.mark.slow  # two processes, each importing the package: about 30 s
def test_fit_under_ddp_on_two_cpu_processes(tmp_path):
    # The launcher starts the second process with the original command line: `--data digits`
    # must resolve there too, and both ranks must agree on the run folder.
    script = Path(sys.executable).with_name("lightning-diffeo")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LIGHTNING_DIFFEO_RUN_DIR", None)
    out = subprocess.run(
        [str(script), *fit_args(Path("runs"), "--data", "digits", "--trainer.strategy", "ddp", "--trainer.devices", "2",
                                "--trainer.accelerator", "cpu")],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs" / "quickstart").iterdir()] == ["version_0"]
    result = StabilityResult.from_json(tmp_path / "runs" / "quickstart" / "version_0" / "stability.json")
    assert set(result.stages) == {"init", "best"}
    assert "Tip:" not in out.stderr and "srun" not in out.stderr
    assert out.stdout.count("(1 of 1 epochs done)") == 1  # one plain line per epoch, from rank 0 only, no progress bar
