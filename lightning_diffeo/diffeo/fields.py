"""Maximum-entropy displacement fields as sine series, sampled per image.

tau_x(u, v) = sum_{i,j} C_ij sin(i pi u) sin(j pi v), tau_y the same with D_ij, where u is the
horizontal and v the vertical unit-square coordinate of pixel k at k / (n - 1). The coefficients
are independent normals with variance T / (i^2 + j^2) for the kept modes. Pixel displacement is
n * tau. Fields vanish on the image border.
"""

from __future__ import annotations

import functools
import math

import torch

from ._checks import check_temperature
from .scales import mode_mask

__all__ = [
    "displacement_from_coefficients",
    "working_dtype",
    "sample_coefficients",
    "sample_displacement",
    "sampling_grid",
    "sine_basis",
]


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype fields and resampling compute in: float32 and float64 as given, float32 otherwise.

    Half precision and bfloat16 images are deformed in float32 and converted back.

    >>> working_dtype(torch.float16), working_dtype(torch.float64)
    (torch.float32, torch.float64)
    """
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _per_sample(value: float | torch.Tensor, batch_size: int, name: str) -> torch.Tensor:
    values = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if values.dim() == 0:
        return values.expand(batch_size)
    if values.shape != (batch_size,):
        raise ValueError(f"{name} must be a number or a tensor of shape [{batch_size}], got shape {tuple(values.shape)}")
    return values


def sample_coefficients(
    batch_size: int,
    temperature: float | torch.Tensor,
    cutoff: float | torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Draw sine-series coefficients, one independent set per sample.

    The normals are drawn on the generator's device (CPU by default) and then moved, so one
    generator seed gives the same coefficients on every device.

    Args:
        batch_size: B, number of fields.
        temperature: T, a number or a tensor ``[B]``.
        cutoff: c, a number or a tensor ``[B]``; modes with sqrt(i^2 + j^2) < c + 1/2 are kept.
        generator: source of randomness (default: the global RNG).
        device: device of the result (default CPU).
        dtype: floating dtype of the result (default ``torch.get_default_dtype()``).

    Returns:
        Coefficients ``[B, 2, M, M]`` in unit-square coordinates (channel 0: C_ij of the
        horizontal component, channel 1: D_ij of the vertical one; entry ``[..., i-1, j-1]``).

    >>> sample_coefficients(4, 1e-3, 3).shape
    torch.Size([4, 2, 3, 3])
    """
    if int(batch_size) < 0:
        raise ValueError(f"batch_size must be >= 0, got {batch_size}")
    dtype = dtype or torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    check_temperature("temperature", temperature)
    shared = _is_scalar(temperature) and _is_scalar(cutoff)
    if shared:  # one [M, M] standard deviation for the whole batch, broadcast below
        kept = _kept_inverse_energy(float(cutoff))[None]
        std = (float(temperature) * kept).sqrt()  # [1, M, M], float64 (exact)
    else:
        temperatures = _per_sample(temperature, batch_size, "temperature")
        cutoffs = _per_sample(cutoff, batch_size, "cutoff")
        mask = mode_mask(cutoffs) if batch_size else mode_mask(float(torch.as_tensor(cutoff).max()))[None]
        std = (temperatures[:, None, None] * (_inverse_energy(mask.shape[-1]) * mask)).sqrt()  # [B, M, M]
    size = std.shape[-1]
    sample_device = generator.device if generator is not None else torch.device("cpu")
    # The normals are drawn in float32 unless float64 coefficients are asked for; the same
    # generator state gives the same draws on every device (they are drawn on its device).
    draw_dtype = working_dtype(dtype)
    normals = torch.randn(
        (batch_size, 2, size, size), generator=generator, device=sample_device, dtype=draw_dtype
    )
    coefficients = normals.mul_(std[:, None].to(device=sample_device, dtype=draw_dtype))
    return coefficients.to(device=device or "cpu", dtype=dtype)


def _inverse_energy(size: int) -> torch.Tensor:
    """1 / (i^2 + j^2) for i, j = 1..M, ``[M, M]`` float64."""
    k = torch.arange(1, size + 1, dtype=torch.float64)
    return 1.0 / (k[:, None] ** 2 + k[None, :] ** 2)


@functools.lru_cache(maxsize=256)
def _kept_inverse_energy(cutoff: float) -> torch.Tensor:
    """1 / (i^2 + j^2) on the modes kept at cutoff c, 0 elsewhere, ``[M, M]`` float64 (read only)."""
    with torch.inference_mode(False):  # as in _cached_sine_basis
        mask = mode_mask(cutoff)
        return _inverse_energy(mask.shape[-1]) * mask


def _is_scalar(value: float | torch.Tensor) -> bool:
    return not isinstance(value, torch.Tensor) or value.dim() == 0


def sine_basis(n: int, size: int, *, derivative: bool = False, device=None, dtype=None) -> torch.Tensor:
    """Sine basis sin(i pi u_k) at pixel k, u_k = k / (n - 1), or its u-derivative i pi cos(i pi u_k).

    Returns:
        ``[n, M]``: rows are pixels, columns are mode indices i = 1..M.
    """
    u = torch.arange(n, dtype=torch.float64) / (n - 1)
    k = torch.arange(1, size + 1, dtype=torch.float64)
    phase = math.pi * u[:, None] * k[None, :]
    basis = math.pi * k * torch.cos(phase) if derivative else torch.sin(phase)
    if not derivative:
        # sin(i pi) is 1e-16 instead of 0 in floating point: make the border exactly fixed.
        basis[0] = 0.0
        basis[-1] = 0.0
    return basis.to(device=device, dtype=dtype or torch.get_default_dtype())


