"""deform() and the Diffeo transform: per-image fields, replay, random (T, c), pipelines."""

from __future__ import annotations

import warnings

import pytest
import torch

from lightning_diffeo.diffeo import (
    Diffeo,
    deform_with_coefficients,
    deform,
    displacement_from_coefficients,
    remap,
    sample_displacement,
    temperature_from_displacement,
    temperature_range,
)


def _images(batch=6, channels=3, n=16, seed=0):
    return torch.rand(batch, channels, n, n, generator=torch.Generator().manual_seed(seed))


def test_deform_uses_one_field_per_image():
    images = _images(batch=2)
    images[1] = images[0]
    out = deform(images, cutoff=3, delta=1.0, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(out[0], out[1])


def test_deform_equals_remap_with_the_same_draws():
    images = _images()
    temperature = temperature_from_displacement(1.0, 5, 16)
    expected = remap(images, sample_displacement(6, 16, temperature, 5, generator=torch.Generator().manual_seed(3)))
    out = deform(images, cutoff=5, delta=1.0, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, expected)


def test_deform_at_zero_temperature_is_the_identity():
    images = _images()
    assert torch.equal(deform(images, cutoff=3, temperature=0.0, interpolation="nearest"), images)


def test_deform_needs_exactly_one_size():
    with pytest.raises(ValueError, match="exactly one"):
        deform(_images(), cutoff=3)
    with pytest.raises(ValueError, match="exactly one"):
        deform(_images(), cutoff=3, temperature=1e-3, delta=1.0)


def test_fixed_transform_replays_its_parameters():
    transform = Diffeo(cutoff=3, temperature=1e-3, generator=torch.Generator().manual_seed(0))
    images = _images()
    out = transform(images)
    params = transform.last_params
    assert params.coefficients.shape == (6, 2, 3, 3) and (params.temperature == 1e-3).all()
    assert torch.equal(transform(images, params=params), out)
    assert not torch.equal(transform(images), out)
    expected = remap(images, displacement_from_coefficients(params.coefficients, 16))
    torch.testing.assert_close(out, expected)


def test_delta_transform_sets_the_temperature():
    transform = Diffeo(cutoff=5, delta=1.0)
    transform(_images(n=28))
    assert torch.allclose(transform.last_params.temperature, torch.tensor(temperature_from_displacement(1.0, 5, 28), dtype=torch.float64))


def test_random_cutoffs_and_temperatures_stay_in_range():
    n = 32
    transform = Diffeo(cutoff=(2, 6), generator=torch.Generator().manual_seed(0))
    params = transform.make_params(4000, n)
    cutoffs = params.cutoff
    assert set(cutoffs.unique().tolist()) == {2.0, 3.0, 4.0, 5.0, 6.0}
    counts = torch.bincount(cutoffs.long())[2:]
    # Beta(1, 1) is uniform: each of 5 cutoffs 800 +- 25 expected; 5 sigma band.
    assert (counts - 800).abs().max() < 5 * (4000 * 0.2 * 0.8) ** 0.5
    t_min, t_max = temperature_range(n, cutoffs)
    assert ((params.temperature >= t_min) & (params.temperature <= t_max)).all()


def test_beta_shapes_skew_the_draws():
    high = Diffeo(cutoff=3, temperature=(0.0, 1.0), temperature_beta=(8.0, 1.0), generator=torch.Generator().manual_seed(0))
    temperatures = high.make_params(4000, 16).temperature
    # Beta(8, 1) has mean 8/9 and standard deviation ~0.105: 4000 draws give a mean within 0.005.
    assert abs(temperatures.mean().item() - 8 / 9) < 0.01


def test_single_chw_image_and_nested_batches():
    transform = Diffeo(cutoff=3, delta=1.0, generator=torch.Generator().manual_seed(0))
    one = transform(_images(batch=1)[0])
    assert one.shape == (3, 16, 16) and transform.last_params.batch_size == 1
    nested = transform(_images(batch=6).reshape(2, 3, 3, 16, 16))
    assert nested.shape == (2, 3, 3, 16, 16) and transform.last_params.batch_size == 6


def test_generator_makes_the_transform_reproducible_and_leaves_global_rng_alone():
    images = _images()
    state = torch.random.get_rng_state()
    a = Diffeo(cutoff=(2, 5), generator=torch.Generator().manual_seed(9))(images)
    b = Diffeo(cutoff=(2, 5), generator=torch.Generator().manual_seed(9))(images)
    assert torch.equal(a, b)
    assert torch.equal(state, torch.random.get_rng_state())


def test_torchvision_v2_pipeline_keeps_the_image_type():
    v2 = pytest.importorskip("torchvision.transforms.v2")
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    pil = pytest.importorskip("PIL.Image")
    picture = pil.fromarray((torch.rand(16, 16, 3) * 255).byte().numpy())
    pipeline = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), Diffeo(cutoff=3, delta=1.0), v2.Normalize([0.5] * 3, [0.5] * 3)])
    out = pipeline(picture)
    assert isinstance(out, tv_tensors.Image) and out.shape == (3, 16, 16)


def test_warns_once_above_t_max():
    _, t_max = temperature_range(16, 3)
    transform = Diffeo(cutoff=3, temperature=10 * t_max)
    with pytest.warns(UserWarning, match="may not be a diffeomorphism"):
        transform(_images())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        transform(_images())


