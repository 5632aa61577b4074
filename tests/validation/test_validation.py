"""The shared option checks: accepted values come back canonical, bad ones give one line."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
import torch

from lightning_diffeo.validation import (
    as_float_list,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_positive_int,
)


@pytest.mark.parametrize("value", [0, 7, -3, np.int64(5), torch.tensor(4).item()])
def test_check_int_returns_plain_int(value):
    out = check_int("steps", value)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [True, False, 3.0, "3", None, [3], np.float64(2.0)])
def test_check_int_rejects_non_integers(value):
    with pytest.raises(TypeError, match=rf"^steps must be an integer, got {re.escape(repr(value))}$"):
        check_int("steps", value)


def test_check_int_minimum_is_inclusive():
    assert check_int("workers", 0, minimum=0) == 0
    with pytest.raises(ValueError, match=r"^workers must be an integer >= 0, got -1$"):
        check_int("workers", -1, minimum=0)


@pytest.mark.parametrize("value", [0, -2])
def test_check_positive_int_rejects_non_positive(value):
    with pytest.raises(ValueError, match=rf"^batch_size must be a positive integer, got {value}$"):
        check_positive_int("batch_size", value)


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_check_positive_int_rejects_wrong_types(value):
    with pytest.raises(TypeError, match=r"^batch_size must be a positive integer, got "):
        check_positive_int("batch_size", value)


def test_check_positive_int_accepts_numpy_integer():
    out = check_positive_int("batch_size", np.int32(3))
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [1, 0.5, np.float32(0.25), Fraction(1, 4), torch.tensor(2.5)])
def test_check_number_returns_float(value):
    out = check_number("lr", value)
    assert type(out) is float and out == pytest.approx(float(value))


@pytest.mark.parametrize(
    "value", [True, np.bool_(True), torch.tensor(True), "0.1", None, [0.1], torch.tensor([1.0, 2.0]), 1j]
)
def test_check_number_rejects_non_numbers(value):
    with pytest.raises(TypeError, match=r"^lr must be a finite number, got "):
        check_number("lr", value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_number_rejects_non_finite(value):
    with pytest.raises(ValueError, match=r"^lr must be a finite number, got "):
        check_number("lr", value)


def test_check_number_bounds():
    assert check_number("momentum", 0, minimum=0) == 0.0
    with pytest.raises(ValueError, match=r"^momentum must be a finite number >= 0, got -0.1$"):
        check_number("momentum", -0.1, minimum=0)
    assert check_number("lr", 1e-9, exclusive_minimum=0) == 1e-9
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0, got 0$"):
        check_number("lr", 0, exclusive_minimum=0)
    with pytest.raises(ValueError, match=r"^x must be a finite number >= 1 and > 2, got 1.5$"):
        check_number("x", 1.5, minimum=1, exclusive_minimum=2)


def test_as_float_list_wraps_a_single_number():
    assert as_float_list("cutoffs", 3) == [3.0]
    assert as_float_list("cutoffs", np.float64(2.5)) == [2.5]


@pytest.mark.parametrize("value", [[1, 2.5], (1, 2.5), np.array([1.0, 2.5]), torch.tensor([1.0, 2.5])])
def test_as_float_list_converts_sequences(value):
    out = as_float_list("cutoffs", value)
    assert out == [1.0, 2.5] and all(type(v) is float for v in out)


def test_as_float_list_accepts_a_generator():
    assert as_float_list("cutoffs", (c for c in (1, 2))) == [1.0, 2.0]


def test_as_float_list_empty():
    with pytest.raises(ValueError, match=r"^cutoffs must be a number or a non-empty list of finite positive numbers, got \[\]$"):
        as_float_list("cutoffs", [])


@pytest.mark.parametrize("value", ["3", b"3", {"a": 1}, [1, "2"], [1, None], None, True, [True]])
def test_as_float_list_rejects_non_numbers(value):
    with pytest.raises(TypeError, match=r"^deltas must be a number or a non-empty list of finite positive numbers, got "):
        as_float_list("deltas", value)


@pytest.mark.parametrize("value", [[1, 0], [-1.0], [1, math.nan], math.inf])
def test_as_float_list_rejects_non_positive_or_non_finite(value):
    with pytest.raises(ValueError, match=r"^deltas must be .*finite positive numbers, got "):
        as_float_list("deltas", value)


def test_as_float_list_allows_zero_and_negatives_when_not_positive():
    assert as_float_list("shift", [0, -1.5], positive=False) == [0.0, -1.5]
    with pytest.raises(ValueError, match=r"^shift must be a number or a non-empty list of finite numbers, got "):
        as_float_list("shift", [0, math.nan], positive=False)


def test_check_choice():
    assert check_choice("average", "mean", ("median", "mean")) == "mean"
    with pytest.raises(ValueError, match=r"^average must be one of 'median', 'mean', got 'avg'$"):
        check_choice("average", "avg", ["median", "mean"])
    with pytest.raises(TypeError, match=r"^average must be one of 'median', 'mean', got 1$"):
        check_choice("average", 1, ["median", "mean"])


def test_check_bool():
    assert check_bool("pin_memory", False) is False
    with pytest.raises(TypeError, match=r"^pin_memory must be True or False, got 1$"):
        check_bool("pin_memory", 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: check_int("n", "x"),
        lambda: check_number("x", math.nan),
        lambda: as_float_list("x", []),
        lambda: check_choice("x", "y", ["z"]),
    ],
)
def test_messages_are_one_line(call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert "\n" not in str(info.value)


def test_module_is_pure_stdlib():
    import ast
    import sys
    from pathlib import Path

    import lightning_diffeo.validation as validation

    tree = ast.parse(Path(validation.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert roots <= set(sys.stdlib_module_names), roots - set(sys.stdlib_module_names)
