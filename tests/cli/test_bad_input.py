"""Every class of bad input to every training and probing subcommand: one line on stderr, exit 2, before any work.

``sweep`` and ``collect`` have their matrix in ``tests/studies/``. Each case runs ``main`` in this
process and checks: exit status 2, exactly one line on stderr, starting ``lightning-diffeo: error:``
and naming the culprit, no traceback, and no run or output folder left behind.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from tests.analysis.synthetic import small_table

from tests.cli.helpers import run_main

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
TINY = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
        "--trainer.enable_model_summary", "false", "--stability.when", "[]"]


class Custom:
    """A class the weights-only unpickler refuses."""


def _run(argv: list[str]) -> tuple[str, int]:
    _, err, code = run_main(argv)
    return err, code


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A real checkpoint of a 1-step fit, and foreign, unsafe, noise and table files."""
    root = tmp_path_factory.mktemp("bad_input")
    err, code = _run(["fit", "--config", QUICKSTART, *TINY, "--trainer.logger.init_args.save_dir", str(root / "fit")])
    assert code == 0, err
    paths = {"ckpt": next((root / "fit").glob("*/version_0/checkpoints/last.ckpt"))}
    checkpoint = torch.load(paths["ckpt"], weights_only=True)
    paths["unsafe"] = root / "unsafe.ckpt"
    torch.save({**checkpoint, "hyper_parameters": {**checkpoint["hyper_parameters"], "extra": Custom()}}, paths["unsafe"])
    paths["noise"] = root / "noise.ckpt"
    paths["noise"].write_bytes(os.urandom(2048).replace(b"\x80", b"\x00").replace(b"PK", b"pk"))
    paths["yaml_junk"] = root / "junk.yaml"
    paths["yaml_junk"].write_text("trainer: [unclosed\n")
    paths["ckpt_yaml"] = root / "resume.yaml"
    paths["ckpt_yaml"].write_text("ckpt_path: last\n")
    paths["png_as_csv"] = root / "table.csv"
    paths["png_as_csv"].write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    paths["empty_csv"] = root / "empty.csv"
    paths["empty_csv"].write_text("")
    paths["a_file"] = root / "a_file.txt"
    paths["a_file"].write_text("mine")
    paths["study_csv"] = root / "study.csv"
    small_table().to_csv(paths["study_csv"], index=False)
    return paths


def _fit(*extra: str) -> list[str]:
    return ["fit", "--config", QUICKSTART, *TINY, *extra]


