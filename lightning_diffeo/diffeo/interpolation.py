"""Resampling images by displacement fields: bilinear, Gaussian and nearest (appendix C).

Output pixel s reads the input at s - tau(s) (pixels), the sampling point clamped to the image
square [0, n - 1]^2. Bilinear and nearest run in ``grid_sample``; Gaussian sums a truncated
separable window with ``embedding_bag``. A batch with one field per image costs one pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._checks import check_images, check_interpolation
from .fields import working_dtype

__all__ = ["GAUSSIAN_SIGMA", "gaussian_smooth", "gaussian_window_radius", "remap", "resample_grid"]

GAUSSIAN_SIGMA: float = 0.4715
"""Width of the Gaussian interpolation kernel in pixels; derived in ``participation``."""

_TRUNCATION = 1e-6  # kernel weight dropped outside the window, relative to the peak (errors ~1e-6)


def gaussian_window_radius(sigma: float, tolerance: float = _TRUNCATION) -> int:
    """Window radius R: the (2R + 1)^2 pixels nearest to a sampling point are summed.

    Pixels left out are at least R + 1/2 pixels away, where the kernel is below ``tolerance``
    of its peak: R = 2 (a 5 x 5 window) at sigma = 0.4715.
    """
    return max(1, math.ceil(sigma * math.sqrt(2.0 * math.log(1.0 / tolerance)) - 0.5))


def _sampling_points(displacement: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source coordinates (x, y) in pixels, each ``[B, n, n]``, clamped to [0, n - 1]."""
    grid = torch.arange(n, device=displacement.device, dtype=displacement.dtype)
    x = (grid[None, None, :] - displacement[:, 0]).clamp(0, n - 1)
    y = (grid[None, :, None] - displacement[:, 1]).clamp(0, n - 1)
    return x, y


def resample_grid(images: torch.Tensor, grid: torch.Tensor, mode: str) -> torch.Tensor:
    """Bilinear (Eq. 15) or nearest resampling at ``grid`` points, clamped to the border.

    ``grid_sample`` with ``align_corners=True`` puts pixel k at -1 + 2k / (n - 1), and
    ``padding_mode="border"`` clamps sampling points to the image square.

    Args:
        images: ``[B, C, n, n]``.
        grid: ``[B, n, n, 2]`` sampling points (see ``fields.sampling_grid``).
        mode: ``"bilinear"`` or ``"nearest"``.
    """
    return F.grid_sample(images, grid, mode=mode, padding_mode="border", align_corners=True)


def _grid_sample(images: torch.Tensor, displacement: torch.Tensor, mode: str) -> torch.Tensor:
    n = images.shape[-1]
    x, y = _sampling_points(displacement, n)
    # x and y planes [B, 2, n, n] viewed as [B, n, n, 2]: the layout grid_sample reads fastest
    planes = torch.stack([x, y], dim=1) * (2.0 / (n - 1)) - 1.0
    return resample_grid(images, planes.permute(0, 2, 3, 1), mode)


