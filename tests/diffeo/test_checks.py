"""Domain checks of the diffeo modules: (name, value) order, numbers and tensors alike."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_diffeo.diffeo._checks import (
    INTERPOLATIONS,
    check_cutoff,
    check_images,
    check_interpolation,
    check_log_cutoff,
    check_temperature,
)


@pytest.mark.parametrize("value", [0, 0.0, 1e-3, torch.tensor(0.5), torch.tensor([0.0, 2.0])])
def test_temperature_accepts_non_negative(value):
    check_temperature("temperature", value)


@pytest.mark.parametrize(
    "value, error, shown",
    [
        (-1e-3, ValueError, "-0.001"),
        (math.nan, ValueError, "nan"),
        (math.inf, ValueError, "inf"),
        (torch.tensor([0.1, -2.0]), ValueError, "a tensor with min -2 and max 0.1"),
        (torch.tensor([0.1, math.nan]), ValueError, "a tensor with min"),
        ("0.1", TypeError, "'0.1'"),
        (True, TypeError, "True"),
    ],
)
def test_temperature_rejects(value, error, shown):
    with pytest.raises(error, match=rf"^T must be a finite number >= 0, got {shown}"):
        check_temperature("T", value)


def test_cutoff_bounds_and_name():
    check_cutoff("cutoff", 1)
    check_cutoff("cutoff", torch.tensor([1.0, 3.0]))
    with pytest.raises(ValueError, match=r"^c_max must be a finite number >= 1, got 0.5$"):
        check_cutoff("c_max", 0.5)
    with pytest.raises(ValueError, match=r"^cutoff must be a finite number >= 1, got a tensor with min 0 and max 3$"):
        check_cutoff("cutoff", torch.tensor([0.0, 3.0]))


def test_log_cutoff_needs_more_than_one():
    check_log_cutoff("cutoff", 1.0001)
    check_log_cutoff("cutoff", torch.tensor([2.0, 3.0]))
    with pytest.raises(ValueError, match=r"^cutoff must be a finite number > 1 here because the formula uses ln\(cutoff\), got 1;"):
        check_log_cutoff("cutoff", 1)
    with pytest.raises(ValueError, match=r"uses ln\(cutoff\), got a tensor with min 1 and max 3"):
        check_log_cutoff("cutoff", torch.tensor([1.0, 3.0]))


def test_interpolation_choices():
    for name in INTERPOLATIONS:
        assert check_interpolation("interpolation", name) == name
    with pytest.raises(ValueError, match=r"^interpolation must be one of 'bilinear', 'gaussian', 'nearest', got 'bicubic'$"):
        check_interpolation("interpolation", "bicubic")


def test_images_returns_side_and_names_the_argument():
    assert check_images("images", torch.rand(2, 3, 5, 5)) == 5
    with pytest.raises(ValueError, match=r"^probe must be square"):
        check_images("probe", torch.rand(1, 4, 5))
    with pytest.raises(TypeError, match=r"^probe must be a floating tensor.*ToDtype"):
        check_images("probe", torch.zeros(1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"^probe must be at least 2x2 pixels, got 1x1$"):
        check_images("probe", torch.rand(1, 1, 1))
