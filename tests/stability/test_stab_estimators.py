from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lightning_diffeo.stability import NumeratorAccumulator, pair_denominator, stability_from_features

from .rounding import centred_squared_norms, pair_distance_rounding


def _lower_median(values: np.ndarray, axis=None) -> np.ndarray:
    ordered = np.sort(values, axis=axis)
    count = ordered.shape[0] if axis == 0 else ordered.size
    return ordered[(count - 1) // 2] if axis == 0 else ordered.reshape(-1)[(count - 1) // 2]


def _transcription(clean: np.ndarray, deformed: np.ndarray, noisy: np.ndarray):
    """The authors' formula written out with explicit loops over pairs, in float64."""
    n = clean.shape[0]
    k = deformed.shape[0] // n
    reference = np.concatenate([clean] * k)
    num_d = _lower_median((deformed - reference) ** 2, axis=0).sum()
    num_n = _lower_median((noisy - reference) ** 2, axis=0).sum()
    pairs = [((clean[i] - clean[j]) ** 2).sum() for i in range(n) for j in range(i + 1, n)]
    denominator = _lower_median(np.array(pairs))
    return num_d, num_n, denominator


@pytest.mark.parametrize("n, k, dim", [(9, 1, 5), (12, 3, 17), (2, 2, 1)])
def test_median_equals_independent_transcription(n, k, dim):
    g = torch.Generator().manual_seed(n * 100 + k)
    clean = torch.randn(n, dim, generator=g) * 3 + 1
    deformed = clean.repeat(k, 1) + 0.3 * torch.randn(n * k, dim, generator=g)
    noisy = clean.repeat(k, 1) + 0.5 * torch.randn(n * k, dim, generator=g)
    out = stability_from_features(clean, deformed, noisy, average="median")
    num_d, num_n, den = _transcription(clean.double().numpy(), deformed.double().numpy(), noisy.double().numpy())
    assert out["numerator_diffeo"] == pytest.approx(num_d, rel=1e-6)
    assert out["numerator_noise"] == pytest.approx(num_n, rel=1e-6)
    assert out["denominator"] == pytest.approx(den, rel=1e-5)
    assert out["D_f"] == pytest.approx(num_d / den, rel=1e-5)
    assert out["G_f"] == pytest.approx(num_n / den, rel=1e-5)
    assert out["R_f"] == pytest.approx(num_d / num_n, rel=1e-5)


def test_mean_estimator_matches_definition():
    g = torch.Generator().manual_seed(3)
    clean = torch.randn(7, 4, generator=g)
    deformed = clean + torch.randn(7, 4, generator=g)
    noisy = clean + 2 * torch.randn(7, 4, generator=g)
    out = stability_from_features(clean, deformed, noisy, average="mean")
    c = clean.double()
    pairs = ((c[:, None] - c[None]) ** 2).sum(-1)
    denominator = pairs.sum() / (7 * 6)
    assert out["denominator"] == pytest.approx(float(denominator), rel=1e-9)
    assert out["numerator_diffeo"] == pytest.approx(float(((deformed - clean).double() ** 2).sum(1).mean()), rel=1e-6)
    assert out["numerator_noise"] == pytest.approx(float(((noisy - clean).double() ** 2).sum(1).mean()), rel=1e-6)


def test_pair_denominator_chunking_and_offset_invariance():
    g = torch.Generator().manual_seed(5)
    feats = torch.randn(50, 30, generator=g)
    full = pair_denominator(feats, "median")
    # chunks of 7 rows multiply Gram blocks of other shapes and offsets, which the BLAS may round
    # differently (CPU-dependent): equal within the float32 rounding of the pair distances
    rounding = pair_distance_rounding(30, 2 * centred_squared_norms(feats).max())
    assert pair_denominator(feats, "median", chunk_size=7) == pytest.approx(full, rel=0, abs=rounding)
    # a large common offset must not destroy precision (the features are centred first)
    assert pair_denominator(feats + 1e4, "median") == pytest.approx(full, rel=1e-4)


def test_constant_features_give_nan_with_warning():
    clean = torch.ones(5, 3)
    with pytest.warns(RuntimeWarning, match="constant"):
        out = stability_from_features(clean, clean.clone(), clean.clone(), average="median")
    assert math.isnan(out["D_f"]) and math.isnan(out["G_f"]) and math.isnan(out["R_f"])
    assert out["denominator"] == 0.0


def test_accumulator_checks_rows():
    acc = NumeratorAccumulator("median", 4, 2)
    acc.add(torch.ones(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="expected 4 rows"):
        acc.value()
    with pytest.raises(ValueError, match="holds 4 rows"):
        acc.add(torch.ones(2, 2), torch.zeros(2, 2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="average must be one of"):
        pair_denominator(torch.ones(3, 2), "mode")
    with pytest.raises(ValueError, match="at least 2"):
        pair_denominator(torch.ones(1, 2), "median")
    with pytest.raises(ValueError, match=r"\[k \* N, D\]"):
        stability_from_features(torch.ones(3, 2), torch.ones(4, 2), torch.ones(3, 2))
