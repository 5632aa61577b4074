"""The converged FashionMNIST studies: the CPU spec, its doubled-epochs check, the sizes study and
the GPU variant plan what their comments say (planning only), and a tiny slice runs end to end."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lightning_diffeo.studies import RunPlan, load_spec, plan_runs, read_run, run_folders
from lightning_diffeo.studies.config_keys import option_value

SWEEPS = Path(__file__).resolve().parents[2] / "configs" / "sweeps"
SIZES = [2**k for k in range(7, 16)]  # P = 2^7 .. 2^15
FAMILIES = {"fc", "lenet", "alexnet", "vgg", "vgg_bn", "resnet"}
WIDTH_FAMILIES = {"alexnet", "vgg", "vgg_bn", "resnet"}  # the conv nets with a base_channels option
RUN_DIR_KEYS = {"trainer.logger", "trainer.default_root_dir"}  # point at each run's folder
Plans = Callable[[str], list[RunPlan]]


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> Plans:
    """``plans("fashionmnist_converged")``: the spec's planned runs (computed once), output under tmp."""
    cache: dict[str, list[RunPlan]] = {}

    def planned(name: str) -> list[RunPlan]:
        if name not in cache:
            output = tmp_path_factory.mktemp(name) / "study"
            cache[name] = plan_runs(load_spec(SWEEPS / f"{name}.yaml"), output=output)
        return cache[name]

    return planned


def _family(arch: str) -> str:
    """``fc2`` -> ``fc``, ``vgg11_bn`` -> ``vgg_bn``, ``resnet18`` -> ``resnet``."""
    return re.sub(r"\d+", "", arch)


def _get(plan: RunPlan, key: str) -> Any:
    """A run's resolved value of dotted ``key`` (None where unset)."""
    return option_value(plan.config, key)


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every leaf of a resolved config, the run-folder keys left out."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if dotted in RUN_DIR_KEYS:
            continue
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _differences(a: RunPlan, b: RunPlan) -> dict[str, tuple[Any, Any]]:
    """The options whose resolved values differ between two runs (a missing option counts as None)."""
    flat_a, flat_b = _flat(a.config), _flat(b.config)
    return {key: (flat_a.get(key), flat_b.get(key)) for key in flat_a.keys() | flat_b.keys()
            if flat_a.get(key) != flat_b.get(key)}


def _by_arch(plans: list[RunPlan]) -> dict[str, list[RunPlan]]:
    """Runs grouped by ``model.arch``, in plan order."""
    grouped: dict[str, list[RunPlan]] = {}
    for plan in plans:
        grouped.setdefault(_get(plan, "model.arch"), []).append(plan)
    return grouped


def test_cpu_spec_covers_the_paper_families_on_one_training_set(plans: Plans) -> None:
    runs = plans("fashionmnist_converged")
    archs = _by_arch(runs)
    assert len(archs) == 8 and {_family(arch) for arch in archs} == FAMILIES
    assert all(len({p.seed for p in group}) >= 3 and len(group) == len({p.seed for p in group})
               for group in archs.values())  # one run per seed
    assert {_get(p, "data.train_size") for p in runs} == {16384}
    for plan in runs:
        family = _family(_get(plan, "model.arch"))
        if family in WIDTH_FAMILIES:
            assert _get(plan, "model.base_channels") is not None, plan.run_id
        assert (_get(plan, "model.recipe") == "adam") == (family == "fc"), plan.run_id


def test_doubled_spec_is_the_cpu_spec_on_seed_0_with_twice_the_epochs(plans: Plans) -> None:
    cpu = [p for p in plans("fashionmnist_converged") if p.seed == 0]
    doubled = plans("fashionmnist_converged_doubled")
    assert {p.seed for p in doubled} == {0}
    matched: set[str] = set()
    for run in cpu:
        matches = [d for d in doubled if set(_differences(run, d)) <= {"trainer.max_epochs"}]
        assert len(matches) == 1, f"{run.run_id}: {len(matches)} doubled runs match"
        assert _get(matches[0], "trainer.max_epochs") == 2 * _get(run, "trainer.max_epochs"), run.run_id
        matched.add(matches[0].run_id)
    assert matched == {d.run_id for d in doubled}  # one to one


