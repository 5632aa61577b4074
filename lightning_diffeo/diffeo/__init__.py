"""Maximum-entropy random diffeomorphisms of images (pure torch).

Fields (``sample_displacement``), their scales (``temperature_range``, ``typical_displacement``),
resampling (``remap``: bilinear, Gaussian, nearest), the distortion diagnostic (``distortion``),
the participation-ratio derivation of the Gaussian width, the ``deform`` kernels and the
``Diffeo`` transform. The ``check_*`` functions are the rules of this package's options
(``(name, value)``, one clear line when broken), for layers above that take the same values.
"""

from ._checks import (
    INTERPOLATIONS,
    Interpolation,
    check_cutoff,
    check_images,
    check_interpolation,
    check_log_cutoff,
    check_temperature,
)
from .beta import sample_beta
from .distortion import distortion, distortion_bound, expected_max_distortion, is_diffeomorphism, max_distortion
from .fields import (
    displacement_from_coefficients,
    sample_coefficients,
    sample_displacement,
    sampling_grid,
    sine_basis,
    working_dtype,
)
from .interpolation import GAUSSIAN_SIGMA, gaussian_smooth, gaussian_window_radius, remap, resample_grid
from .participation import (
    average_participation_bilinear,
    average_participation_gaussian,
    derive_gaussian_sigma,
    participation_ratio,
)
from .scales import (
    max_mode,
    mean_square_displacement,
    mode_mask,
    temperature_from_displacement,
    temperature_range,
    typical_displacement,
)
from .deform import deform, deform_with_coefficients
from .transform import Diffeo, DiffeoParams

__all__ = [
    "GAUSSIAN_SIGMA",
    "INTERPOLATIONS",
    "Diffeo",
    "DiffeoParams",
    "Interpolation",
    "average_participation_bilinear",
    "average_participation_gaussian",
    "check_cutoff",
    "check_images",
    "check_interpolation",
    "check_log_cutoff",
    "check_temperature",
    "deform",
    "deform_with_coefficients",
    "derive_gaussian_sigma",
    "displacement_from_coefficients",
    "distortion",
    "distortion_bound",
    "expected_max_distortion",
    "gaussian_smooth",
    "gaussian_window_radius",
    "is_diffeomorphism",
    "max_distortion",
    "max_mode",
    "mean_square_displacement",
    "mode_mask",
    "participation_ratio",
    "remap",
    "resample_grid",
    "sample_beta",
    "sample_coefficients",
    "sample_displacement",
    "sampling_grid",
    "sine_basis",
    "temperature_from_displacement",
    "temperature_range",
    "typical_displacement",
    "working_dtype",
]
