"""Figures of one ``StabilityResult``: R_f against layer depth, and D_f, G_f, R_f against temperature.

Built on ``matplotlib.figure.Figure`` and the package's plot-style base: pyplot and the user's
matplotlib backend are never touched.
"""

from .figures import depth_profile_figure, plot_depth_profile, plot_temperature_sweep, temperature_sweep_figure

__all__ = ["depth_profile_figure", "plot_depth_profile", "plot_temperature_sweep", "temperature_sweep_figure"]