# name -> (argv builder, text the line must contain)
CASES = OrderedDict({
    "fit misspelt option": (lambda f: _fit("--trainer.max_epochz", "3"), "--trainer.max_epochz"),
    "fit prefix of an option": (lambda f: _fit("--trainer.max_epoch", "3"), "--trainer.max_epoch"),
    "fit wrong type": (lambda f: _fit("--trainer.max_epochs", "abc"), "--trainer.max_epochs"),
    "fit out of range": (lambda f: _fit("--data.train_size", "-5"), "train_size must be a positive integer, got -5"),
    "fit cutoff out of range": (lambda f: _fit("--stability.when", "[init]", "--stability.cutoffs", "[0.5]"), "cutoff"),
    "fit unknown layer": (lambda f: _fit("--stability.when", "[init]", "--stability.layers", "[model.nope]"),
                          "model.nope"),
    "fit stability per_image not a bool": (lambda f: _fit("--stability.per_image", "maybe"), "--stability.per_image"),
    "fit stability per_image without the output": (lambda f: _fit("--stability.when", "[best]", "--stability.per_image",
                                                                  "true", "--stability.layers", "[model.stage1]"),
                                                   "add 'output' to layers"),
    "fit unknown data name": (lambda f: ["fit", "--data", "cifar100"], "--data cifar100: unknown datamodule"),
    "fit missing config": (lambda f: ["fit", "--config", "nope.yaml"], "nope.yaml"),
    "fit unreadable config": (lambda f: ["fit", "--config", str(f["yaml_junk"])], "junk.yaml"),
    "fit ckpt_path in a config file": (lambda f: _fit("--config", str(f["ckpt_yaml"])), "in a config file"),
    "fit missing checkpoint": (lambda f: _fit("--ckpt_path", "missing.ckpt"), "checkpoint not found: missing.ckpt"),
    "fit foreign checkpoint": (lambda f: _fit("--ckpt_path", str(f["noise"])), "is not a torch checkpoint"),
    "fit unsafe checkpoint": (lambda f: _fit("--ckpt_path", str(f["unsafe"])), "weights_only=True) refuses"),
    "fit nan learning rate": (lambda f: _fit("--model.lr", "nan"), "lr"),
    "validate without a config": (lambda f: ["validate", "--ckpt_path", str(f["ckpt"])], "no datamodule given"),
    "test without a config": (lambda f: ["test", "--ckpt_path", str(f["ckpt"])], "no datamodule given"),
    "predict misspelt option": (lambda f: ["predict", "--config", QUICKSTART, "--ckpt_pth", "x"], "--ckpt_pth"),
    "test unsafe checkpoint": (lambda f: ["test", "--config", QUICKSTART, "--ckpt_path", str(f["unsafe"])],
                               "weights_only=True) refuses"),
    "probe misspelt option": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--cutofs", "3"], "--cutofs"),
    "probe prefix of an option": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--cutoff", "3"], "--cutoff"),
    "probe wrong type": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--probe_size", "many"], "--probe_size"),
    "probe per_image not a bool": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--per_image", "maybe"],
                                   "--per_image"),
    "probe per_image without the output": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--per_image", "true",
                                                   "--layers", "[model.stage1]"], "add 'output' to layers"),
    "probe out of range": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--probe_size", "1"], "probe_size"),
    "probe cutoff out of range": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--cutoffs", "[1]"], "cutoff"),
    "probe infinite delta": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--deltas", "[inf]"], "deltas"),
    "probe two sizes": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--deltas", "1", "--temperatures", "1e-3"],
                        "give only one of"),
    "probe unknown layer": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--layers", "[model.nope]"],
                            "model.nope"),
    "probe missing checkpoint": (lambda f: ["probe", "--ckpt_path", "missing.ckpt"], "checkpoint not found"),
    "probe foreign checkpoint": (lambda f: ["probe", "--ckpt_path", str(f["noise"])], "is not a torch checkpoint"),
    "probe unsafe checkpoint": (lambda f: ["probe", "--ckpt_path", str(f["unsafe"])], "weights_only=True) refuses"),
    "probe out is a file": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--out", str(f["a_file"])],
                            "is a file, not a folder"),
    "probe unknown model": (lambda f: ["probe", "--model", "timm:resnet_50x", "--images", str(ROOT / "docs")],
                            "unknown timm model 'resnet_50x'"),
    "probe model without a framework": (lambda f: ["probe", "--model", "resnet50", "--images", str(ROOT / "docs")],
                                        "model must be timm:NAME or torchvision:NAME"),
    "probe missing weights file": (lambda f: ["probe", "--model", "timm:resnet18", "--weights", "missing.pth",
                                              "--images", str(ROOT / "docs")], "weights file not found: 'missing.pth'"),
    "probe weights that do not fit": (lambda f: ["probe", "--model", "timm:resnet18", "--weights", str(f["ckpt"]),
                                                 "--images", str(ROOT / "docs")], "does not fit timm:resnet18"),
    "probe torchvision weights that do not fit": (lambda f: ["probe", "--model", "torchvision:resnet18", "--weights",
                                                             str(f["ckpt"]), "--images", str(ROOT / "docs")],
                                                  "does not fit torchvision:resnet18"),
    "probe unknown torchvision weights": (lambda f: ["probe", "--model", "torchvision:resnet18", "--weights",
                                                     "IMAGENET1K_V9", "--images", str(ROOT / "docs")],
                                          "unknown torchvision weights 'IMAGENET1K_V9'"),
    "probe folder with no image": (lambda f: ["probe", "--model", "timm:resnet18", "--images", "."], "no image file"),
    "probe missing images folder": (lambda f: ["probe", "--model", "timm:resnet18", "--images", "nope"],
                                    "--images nope: not a folder"),
    "probe model without images": (lambda f: ["probe", "--model", "timm:resnet18"], "--model needs --images DIR"),
    "probe unknown layer of a model": (lambda f: ["probe", "--model", "timm:resnet18", "--images", str(ROOT / "docs"),
                                                  "--layers", "[layer9]"], "layer9"),
    "probe checkpoint and model": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--model", "timm:resnet18",
                                              "--images", str(ROOT / "docs")], "got both"),
    "probe images with a checkpoint": (lambda f: ["probe", "--ckpt_path", str(f["ckpt"]), "--images",
                                                  str(ROOT / "docs")], "--images go with --model"),
    "probe relative deltas with temperatures": (lambda f: ["probe", "--model", "timm:resnet18", "--images",
                                                           str(ROOT / "docs"), "--delta_unit", "n/32",
                                                           "--temperatures", "1e-3"], "does not apply to temperatures"),
    "probe unknown delta unit": (lambda f: ["probe", "--model", "timm:resnet18", "--images", str(ROOT / "docs"),
                                            "--delta_unit", "px"], "--delta_unit"),
    "report misspelt option": (lambda f: ["report", "t.csv", "-o", "r", "--n_bot", "3"], "--n_bot"),
    "report prefix of an option": (lambda f: ["report", "t.csv", "-o", "r", "--n_b", "3"], "--n_b"),
    "report wrong type": (lambda f: ["report", "t.csv", "-o", "r", "--n_boot", "x"], "n_boot"),
    "report out of range": (lambda f: ["report", "t.csv", "-o", "r", "--cutoff", "-1"], "cutoff"),
    "report missing table": (lambda f: ["report", "missing.csv", "-o", "r"], "missing.csv"),
    "report foreign table": (lambda f: ["report", str(f["png_as_csv"]), "-o", "r"], "table.csv"),
    "report empty table": (lambda f: ["report", str(f["empty_csv"]), "-o", "r"], "empty.csv"),
    "report out is a file": (lambda f: ["report", str(f["empty_csv"]), "-o", str(f["a_file"])], "a_file.txt"),
    "report missing curves": (lambda f: ["report", str(f["study_csv"]), "-o", "r", "--curves", "nope.csv"],
                              "curves table 'nope.csv' does not exist"),
    "report curves not a curves table": (lambda f: ["report", str(f["study_csv"]), "-o", "r", "--curves",
                                                    str(f["study_csv"])], "lacks the columns"),
    "report doubled without epochs": (lambda f: ["report", str(f["study_csv"]), "-o", "r", "--doubled",
                                                 str(f["study_csv"])], "max_epochs"),
    "unknown subcommand": (lambda f: ["fitt"], "unknown subcommand 'fitt'"),
})


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2_before_any_work(case, files, tmp_path, monkeypatch):
    build, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    argv = build(files)
    err, code = _run(argv)
    lines = err.strip().splitlines()
    assert code == 2, (argv, err)
    assert len(lines) == 1 and lines[0].startswith("lightning-diffeo: error: "), (argv, err)
    assert expected in lines[0], (argv, lines[0])
    assert list(tmp_path.iterdir()) == [], f"{case} left {sorted(p.name for p in tmp_path.rglob('*'))}"