def _gaussian_taps(coordinate: torch.Tensor, n: int, sigma: float, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised 1-D Gaussian weights of the 2R + 1 pixels nearest to each sampling point.

    With d = p - round(p), the weight of pixel round(p) + o is exp(-(d - o)^2 / 2 sigma^2); the
    factor exp(-d^2 / 2 sigma^2) is common to the window and cancels in the normalisation.
    Pixels outside the image get weight 0, so the normalisation runs over image pixels only,
    as in Eq. 16.

    Returns:
        Weights ``[B, n*n, 2R + 1]`` and the nearest pixel ``[B, n*n]`` (int64).
    """
    point = coordinate.flatten(1)
    nearest = point.round()
    offsets = torch.arange(-radius, radius + 1, device=point.device, dtype=point.dtype)
    exponent = (point - nearest)[..., None] * (offsets / sigma**2) - offsets**2 / (2 * sigma**2)
    pixel = nearest.long()
    window = torch.arange(n, device=point.device)[:, None] + offsets.long()
    inside = ((window >= 0) & (window <= n - 1)).to(point.dtype)  # [n, 2R + 1], looked up per point
    weights = torch.exp(exponent) * inside[pixel]
    return weights / weights.sum(-1, keepdim=True), pixel


def _gaussian(images: torch.Tensor, displacement: torch.Tensor, sigma: float) -> torch.Tensor:
    # The normalised weight of window pixel (a, b) is wy[a] * wx[b] (G is separable), so
    # out = sum_b wx[b] sum_a wy[a] P[ry + a, rx + b] on the image P zero-padded by R. In the
    # channels-last P, the 2R + 1 pixels right of (r, c) are contiguous: a strided table with a
    # row per pixel lets one embedding_bag do the vertical sums for every b at once, and a
    # batched matrix product the horizontal ones.
    batch, channels, n, _ = images.shape
    radius = gaussian_window_radius(sigma)
    taps, width = 2 * radius + 1, n + 2 * radius
    x, y = _sampling_points(displacement, n)
    wx, nearest_x = _gaussian_taps(x, n, sigma, radius)
    wy, nearest_y = _gaussian_taps(y, n, sigma, radius)
    padded = F.pad(images, (radius,) * 4).permute(0, 2, 3, 1).contiguous().reshape(-1)  # [B, W, W, C]
    rows = padded.as_strided((padded.numel() // channels - (taps - 1), taps * channels), (channels, 1))
    first = torch.arange(batch, device=images.device)[:, None] * (width * width)
    top = first + nearest_y * width + nearest_x  # the window's top-left pixel, padded coordinates
    index = top[..., None] + torch.arange(taps, device=images.device) * width  # [B, n*n, taps]
    vertical = F.embedding_bag(index.reshape(-1, taps), rows, per_sample_weights=wy.reshape(-1, taps), mode="sum")
    out = torch.bmm(wx.reshape(-1, 1, taps), vertical.reshape(-1, taps, channels))
    return out.reshape(batch, n, n, channels).permute(0, 3, 1, 2)


def _check_displacement(images: torch.Tensor, displacement: torch.Tensor, n: int) -> torch.Tensor:
    if not isinstance(displacement, torch.Tensor) or displacement.dim() < 3:
        shape = tuple(displacement.shape) if isinstance(displacement, torch.Tensor) else type(displacement).__name__
        raise ValueError(f"displacement must be a tensor [..., 2, n, n], got {shape}")
    if displacement.shape[-3:] != (2, n, n):
        raise ValueError(
            f"displacement must have shape [..., 2, {n}, {n}] to match images {tuple(images.shape)}, "
            f"got {tuple(displacement.shape)}"
        )
    try:
        leading = torch.broadcast_shapes(displacement.shape[:-3], images.shape[:-3])
    except RuntimeError:
        leading = None
    if leading != images.shape[:-3]:
        raise ValueError(
            f"displacement leading dimensions {tuple(displacement.shape[:-3])} do not match "
            f"images leading dimensions {tuple(images.shape[:-3])} (one field per image, or one for all)"
        )
    return displacement.to(dtype=images.dtype, device=images.device).expand(*images.shape[:-3], 2, n, n)


def remap(
    images: torch.Tensor,
    displacement: torch.Tensor,
    interpolation: str = "bilinear",
    sigma: float = GAUSSIAN_SIGMA,
) -> torch.Tensor:
    """Deform images by displacement fields: output(s) = input(s - displacement(s)).

    Args:
        images: ``[..., C, n, n]`` floating images (values in [0, 1] by convention).
        displacement: ``[..., 2, n, n]`` in pixels (channel 0 horizontal, 1 vertical), with the
            same leading dimensions as ``images`` (or none: one field for all images).
        interpolation: ``"bilinear"`` (Eq. 15), ``"gaussian"`` (Eq. 16, truncated separable
            kernel of width ``sigma`` pixels) or ``"nearest"``.
        sigma: Gaussian kernel width in pixels.

    Returns:
        Deformed images ``[..., C, n, n]``, same dtype and device as ``images``.

    >>> x = torch.rand(2, 3, 8, 8)
    >>> torch.allclose(remap(x, torch.zeros(2, 2, 8, 8)), x, rtol=0, atol=1e-6)  # grid rounding only
    True
    """
    n = check_images("images", images)
    check_interpolation("interpolation", interpolation)
    displacement = _check_displacement(images, displacement, n)
    leading, channels = images.shape[:-3], images.shape[-3]
    work_dtype = working_dtype(images.dtype)
    batch = images.reshape(-1, channels, n, n).to(work_dtype)
    fields = displacement.reshape(-1, 2, n, n).to(work_dtype)
    if interpolation == "gaussian":
        out = _gaussian(batch, fields, sigma)
    else:
        out = _grid_sample(batch, fields, interpolation)
    return out.reshape(*leading, channels, n, n).to(images.dtype)


def _smoothing_matrix(n: int, sigma: float, device, dtype) -> torch.Tensor:
    grid = torch.arange(n, dtype=torch.float64)
    kernel = torch.exp(-((grid[:, None] - grid[None, :]) ** 2) / (2 * sigma**2))
    return (kernel / kernel.sum(1, keepdim=True)).to(device=device, dtype=dtype)


def gaussian_smooth(images: torch.Tensor, sigma: float = GAUSSIAN_SIGMA) -> torch.Tensor:
    """The T = 0 image x~ of Gaussian interpolation: Eq. 16 evaluated on the pixel grid.

    Uses the dense (untruncated) normalised kernel over the image pixels, one axis at a time.

    Args:
        images: ``[..., C, n, n]`` floating images.
        sigma: kernel width in pixels.

    Returns:
        Smoothed images ``[..., C, n, n]``.
    """
    n = check_images("images", images)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma!r}")
    work_dtype = working_dtype(images.dtype)
    weights = _smoothing_matrix(n, sigma, images.device, work_dtype)
    smoothed = weights @ images.to(work_dtype) @ weights.T
    return smoothed.to(images.dtype)