def test_sizes_spec_trains_every_p_for_the_same_steps(plans: Plans) -> None:
    runs = plans("fashionmnist_converged_sizes")
    assert all(_get(p, "data.constant_steps") is True for p in runs)
    grid = {(_get(p, "model.arch"), _get(p, "data.train_size"), p.seed) for p in runs}
    expected = {("lenet", size) for size in SIZES} | {("resnet18", size) for size in SIZES[::2]}  # every other P
    assert grid == {(arch, size, seed) for arch, size in expected for seed in range(3)}
    cpu = {_get(p, "model.arch"): p for p in plans("fashionmnist_converged") if p.seed == 0}
    # constant steps: every P trains 128 batches of 128 per epoch for 40 (LeNet) or 24 (ResNet18)
    # epochs, the steps of the architecture study's P = 16384 runs at its 40/24-epoch budget (a
    # quarter of today's; in general a power of two below, since the convergence check doubles
    # each network's budget on its own)
    steps = {"lenet": 128 * 40, "resnet18": 128 * 24}
    for plan in runs:
        reference = cpu[_get(plan, "model.arch")]
        assert not _get(reference, "data.constant_steps") and _get(reference, "trainer.limit_train_batches") in (None, 1.0)
        assert _get(plan, "trainer.limit_train_batches") * _get(plan, "trainer.max_epochs") == steps[_get(plan, "model.arch")]
        batches = math.ceil(_get(reference, "data.train_size") / _get(reference, "data.batch_size"))
        doublings = math.log2(batches * _get(reference, "trainer.max_epochs") / steps[_get(plan, "model.arch")])
        assert doublings >= 1 and doublings == int(doublings), plan.run_id
        assert plan.config["model"] == reference.config["model"], plan.run_id


def test_gpu_spec_is_the_cpu_study_at_the_papers_scale(plans: Plans) -> None:
    runs = plans("fashionmnist_converged_gpu")
    cpu_recipes = {_get(p, "model.arch"): _get(p, "model.recipe") for p in plans("fashionmnist_converged")}
    archs = _by_arch(runs)
    assert {arch: _get(group[0], "model.recipe") for arch, group in archs.items()} == cpu_recipes
    assert all(len({p.seed for p in group}) >= 5 for group in archs.values())
    for plan in runs:
        assert _get(plan, "model.base_channels") is None, plan.run_id  # Table 1's widths
        assert _get(plan, "trainer.max_epochs") == 250 and _get(plan, "trainer.accelerator") == "gpu"
        assert _get(plan, "data.train_size") is None  # the whole training split
    assert not runs[0].run_dir.parent.exists()  # planning writes nothing


@pytest.mark.slow
def test_a_slice_of_the_cpu_study_runs_collects_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """fc2 and LeNet for 2 short epochs on 512 images, from the real spec's ``base`` and ``set``."""
    import pandas as pd

    from lightning_diffeo.cli import main
    from lightning_diffeo.datamodules import FashionMNISTDataModule

    system = FashionMNISTDataModule.system_data_dirs[0]
    if not system.is_dir():
        pytest.skip(f"FashionMNIST not in {str(system)!r}: sudo apt-get install dataset-fashion-mnist")
    raw = yaml.safe_load((SWEEPS / "fashionmnist_converged.yaml").read_text())
    raw["base"] = str((SWEEPS / raw["base"]).resolve())
    raw["set"].update({
        "trainer.limit_train_batches": 3, "trainer.limit_val_batches": 2, "trainer.limit_test_batches": 2,
        "data.train_size": 512, "data.data_dir": str(tmp_path / "data"), "stability.probe_size": 20,
    })
    raw["include"] = [
        {"model.arch": "fc2", "model.recipe": "adam", "trainer.max_epochs": 2},
        {"model.arch": "lenet", "trainer.max_epochs": 2, "stability.every_n_epochs": 1},
    ]
    raw.update(seeds=1, output=str(tmp_path / "study"), executor={"name": "local", "workers": 1})
    spec = tmp_path / "slice.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    csv, report = tmp_path / "slice.csv", tmp_path / "report"

    main(["sweep", "run", str(spec)])
    main(["collect", str(spec), "-o", str(csv)])
    main(["report", str(csv), "-o", str(report), "--formats", "[png]", "--n_boot", "0"])
    assert "finished: 2 done, 0 failed" in capsys.readouterr().out

    assert [read_run(run)["status"] for run in run_folders(spec)] == ["done", "done"]
    table = pd.read_csv(csv)
    stages = table.groupby("arch")["stage"].agg(set).to_dict()
    assert stages == {"fc2": {"init", "best"}, "lenet": {"init", "best", "epoch0", "epoch1"}}
    output = table[(table["layer"] == "output") & (table["kind"] == "diffeo")]
    assert len(output) and output["R_f"].map(math.isfinite).all() and output["R_f"].gt(0).all()
    assert (report / "report.md").is_file()
