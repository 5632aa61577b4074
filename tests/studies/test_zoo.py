"""A zoo study (``kind: zoo``): randomly initialised tiny models probed on a tiny labelled folder, through
``sweep run``, ``status``, ``collect`` and ``report``; the run repeats ``lightning-diffeo probe``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from lightning_diffeo.analysis import FigureOptions, write_report
from lightning_diffeo.cli.collect import main as collect_main
from lightning_diffeo.cli.report import main as report_main
from lightning_diffeo.cli.sweep import main as sweep_main
from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.studies import collect, load_spec, read_run, run_sweep, status_lines

MODELS = [
    {"model": "timm:test_resnet", "top1": 61.5},
    {"model": "torchvision:squeezenet1_1", "top1": "IMAGENET1K_V1"},  # 58.178, torchvision's metadata
]


def write_photos(folder, count: int = 4, seed: int = 0) -> None:
    """``count`` random RGB images of varied sizes in two ImageNet class folders (tabby, espresso)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        (folder / ("tabby", "espresso")[i % 2]).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (40 + 4 * i, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / ("tabby", "espresso")[i % 2] / f"{i}.png")


def zoo_spec(tmp_path, **changes) -> dict:
    raw = {"kind": "zoo", "description": "two random initialisations on four made-up photographs",
           "images": str(tmp_path / "photos"), "dataset": "madeup",
           "probe": {"cutoffs": [3], "deltas": [1.0], "image_size": 32, "average": ["median", "mean"]},
           "intervals": 4, "models": MODELS, "output": str(tmp_path / "study"), "executor": {"workers": 2}}
    return {**raw, **changes}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """The zoo run once (two tiny models, two workers), its spec file and the sweep's lines."""
    tmp_path = tmp_path_factory.mktemp("zoo")
    write_photos(tmp_path / "photos")
    path = tmp_path / "zoo.yaml"
    path.write_text(yaml.safe_dump(zoo_spec(tmp_path)))
    lines: list[str] = []
    result = run_sweep(path, echo=lines.append)
    return path, result, lines


def _runs(zoo):
    path, _, _ = zoo
    return [read_run(d) for d in sorted((path.parent / "study").iterdir()) if d.is_dir()]


def test_every_model_is_one_done_run_with_both_errors(zoo):
    _, result, lines = zoo
    assert result["result"]["done"] == 2 and result["result"]["failed"] == 0, lines
    records = {r["name"]: r for r in _runs(zoo)}
    assert set(records) == {"timm:test_resnet", "torchvision:squeezenet1_1"}
    squeeze = records["torchvision:squeezenet1_1"]
    assert squeeze["published_top1"] == pytest.approx(58.178)
    assert "ImageNet-1K acc@1" in squeeze["published_top1_source"]
    for record in records.values():
        assert record["status"] == "done" and record["kind"] == "zoo" and record["weights_kind"] == "random"
        assert record["test_error_source"] == "published" and record["image_size"] == 32 and record["n_images"] == 4
        assert record["test_error"] == pytest.approx(1 - record["published_top1"] / 100)
        assert 0 <= record["test_error_measured"] <= 1 and record["n_labelled"] == 4  # the class folders' labels
        assert record["intervals"]["half_samples"] == 4 and record["intervals"]["subset_size"] == 2


def test_intervals_bracket_every_estimate(zoo):
    path, _, _ = zoo
    for run_dir in (path.parent / "study").iterdir():
        if not run_dir.is_dir():
            continue
        records = StabilityResult.from_json(run_dir / "stability.json").records
        assert records and all(r["mode"] == "init" for r in records)  # random initialisation: init mode
        for record in records:
            for q in ("D_f", "G_f", "R_f"):
                assert 0 < record[f"{q}_ci_low"] < record[q] < record[f"{q}_ci_high"]
                assert record[q] ** 2 == pytest.approx(record[f"{q}_ci_low"] * record[f"{q}_ci_high"], rel=1e-9)


