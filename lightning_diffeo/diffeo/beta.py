"""Beta draws from a ``torch.Generator`` (``torch.distributions`` cannot take one)."""

from __future__ import annotations

import torch

from lightning_diffeo.validation import check_int, check_number

__all__ = ["sample_beta", "sample_gamma"]


def sample_gamma(alpha: float, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gamma(alpha, 1) draws ``[size]`` in float64 (Marsaglia-Tsang, vectorised rejection).

    For alpha < 1 it draws Gamma(alpha + 1) and multiplies by U^(1/alpha), U uniform on (0, 1).
    """
    alpha = check_number("alpha", alpha, exclusive_minimum=0)
    size = check_int("size", size, minimum=0)
    device = generator.device if generator is not None else torch.device("cpu")
    boost = alpha < 1  # Gamma(a) = Gamma(a + 1) * U^(1/a) for a < 1
    shape = alpha + 1 if boost else alpha
    d = shape - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    out = torch.empty(size, dtype=torch.float64, device=device)
    pending = torch.arange(size, device=device)
    while pending.numel():
        k = pending.numel()
        z = torch.randn(k, generator=generator, dtype=torch.float64, device=device)
        u = torch.rand(k, generator=generator, dtype=torch.float64, device=device)
        v = (1 + c * z) ** 3
        accept = (v > 0) & (torch.log(u) < 0.5 * z**2 + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        out[pending[accept]] = (d * v)[accept]
        pending = pending[~accept]
    if boost:
        out = out * torch.rand(size, generator=generator, dtype=torch.float64, device=device) ** (1.0 / alpha)
    return out.cpu()


def sample_beta(alpha: float, beta: float, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Beta(alpha, beta) draws ``[size]`` in float64 on the CPU, as X / (X + Y) of two Gammas."""
    check_number("beta", beta, exclusive_minimum=0)
    x = sample_gamma(alpha, size, generator)
    y = sample_gamma(beta, size, generator)
    return x / (x + y)
