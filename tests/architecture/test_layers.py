"""The house's imports run one way: no module imports a layer above its own, and there is no circle."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.architecture.imports import PACKAGE, cycles, import_graph, read_layers, violations

ROOT = Path(__file__).resolve().parents[2]
LAYERS = read_layers(ROOT / "docs" / "architecture.md")


def test_the_layer_table_names_every_top_level_part_of_the_package():
    assert LAYERS[f"{PACKAGE}.cli"] > LAYERS[f"{PACKAGE}.studies"] > LAYERS[f"{PACKAGE}.runs"] > LAYERS[f"{PACKAGE}.diffeo"]
    parts = {f"{PACKAGE}.{path.stem if path.suffix else path.name}" for path in (ROOT / PACKAGE).iterdir()
             if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()}
    assert parts <= set(LAYERS), f"not in docs/architecture.md: {sorted(parts - set(LAYERS))}"


def test_no_upward_import_and_no_circle():
    assert violations(ROOT, LAYERS) == []


def test_nothing_imports_the_command_layer():
    graph = import_graph(ROOT)
    command = f"{PACKAGE}.cli"
    importers = {module for module, targets in graph.items() if not module.startswith(command)
                 and any(target == command or target.startswith(command + ".") for target in targets)}
    assert importers == set()


def _plant(tmp_path: Path, module: str, code: str) -> Path:
    """A copy of the package with ``code`` appended to ``module``'s file."""
    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("module, code, expected", [
    # a lazy import inside a function, from the science core up to the command layer
    ("lightning_diffeo.diffeo.beta", "def _planted():\n    from lightning_diffeo.cli import main\n",
     "lightning_diffeo.diffeo.beta (layer 1) imports lightning_diffeo.cli.main (layer 8"),
    # a module named as a string (a fork server's preload list)
    ("lightning_diffeo.studies.local", '_PLANTED = ["lightning_diffeo.cli.fit"]\n',
     "lightning_diffeo.studies.local (layer 7) imports lightning_diffeo.cli.fit (layer 8"),
    # a relative import one package up
    ("lightning_diffeo.callbacks.progress", "def _planted():\n    from ..runs import layout\n",
     "lightning_diffeo.callbacks.progress (layer 4) imports lightning_diffeo.runs.layout (layer 5"),
    # a circle within one layer
    ("lightning_diffeo.analysis.stats", "def _planted():\n    from lightning_diffeo.analysis import points\n",
     "import circle: lightning_diffeo.analysis.points -> lightning_diffeo.analysis.stats"),
])
def test_a_planted_violation_is_caught(tmp_path, module, code, expected):
    root = _plant(tmp_path, module, code)
    found = violations(root, LAYERS)
    assert any(problem.startswith(expected) for problem in found), found


def test_a_module_outside_the_layer_map_is_caught(tmp_path):
    root = _plant(tmp_path, "lightning_diffeo.validation", "")
    (root / PACKAGE / "stray.py").write_text("X = 1\n", encoding="utf-8")
    assert "lightning_diffeo.stray is in no layer of docs/architecture.md" in violations(root, LAYERS)


def test_cycles_finds_every_circle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}, "g": set()}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["e", "f"]]


def test_building_the_fit_parser_leaves_every_random_generator_untouched(monkeypatch):
    from lightning_diffeo.runs import config

    monkeypatch.setattr(config, "_PARSER", None)  # build it anew in this test
    states = torch.random.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    parser = config.fit_parser()
    assert parser is config.fit_parser()
    assert torch.equal(torch.random.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert random.getstate() == states[2]


def _package_classes():
    import importlib
    import inspect
    import pkgutil

    import lightning_diffeo

    for info in pkgutil.walk_packages(lightning_diffeo.__path__, f"{PACKAGE}."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name:
                yield cls


def test_no_private_method_of_lightning_or_torch_is_overridden():
    """Lightning (and torch) are extended through their public surface only."""
    overridden = []
    for cls in _package_classes():
        outside = [base for base in cls.__mro__[1:] if not base.__module__.startswith(PACKAGE)
                   and base.__module__.split(".")[0] in ("lightning", "pytorch_lightning", "torch", "jsonargparse")]
        for name in vars(cls):
            private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
            if private and any(name in vars(base) for base in outside):
                overridden.append(f"{cls.__module__}.{cls.__qualname__}.{name}")
    assert overridden == []
