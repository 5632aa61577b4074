"""Gamma and Beta draws from a generator: distribution, determinism, errors.

The distribution checks use a Kolmogorov-Smirnov test against scipy's exact CDF with
N = 100000 draws and a fixed seed. Under the null hypothesis the KS p-value is uniform, so
rejecting at p < 1e-4 makes a false failure a 1-in-10000 event per case; a wrong branch (for
instance alpha < 1 drawing Gamma(alpha + 1), or forgetting the U^(1/alpha) factor) gives
D of order 0.1 to 0.5 here, p-values far below 1e-100.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from lightning_diffeo.diffeo import sample_beta
from lightning_diffeo.diffeo.beta import sample_gamma

N = 100_000
P_REJECT = 1e-4


@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.9, 1.0, 2.5, 12.0])
def test_gamma_matches_the_exact_distribution(alpha):
    draws = sample_gamma(alpha, N, torch.Generator().manual_seed(1))
    assert draws.dtype == torch.float64 and draws.shape == (N,)
    assert bool((draws >= 0).all()) and bool(torch.isfinite(draws).all())
    assert stats.kstest(draws.numpy(), stats.gamma(alpha).cdf).pvalue > P_REJECT
    # Mean and variance are both alpha; 5 standard errors (the variance of the sample
    # variance is 2 alpha^2 + 6 alpha for Gamma(alpha)).
    assert abs(draws.mean().item() - alpha) < 5 * math.sqrt(alpha / N)
    assert abs(draws.var().item() - alpha) < 5 * math.sqrt((6 * alpha + 2 * alpha**2) / N)


def test_gamma_small_shape_puts_the_right_mass_near_zero():
    # P(X < x) ~ x^alpha / Gamma(alpha + 1) for small x: with alpha = 0.2 about 44% of the
    # draws lie below 0.01, which only the alpha < 1 branch's U^(1/alpha) factor produces.
    alpha, x = 0.2, 0.01
    draws = sample_gamma(alpha, N, torch.Generator().manual_seed(2))
    expected = stats.gamma(alpha).cdf(x)
    observed = (draws < x).double().mean().item()
    assert abs(observed - expected) < 5 * math.sqrt(expected * (1 - expected) / N)


@pytest.mark.parametrize("alpha, beta", [(0.5, 0.5), (0.3, 2.0), (2.0, 5.0)])
def test_beta_matches_the_exact_distribution(alpha, beta):
    draws = sample_beta(alpha, beta, N, torch.Generator().manual_seed(3))
    assert bool(((draws >= 0) & (draws <= 1)).all())
    assert stats.kstest(draws.numpy(), stats.beta(alpha, beta).cdf).pvalue > P_REJECT


def test_same_generator_seed_same_draws_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = sample_beta(0.4, 1.5, 1000, torch.Generator().manual_seed(7))
    second = sample_beta(0.4, 1.5, 1000, torch.Generator().manual_seed(7))
    assert torch.equal(first, second)
    assert torch.equal(torch.get_rng_state(), before)
    assert not torch.equal(first, sample_beta(0.4, 1.5, 1000, torch.Generator().manual_seed(8)))


def test_zero_draws():
    assert sample_gamma(0.5, 0).shape == (0,)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: sample_gamma(0.0, 3), ValueError, r"^alpha must be a finite number > 0, got 0.0$"),
        (lambda: sample_gamma(math.nan, 3), ValueError, r"^alpha must be a finite number > 0, got nan$"),
        (lambda: sample_gamma(1.0, -1), ValueError, r"^size must be an integer >= 0, got -1$"),
        (lambda: sample_gamma(1.0, 2.0), TypeError, r"^size must be an integer >= 0, got 2.0$"),
        (lambda: sample_beta(1.0, -2.0, 3), ValueError, r"^beta must be a finite number > 0, got -2.0$"),
    ],
)
def test_bad_shapes_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()