def test_a_zoo_run_repeats_lightning_diffeo_probe(zoo, tmp_path):
    from lightning_diffeo.evaluation import run_probe

    path, _, _ = zoo
    run_dir = next(d for d in (path.parent / "study").iterdir() if d.name.startswith("timm-test_resnet-"))
    options = yaml.safe_load((run_dir / "probe.yaml").read_text())
    with torch.random.fork_rng(devices=[]):  # the zoo draws a random initialisation after manual_seed(seed)
        torch.manual_seed(options.get("seed", 0))
        run_probe(**options, out=str(tmp_path / "probe"), progress=False)
    probed = StabilityResult.from_json(tmp_path / "probe" / "stability.json").records
    zoo_records = StabilityResult.from_json(run_dir / "stability.json").records
    assert len(probed) == len(zoo_records)
    for mine, theirs in zip(zoo_records, probed):
        assert (mine["layer"], mine["average"]) == (theirs["layer"], theirs["average"])
        for q in ("D_f", "G_f", "R_f"):  # another thread count: float32 reductions differ in their last bits
            assert mine[q] == pytest.approx(theirs[q], rel=1e-4)


def test_second_invocation_does_nothing_and_status_counts(zoo, capsys):
    path, _, _ = zoo
    again = run_sweep(path)
    assert again["selected"] == 0
    assert "nothing to do: all 2 runs are accounted for (2 done)" in capsys.readouterr().out
    assert status_lines(path)[1].split() == ["done", "2", "running", "0", "failed", "0", "pending", "0"]


def test_collect_and_report_the_zoo(zoo, tmp_path, capsys):
    path, _, _ = zoo
    collect_main([str(path), "-o", str(tmp_path / "zoo.csv")])
    assert "rows from 2 runs" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "zoo.csv")
    assert set(table["arch"]) == {"timm:test_resnet", "torchvision:squeezenet1_1"}
    assert set(table["stage"]) == {"init"} and set(table["dataset"]) == {"madeup"}
    assert table["train_size"].isna().all() and set(table["test_error_source"]) == {"published"}
    assert (table["test_error"] == table["test_error_published"]).all() and table["test_error_measured"].notna().all()
    assert (table["R_f_ci_low"] < table["R_f"]).all() and (table["R_f"] < table["R_f_ci_high"]).all()
    report_main([str(tmp_path / "zoo.csv"), "-o", str(tmp_path / "report"), "--stage", "init", "--n_boot", "20",
                 "--formats", "[png]"])
    folder = tmp_path / "report"
    assert (folder / "figures" / "error_vs_stability_madeup_median.png").is_file()
    zoo_table = pd.read_csv(folder / "zoo.csv")
    assert len(zoo_table) == 4 and zoo_table["R_f_ci_factor"].gt(1).all()  # 2 models x 2 averages
    markdown = (folder / "report.md").read_text()
    assert "## The zoo: each model's error and stability, with intervals over the images" in markdown
    assert "at initialisation" in markdown and "n_archs" in markdown  # Table 2: two points, n/a


def test_report_of_the_trained_stage_says_what_is_missing(zoo, tmp_path):
    path, _, _ = zoo
    report = write_report(collect(path), tmp_path / "r", options=FigureOptions(n_boot=0), formats=["png"])
    (skipped,) = [f for f in report.figures if f.kind == "error_vs_stability"]
    assert skipped.reason == "no ('best' stage) diffeomorphism measurements in the table"
    assert (tmp_path / "r" / "zoo.csv").is_file()  # the zoo's own table lists every stage


def test_a_changed_published_accuracy_is_a_new_run(zoo, tmp_path):
    path, _, _ = zoo
    raw = yaml.safe_load(path.read_text())
    raw["models"] = [dict(MODELS[0], top1=62.0)]
    spec = load_spec(_write(tmp_path / "changed.yaml", raw))
    lines: list[str] = []
    result = run_sweep(spec, dry_run=True, echo=lines.append)
    assert result["runs"] == 1 and lines[1].split()[0] == "pending"


def _write(path, raw):
    path.write_text(json.dumps(raw))
    return path


def test_measured_error_without_labels_fails_the_run_with_its_reason(tmp_path):
    write_photos(tmp_path / "photos", count=4)
    # class folders that name no ImageNet class: the folder has a tree, the model's classes do not match
    (tmp_path / "photos" / "tabby").rename(tmp_path / "photos" / "cats")
    (tmp_path / "photos" / "espresso").rename(tmp_path / "photos" / "coffees")
    raw = zoo_spec(tmp_path, error="measured", intervals=0, models=[{"model": "timm:test_resnet"}],
                   executor={"workers": 1})
    lines: list[str] = []
    result = run_sweep(load_spec(_write(tmp_path / "zoo.yaml", raw)), echo=lines.append)
    assert result["result"]["failed"] == 1
    (record,) = [read_run(d) for d in (tmp_path / "study").iterdir()]
    assert record["status"] == "failed" and "error: measured, but there is no measured error" in record["error"]
    assert "class folders not among the model's classes" in record["error"]
