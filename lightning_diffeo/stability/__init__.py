"""Relative stability of neural networks to diffeomorphisms: D_f, G_f, R_f (pure torch).

Main entry point: :func:`measure_stability`. Importing this package never imports lightning.
"""

from __future__ import annotations

from lightning_diffeo.stability.capture import OUTPUT, ActivationCapture, relative_depths, resolve_layers
from lightning_diffeo.stability.estimators import (
    AVERAGES,
    NumeratorAccumulator,
    check_averages,
    lower_median_rows,
    pair_denominator,
    pair_denominators,
    relative_stability,
    stability_from_features,
)
from lightning_diffeo.stability.measure import SWEEP_POINTS, measure_stability, sweep_temperatures, work_items
from lightning_diffeo.stability.modes import MODES, check_mode, check_positive_int, eval_mode, init_mode, model_mode
from lightning_diffeo.stability.noise_sweep import measure_noise_stability
from lightning_diffeo.stability.probe import DEFAULT_BATCH_SIZE, STORES, ProbeSession
from lightning_diffeo.stability.perturb import Perturbations, matched_noise, perturb, reference_images, scaled_noise
from lightning_diffeo.stability.result import QUANTITIES, StabilityResult

__all__ = [
    "AVERAGES",
    "DEFAULT_BATCH_SIZE",
    "MODES",
    "OUTPUT",
    "QUANTITIES",
    "STORES",
    "SWEEP_POINTS",
    "ActivationCapture",
    "NumeratorAccumulator",
    "Perturbations",
    "ProbeSession",
    "StabilityResult",
    "check_averages",
    "check_mode",
    "check_positive_int",
    "eval_mode",
    "init_mode",
    "lower_median_rows",
    "matched_noise",
    "measure_noise_stability",
    "measure_stability",
    "model_mode",
    "pair_denominator",
    "pair_denominators",
    "perturb",
    "reference_images",
    "relative_depths",
    "relative_stability",
    "resolve_layers",
    "scaled_noise",
    "stability_from_features",
    "sweep_temperatures",
    "work_items",
]