def test_replay_on_another_image_size_raises():
    transform = Diffeo(cutoff=3, delta=1.0)
    transform(_images(n=16))
    with pytest.raises(ValueError, match="drawn for 16x16 images, got 32x32"):
        transform(_images(n=32), params=transform.last_params)


def test_replay_with_wrong_batch_size_raises():
    transform = Diffeo(cutoff=3, delta=1.0)
    transform(_images(batch=2))
    with pytest.raises(ValueError, match="2 fields but the images need 6"):
        transform(_images(batch=6), params=transform.last_params)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cutoff": 0.5, "temperature": 1e-3}, ">= 1"),
        ({"cutoff": 1, "delta": 1.0}, "ln"),
        ({"cutoff": 1}, "ln"),
        ({"cutoff": (3, 2)}, "c_min <= c_max"),
        ({"cutoff": (1.5, 3)}, "integers"),
        ({"cutoff": 3, "temperature": -1.0}, ">= 0"),
        ({"cutoff": 3, "temperature": float("nan")}, "finite"),
        ({"cutoff": 3, "temperature": (2.0, 1.0)}, "lo <= hi"),
        ({"cutoff": 3, "temperature": 1e-3, "delta": 1.0}, "at most one"),
        ({"cutoff": 3, "interpolation": "cubic"}, "interpolation must be one of"),
        ({"cutoff": 3, "temperature_beta": (0.0, 1.0)}, "Beta"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Diffeo(**kwargs)


def test_integer_images_raise_with_a_hint():
    with pytest.raises(TypeError, match="ToDtype"):
        Diffeo(cutoff=3, delta=1.0)(torch.zeros(3, 8, 8, dtype=torch.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_transform_on_cuda_matches_cpu_for_the_same_seed():
    images = _images()
    cpu = Diffeo(cutoff=(2, 5), generator=torch.Generator().manual_seed(1))(images)
    cuda = Diffeo(cutoff=(2, 5), generator=torch.Generator().manual_seed(1))(images.cuda())
    torch.testing.assert_close(cuda.cpu(), cpu)


def test_pure_torch_imports():
    import subprocess
    import sys

    code = "import sys, lightning_diffeo.diffeo; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sampling_grid_is_the_normalised_source_points():
    from lightning_diffeo.diffeo import sampling_grid

    coefficients = sample_coefficients_for_test()
    n = 12
    field = displacement_from_coefficients(coefficients, n)
    grid = sampling_grid(coefficients, n)
    axis = torch.arange(n, dtype=torch.float64)
    expected_x = (axis[None, None, :] - field[:, 0]) * 2 / (n - 1) - 1
    expected_y = (axis[None, :, None] - field[:, 1]) * 2 / (n - 1) - 1
    torch.testing.assert_close(grid[..., 0], expected_x)
    torch.testing.assert_close(grid[..., 1], expected_y)


def test_deform_with_coefficients_checks_the_count():
    from lightning_diffeo.diffeo import deform_with_coefficients

    with pytest.raises(ValueError, match="3 fields for 6 images"):
        deform_with_coefficients(_images(), sample_coefficients_for_test(count=3))


def sample_coefficients_for_test(count=4):
    from lightning_diffeo.diffeo import sample_coefficients

    return sample_coefficients(count, 0.01, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


def test_v2_samples_deform_images_and_masks_alike_and_pass_labels_through():
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    image = tv_tensors.Image(torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1)))
    # the mask repeats the image's first channel quantised: the same field must move both alike
    mask = tv_tensors.Mask((image[0] > 0.5).to(torch.uint8))
    transform = Diffeo(cutoff=3, delta=2.0, generator=torch.Generator().manual_seed(0))
    out_image, out_label = transform((image, 7))
    assert isinstance(out_image, tv_tensors.Image) and out_label == 7
    replay = transform({"image": image, "mask": mask, "label": torch.tensor(7)}, params=transform.last_params)
    assert torch.equal(replay["image"], out_image) and torch.equal(replay["label"], torch.tensor(7))
    assert isinstance(replay["mask"], tv_tensors.Mask) and replay["mask"].dtype == torch.uint8
    expected = deform_with_coefficients((image[0] > 0.5).float()[None, None], transform.last_params.coefficients,
                                        "nearest")[0, 0]
    assert torch.equal(replay["mask"], expected.round().to(torch.uint8))
    assert not torch.equal(replay["mask"], mask)  # delta = 2 px moves some mask pixels


def test_v2_pil_image_comes_back_as_a_pil_image_and_boxes_are_refused():
    pil = pytest.importorskip("PIL.Image")
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    picture = pil.fromarray((torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(2)) * 255).byte().numpy())
    out, label = Diffeo(cutoff=3, delta=1.0, generator=torch.Generator().manual_seed(0))(picture, 3)
    assert isinstance(out, pil.Image) and out.size == (16, 16) and label == 3
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[1, 1, 5, 5]]), format="XYXY", canvas_size=(16, 16))
    with pytest.raises(TypeError, match="cannot deform BoundingBoxes"):
        Diffeo(cutoff=3, delta=1.0)(tv_tensors.Image(torch.rand(3, 16, 16)), boxes)
    with pytest.raises(TypeError, match="found no image"):
        Diffeo(cutoff=3, delta=1.0)({"label": 3})
