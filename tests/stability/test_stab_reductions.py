"""The fast reductions against the reductions of the first version, kept here as references."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lightning_diffeo.stability import (
    ActivationCapture,
    NumeratorAccumulator,
    lower_median_columns,
    lower_median_rows,
    measure_noise_stability,
    measure_stability,
    pair_denominators,
)

from .rounding import centred_squared_norms, pair_distance_rounding


def reference_median_numerator(perturbed: torch.Tensor, reference: torch.Tensor) -> float:
    """First version: float32 squared differences [M, D], ``torch.median(dim=0)``, float64 sum."""
    squares = torch.sub(perturbed.float(), reference.float()).square_()
    return float(squares.median(dim=0).values.double().sum())


def reference_mean_numerator(perturbed: torch.Tensor, reference: torch.Tensor) -> float:
    """First version: the squared differences in float64, summed, over the rows."""
    return float(torch.sub(perturbed.float(), reference.float()).double().square_().sum()) / perturbed.shape[0]


def reference_pair_denominator(features: torch.Tensor, average: str) -> float:
    """First version: float64 centring, then the masked float32 distance matrix and ``torch.median``."""
    count = features.shape[0]
    centred = features.double() - features.double().mean(dim=0, keepdim=True)
    if average == "mean":
        return float(2.0 * centred.square().sum() / (count - 1))
    centred = centred.float()
    norms = centred.square().sum(dim=1)
    block = norms[:, None] + norms[None, :] - 2.0 * centred @ centred.T
    mask = torch.arange(count)[None, :] > torch.arange(count)[:, None]
    return float(block[mask].clamp_min_(0.0).median())


def exact_pair_median(features: torch.Tensor) -> float:
    """Lower median over pairs of ``||f_i - f_j||^2`` from direct differences in float64: exact
    zeros for duplicate rows, and no Gram-matrix rounding (which depends on the CPU's BLAS)."""
    values = features.double()
    count = values.shape[0]
    rows, cols = torch.triu_indices(count, count, offset=1)
    distances = (values[rows] - values[cols]).square().sum(dim=1)
    return float(distances.sort().values[(distances.numel() - 1) // 2])


def _features(rows: int, dim: int, seed: int, sparse: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(rows, dim, generator=g) * 2 + 0.5
    if sparse:  # many exact zeros and ties, as after a ReLU on sparse images
        values = values.clamp_min(0.0)
    return values


@pytest.mark.parametrize("rows, dim, sparse", [(7, 3, False), (8, 5, True), (500, 1200, False), (501, 2500, True)])
def test_lower_median_rows_is_torch_median(rows, dim, sparse):
    values = _features(rows, dim, rows + dim, sparse).T.contiguous()  # [D, M]; the big ones use the thread pool
    expected = values.median(dim=1).values
    assert torch.equal(lower_median_rows(values), expected)
    copy = values.clone()
    assert torch.equal(lower_median_rows(copy, destroy=True), expected)
    assert torch.equal(lower_median_rows(values.T.contiguous().T), expected)  # non-contiguous rows


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rows, dim, sparse", [(1, 5, False), (2, 9, True), (7, 3, False), (32, 70000, True),
                                               (501, 2500, True)])
def test_lower_median_columns_is_torch_median(rows, dim, sparse, threads):
    """Column selection through cache-sized transposed blocks (several blocks, split over threads)."""
    values = _features(rows, dim, rows + dim, sparse)  # [M, D]
    expected = values.median(dim=0).values
    before = values.clone()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert torch.equal(lower_median_columns(values), expected)
        assert torch.equal(lower_median_columns(values.T.contiguous().T), expected)  # non-contiguous rows
        squares = values.square()
        squares[:, ::3] = 0.0  # ties at zero
        squares[0, 0], squares[-1, 1] = -0.0, float("inf")
        result = lower_median_columns(squares, nonnegative=True)
        assert torch.equal(result, squares.median(dim=0).values)
        assert torch.equal(result, lower_median_rows(squares.T.contiguous(), nonnegative=True))
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(values, before)  # left unchanged


@pytest.mark.parametrize("rows, dim, batch", [(40, 30, 7), (99, 64, 99), (120, 16, 32)])
def test_numerators_equal_the_first_version(rows, dim, batch):
    clean = _features(rows, dim, 1, sparse=True)
    perturbed = clean + 0.3 * _features(rows, dim, 2)
    accumulator = NumeratorAccumulator(("median", "mean"), rows, dim)
    for start in range(0, rows, batch):
        accumulator.add(perturbed[start:start + batch], clean[start:start + batch])
    values = accumulator.values()
    # the median is a selection of the same float32 values: bit-identical
    assert values["median"] == reference_median_numerator(perturbed, clean)
    # float32 squares summed in float64 against float64 squares: float32 rounding of each term
    assert values["mean"] == pytest.approx(reference_mean_numerator(perturbed, clean), rel=1e-6)
    assert accumulator.value("median") == values["median"]


@pytest.mark.parametrize("rows, dim, chunk", [(2, 1, 1024), (37, 11, 5), (300, 200, 64)])
def test_pair_denominators_equal_the_first_version(rows, dim, chunk):
    features = _features(rows, dim, 3) + 100.0  # a large common offset tests the centring
    both = pair_denominators(features, ("median", "mean"), chunk_size=chunk)
    # float32 centring instead of float64: relative differences of float32 rounding
    assert both["median"] == pytest.approx(reference_pair_denominator(features, "median"), rel=1e-5)
    assert both["mean"] == pytest.approx(reference_pair_denominator(features, "mean"), rel=1e-12)
    # Another chunking multiplies Gram blocks of other shapes (and offsets), which the BLAS may
    # round differently: equal within the float32 rounding of the pair distances, not bit for bit.
    rounding = pair_distance_rounding(dim, 2 * centred_squared_norms(features).max())
    assert pair_denominators(features, "median", chunk_size=rows)["median"] == pytest.approx(both["median"], rel=0, abs=rounding)


def test_accumulator_reports_non_finite_values_and_unknown_average():
    accumulator = NumeratorAccumulator("median", 2, 2)
    accumulator.add(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="non-finite"):
        accumulator.values()
    with pytest.raises(ValueError, match=r"computes \('mean',\), not 'median'"):
        NumeratorAccumulator("mean", 1, 1).value("median")
    with pytest.raises(ValueError, match="average must be 'median', 'mean' or a non-empty list"):
        NumeratorAccumulator([], 1, 1)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 3)
    )


