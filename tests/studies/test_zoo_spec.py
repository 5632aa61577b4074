"""Zoo specs (``kind: zoo``): every mistake is one line naming the key, before any work; the intervals' statistics."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from lightning_diffeo.cli.sweep import main as sweep_main
from lightning_diffeo.studies import SpecError, ZooSpec, parse_spec, plan_runs
from lightning_diffeo.studies.zoo_intervals import add_intervals, half_samples, log_interval
from tests.studies.test_zoo import write_photos, zoo_spec


@pytest.fixture
def photos(tmp_path):
    write_photos(tmp_path / "photos")
    return tmp_path


def test_a_valid_zoo_is_planned_one_run_per_model(photos):
    spec = parse_spec(zoo_spec(photos))
    assert isinstance(spec, ZooSpec) and len(spec) == 2 and spec.error == "published" and spec.intervals == 4
    squeeze = spec.models[1]
    assert squeeze.top1 == pytest.approx(58.178) and "SqueezeNet1_1_Weights.IMAGENET1K_V1" in squeeze.top1_source
    plans = plan_runs(spec)
    assert [p.run_id.rsplit("-", 1)[0] for p in plans] == ["timm-test_resnet", "torchvision-squeezenet1_1"]
    assert plans[0].config_path.name == "probe.yaml" and plans[0].config["image_size"] == 32
    assert plans[0].config["images"] == str((photos / "photos").resolve()) and "weights" not in plans[0].config
    assert plans[0].zoo == {"name": "timm:test_resnet", "dataset": "madeup", "error": "published", "top1": 61.5,
                            "top1_source": "spec", "intervals": 4}


def _model(**entry):
    return {"models": [{"model": "timm:test_resnet", "top1": 61.5, **entry}]}


@pytest.mark.parametrize("changes, message", [
    ({"kind": "zo"}, "kind: must be train (fit every run, the default) or zoo (probe pretrained models), got 'zo'"),
    ({"grid": {"a": [1]}}, "grid: not a key of a zoo spec; expected one of kind, description, images, dataset"),
    ({"images": None}, "images: missing: give the folder of images to probe (a path), got None"),
    ({"images": "nowhere"}, "nowhere: not a folder"),
    ({"error": "top5"}, "error: must be one of published, measured, got 'top5'"),
    ({"intervals": 1}, "intervals: must be 0 (none) or a number of half-samples >= 2, got 1"),
    ({"models": []}, "models: must be a non-empty list of models"),
    (_model(model="timm:resnet_50x"), "models[0]: timm:resnet_50x: unknown timm model 'resnet_50x' (did you mean"),
    (_model(weights="missing.pth"), "models[0]: timm:test_resnet: weights file not found: 'missing.pth'"),
    (_model(weights="IMAGENET1K_V1"), "models[0]: timm:test_resnet: --weights IMAGENET1K_V1: not a file"),
    (_model(weight="x.pth"), "models[0].weight: unknown key (did you mean 'weights'?)"),
    (_model(top1=0.615), "models[0].top1: the published top-1 accuracy in percent (e.g. 75.1)"),
    (_model(top1=True), "models[0].top1: the published top-1 accuracy in percent"),
    (_model(top1="IMAGENET1K_V1"), "models[0].top1: timm:test_resnet: a published top-1 from metadata is "
                                   "torchvision's only; give the accuracy in percent"),
    ({"models": [{"model": "torchvision:resnet18", "top1": "V9"}]},
     "models[0].top1: unknown torchvision weights 'V9' for resnet18; its weights: IMAGENET1K_V1, DEFAULT"),
    (_model(top1=None), "models[0].top1: missing: `error: published` compares each model's published top-1"),
    ({"models": [{"model": "timm:test_resnet", "top1": 60}, {"model": "timm:test_resnet", "top1": 61}]},
     "models[1]: name 'timm:test_resnet' is taken by models[0]: give each a name"),
    ({"probe": {"cutoff": 3}}, "probe.cutoff: not an option of `lightning-diffeo probe` (did you mean 'cutoffs'?)"),
    ({"probe": {"model": "timm:x"}}, "probe.model: not a zoo's probe option: set per model, under models"),
    ({"probe": {"cutoffs": [1]}}, "probe: every cutoff must be > 1 (the formulas use ln c), got cutoffs=[1]"),
    ({"probe": {"deltas": [1.0], "temperatures": [0.01]}}, "probe: give only one of deltas, temperatures or sweep"),
    ({"probe": {"average": "mode"}}, "probe: average must be one of"),
    ({"probe": {"probe_size": 1}}, "probe: probe_size must be"),
    ({"probe": {"delta_unit": "mm"}}, "probe: delta_unit must be one of"),
])
def test_every_mistake_is_one_line_naming_its_key(photos, changes, message):
    with pytest.raises(SpecError) as raised:
        parse_spec(zoo_spec(photos, **changes))
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_measured_error_needs_class_folders(tmp_path):
    write_photos(tmp_path / "tree")
    flat = tmp_path / "photos"
    flat.mkdir()
    for path in (tmp_path / "tree").rglob("*.png"):
        path.rename(flat / path.name)
    with pytest.raises(SpecError, match=r"images: .* is a flat folder, and `error: measured` needs labels"):
        parse_spec(zoo_spec(tmp_path, error="measured"))
    assert len(parse_spec(zoo_spec(tmp_path, images=str(flat)))) == 2  # published errors need no labels


def test_the_command_line_says_it_in_one_line_and_writes_nothing(photos, capsys):
    path = photos / "bad.yaml"
    path.write_text(json.dumps(zoo_spec(photos, probe={"cutoff": 3})))
    with pytest.raises(SystemExit) as raised:
        sweep_main(["run", str(path)])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("lightning-diffeo: error: probe.cutoff: not an option")
    assert not (photos / "study").exists()


def test_half_samples_are_distinct_subsets_of_half_the_images():
    assert half_samples(5, 100) == list(itertools.combinations(range(5), 2))
    drawn = half_samples(12, 30, seed=3)
    assert len(set(drawn)) == 30 and all(len(s) == 6 and list(s) == sorted(set(s)) for s in drawn)
    assert drawn == half_samples(12, 30, seed=3) != half_samples(12, 30, seed=4)


def test_log_interval_is_the_delete_d_jackknife_on_the_log_scale():
    low, high = log_interval(2.0, [1.0, 4.0, float("nan"), -1.0], n=4, m=2, confidence=0.95)
    se = math.log(2.0)  # sqrt(m / d * mean((ln v - mean ln v)^2)) = sqrt(1 * ln(2)^2)
    assert (low, high) == pytest.approx((2.0 * math.exp(-1.959963984540054 * se), 2.0 * math.exp(1.959963984540054 * se)))
    assert all(math.isnan(v) for v in log_interval(2.0, [1.0], n=4, m=2))
    assert all(math.isnan(v) for v in log_interval(0.0, [1.0, 2.0], n=4, m=2))


def test_the_jackknife_error_of_a_median_matches_its_spread():
    # 300 samples of 40 log-normal values: the mean jackknife error of ln(median) against the spread of
    # ln(median) over the samples; each is known to about 4% (1 / sqrt(2 * 300)), the bound is 3.5 of those
    rng = np.random.default_rng(0)
    errors, medians = [], []
    for sample in range(300):
        values = rng.lognormal(size=40)
        median = float(np.median(values))
        halves = [float(np.median(values[list(s)])) for s in half_samples(40, 100, seed=sample)]
        high = log_interval(median, halves, n=40, m=20)[1]
        errors.append(math.log(high / median) / 1.959963984540054)
        medians.append(math.log(median))
    assert np.mean(errors) / np.std(medians, ddof=1) == pytest.approx(1.0, abs=0.15)


def test_add_intervals_without_intervals_and_on_mismatched_records():
    records = [{"layer": "output", "cutoff": 3.0, "average": "median", "D_f": 1.0, "G_f": 2.0, "R_f": 0.5}]
    summary = add_intervals(records, lambda subset, k: records, n=3, count=10)
    assert summary["method"] is None and "3 images" in summary["reason"] and math.isnan(records[0]["R_f_ci_low"])
    assert add_intervals(records, lambda subset, k: records, n=8, count=0)["reason"] == "intervals: 0 in the spec"
    other = [{**records[0], "layer": "fc"}]
    with pytest.raises(RuntimeError, match="do not match"):
        add_intervals(records, lambda subset, k: other, n=4, count=2)
