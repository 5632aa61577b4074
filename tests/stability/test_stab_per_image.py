"""per_image=True: each probe image's terms at the output, from the measurement's own forward passes."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from lightning_diffeo.stability import (
    StabilityResult,
    measure_stability,
    pair_denominator,
    perturb,
    replay_deformations,
)
from lightning_diffeo.stability.per_image import PER_IMAGE_KEYS, first_item, measured_deformations
from lightning_diffeo.viz import extreme_images, per_image_figure
from tests.stability.test_memory_plan import Net, _budget_for

# per-image sums and the mean numerator add the same float32 row sums in float64, in another order
FLOAT64 = 1e-12


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 28 * 28, 5))


def _measure(model, images, **kwargs) -> StabilityResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # T above T_max at c = 5 on 28 px: not the subject
        return measure_stability(model, images, generator=torch.Generator().manual_seed(1), progress=False, **kwargs)


def test_per_image_terms_average_back_to_the_mean_numerators_and_leave_the_records_unchanged(digits):
    images, model = digits[:12], _net()
    settings = dict(cutoffs=(3, 5), layers=["1", "output"], diffeos_per_image=3)
    plain = _measure(model, images, **settings)
    kept = _measure(model, images, per_image=True, **settings)
    assert plain.per_image is None and kept.records == plain.records
    # the same settings (the default budget follows the RAM available at the time)
    assert {k: v for k, v in kept.metadata.items() if k != "memory"} == {
        k: v for k, v in plain.metadata.items() if k != "memory"}
    assert len(kept.per_image) == 2 * 12 and all(list(r) == list(PER_IMAGE_KEYS) for r in kept.per_image)
    for cutoff in (3, 5):
        rows = [r for r in kept.per_image if r["cutoff"] == cutoff]
        assert [r["image"] for r in rows] == list(range(12))
        mean = kept.select(layer="output", cutoff=cutoff, average="mean")[0]
        for key in ("numerator_diffeo", "numerator_noise", "D_f", "G_f"):
            assert sum(r[key] for r in rows) / 12 == pytest.approx(mean[key], rel=FLOAT64), key
        assert all(r["denominator"] == mean["denominator"] for r in rows)
        assert all(r["R_f"] == pytest.approx(r["numerator_diffeo"] / r["numerator_noise"], rel=1e-15) for r in rows)
        assert all(r["temperature"] == mean["temperature"] and r["delta"] == mean["delta"] for r in rows)
    # the median alone: the same per-image terms, the mean pair denominator computed at the output
    median = _measure(model, images, average="median", per_image=True, **settings)
    assert median.per_image == kept.per_image


def test_the_deformation_replayed_from_the_seed_is_the_one_measured(digits):
    images, model = digits[:6], _net()
    result = _measure(model, images, cutoffs=3, layers="output", per_image=True)
    indices = [4, 0, 2]
    deformed = measured_deformations(images, result.metadata, result.per_image, indices)
    with torch.no_grad():
        distances = (model(deformed) - model(images[indices])).square().sum(dim=1)
    measured = [first_item(result.per_image)[i]["numerator_diffeo"] for i in indices]
    assert distances.tolist() == pytest.approx(measured, rel=1e-5)
    # the rows of perturb's deformed images, with k = 2 draws per image
    item = dict(cutoff=5.0, temperature=2e-3, interpolation="bilinear", repeats=2)
    full = perturb(images, images, generator=torch.Generator().manual_seed(7), **item).deformed
    rows = [7, 1, 11]
    replayed = replay_deformations(images, rows, generator=torch.Generator().manual_seed(7), **item)
    # (not torch.testing.assert_close: its first call imports torch.distributed and sympy, seconds)
    assert replayed.shape == (3, 1, 28, 28) and float((replayed - full[rows]).abs().max()) <= 1e-6


def test_only_the_group_holding_the_output_records_them(digits):
    torch.manual_seed(0)
    images, model = digits[:24], Net()
    settings = dict(cutoffs=[3], diffeos_per_image=2, per_image=True)
    plain = _measure(model, images, **settings)
    budget = _budget_for(model, images, "smaller batch, layer groups", rows_per_image=2, perturbation="bilinear")
    planned = _measure(model, images, max_memory=budget, **settings)
    assert len(planned.metadata["memory"]["groups"]) > 1
    assert [r["image"] for r in planned.per_image] == list(range(24))
    for got, want in zip(planned.per_image, plain.per_image):
        for key in ("numerator_diffeo", "numerator_noise", "R_f"):
            assert got[key] == pytest.approx(want[key], rel=1e-5), key


def test_per_image_needs_the_output_and_a_bool(digits):
    with pytest.raises(ValueError, match=r"per_image=True keeps the terms at the output: add 'output' to layers, "
                                         r"got layers=\['1'\]"):
        _measure(_net(), digits[:4], layers="1", per_image=True)
    with pytest.raises(TypeError, match="per_image must be True or False, got 'yes'"):
        _measure(_net(), digits[:4], per_image="yes")


def test_json_round_trip_and_the_extremes(digits, tmp_path):
    images, model = digits[:7], _net()
    result = _measure(model, images, cutoffs=3, layers="output", per_image=True)
    result.per_image[3]["R_f"] = math.nan  # an image without noise response: null in JSON, NaN back
    back = StabilityResult.from_json(result.to_json(tmp_path / "stability.json"))
    assert back == result and math.isnan(back.per_image[3]["R_f"])
    most, least = extreme_images(result, count=5)
    assert len(most) == len(least) == 3 and not {r["image"] for r in most} & {r["image"] for r in least}
    assert [r["R_f"] for r in most] == sorted(r["R_f"] for r in most)
    assert least[0]["R_f"] == max(r["R_f"] for r in result.per_image if not math.isnan(r["R_f"]))
    figure = per_image_figure(result, images, count=2, names=[f"digit{i}.png" for i in range(7)])
    titles = [ax.get_title() for sub in figure.subfigs for ax in sub.axes]
    assert titles[0].startswith(f"digit{most[0]['image']}.png\nR_f ") and titles[1].startswith("deformed\nD_f ")
    plain = _measure(model, images, cutoffs=3, layers="output")
    assert '"per_image":' not in plain.to_json(tmp_path / "plain.json").read_text()
    with pytest.raises(ValueError, match="measure with per_image=True"):
        extreme_images(plain)


def test_pair_denominator_is_the_mean_records_denominator(digits):
    images, model = digits[:5], _net()
    result = _measure(model, images, cutoffs=3, layers="output", average="median", per_image=True)
    with torch.no_grad():
        expected = pair_denominator(model(images), "mean")
    assert result.per_image[0]["denominator"] == pytest.approx(expected, rel=1e-6)


def test_write_per_image_replaces_neither_file_of_another_run_without_overwrite(digits, tmp_path):
    from lightning_diffeo.viz import write_per_image

    images, model = digits[:4], _net()
    result = _measure(model, images, cutoffs=(3,), layers=["output"], diffeos_per_image=1, per_image=True)
    (tmp_path / "per_image.png").write_bytes(b"another run's figure")
    with pytest.raises(FileExistsError, match="per_image.png"):
        write_per_image(result, tmp_path, images)
    assert not (tmp_path / "per_image.csv").exists()
    assert (tmp_path / "per_image.png").read_bytes() == b"another run's figure"
    write_per_image(result, tmp_path)  # no figure asked: the CSV alone is written
    assert (tmp_path / "per_image.csv").exists()
    paths = write_per_image(result, tmp_path, images, overwrite=True)
    assert set(paths) == {"per_image_csv", "per_image_plot"}
