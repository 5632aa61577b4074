"""One check per measurement option, shared by measure_stability, StabilityCallback and run_probe."""

from __future__ import annotations

import inspect
import sys
import warnings

import pytest
import torch
from torch import nn

import lightning_diffeo.callbacks as callbacks
from lightning_diffeo.callbacks import StabilityCallback
from lightning_diffeo.datamodules.base import PROBE_SIZE
import lightning_diffeo.diffeo.scales as scales
import lightning_diffeo.stability.measure as measure
import lightning_diffeo.stability.settings as settings
from lightning_diffeo.evaluation import run_probe
from lightning_diffeo.stability import DEFAULT_DELTAS, MEASURE_DEFAULTS, measure_stability

IMAGES = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def _error(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except (TypeError, ValueError) as error:
            return type(error), str(error)
    raise AssertionError("no error")


def _from_measure(**kwargs):
    return _error(lambda: measure_stability(nn.Identity(), IMAGES, progress=False, **kwargs))


def _from_callback(**kwargs):
    return _error(lambda: StabilityCallback(**kwargs))


def _from_probe(tmp_path, **kwargs):
    # a checkpoint that does not exist: the options are refused before it is looked for
    return _error(lambda: run_probe(str(tmp_path / "missing.ckpt"), progress=False, **kwargs))


BAD_IN_ALL_THREE = [
    {"cutoffs": [1.0]},
    {"cutoffs": []},
    {"cutoffs": "3"},
    {"deltas": [-1.0]},
    {"temperatures": [0.0]},
    {"interpolation": "cubic"},
    {"layers": 5},
    {"layers": []},
    {"layers": ["output", 3]},
    {"average": "mode"},
    {"average": []},
    {"diffeos_per_image": 0},
    {"diffeos_per_image": 1.5},
    {"batch_size": 0},
    {"max_memory": 0},
    {"max_memory": "4XB"},
    {"max_memory": "-1GB"},
    {"max_memory": True},
    {"max_memory": [4]},
    {"per_image": "yes"},
    {"per_image": 1},
]


@pytest.mark.parametrize("kwargs", BAD_IN_ALL_THREE, ids=lambda kw: repr(kw))
def test_the_same_bad_value_gives_the_same_message_at_every_entry(kwargs, tmp_path):
    expected = _from_measure(**kwargs)
    assert _from_callback(**kwargs) == expected
    assert _from_probe(tmp_path, **kwargs) == expected
    name = next(iter(kwargs))
    assert expected[1].startswith((f"{name} must be", "every cutoff must be")), expected  # names the option


def test_options_two_of_the_entries_take(tmp_path):
    assert _from_callback(probe_size=1) == _from_probe(tmp_path, probe_size=1) == (
        ValueError, "probe_size must be an integer >= 2, got 1")
    assert _from_measure(mode="train") == _from_probe(tmp_path, mode="train")
    several = {"deltas": [2.0], "temperatures": [1e-3]}
    assert _from_measure(**several) == _from_probe(tmp_path, **several) == (
        ValueError, "give only one of deltas, temperatures or sweep=True, got deltas=[2.0] and temperatures=[0.001]")
    assert _from_measure(deltas=None) == (ValueError, "give deltas, temperatures or sweep=True, got none of them")
    # the callback has no sweep: its temperatures replace the deltas, and it offers only those two
    assert _from_callback(deltas=None) == (ValueError, "give deltas or temperatures, got none of them")
    assert StabilityCallback(deltas=[2.0], temperatures=[1e-3]).deltas is None


def _calls_during(action) -> set:
    called = set()

    def profile(frame, event, arg):
        if event == "call":
            called.add(frame.f_code)

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return called


SIZE_DEPENDENT = {
    measure.work_items.__code__, measure.temperature_items.__code__, measure.sweep_temperatures.__code__,
    scales.temperature_from_displacement.__code__, scales.temperature_range.__code__,
    scales.typical_displacement.__code__,
}


def test_the_callback_checks_its_options_without_an_image_size():
    called = _calls_during(lambda: StabilityCallback(cutoffs=[3, 5], deltas=[0.5, 1.0], layers=["net.0", "output"]))
    assert not called & SIZE_DEPENDENT  # no made-up image size: nothing converts deltas yet
    called = _calls_during(lambda: _from_callback(cutoffs=[0.5]))
    assert not called & SIZE_DEPENDENT
    module = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    callback = StabilityCallback(layers=["1", "output"])
    assert not _calls_during(lambda: callback.check_settings(module)) & SIZE_DEPENDENT
    # with the image size the one converting function runs
    assert measure.temperature_items.__code__ in _calls_during(lambda: callback.check_settings(module, 8))


def test_the_defaults_are_the_single_definition():
    assert callbacks.MEASURE_DEFAULTS is settings.MEASURE_DEFAULTS is MEASURE_DEFAULTS
    shared = ("cutoffs", "deltas", "temperatures", "interpolation", "layers", "average", "diffeos_per_image",
              "batch_size", "normalize", "max_memory", "per_image")
    callback = inspect.signature(StabilityCallback).parameters
    for name in shared:
        assert callback[name].default is MEASURE_DEFAULTS[name], name
    probe = inspect.signature(run_probe).parameters
    for name in ("cutoffs", "temperatures", "sweep", "interpolation", "layers", "average", "mode",
                 "diffeos_per_image", "batch_size", "max_memory", "per_image"):
        assert probe[name].default is MEASURE_DEFAULTS[name], name
    assert probe["deltas"].default is None  # None: measure_stability's DEFAULT_DELTAS, yielding to the others
    assert MEASURE_DEFAULTS["deltas"] is DEFAULT_DELTAS
    assert callback["probe_size"].default == probe["probe_size"].default == PROBE_SIZE
    # built with the defaults, the callback holds the checked default values
    built = StabilityCallback()
    assert built.cutoffs == tuple(float(c) for c in MEASURE_DEFAULTS["cutoffs"])
    assert built.deltas == DEFAULT_DELTAS and built.average == MEASURE_DEFAULTS["average"]
