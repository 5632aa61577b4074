"""The measurement options' one home: types, defaults and one check per option (stability.settings)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import get_args

import pytest
import torch

import lightning_diffeo
from lightning_diffeo.diffeo import INTERPOLATIONS as DIFFEO_INTERPOLATIONS
from lightning_diffeo.stability import (
    AVERAGES,
    DEFAULT_DELTAS,
    MEASURE_DEFAULTS,
    MODES,
    STORES,
    Average,
    Interpolation,
    Mode,
    Sizes,
    Store,
    check_averages,
    check_batch_size,
    check_cutoffs,
    check_layers,
    check_probe_size,
    check_sizes,
    measure_noise_stability,
    measure_stability,
    temperature_items,
    work_items,
)
from lightning_diffeo.stability import settings

PACKAGE = Path(lightning_diffeo.__file__).parent


def test_choice_tuples_are_read_from_the_literal_types():
    assert AVERAGES == get_args(Average) == ("median", "mean")
    assert MODES == get_args(Mode) and STORES == get_args(Store)
    assert DIFFEO_INTERPOLATIONS == get_args(Interpolation) == ("bilinear", "gaussian", "nearest")


def test_measure_stability_signature_is_the_single_definition():
    parameters = inspect.signature(measure_stability).parameters
    defaults = {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
    assert defaults.keys() == MEASURE_DEFAULTS.keys()
    for name, value in MEASURE_DEFAULTS.items():
        assert defaults[name] is value, name


def test_noise_stability_shares_the_defaults():
    parameters = inspect.signature(measure_noise_stability).parameters
    for name in ("layers", "average", "batch_size", "normalize", "mode", "generator", "progress", "store"):
        assert parameters[name].default is MEASURE_DEFAULTS[name], name


def test_measure_defaults_are_read_only():
    with pytest.raises(TypeError):
        MEASURE_DEFAULTS["cutoffs"] = (2,)  # type: ignore[index]


def test_cutoffs_one_number_or_a_list_each_above_one():
    assert check_cutoffs(3) == (3.0,) and check_cutoffs([3, 5.5]) == (3.0, 5.5)
    with pytest.raises(ValueError, match=r"^every cutoff must be > 1 \(the formulas use ln c\), got cutoffs=\[1, 3\]$"):
        check_cutoffs([1, 3])
    with pytest.raises(TypeError, match=r"^cutoffs must be a number or a non-empty list of finite positive numbers"):
        check_cutoffs("3")
    with pytest.raises(ValueError, match=r"^cutoffs must be .*, got \[\]$"):
        check_cutoffs([])


def test_sizes_one_way_and_the_default_deltas_yield():
    assert check_sizes(DEFAULT_DELTAS, None, False) == Sizes((1.0,), None, False)
    assert check_sizes(DEFAULT_DELTAS, 1e-3, False) == Sizes(None, (1e-3,), False)
    assert check_sizes(DEFAULT_DELTAS, None, True) == Sizes(None, None, True)
    assert check_sizes(None, None, True) == Sizes(None, None, True)
    with pytest.raises(ValueError, match=r"^give only one of deltas, temperatures or sweep=True, "
                                         r"got deltas=\(1.0,\) and temperatures=\[0.001\]$"):
        check_sizes((1.0,), [1e-3], False)  # an equal tuple is not the default: given on purpose
    with pytest.raises(ValueError, match=r"^give deltas, temperatures or sweep=True, got none of them$"):
        check_sizes(None, None, False)
    with pytest.raises(ValueError, match=r"^give deltas or temperatures, got none of them$"):
        check_sizes(None, None)  # a caller without a sweep option
    with pytest.raises(ValueError, match=r"^temperatures must be a number or a non-empty list of finite positive"):
        check_sizes(None, [0.0], False)


def test_layers_syntax_without_a_model():
    assert check_layers(None) is None
    assert check_layers("output") == ("output",)
    assert check_layers(["a", "b", "a"]) == ("a", "b")
    for bad, error in ((5, TypeError), (["a", 3], TypeError), ([], ValueError)):
        with pytest.raises(error, match=r"^layers must be None, 'output', a module name or a non-empty list"):
            check_layers(bad)


def test_averages_batch_size_and_probe_size():
    assert check_averages(("median", "mean", "median")) == ("median", "mean")
    with pytest.raises(ValueError, match=r"^average must be one of 'median', 'mean', got 'mode'$"):
        check_averages(["median", "mode"])
    with pytest.raises(ValueError, match=r"^average must be 'median', 'mean' or a non-empty list of them, got \(\)$"):
        check_averages(())
    assert check_batch_size(None) is None and check_batch_size(4) == 4
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0$"):
        check_batch_size(0)
    with pytest.raises(ValueError, match=r"^probe_size must be an integer >= 2, got 1$"):
        check_probe_size(1)


def test_work_items_checks_then_converts_like_temperature_items():
    sizes = check_sizes(DEFAULT_DELTAS, None, False)
    assert work_items(16, [3, 5], DEFAULT_DELTAS, None, False) == temperature_items(16, (3.0, 5.0), sizes)


def test_each_option_message_is_written_in_one_place():
    """``git grep`` of a message finds one file: the rules live in settings, diffeo and validation only."""
    sources = {path: path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}
    for phrase, home in [
        ("every cutoff must be", "stability/settings.py"),
        ("layers must be", "stability/settings.py"),
        ("average must be", "stability/settings.py"),
        ("normalize must be callable", "stability/settings.py"),
        ("give only one of {offered}", "stability/settings.py"),
        ("got none of them", "stability/settings.py"),
    ]:
        found = sorted(str(path.relative_to(PACKAGE)) for path, text in sources.items() if phrase in text)
        assert found == [home], (phrase, found)
    # the settings use diffeo's rule for one cutoff, not a copy of it
    assert re.search(r"check_log_cutoff\(", inspect.getsource(settings.check_cutoffs))


def test_measure_stability_checks_with_the_settings_functions():
    images = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    for kwargs, function in [({"cutoffs": [1.0]}, check_cutoffs), ({"layers": []}, check_layers),
                             ({"average": []}, check_averages), ({"batch_size": 0}, check_batch_size)]:
        (name, value), = kwargs.items()
        with pytest.raises((TypeError, ValueError)) as expected:
            function(value)
        with pytest.raises(type(expected.value)) as raised:
            measure_stability(torch.nn.Identity(), images, progress=False, **kwargs)
        assert str(raised.value) == str(expected.value), name
