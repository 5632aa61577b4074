"""Resuming continues a run in its own folder with its own config; no command touches another run's files."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import torch

from tests.cli.helpers import run_main

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
STOP_AT_2 = ["--trainer.callbacks+", "tests.cli.test_runs.StopAfter", "--trainer.callbacks.epochs", "2"]


def _args(save_dir: Path, *extra: str) -> list[str]:
    return [
        "fit", "--config", QUICKSTART, "--trainer.max_epochs", "3", "--trainer.limit_train_batches", "2",
        "--trainer.limit_val_batches", "1", "--trainer.enable_model_summary", "false", "--stability.when", "[]",
        "--data.init_args.image_size", "16", "--trainer.logger.init_args.save_dir", str(save_dir),
        # "best" = highest val/loss, usually an early epoch: a resume that forgot it would pick a later one
        "--checkpoint.monitor", "val/loss", "--checkpoint.mode", "max", "--checkpoint.save_top_k", "2", *extra,
    ]


def _run(argv: list[str]) -> tuple[str, int]:
    _, err, code = run_main(argv)
    return err, code


def _digests(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _checkpoint_state(path: Path) -> dict:
    callbacks = torch.load(path, weights_only=True)["callbacks"]
    return next(state for key, state in callbacks.items() if key.startswith("ModelCheckpoint") and "val/loss" in key)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A 3-epoch run stopped after 2 epochs (as a kill would), then resumed with `--ckpt_path last`."""
    root = tmp_path_factory.mktemp("resume")
    err, code = _run(_args(root, *STOP_AT_2))
    assert code == 0, err
    run = root / "quickstart" / "version_0"
    before = _checkpoint_state(run / "checkpoints" / "last.ckpt")
    err, code = _run([*_args(root, *STOP_AT_2), "--ckpt_path", "last"])
    assert code == 0, err
    return root, run, before, err


def test_a_resumed_run_continues_in_its_own_folder(stopped):
    root, run, _, err = stopped
    assert f"resuming {run} from last.ckpt (epoch 1)" in err
    assert sorted(p.name for p in (root / "quickstart").iterdir()) == ["version_0"]
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    validated = [int(row["epoch"]) for row in rows if row.get("val/loss")]
    assert validated == [0, 1, 2]  # the whole log, each epoch once
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2


def test_best_score_path_and_top_k_survive_the_resume(stopped):
    _, run, before, _ = stopped
    rows = [row for row in csv.DictReader((run / "metrics.csv").open()) if row.get("val/loss")]
    losses = {int(row["epoch"]): float(row["val/loss"]) for row in rows}
    best_epoch = max(losses, key=losses.get)
    top_2 = sorted(losses, key=losses.get, reverse=True)[:2]
    after = _checkpoint_state(run / "checkpoints" / "last.ckpt")
    assert float(after["best_model_score"]) == pytest.approx(losses[best_epoch], rel=1e-6)  # over the whole run
    assert Path(after["best_model_path"]).name == f"best-epoch{best_epoch:03d}.ckpt"
    assert sorted(Path(path).name for path in after["best_k_models"]) == sorted(
        f"best-epoch{epoch:03d}.ckpt" for epoch in top_2)
    assert set(before["best_k_models"]) <= set(after["best_k_models"]) | {
        str(p) for p in before["best_k_models"] if not Path(p).exists()}


def test_a_finished_run_says_so_and_writes_nothing(stopped):
    root, run, _, _ = stopped
    files = _digests(root)
    for argv in ([*_args(root, *STOP_AT_2), "--ckpt_path", "last"],
                 ["fit", "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]):
        err, code = _run(argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "nothing to resume" in err and ("finished" in err)
    assert _digests(root) == files


def test_a_config_that_is_not_the_runs_own_is_refused_naming_the_keys(tmp_path):
    err, code = _run(_args(tmp_path, *STOP_AT_2))
    assert code == 0, err
    files = _digests(tmp_path)
    err, code = _run([*_args(tmp_path, *STOP_AT_2, "--trainer.max_epochs", "5", "--model.lr", "0.5"), "--ckpt_path",
                      "last"])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "trainer.max_epochs (run: 3, given: 5)" in err and "model.lr (run: 0.05, given: 0.5)" in err
    last = tmp_path / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    err, code = _run(["fit", "--ckpt_path", str(last), "--trainer.max_epochs", "4"])
    assert code == 2 and "trainer.max_epochs (run: 3, given: 4)" in err
    assert _digests(tmp_path) == files


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict", "probe"])
def test_evaluating_a_run_never_touches_its_files(stopped, subcommand):
    _, run, _, _ = stopped
    files = _digests(run)
    last = str(run / "checkpoints" / "last.ckpt")
    argv = (["probe", "--ckpt_path", last, "--probe_size", "8", "--cutoffs", "[3]", "--layers", "output",
             "--progress", "false"] if subcommand == "probe"
            else [subcommand, "--config", str(run / "config.yaml"), "--ckpt_path", last])
    err, code = _run(argv)
    assert code == 0, err
    now = _digests(run)
    assert {name: digest for name, digest in now.items() if name in files} == files
    new = sorted({Path(name).parts[0] for name in now if name not in files})
    assert new == (["probe-last-0"] if subcommand == "probe" else [f"{subcommand}-0"])