def test_both_averages_in_one_pass_equal_two_separate_measurements(digits):
    model = _net().eval()
    settings = dict(cutoffs=(3, 5), layers=["2", "output"], progress=False)
    both = measure_stability(model, digits[:30], average=["median", "mean"], generator=torch.Generator().manual_seed(3), **settings)
    for average in ("median", "mean"):
        alone = measure_stability(model, digits[:30], average=average, generator=torch.Generator().manual_seed(3), **settings)
        assert both.select(average=average) == alone.records
    assert both.metadata["average"] == ["median", "mean"]
    assert len(both) == 2 * 2 * 2
    table = both.table()
    assert "output (median)" in table and "output (mean)" in table


def test_default_is_both_averages_also_for_noise(digits):
    model = _net().eval()
    result = measure_noise_stability(model, digits[:12], [0.5], layers="output", progress=False)
    assert [r["average"] for r in result.records] == ["median", "mean"]


def test_init_mode_default_is_one_batch_of_the_whole_probe_set(digits):
    model = _net()
    settings = dict(cutoffs=3, layers=["1", "output"], mode="init", progress=False)
    default = measure_stability(model, digits[:40], generator=torch.Generator().manual_seed(5), **settings)
    single = measure_stability(model, digits[:40], batch_size=40, generator=torch.Generator().manual_seed(5), **settings)
    chunked = measure_stability(model, digits[:40], batch_size=16, generator=torch.Generator().manual_seed(5), **settings)
    assert default.records == single.records
    assert default.metadata["batch_size"] == 40
    # batch-norm statistics of chunks differ from those of the whole set
    assert chunked.get("denominator", layer="1", average="mean") != pytest.approx(
        default.get("denominator", layer="1", average="mean"), rel=1e-6
    )


def test_capture_without_copies_equals_copying_when_a_later_op_is_in_place():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
    images = torch.randn(5, 1, 6, 6)
    with torch.no_grad():
        with ActivationCapture(model, ["0", "2", "output"]) as capture:
            expected = capture(images)
        with ActivationCapture(model, ["0", "2", "output"], copy="when_modified") as capture:
            first, second = capture(images), capture(images)
            assert capture.modified_in_place == {"0"}  # the conv output, overwritten by the ReLU
    assert (expected["0"] < 0).any()  # the captured conv output is from before the ReLU
    for name in expected:
        assert torch.equal(first[name], expected[name]) and torch.equal(second[name], expected[name])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("store", ["device", "host", "auto"])
