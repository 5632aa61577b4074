"""Dotted keys in a resolved fit config: one walk for planning (is it an option?) and collect (its value)."""

from __future__ import annotations

import doctest

import pytest

from lightning_diffeo.studies import config_keys
from lightning_diffeo.studies.config_keys import find_option, option_names, option_value

CONFIG = {
    "trainer": {"max_epochs": 3, "logger": None},
    "model": {"arch": "lenet"},
    "data": {"class_path": "lightning_diffeo.datamodules.DigitsDataModule", "init_args": {"train_size": 64}},
    "optimizer": {"class_path": "torch.optim.SGD"},
}


@pytest.mark.parametrize("key, value", [
    ("trainer.max_epochs", 3),
    ("trainer.logger", None),
    ("data.train_size", 64),
    ("data.init_args.train_size", 64),
    ("data.class_path", "lightning_diffeo.datamodules.DigitsDataModule"),
    ("optimizer.init_args", {}),
])
def test_a_key_is_found_with_or_without_init_args(key, value):
    assert find_option(CONFIG, key) == value
    assert option_value(CONFIG, key, default="absent") == value


@pytest.mark.parametrize("key, missing", [
    ("trainer.max_epoch", "max_epoch"),
    ("data.trainsize", "trainsize"),
    ("model.arch.depth", "depth"),
    ("optimizer.init_args.lr", "lr"),
])
def test_a_missing_key_names_its_first_missing_part(key, missing):
    with pytest.raises(KeyError) as caught:
        find_option(CONFIG, key)
    assert caught.value.args == (missing,)
    assert option_value(CONFIG, key) is None


def test_option_names_are_the_short_dotted_keys():
    assert option_names(CONFIG) == [
        "trainer", "trainer.max_epochs", "trainer.logger", "model", "model.arch", "data", "data.train_size", "optimizer",
    ]


def test_the_docstring_examples_hold():
    assert doctest.testmod(config_keys).failed == 0
