"""Figures of one ``StabilityResult``: R_f against layer depth, D_f, G_f, R_f against temperature, and per image
(with the per-image table, :func:`write_per_image`).

Built on ``matplotlib.figure.Figure`` and the package's plot-style base: pyplot and the user's
matplotlib backend are never touched.
"""

from .figures import depth_profile_figure, plot_depth_profile, plot_temperature_sweep, temperature_sweep_figure
from .per_image import PER_IMAGE_FILES, extreme_images, per_image_figure, plot_per_image, write_per_image

__all__ = [
    "PER_IMAGE_FILES",
    "depth_profile_figure",
    "extreme_images",
    "per_image_figure",
    "plot_depth_profile",
    "plot_per_image",
    "plot_temperature_sweep",
    "temperature_sweep_figure",
    "write_per_image",
]
