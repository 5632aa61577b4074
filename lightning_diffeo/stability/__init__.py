"""Relative stability of neural networks to diffeomorphisms: D_f, G_f, R_f (pure torch).

Main entry point: :func:`measure_stability`. Its options' types, defaults and checks live in
:mod:`~lightning_diffeo.stability.settings`, shared with ``StabilityCallback`` and
``lightning-diffeo probe``. Importing this package never imports lightning.
"""

from __future__ import annotations

from lightning_diffeo.stability.budget import available_memory, default_max_memory
from lightning_diffeo.stability.capture import ActivationCapture, relative_depths, resolve_layers
from lightning_diffeo.stability.denominators import pair_denominator, pair_denominators
from lightning_diffeo.stability.estimators import relative_stability, stability_from_features
from lightning_diffeo.stability.measure import measure_stability, sweep_temperatures, temperature_items, work_items
from lightning_diffeo.stability.footprint import Footprint, footprint
from lightning_diffeo.stability.medians import lower_median_columns, lower_median_rows
from lightning_diffeo.stability.memory import MemoryPlan, estimate_peak, plan_memory
from lightning_diffeo.stability.modes import check_positive_int, eval_mode, init_mode, model_mode
from lightning_diffeo.stability.noise_sweep import measure_noise_stability
from lightning_diffeo.stability.numerators import NumeratorAccumulator
from lightning_diffeo.stability.per_image import PER_IMAGE_KEYS, PerImageTerms, first_item, measured_deformations
from lightning_diffeo.stability.perturb import (
    Perturbations,
    check_probe_images,
    matched_noise,
    perturb,
    reference_images,
    replay_deformations,
    scaled_noise,
)
from lightning_diffeo.stability.probe import ProbeSession
from lightning_diffeo.stability.result import QUANTITIES, StabilityResult
from lightning_diffeo.stability.settings import (
    AVERAGES,
    DEFAULT_AVERAGE,
    DEFAULT_BATCH_SIZE,
    DEFAULT_CUTOFFS,
    DEFAULT_DELTAS,
    DEFAULT_DIFFEOS_PER_IMAGE,
    DEFAULT_INTERPOLATION,
    DEFAULT_MAX_MEMORY,
    DEFAULT_MODE,
    DEFAULT_PER_IMAGE,
    DEFAULT_STORE,
    INTERPOLATIONS,
    MEASURE_DEFAULTS,
    MODES,
    OUTPUT,
    STORES,
    SWEEP_POINTS,
    Average,
    Interpolation,
    Mode,
    Sizes,
    Store,
    check_average,
    check_averages,
    check_batch_size,
    check_cutoffs,
    check_deltas,
    check_diffeos_per_image,
    check_interpolation,
    check_layers,
    check_max_memory,
    check_mode,
    check_normalize,
    check_per_image,
    check_probe_size,
    check_sizes,
    check_store,
    check_temperatures,
)

__all__ = [
    "AVERAGES",
    "DEFAULT_AVERAGE",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CUTOFFS",
    "DEFAULT_DELTAS",
    "DEFAULT_DIFFEOS_PER_IMAGE",
    "DEFAULT_INTERPOLATION",
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_MODE",
    "DEFAULT_PER_IMAGE",
    "DEFAULT_STORE",
    "INTERPOLATIONS",
    "MEASURE_DEFAULTS",
    "MODES",
    "OUTPUT",
    "PER_IMAGE_KEYS",
    "QUANTITIES",
    "STORES",
    "SWEEP_POINTS",
    "ActivationCapture",
    "Average",
    "Footprint",
    "Interpolation",
    "MemoryPlan",
    "Mode",
    "NumeratorAccumulator",
    "PerImageTerms",
    "Perturbations",
    "ProbeSession",
    "Sizes",
    "StabilityResult",
    "Store",
    "available_memory",
    "check_average",
    "check_averages",
    "check_batch_size",
    "check_cutoffs",
    "check_deltas",
    "check_diffeos_per_image",
    "check_interpolation",
    "check_layers",
    "check_max_memory",
    "check_mode",
    "check_normalize",
    "check_per_image",
    "check_positive_int",
    "check_probe_images",
    "check_probe_size",
    "check_sizes",
    "check_store",
    "check_temperatures",
    "default_max_memory",
    "estimate_peak",
    "eval_mode",
    "first_item",
    "footprint",
    "init_mode",
    "lower_median_columns",
    "lower_median_rows",
    "matched_noise",
    "measure_noise_stability",
    "measure_stability",
    "measured_deformations",
    "model_mode",
    "pair_denominator",
    "pair_denominators",
    "perturb",
    "plan_memory",
    "reference_images",
    "replay_deformations",
    "relative_depths",
    "relative_stability",
    "resolve_layers",
    "scaled_noise",
    "stability_from_features",
    "sweep_temperatures",
    "temperature_items",
    "work_items",
]
