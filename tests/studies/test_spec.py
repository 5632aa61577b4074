"""Sweep specs: grid expansion, validation errors, run ids; every shipped spec resolves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lightning_diffeo.studies import SpecError, load_spec, parse_spec, plan_runs

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _spec(tiny_base, **raw):
    return parse_spec({"base": tiny_base, **raw})


def test_grid_is_a_cartesian_product_times_seeds(tiny_base):
    spec = _spec(tiny_base, grid={"model.arch": ["lenet", "fc2"], "data.train_size": [64, 128, 256]}, seeds=2)
    assert len(spec) == 12
    combos = [(o["model.arch"], o["data.train_size"], s) for o, s in spec.iter_overrides()]
    assert len(set(combos)) == 12
    assert {s for _, _, s in combos} == {0, 1}


def test_zip_include_exclude(tiny_base):
    spec = _spec(
        tiny_base,
        grid={"data.train_size": [64, 128]},
        zip=[{"model.arch": ["lenet", "fc2"], "model.recipe": ["sgd", "adam"]}],
        include=[{"model.arch": "fc4", "model.recipe": "adam", "data.train_size": [256, 512]}],
        exclude=[{"model.arch": "fc2", "data.train_size": 64}],
        seeds=[3],
    )
    combos = [o for o, _ in spec.iter_overrides()]
    assert {(c["model.arch"], c["model.recipe"]) for c in combos} == {("lenet", "sgd"), ("fc2", "adam"), ("fc4", "adam")}
    assert {"model.arch": "fc2", "model.recipe": "adam", "data.train_size": 64} not in combos
    assert sum(c["model.arch"] == "fc4" for c in combos) == 2
    assert len(combos) == 2 + 1 + 2
    assert spec.seeds == [3]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"grid": {"model.arch": "lenet"}}, r"^grid\.model\.arch: must be a list of values, got 'lenet'"),
        ({"grid": {"model.arch": []}}, r"^grid\.model\.arch: must be a non-empty list"),
        ({"zip": [{"model.arch": ["lenet", "fc2"], "model.lr": [0.1]}]}, r"^zip\[0\]: lists of a zip group must have the same length"),
        ({"seeds": 0}, r"^seeds: a count must be at least 1, got 0"),
        ({"seeds": [1, 1]}, r"^seeds: must not repeat a seed"),
        ({"grid": {"seed_everything": [1, 2]}}, r"^grid: 'seed_everything' is set by the sweep itself"),
        ({"grid": {"model arch": [1]}}, r"^grid: keys must be dotted option names"),
        ({"executor": {"name": "pbs"}}, r"^executor\.name: must be one of local, slurm, got 'pbs'"),
        ({"executor": {"workers": 0}}, r"^executor\.workers: must be a positive integer, got 0"),
        ({"executor": {"slurm": {"gpus": 1}}}, r"^executor\.slurm\.gpus: unknown key"),
        ({"executor": {"slurm": {"timeout_min": -5}}}, r"^executor\.slurm\.timeout_min: must be a positive integer"),
        ({"grids": {}}, r"^grids: unknown key"),
        ({"grid": {"model.arch": ["lenet"]}, "exclude": [{"model.arch": "lenet"}]}, r"^exclude: removes every combination"),
        ({"grid": {"model.arch": ["lenet"]}, "zip": [{"model.arch": ["fc2"]}]}, r"^zip\[0\]: key 'model.arch' is already varied by grid"),
    ],
)
def test_bad_specs_are_one_line_naming_the_key(tiny_base, raw, message):
    with pytest.raises(SpecError, match=message) as caught:
        _spec(tiny_base, **raw)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"data.trainsize": [64]}, r"grid key 'data.trainsize': option 'trainsize' is not accepted"),
        ({"model.archh": ["lenet"]}, r"grid key 'model.archh': not an option of `lightning-diffeo fit`"),
        ({"trainer.max_epoch": [2]}, r"grid key 'trainer.max_epoch': not an option"),
        ({"model.lr": ["fast"]}, r"grid key 'model.lr': expected float or NoneType, got fast"),
    ],
)
def test_grid_keys_are_checked_against_the_fit_parser(tiny_base, tmp_path, grid, message):
    with pytest.raises(SpecError, match=message):
        plan_runs(_spec(tiny_base, grid=grid, output=str(tmp_path)))


def test_run_ids_readable_unique_and_tied_to_the_whole_config(tiny_base, tmp_path):
    raw = {"grid": {"model.arch": ["lenet", "fc2"]}, "seeds": 2, "output": str(tmp_path)}
    plans = plan_runs(_spec(tiny_base, **raw))
    ids = [p.run_id for p in plans]
    assert len(set(ids)) == 4
    assert ids[0].startswith("lenet-seed0-") and ids[3].startswith("fc2-seed1-")
    assert all(p.run_dir.parent == tmp_path for p in plans)
    assert [p.run_id for p in plan_runs(_spec(tiny_base, **raw))] == ids  # deterministic
    tiny_base["stability"]["probe_size"] = 30  # a base-config change that no run name shows
    changed = [p.run_id for p in plan_runs(_spec(tiny_base, **raw))]
    assert all(a.rsplit("-", 1)[0] == b.rsplit("-", 1)[0] and a != b for a, b in zip(ids, changed))


def test_seed_sets_seed_everything_and_the_training_subset_seed(tiny_base, tmp_path):
    plan = plan_runs(_spec(tiny_base, seeds=[7], output=str(tmp_path)))[0]
    assert plan.config["seed_everything"] == 7
    assert plan.config["data"]["init_args"]["seed"] == 7
    logger = plan.config["trainer"]["logger"]["init_args"]
    assert logger == {**logger, "save_dir": str(plan.run_dir), "name": "", "version": ""}


def test_set_applies_to_every_run_outside_the_name(tiny_base, tmp_path):
    plans = plan_runs(_spec(tiny_base, set={"trainer.max_epochs": 3}, grid={"model.arch": ["fc2"]}, output=str(tmp_path)))
    assert plans[0].config["trainer"]["max_epochs"] == 3
    assert "max_epochs" not in plans[0].run_id


def test_base_path_is_relative_to_the_spec_file(tmp_path, tiny_base):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(yaml.safe_dump(tiny_base))
    (tmp_path / "configs" / "sweeps").mkdir()
    spec_file = tmp_path / "configs" / "sweeps" / "s.yaml"
    spec_file.write_text(yaml.safe_dump({"base": "../base.yaml", "grid": {"model.arch": ["lenet"]}}))
    assert load_spec(spec_file).base == tiny_base
    spec_file.write_text(yaml.safe_dump({"base": "../missing.yaml"}))
    with pytest.raises(SpecError, match=r"^base: config file not found: .*missing.yaml"):
        load_spec(spec_file)


@pytest.mark.parametrize("path", sorted((CONFIGS / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_spec_resolves(path, tmp_path, capsys, monkeypatch):
    from lightning_diffeo.studies import run_sweep

    if yaml.safe_load(path.read_text()).get("kind") == "zoo":  # its files, as scripts/zoo_data.py names them
        from tests.studies.test_zoo import write_photos

        monkeypatch.chdir(tmp_path)
        write_photos(tmp_path / "zoo_data" / "photos")
        for variant in range(3):
            (tmp_path / "zoo_data" / f"tf_efficientnet_lite{variant}.pth").write_bytes(b"")  # planning reads no weights
        tmp_path = tmp_path / "study"
        tmp_path.mkdir()
    result = run_sweep(path, dry_run=True, output=tmp_path)
    assert result["runs"] == len(load_spec(path)) > 0
    assert capsys.readouterr().out.count(" pending ") == result["runs"]
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


def test_importing_studies_leaves_torch_and_lightning_out():
    import subprocess
    import sys

    code = "import sys, lightning_diffeo.studies; print(sorted({'torch', 'lightning'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_null_value_means_the_option_default(tiny_base, tmp_path):
    plans = plan_runs(_spec(tiny_base, grid={"data.train_size": [None, 64]}, output=str(tmp_path)))
    assert [p.config["data"]["init_args"].get("train_size") for p in plans] == [None, 64]
    assert plans[0].run_id.startswith("train_sizenull-seed0-")


def test_each_key_remembers_the_section_it_came_from(tiny_base):
    spec = _spec(
        tiny_base,
        set={"trainer.max_epochs": 2, "model.lr": 0.1},
        grid={"data.train_size": [64]},
        zip=[{"model.arch": ["lenet"], "model.recipe": ["sgd"]}],
        include=[{"model.arch": "fc2", "model.lr": 0.5}],
    )
    assert [spec.sections(i) for i in range(len(spec.combinations))] == [
        {"trainer.max_epochs": "set", "model.lr": "set", "data.train_size": "grid", "model.arch": "zip[0]", "model.recipe": "zip[0]"},
        {"trainer.max_epochs": "set", "model.lr": "include[0]", "model.arch": "include[0]"},
    ]
