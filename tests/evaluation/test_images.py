"""Images from a folder: ImageFolder trees and flat folders of real files (JPEG, PNG, GIF; mixed sizes and modes), skips, subsets, labels."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from lightning_diffeo.evaluation import (
    imagenet_label_index,
    list_images,
    load_folder_images,
    read_class_index,
    top_k_errors,
)
from lightning_diffeo.evaluation.labels import folder_labels

from tests.cli.helpers import run_main

SIZE = 16
TRANSFORM = transforms.Compose([transforms.Resize(SIZE), transforms.CenterCrop(SIZE), transforms.ToTensor()])


def _picture(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A random RGB picture (width x height) converted to ``mode``."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB").convert(mode)


# (file name, PIL mode, width x height, format): every mode the folder reader converts to RGB
FILES = [
    ("rgb.jpg", "RGB", (40, 30), "JPEG"),
    ("gray.png", "L", (20, 50), "PNG"),
    ("alpha.png", "RGBA", (33, 33), "PNG"),
    ("palette.gif", "P", (25, 18), "GIF"),
    ("cmyk.jpg", "CMYK", (48, 24), "JPEG"),
]


def write_tree(root, classes=("military_uniform", "n02123045")) -> dict[str, list[str]]:
    """An ImageFolder tree: every file of FILES in each class folder, one corrupt JPEG, a truncated PNG and a note."""
    written = {}
    for k, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i, (file, mode, size, fmt) in enumerate(FILES):
            _picture(mode, size, 10 * k + i).save(folder / file, fmt)
        written[name] = sorted(file for file, *_ in FILES)
    (root / classes[0] / "corrupt.jpg").write_bytes(os.urandom(300).replace(b"\xff", b"\x00"))
    whole = (root / classes[1] / "gray.png").read_bytes()
    (root / classes[1] / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (root / classes[1] / "notes.txt").write_text("not an image")
    return written


def test_an_imagefolder_tree_of_mixed_formats_sizes_and_modes(tmp_path):
    write_tree(tmp_path)
    layout, samples, classes, ignored = list_images(tmp_path)
    assert layout == "imagefolder" and classes == ["military_uniform", "n02123045"] and ignored == 0
    assert len(samples) == 2 * len(FILES) + 2  # the text file is not an image; the broken ones are, by name
    folder = load_folder_images(tmp_path, TRANSFORM, probe_size=100)
    assert folder.images.shape == (2 * len(FILES), 3, SIZE, SIZE) and folder.images.dtype == torch.float32
    assert 0.0 <= float(folder.images.min()) and float(folder.images.max()) <= 1.0
    assert sorted(path.name for path, _ in folder.skipped) == ["corrupt.jpg", "truncated.png"]
    assert all(reason for _, reason in folder.skipped)
    assert folder.targets.tolist() == [0] * len(FILES) + [1] * len(FILES)
    # each image is the library's own decoding: PIL's convert("RGB"), then the transform
    expected = TRANSFORM(Image.open(tmp_path / "n02123045" / "cmyk.jpg").convert("RGB"))
    index = folder.paths.index(tmp_path / "n02123045" / "cmyk.jpg")
    assert torch.equal(folder.images[index], expected)
    assert folder.metadata()["skipped"][0][0].endswith(("corrupt.jpg", "truncated.png"))


def test_a_flat_folder_and_a_seeded_subset(tmp_path):
    for i in range(12):
        _picture("RGB", (20 + i, 24), i).save(tmp_path / f"img{i:02d}.png")
    (tmp_path / "README").write_text("no image")
    layout, samples, classes, _ = list_images(tmp_path)
    assert layout == "flat" and classes is None and len(samples) == 12
    first = load_folder_images(tmp_path, TRANSFORM, probe_size=5, seed=3)
    again = load_folder_images(tmp_path, TRANSFORM, probe_size=5, seed=3)
    other = load_folder_images(tmp_path, TRANSFORM, probe_size=5, seed=4)
    assert first.paths == again.paths and torch.equal(first.images, again.images)
    assert len(first.paths) == 5 and first.paths == sorted(first.paths) and first.targets is None
    assert first.paths != other.paths
    assert load_folder_images(tmp_path, TRANSFORM, probe_size=50).found == 12


def test_unreadable_files_are_replaced_by_further_draws(tmp_path):
    for i in range(4):
        _picture("RGB", (20, 20), i).save(tmp_path / f"good{i}.png")
    for i in range(4):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"\x00" * 64)
    folder = load_folder_images(tmp_path, TRANSFORM, probe_size=4, seed=0)
    assert len(folder.paths) == 4 and all(path.name.startswith("good") for path in folder.paths)
    assert all(path.name.startswith("bad") for path, _ in folder.skipped)


def test_folders_without_images_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty" / "class_a").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no image file"):
        list_images(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.png").write_bytes(b"junk")
    (tmp_path / "broken" / "b.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="0 of 2 image files could be read"):
        load_folder_images(tmp_path / "broken", TRANSFORM, probe_size=10)


def test_folder_names_map_to_imagenet_classes(tmp_path):
    index = imagenet_label_index()
    labels, unmatched = folder_labels(["military_uniform", "Military Uniform", "n03763968", "tabby", "n02123045"], index)
    assert labels == [652, 652, 652, 281, 281] and unmatched == []
    labels, unmatched = folder_labels(["crane", "tench"], index)  # "crane": a bird and a machine
    assert labels is None and unmatched == ["crane"]
    assert imagenet_label_index(["tench"] + ["x"] * 999)["tench"] == 0
    keras = tmp_path / "keras.json"
    keras.write_text(json.dumps({"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"]}))
    assert read_class_index(keras) == {"n01440764": 0, "tench": 0, "n01443537": 1, "goldfish": 1}
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"Cats": 3, "dogs": 5}))
    assert read_class_index(plain) == {"cats": 3, "dogs": 5}
    plain.write_text(json.dumps(["cats"]))
    with pytest.raises(ValueError, match="must map folder names to indices"):
        read_class_index(plain)
    logits = torch.tensor([[0.0, 3.0, 2.0, 1.0], [5.0, 0.0, 1.0, 2.0]])
    assert top_k_errors(logits, torch.tensor([1, 2]), ks=(1, 2, 9)) == {"top1_error": 0.5, "top2_error": 0.5}


def test_probe_on_a_labelled_folder_reports_skips_and_top1(tmp_path):
    write_tree(tmp_path / "photos")
    out = tmp_path / "out"
    stdout, stderr, code = run_main([
        "probe", "--model", "timm:resnet18", "--images", str(tmp_path / "photos"), "--image_size", "32",
        "--cutoffs", "[3]", "--layers", "[layer1,output]", "--average", "mean", "--out", str(out),
        "--progress", "false",
    ])
    assert code == 0, stderr
    assert "skipped 2 unreadable file(s)" in stderr and "corrupt.jpg" in stderr
    assert "random initialisation, init mode; 10 images of 12" in stdout and "top-1 error" in stdout
    settings = json.loads((out / "settings.json").read_text())
    assert settings["labels"] == "class folders -> the model's classes" and settings["n_labelled"] == 10
    assert 0.0 <= settings["top1_error"] <= 1.0 and settings["mode"] == "init" and settings["random_init"]
    assert settings["images"]["layout"] == "imagefolder" and len(settings["images"]["skipped"]) == 2
    assert {"stability.json", "stability.csv", "stability.png"} <= {p.name for p in out.iterdir()}


def test_a_budget_too_small_is_one_line_before_any_work(tmp_path):
    write_tree(tmp_path / "photos")
    out = tmp_path / "out"
    stdout, stderr, code = run_main([
        "probe", "--model", "timm:resnet18", "--images", str(tmp_path / "photos"), "--image_size", "32",
        "--cutoffs", "[3]", "--max_memory", "100kB", "--out", str(out), "--progress", "false",
    ])
    assert code == 2
    error = [line for line in stderr.splitlines() if "max_memory" in line]
    assert len(error) == 1 and "max_memory=100 kB is too small for this measurement: it needs about" in error[0]
    assert not out.exists()
