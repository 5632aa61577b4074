"""Intervals of one model's D_f, G_f and R_f over its probe images: the delete-d jackknife on half-samples.

The probe's numbers come from N images; their uncertainty is mostly the choice of the images. The
model is measured again on half-samples, subsets of m = N // 2 of the images drawn without
replacement (all of them when there are at most ``count``, else ``count`` distinct ones, seeded),
each with its own diffeomorphisms and noise. With d = N - m images deleted, the delete-d jackknife
variance of an estimator theta (Shao and Wu 1989, Ann. Statist. 17, 1176) is

    v = m / (d * S) * sum_s (theta_s - mean_s theta_s)^2        over the S half-samples,

computed here for ln theta (D_f, G_f and R_f are positive and compared on log scales). Unlike the
leave-one-out jackknife it is consistent for medians (it needs d / sqrt(N) -> infinity; d = N / 2
does), and half-samples hold no image twice, so the pair denominator never compares an image with
its own copy as a bootstrap resample would. The interval is theta * exp(+- z sqrt(v)), z the normal
quantile of the confidence (1.96 for 95%), around the estimate on all N images. Fewer than 4
images (half-samples of fewer than 2, which have no pairs) give no interval.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["CONFIDENCE", "INTERVAL_COLUMNS", "add_intervals", "half_samples", "log_interval"]

CONFIDENCE = 0.95
QUANTITIES = ("D_f", "G_f", "R_f")
INTERVAL_COLUMNS = tuple(f"{q}_{end}" for q in QUANTITIES for end in ("ci_low", "ci_high"))
_MATCH = ("layer", "cutoff", "delta", "temperature", "average", "noise_norm")


def half_samples(n: int, count: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``count`` distinct subsets of ``n // 2`` of ``range(n)`` (every one when there are at most ``count``).

    >>> half_samples(4, 10)
    [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    >>> len(half_samples(12, 20, seed=1)), len(set(half_samples(12, 20, seed=1)))
    (20, 20)
    """
    m = n // 2
    if math.comb(n, m) <= count:
        return list(itertools.combinations(range(n), m))
    rng = np.random.default_rng(seed)
    chosen: dict[tuple[int, ...], None] = {}
    while len(chosen) < count:
        chosen.setdefault(tuple(sorted(int(i) for i in rng.choice(n, size=m, replace=False))))
    return list(chosen)


def log_interval(estimate: float, values: Sequence[float], n: int, m: int,
                 confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(low, high): ``estimate * exp(-+ z * se)``, se the delete-d jackknife error of ln over ``values``.

    Args:
        estimate: the value on all ``n`` images.
        values: the values on half-samples of ``m`` images; NaN, infinite and non-positive ones are left out.
        n: images in all.
        m: images per half-sample.
        confidence: of the normal interval on the log scale.

    Returns:
        NaN, NaN when the estimate is not positive and finite or fewer than 2 values remain.

    >>> low, high = log_interval(2.0, [1.0, 4.0], n=4, m=2)
    >>> round(low * high, 9) == 4.0 and low < 2.0 < high   # symmetric on the log scale
    True
    """
    logs = np.log([v for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v > 0])
    if logs.size < 2 or not (isinstance(estimate, (int, float)) and math.isfinite(estimate) and estimate > 0):
        return math.nan, math.nan
    se = math.sqrt(m / (n - m) * float(np.mean((logs - logs.mean()) ** 2)))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return estimate * math.exp(-z * se), estimate * math.exp(z * se)


def _key(record: dict[str, Any]) -> tuple:
    return tuple(record.get(name) for name in _MATCH)


def add_intervals(records: list[dict[str, Any]], measure: Callable[[Sequence[int], int], list[dict[str, Any]]],
                  n: int, count: int, seed: int = 0, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Add ``<q>_ci_low`` and ``<q>_ci_high`` (q = D_f, G_f, R_f) to every record, in place.

    Args:
        records: the probe's records on all ``n`` images.
        measure: (image indices, k) -> the records of the same probe on those images, measured with
            the k-th half-sample's own draws; in the order of ``records``.
        n: the images of the probe.
        count: half-samples wanted (0: no interval).
        seed: seed of the choice of half-samples.
        confidence: of the intervals.

    Returns:
        What the intervals rest on, for the metadata (``method`` None and a ``reason`` when there are none).
    """
    m = n // 2
    reason = "intervals: 0 in the spec" if count == 0 else (f"{n} images: half-samples of {m} have no pairs" if m < 2
                                                            else None)
    if reason is not None:
        for record in records:
            record.update(dict.fromkeys(INTERVAL_COLUMNS, math.nan))
        return {"method": None, "reason": reason, "images": n}
    subsets = half_samples(n, count, seed)
    measured = [measure(subset, k) for k, subset in enumerate(subsets)]
    for index, record in enumerate(records):
        for other in measured:
            if index >= len(other) or _key(other[index]) != _key(record):
                raise RuntimeError(f"a half-sample's records do not match the probe's at {_key(record)}")
        for quantity in QUANTITIES:
            low, high = log_interval(record.get(quantity, math.nan), [o[index].get(quantity, math.nan) for o in measured],
                                     n, m, confidence)
            record[f"{quantity}_ci_low"], record[f"{quantity}_ci_high"] = low, high
    return {"method": "delete-d jackknife on half-samples of the images (Shao and Wu 1989), normal interval of ln",
            "images": n, "subset_size": m, "half_samples": len(subsets), "all_half_samples": len(subsets) ==
            math.comb(n, m), "confidence": confidence, "seed": seed}