def test_cuda_device_resident_reductions_match_cpu(digits, store):
    model = _net().eval()
    settings = dict(cutoffs=(3, 5), layers=["2", "output"], progress=False)
    cpu = measure_stability(model, digits[:30], generator=torch.Generator().manual_seed(9), **settings)
    gpu = measure_stability(model.cuda(), digits[:30].cuda(), store=store, generator=torch.Generator().manual_seed(9), **settings)
    assert gpu.metadata["store"] == ("cpu" if store == "host" else "cuda:0")
    for a, b in zip(cpu.records, gpu.records):
        assert a["average"] == b["average"] and a["layer"] == b["layer"]
        for quantity in ("D_f", "G_f", "R_f", "denominator"):
            assert b[quantity] == pytest.approx(a[quantity], rel=1e-3)
        assert b["fraction_diffeomorphic"] == a["fraction_diffeomorphic"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rows, dim", [(7, 3), (500, 1200), (501, 2500)])
def test_nonnegative_selection_on_the_integer_view_is_torch_median(dtype, rows, dim):
    g = torch.Generator().manual_seed(rows)
    values = (torch.randn(dim, rows, generator=g, dtype=dtype) * 3).square_()
    values[:, ::5] = 0.0  # ties at zero, as for units that see background
    values[:, 1::7] = values[:, 2::7][:, : values[:, 1::7].shape[1]]  # ties between positive values
    values[0, 0] = float("inf")
    expected = values.median(dim=1).values
    result = lower_median_rows(values, nonnegative=True)
    assert result.dtype == dtype and torch.equal(result, expected)
    assert torch.equal(lower_median_rows(values.clone(), destroy=True, nonnegative=True), expected)


def test_negative_zero_selects_as_zero_on_the_integer_view():
    values = torch.tensor([[-0.0, 0.0, 0.0, 1.0, 2.0], [-0.0, -0.0, 3.0, 4.0, 5.0], [3.0, -0.0, 1.0, 2.0, 9.0]])
    result = lower_median_rows(values, nonnegative=True)
    assert result.tolist() == values.median(dim=1).values.tolist() == [0.0, 3.0, 2.0]


@pytest.mark.parametrize("dim", [2047, 2048, 6000])
def test_wide_layers_in_several_batches_equal_the_first_version(dim):
    """Wide layers whose squared differences arrive in several batches, each into its rows of the buffer."""
    clean = _features(130, dim, 4, sparse=True)
    perturbed = clean + 0.3 * _features(130, dim, 5)
    accumulator = NumeratorAccumulator(("median", "mean"), 130, dim)
    for start in range(0, 130, 50):
        accumulator.add(perturbed[start:start + 50], clean[start:start + 50])
    values = accumulator.values()
    assert values["median"] == reference_median_numerator(perturbed, clean)
    assert values["mean"] == pytest.approx(reference_mean_numerator(perturbed, clean), rel=1e-6)


def test_pair_median_with_exact_duplicates_is_a_plus_zero():
    features = torch.zeros(8, 3)
    features[:6] = 1.0  # 15 + 1 of the 28 pairs at distance 0: the lower median is 0
    # The column means, 3/4, are exact: the centred values (1/4, -3/4), their squares, products
    # and every sum of them are short binary fractions, exact in float32 whatever the order of
    # the sums and with or without FMA, so the Gram formula gives duplicates an exact 0 on every CPU.
    value = pair_denominators(features, "median")["median"]
    assert exact_pair_median(features) == 0.0
    assert value == 0.0
    assert math.copysign(1.0, value) == 1.0


def test_pair_median_of_duplicates_after_an_inexact_centring_is_zero_to_float32_rounding():
    features = torch.zeros(6, 3)
    features[:5] = 1.0  # 10 of the 15 pairs at distance 0: the lower median is 0
    # The mean 5/6 is not a binary fraction: ||a||^2 + ||b||^2 - 2 a.b for duplicates a = b is 0 only
    # if the BLAS rounds a.b exactly as the norms are rounded, which depends on the CPU (the first
    # version's float32 formula gives 2^-26 = 1.5e-8 on an Intel Xeon with AMX). The lower median is
    # a duplicate pair (the other 5 are at 3): 0 to the float32 rounding bound of such a pair,
    # whose ||a||^2 + ||b||^2 = 2 ||c||^2 = 1/6 (1.4e-7 for 3 coordinates).
    value = pair_denominators(features, "median")["median"]
    assert exact_pair_median(features) == 0.0
    assert 0.0 <= value <= pair_distance_rounding(3, 2 * centred_squared_norms(features)[0])
    assert math.copysign(1.0, value) == 1.0  # clamped at 0 and made +0.0, never -0.0
