"""A weights file whose classifier head has another number of classes: the model is built with the file's.

A fine-tuned file (timm or torchvision resnet18 with 10 outputs) probes as a 10-class model with
no ImageNet labels; a file that differs anywhere else, or a ``num_classes`` given that the file
does not have, stays the one-line error it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from PIL import Image
from torch import nn
from torchvision import models

from lightning_diffeo.evaluation import load_pretrained
from lightning_diffeo.evaluation.weights import head_classes

from tests.cli.helpers import run_main

pytestmark = pytest.mark.usefixtures("offline")

SIZE = 32
CLASSES = 10
BUILDERS = {
    "timm:resnet18": lambda **kwargs: timm.create_model("resnet18", **kwargs),
    "torchvision:resnet18": lambda **kwargs: models.resnet18(**kwargs),
}


def _fine_tuned(tmp_path: Path, name: str, **changes: torch.Tensor) -> tuple[Path, dict[str, torch.Tensor]]:
    """A state dict of ``name`` with a 10-class head (entries replaced by ``changes``), saved as a .pth file."""
    torch.manual_seed(0)
    state = {**BUILDERS[name](num_classes=CLASSES).state_dict(), **changes}
    path = tmp_path / f"{name.replace(':', '_')}_{CLASSES}.pth"
    torch.save(state, path)
    return path, state


def _photos(folder: Path) -> Path:
    for i, label in enumerate(("cats", "dogs")):
        (folder / label).mkdir(parents=True)
        Image.new("RGB", (40, 40), (90 * i, 60, 200)).save(folder / label / "0.png")
    return folder


@pytest.mark.parametrize("name", list(BUILDERS))
def test_a_head_of_another_size_sets_the_number_of_classes(name, tmp_path):
    path, state = _fine_tuned(tmp_path, name)
    built = load_pretrained(name, weights=path, image_size=SIZE)
    assert all(torch.equal(value, state[key]) for key, value in built.model.state_dict().items())
    assert built.model(torch.rand(2, 3, SIZE, SIZE)).shape == (2, CLASSES)
    assert built.weights == f"{path} (its {CLASSES}-class head: built with num_classes={CLASSES})"
    assert built.label_index == {}  # not ImageNet's classes
    again = load_pretrained(name, weights=path, image_size=SIZE, model_kwargs={"num_classes": CLASSES})
    assert all(torch.equal(value, state[key]) for key, value in again.model.state_dict().items())
    assert again.weights == str(path)


def test_the_command_probes_a_fine_tuned_file_without_imagenet_labels(tmp_path):
    path, _ = _fine_tuned(tmp_path, "timm:resnet18")
    photos = _photos(tmp_path / "photos")
    common = ["probe", "--model", "timm:resnet18", "--weights", str(path), "--images", str(photos),
              "--cutoffs", "[3]", "--image_size", str(SIZE), "--progress", "false"]
    stdout, stderr, code = run_main([*common, "--out", str(tmp_path / "plain")])
    assert code == 0, stderr
    metadata = json.loads((tmp_path / "plain" / "stability.json").read_text())["metadata"]
    assert "top1_error" not in metadata and "the model names no classes" in metadata["labels"]
    assert metadata["weights"].endswith(f"(its {CLASSES}-class head: built with num_classes={CLASSES})")
    (tmp_path / "classes.json").write_text(json.dumps({"cats": 3, "dogs": 7}))
    stdout, stderr, code = run_main([*common, "--out", str(tmp_path / "mapped"),
                                     "--class_index", str(tmp_path / "classes.json")])
    assert code == 0, stderr
    metadata = json.loads((tmp_path / "mapped" / "stability.json").read_text())["metadata"]
    assert metadata["n_labelled"] == 2 and 0.0 <= metadata["top1_error"] <= 1.0


@pytest.mark.parametrize("name", list(BUILDERS))
def test_other_mismatches_and_a_wrong_num_classes_stay_one_line_errors(name, tmp_path):
    (tmp_path / "conv").mkdir()
    changed, _ = _fine_tuned(tmp_path / "conv", name, **{"conv1.weight": torch.zeros(32, 3, 7, 7)})
    with pytest.raises(ValueError) as info:
        load_pretrained(name, weights=changed, image_size=SIZE)
    assert f"does not fit {name}: 3 of another shape (e.g. conv1.weight: [32, 3, 7, 7] in the file" in str(info.value)
    assert "\n" not in str(info.value)
    path, _ = _fine_tuned(tmp_path, name)
    with pytest.raises(ValueError, match=rf"does not fit {name}: 2 of another shape \(e.g. fc.weight: "
                                         r"\[10, 512\] in the file, \[5, 512\] in the model\)$"):
        load_pretrained(name, weights=path, image_size=SIZE, model_kwargs={"num_classes": 5})


def test_the_command_names_a_mismatch_elsewhere_in_one_line(tmp_path):
    path, _ = _fine_tuned(tmp_path, "torchvision:resnet18", **{"layer1.0.bn1.bias": torch.zeros(3)})
    stdout, stderr, code = run_main(["probe", "--model", "torchvision:resnet18", "--weights", str(path),
                                     "--images", str(_photos(tmp_path / "photos")), "--image_size", str(SIZE)])
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert "does not fit torchvision:resnet18: 3 of another shape" in stderr


def _load_error(model: nn.Module, state: dict[str, torch.Tensor]) -> RuntimeError:
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    return info.value


def test_head_classes_reads_only_a_head_of_another_size():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 1000))
    head = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 7)).state_dict()
    assert head_classes(_load_error(model, head), 1000) == 7
    assert head_classes(_load_error(model, head), 1000, heads=("2",)) == 7
    assert head_classes(_load_error(model, head), 1000, heads=("fc",)) is None  # not the recorded head
    assert head_classes(_load_error(model, head), 999) is None  # the model's rows are not its classes
    assert head_classes(_load_error(model, {**head, "2.weight": torch.zeros(7, 5)}), 1000) is None  # [7, 5]
    assert head_classes(_load_error(model, {**head, "0.bias": torch.zeros(7)}), 1000) is None  # elsewhere too
    assert head_classes(_load_error(model, {**head, "extra": torch.zeros(1)}), 1000) is None
    no_bias = {key: value for key, value in head.items() if key != "2.bias"}
    assert head_classes(_load_error(model, no_bias), 1000) is None  # 2.bias missing
    assert head_classes(ValueError("not a load error"), 1000) is None