def displacement_from_coefficients(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Synthesise pixel displacement fields from sine-series coefficients.

    Args:
        coefficients: ``[..., 2, M, M]`` from ``sample_coefficients``.
        n: image side in pixels (>= 2).

    Returns:
        Displacement ``[..., 2, n, n]`` in pixels, ``[..., k, y, x]`` = n * tau_k(x / (n-1), y / (n-1)).
    """
    if coefficients.dim() < 3 or coefficients.shape[-1] != coefficients.shape[-2] or coefficients.shape[-3] != 2:
        raise ValueError(f"coefficients must have shape [..., 2, M, M], got {tuple(coefficients.shape)}")
    if int(n) < 2:
        raise ValueError(f"n must be at least 2 pixels, got {n}")
    basis = sine_basis(n, coefficients.shape[-1], device=coefficients.device, dtype=coefficients.dtype)
    # tau[y, x] = sum_ij C_ij s[x, i] s[y, j]
    return n * torch.einsum("...ij,xi,yj->...yx", coefficients, basis, basis)


@functools.lru_cache(maxsize=64)
def _cached_sine_basis(n: int, size: int, derivative: bool, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """:func:`sine_basis`, built once per (n, M, derivative, device, dtype); callers must not modify it.

    Built outside inference mode, so a basis first made under ``torch.inference_mode`` can
    still take part in autograd later.
    """
    with torch.inference_mode(False):
        return sine_basis(n, size, derivative=derivative, device=device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _grid_basis(n: int, size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The sine basis extended by two columns, ``[n, M + 2]``: (sin(i pi u_k)..., 1, -1 + 2k / (n - 1)).

    With coefficients extended to ``[M + 2, M + 2]`` by a single 1, ``S C^T S^T`` adds the
    identity coordinate to the field: the whole sampling grid is two matrix products.
    """
    with torch.inference_mode(False):  # as in _cached_sine_basis
        basis = torch.zeros(n, size + 2, dtype=torch.float64)
        basis[:, :size] = sine_basis(n, size, dtype=torch.float64)
        basis[:, size] = 1.0
        basis[:, size + 1] = torch.arange(n, dtype=torch.float64) * (2.0 / (n - 1)) - 1.0
        return basis.to(device=device, dtype=dtype)


def sampling_grid(coefficients: torch.Tensor, n: int) -> torch.Tensor:
    """Where each output pixel reads, s - tau(s), as a ``grid_sample`` grid (``align_corners=True``).

    Built straight from the coefficients, so no displacement field is materialised.

    Args:
        coefficients: ``[B, 2, M, M]`` from ``sample_coefficients``.
        n: image side in pixels.

    Returns:
        ``[B, n, n, 2]``: (x, y) of the sampling point of output pixel (y, x), scaled so that
        pixel k is at -1 + 2k / (n - 1); points outside [-1, 1] are left for the sampler to clamp.
    """
    if coefficients.dim() != 4 or coefficients.shape[1] != 2 or coefficients.shape[-1] != coefficients.shape[-2]:
        raise ValueError(f"coefficients must have shape [B, 2, M, M], got {tuple(coefficients.shape)}")
    batch, size = coefficients.shape[0], coefficients.shape[-1]
    basis = _grid_basis(n, size, coefficients.device, coefficients.dtype)  # [n, M + 2]
    # grid_k[y, x] = sum_ij E_k[i, j] basis[x, i] basis[y, j] with E_k = -(2n / (n - 1)) C_k
    # on the modes, plus a 1 that adds the identity coordinate: x (i = axis, j = one) for
    # k = 0 and y (i = one, j = axis) for k = 1.
    extended = torch.nn.functional.pad(coefficients * (-2.0 * n / (n - 1)), (0, 2, 0, 2))  # differentiable
    extended[:, 0, size + 1, size] = 1.0
    extended[:, 1, size, size + 1] = 1.0
    # Two plain matrix products: the sums over j (y side), then over i (x side), so that the
    # x and y planes [B, 2, n, n] come out with x contiguous, the layout grid_sample reads
    # fastest; returned as a [B, n, n, 2] view.
    j = size + 2
    by_y = (extended.view(-1, j) @ basis.T).view(batch, 2, j, n)  # [(b, k, i), j] @ [j, y]
    planes = (by_y.transpose(-1, -2).reshape(-1, j) @ basis.T).view(batch, 2, n, n)  # [(b, k, y), i] @ [i, x]
    return planes.permute(0, 2, 3, 1)


def sample_displacement(
    batch_size: int,
    n: int,
    temperature: float | torch.Tensor,
    cutoff: float | torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Draw B independent maximum-entropy displacement fields.

    Args:
        batch_size: B.
        n: image side in pixels.
        temperature: T, a number or a tensor ``[B]``.
        cutoff: c, a number or a tensor ``[B]``.
        generator: source of randomness (default: the global RNG).
        device: device of the result.
        dtype: floating dtype of the result.

    Returns:
        Displacement ``[B, 2, n, n]`` in pixels, zero on the border.

    >>> g = torch.Generator().manual_seed(0)
    >>> field = sample_displacement(8, 32, 1e-3, 3, generator=g)
    >>> field.shape, float(field[..., 0, :].abs().max())
    (torch.Size([8, 2, 32, 32]), 0.0)
    """
    coefficients = sample_coefficients(
        batch_size, temperature, cutoff, generator=generator, device=device, dtype=dtype
    )
    return displacement_from_coefficients(coefficients, n)
