"""Resampling: identity, Eq. 15 transcribed independently, dense Eq. 16, batching, errors."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_diffeo.diffeo import GAUSSIAN_SIGMA, gaussian_smooth, remap, sample_displacement


def _images_and_fields(batch=4, channels=3, n=12, temperature=0.02, cutoff=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, channels, n, n, generator=g, dtype=torch.float64)
    fields = sample_displacement(batch, n, temperature, cutoff, generator=g, dtype=torch.float64)
    return images, fields


def _bilinear_by_hand(image: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """Eq. 15 pixel by pixel: x(u, v) from the four pixels around the clamped point."""
    channels, n, _ = image.shape
    out = torch.empty_like(image)
    for row in range(n):
        for col in range(n):
            x = min(max(col - field[0, row, col].item(), 0.0), n - 1)
            y = min(max(row - field[1, row, col].item(), 0.0), n - 1)
            x0, y0 = min(math.floor(x), n - 2), min(math.floor(y), n - 2)
            u, v = x - x0, y - y0
            out[:, row, col] = (
                image[:, y0, x0] * (1 - u) * (1 - v)
                + image[:, y0, x0 + 1] * u * (1 - v)
                + image[:, y0 + 1, x0] * (1 - u) * v
                + image[:, y0 + 1, x0 + 1] * u * v
            )
    return out


def _gaussian_dense(image: torch.Tensor, field: torch.Tensor, sigma: float = GAUSSIAN_SIGMA) -> torch.Tensor:
    """Eq. 16 with the sum over every pixel of the image for every output pixel."""
    channels, n, _ = image.shape
    out = torch.empty_like(image)
    rows, cols = torch.meshgrid(torch.arange(n, dtype=image.dtype), torch.arange(n, dtype=image.dtype), indexing="ij")
    for row in range(n):
        for col in range(n):
            x = min(max(col - field[0, row, col].item(), 0.0), n - 1)
            y = min(max(row - field[1, row, col].item(), 0.0), n - 1)
            weights = torch.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
            out[:, row, col] = (image * weights).sum((-2, -1)) / weights.sum()
    return out


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_zero_displacement_is_the_identity(interpolation):
    images, _ = _images_and_fields()
    out = remap(images, torch.zeros(4, 2, 12, 12, dtype=torch.float64), interpolation)
    torch.testing.assert_close(out, images, rtol=0, atol=1e-12)


def test_bilinear_equals_eq15_by_hand():
    images, fields = _images_and_fields(temperature=0.05)
    out = remap(images, fields, "bilinear")
    for b in range(len(images)):
        torch.testing.assert_close(out[b], _bilinear_by_hand(images[b], fields[b]), rtol=0, atol=1e-12)


def test_bilinear_clamps_points_outside_the_image():
    image = torch.arange(16, dtype=torch.float64).reshape(1, 4, 4)
    field = torch.zeros(2, 4, 4, dtype=torch.float64)
    field[0, 1, 1] = 5.0  # reads far to the left: clamped to column 0
    field[1, 2, 2] = -5.0  # reads far below: clamped to the last row
    out = remap(image, field, "bilinear")
    assert out[0, 1, 1] == image[0, 1, 0]
    assert out[0, 2, 2] == image[0, 3, 2]


def test_nearest_reads_the_closest_pixel():
    image = torch.arange(25, dtype=torch.float64).reshape(1, 5, 5)
    field = torch.zeros(2, 5, 5, dtype=torch.float64)
    field[0, 2, 2], field[1, 2, 2] = 0.7, -1.2  # reads (x, y) = (1.3, 3.2) -> pixel (1, 3)
    assert remap(image, field, "nearest")[0, 2, 2] == image[0, 3, 1]


def test_gaussian_equals_the_dense_sum_within_1e5():
    images, fields = _images_and_fields(temperature=0.05, n=10)
    out = remap(images, fields, "gaussian")
    for b in range(len(images)):
        torch.testing.assert_close(out[b], _gaussian_dense(images[b], fields[b]), rtol=0, atol=1e-5)


def test_gaussian_at_zero_displacement_is_the_smoothed_image():
    images, _ = _images_and_fields()
    zero = torch.zeros(4, 2, 12, 12, dtype=torch.float64)
    smooth = gaussian_smooth(images)
    torch.testing.assert_close(remap(images, zero, "gaussian"), smooth, rtol=0, atol=1e-5)
    torch.testing.assert_close(smooth[0], _gaussian_dense(images[0], zero[0]), rtol=0, atol=1e-12)
    assert (smooth - images).abs().max() > 1e-2  # it really smooths


def test_constant_images_stay_constant():
    images = torch.full((2, 1, 9, 9), 0.3, dtype=torch.float64)
    _, fields = _images_and_fields(batch=2, n=9, temperature=0.1)
    for interpolation in ("bilinear", "gaussian", "nearest"):
        torch.testing.assert_close(remap(images, fields, interpolation), images)


@pytest.mark.parametrize("interpolation", ["bilinear", "gaussian", "nearest"])
def test_batched_equals_one_by_one(interpolation):
    images, fields = _images_and_fields(batch=5)
    batched = remap(images, fields, interpolation)
    for b in range(5):
        torch.testing.assert_close(batched[b], remap(images[b], fields[b], interpolation), rtol=0, atol=1e-12)


def test_any_leading_dimensions_and_one_shared_field():
    images, fields = _images_and_fields(batch=6)
    nested = remap(images.reshape(2, 3, 3, 12, 12), fields.reshape(2, 3, 2, 12, 12))
    torch.testing.assert_close(nested.reshape(6, 3, 12, 12), remap(images, fields))
    shared = remap(images, fields[0])
    torch.testing.assert_close(shared[3], remap(images[3], fields[0]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("interpolation", ["bilinear", "gaussian", "nearest"])
def test_dtype_and_device_kept(dtype, interpolation):
    images, fields = _images_and_fields()
    out = remap(images.to(dtype), fields, interpolation)
    assert out.dtype == dtype and out.device == images.device
    assert gaussian_smooth(images.to(dtype)).dtype == dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("interpolation", ["bilinear", "gaussian", "nearest"])
def test_cuda_equals_cpu(interpolation):
    images, fields = _images_and_fields()
    cuda = remap(images.cuda(), fields.cuda(), interpolation)
    assert cuda.device.type == "cuda"
    torch.testing.assert_close(cuda.cpu(), remap(images, fields, interpolation))


@pytest.mark.parametrize(
    "images, displacement, interpolation, error, match",
    [
        (torch.rand(2, 3, 8, 9), torch.zeros(2, 2, 8, 9), "bilinear", ValueError, "square.*height 8 and width 9"),
        (torch.rand(8, 8), torch.zeros(2, 8, 8), "bilinear", ValueError, "at least 3 dimensions"),
        (torch.randint(0, 255, (1, 8, 8)), torch.zeros(2, 8, 8), "bilinear", TypeError, "floating"),
        (torch.rand(1, 8, 8), torch.zeros(2, 8, 8), "bicubic", ValueError, "interpolation must be one of .*, got 'bicubic'"),
        (torch.rand(2, 1, 8, 8), torch.zeros(2, 2, 7, 7), "bilinear", ValueError, r"\[\.\.\., 2, 8, 8\]"),
        (torch.rand(2, 1, 8, 8), torch.zeros(3, 2, 8, 8), "bilinear", ValueError, "leading dimensions"),
        ([[0.0]], torch.zeros(2, 8, 8), "bilinear", TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_raises(images, displacement, interpolation, error, match):
    with pytest.raises(error, match=match):
        remap(images, displacement, interpolation)


def test_gaussian_smooth_rejects_bad_sigma():
    with pytest.raises(ValueError, match="sigma"):
        gaussian_smooth(torch.rand(1, 4, 4), sigma=0.0)
