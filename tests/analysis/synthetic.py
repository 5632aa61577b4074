"""Synthetic study tables with the columns of the collected table and a planted answer.

At the largest P each architecture has R_f = R_ARCH[arch] and test error 0.2 sqrt(R_f)
(the paper's CIFAR10 law); R_f falls as P^-1 with P, is 1 at initialisation at every layer
and decreases with depth after training; it grows as sqrt(c / 3) with the cutoff c. Each run multiplies every quantity by
exp(N(0, noise^2)); the median and mean estimators differ by a factor ``MEAN_FACTOR``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

ARCHS = {  # name: (depth, batch_norm, skip_connections, R_f at the largest P, n_params)
    "fc4": (4, False, False, 3.0, 200_000),
    "lenet": (5, False, False, 1.2, 62_000),
    "alexnet": (8, False, False, 0.6, 23_000_000),
    "vgg11": (11, False, False, 0.25, 9_000_000),
    "vgg11bn": (11, True, False, 0.12, 9_000_000),
    "resnet18": (18, True, True, 0.05, 11_000_000),
    "resnet34": (34, True, True, 0.03, 21_000_000),
}
G_OUTPUT = 0.05
MEAN_FACTOR = 1.3
IMAGE_SIZE = 32


def temperature(delta: float, cutoff: float, n: int = IMAGE_SIZE) -> float:
    return 4 * delta**2 / (math.pi * n**2 * math.log(cutoff))


def synthetic_table(
    *,
    archs: dict | None = None,
    train_sizes: tuple[int, ...] = (256, 1024, 4096),
    seeds: int = 3,
    cutoffs: tuple[float, ...] = (3.0, 5.0),
    deltas: tuple[float, ...] = (0.5, 1.0),
    averages: tuple[str, ...] = ("median", "mean"),
    layers: int = 4,
    stages: tuple[str, ...] = ("init", "best"),
    noise_norms: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0),
    dataset: str = "cifar10",
    noise: float = 0.1,
    seed: int = 0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    archs = ARCHS if archs is None else archs
    p_max = max(train_sizes)
    records = []
    for arch, (depth, batch_norm, skip, r_top, n_params) in archs.items():
        for p in train_sizes:
            r_out = r_top * p_max / p
            for s in range(seeds):
                run_id = f"{dataset}-{arch}-P{p}-s{s}"
                wobble = lambda: math.exp(rng.normal(0.0, noise))  # noqa: E731
                error = min(0.2 * math.sqrt(r_out) * wobble(), 0.9)
                base = {"run_id": run_id, "arch": arch, "dataset": dataset, "train_size": p, "seed": s,
                        "depth": depth, "n_params": n_params, "batch_norm": batch_norm, "skip_connections": skip,
                        "test_error": error, "test_acc": 1 - error, "best_val_acc": 1 - error, "best_epoch": 7,
                        "interpolation": "bilinear"}
                for stage in stages:
                    for k in range(layers):
                        rel = k / (layers - 1) if layers > 1 else 1.0
                        r_layer = 1.0 if stage == "init" else r_out ** (0.3 + 0.7 * rel)
                        g_layer = G_OUTPUT if stage == "best" else 0.5
                        r_layer, g_layer = r_layer * wobble(), g_layer * wobble()
                        for cutoff in cutoffs:
                            for delta in deltas:
                                for average in averages:
                                    factor = MEAN_FACTOR if average == "mean" else 1.0
                                    g = g_layer * factor * delta**2
                                    r = r_layer * (cutoff / 3) ** 0.5 if stage == "best" else r_layer
                                    records.append({**base, "stage": stage, "layer": f"layer{k}",
                                                    "val_acc": math.nan if stage == "init" else 1 - error,
                                                    "relative_depth": rel, "cutoff": cutoff,
                                                    "temperature": temperature(delta, cutoff), "delta": delta,
                                                    "average": average, "D_f": r * g, "G_f": g,
                                                    "R_f": r, "fraction_diffeomorphic": 1.0 if cutoff < 5 else 0.5,
                                                    "kind": "diffeo", "noise_norm": math.nan})
                    if stage == "best":
                        for norm in noise_norms:
                            for average in averages:
                                g = min(0.05 * norm**2, 2.0) * wobble()
                                records.append({**base, "stage": stage, "layer": f"layer{layers - 1}",
                                                "relative_depth": 1.0, "cutoff": math.nan, "temperature": math.nan,
                                                "delta": math.nan, "average": average, "D_f": math.nan, "G_f": g,
                                                "R_f": math.nan, "fraction_diffeomorphic": math.nan, "kind": "noise",
                                                "noise_norm": norm})
    return pd.DataFrame.from_records(records)


def small_table(**overrides) -> pd.DataFrame:
    """Four architectures (plain, plain, batch-norm, batch-norm + skip), 2 seeds, P in {512, 4096}, c in {3, 15},
    delta in {0.5, 1}, 3 layers, both averages, a measurement along training (``epoch1``), noise rows:
    every figure kind of a study table, quickly."""
    settings = dict(archs={k: ARCHS[k] for k in ("fc4", "lenet", "vgg11bn", "resnet18")}, seeds=2,
                    train_sizes=(512, 4096), cutoffs=(3.0, 15.0), deltas=(0.5, 1.0), layers=3,
                    stages=("init", "epoch1", "best"))
    settings.update(overrides)
    return synthetic_table(**settings)
