"""Every config in configs/ parses and builds the model, datamodule and callbacks it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_diffeo.callbacks import StabilityCallback
from lightning_diffeo.runs import build_cli
from lightning_diffeo.runs import expand_data_names as _expand_data_names
from lightning_diffeo.datamodules import DATAMODULES

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
PAPER = {
    "cifar10_fc4": ("fc4", "adam", "CIFAR10DataModule"),
    "cifar10_lenet": ("lenet", "sgd", "CIFAR10DataModule"),
    "cifar10_vgg16_bn": ("vgg16_bn", "sgd", "CIFAR10DataModule"),
    "cifar10_resnet18": ("resnet18", "sgd", "CIFAR10DataModule"),
    "cifar10_efficientnet_b0": ("efficientnet_b0", "transfer", "CIFAR10DataModule"),
    "mnist_resnet18": ("resnet18", "sgd", "MNISTDataModule"),
    "fashionmnist_resnet18": ("resnet18", "sgd", "FashionMNISTDataModule"),
    "svhn_resnet18": ("resnet18", "sgd", "SVHNDataModule"),
    "tinyimagenet32_resnet18": ("resnet18", "sgd", "TinyImageNet32DataModule"),
    "quickstart": ("lenet", "sgd", "DigitsDataModule"),
    "fashionmnist_quickstart": ("lenet", "sgd", "FashionMNISTDataModule"),
}


def test_every_paper_setup_has_a_config():
    assert {path.stem for path in CONFIGS} == set(PAPER)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds(path, tmp_path):
    overrides = ["--trainer.logger", "false", "--trainer.default_root_dir", str(tmp_path)]
    if "efficientnet" in path.stem:
        overrides += ["--model.pretrained", "false"]  # no network in tests
    cli = build_cli(["--config", str(path), *overrides], run=False)
    arch, recipe, data_class = PAPER[path.stem]
    assert cli.model.hparams.arch == arch and cli.model.hparams.recipe == recipe
    assert type(cli.datamodule).__name__ == data_class
    assert cli.model.hparams.in_channels == cli.datamodule.num_channels
    assert cli.model.hparams.num_classes == cli.datamodule.num_classes
    assert any(isinstance(c, StabilityCallback) for c in cli.trainer.callbacks)
    assert cli.trainer.checkpoint_callback.monitor == "val/acc"


def test_short_data_names_expand():
    assert _expand_data_names(["fit", "--data", "cifar10"])[-1] == "lightning_diffeo.datamodules.CIFAR10DataModule"
    assert _expand_data_names(["--data=mnist"]) == ["--data=lightning_diffeo.datamodules.MNISTDataModule"]
    assert _expand_data_names(["--data", "my.module.Data"]) == ["--data", "my.module.Data"]
    assert _expand_data_names(["--data", "SVHNDataModule"])[-1] == "lightning_diffeo.datamodules.SVHNDataModule"
    with pytest.raises(ValueError, match="unknown datamodule; expected one of digits, mnist"):
        _expand_data_names(["fit", "--data", "nosuch"])
    assert set(DATAMODULES) == {"digits", "mnist", "fashionmnist", "svhn", "cifar10", "tinyimagenet32"}
