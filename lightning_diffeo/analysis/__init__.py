"""Statistics, figures and reports of a study table, with pandas, numpy and matplotlib only.

No torch and no lightning: a collected CSV can be analysed anywhere. Rows with a NaN or infinite
D_f, G_f, R_f or test error are left out of every quantity of their point, with one
``NonFiniteWarning`` per figure or statistic naming the runs.

    >>> from lightning_diffeo.analysis import load_table, aggregate, correlations  # doctest: +SKIP
    >>> table = load_table("results.csv")  # doctest: +SKIP
    >>> correlations(table)  # doctest: +SKIP
"""

from lightning_diffeo.analysis.bootstrap import SeedCorrelation, SeedPowerLaw, seed_correlation, seed_power_law
from lightning_diffeo.analysis.correlate import correlation_table, correlations, grid_correlations, power_laws
from lightning_diffeo.analysis.figures import FIGURE_KINDS, FigureOptions, FigureResult, make_figures
from lightning_diffeo.analysis.finite import Dropped, NonFiniteWarning
from lightning_diffeo.analysis.paper import PAPER_CORRELATIONS, PAPER_POWER_LAW, paper_correlations
from lightning_diffeo.analysis.points import (
    architecture_points,
    depth_profiles,
    main_setting,
    noise_curves,
    size_curves,
)
from lightning_diffeo.analysis.report import Report, write_report
from lightning_diffeo.analysis.size_laws import size_curves_markdown, size_laws, size_laws_markdown
from lightning_diffeo.analysis.scales import is_allowed, temperature_bounds
from lightning_diffeo.analysis.stats import (
    Correlation,
    PowerLaw,
    aggregate,
    default_keys,
    fit_power_law,
    log_mean,
    pearson,
)
from lightning_diffeo.analysis.table import (
    MEASURES,
    by_dataset_and_average,
    image_size_of,
    load_table,
    nearest_value,
    output_rows,
    select,
    size_text,
)
from lightning_diffeo.analysis.zoo import is_zoo, zoo_markdown, zoo_points

__all__ = [
    "FIGURE_KINDS",
    "MEASURES",
    "PAPER_CORRELATIONS",
    "PAPER_POWER_LAW",
    "Correlation",
    "Dropped",
    "FigureOptions",
    "FigureResult",
    "NonFiniteWarning",
    "PowerLaw",
    "Report",
    "SeedCorrelation",
    "SeedPowerLaw",
    "aggregate",
    "architecture_points",
    "by_dataset_and_average",
    "correlation_table",
    "correlations",
    "default_keys",
    "depth_profiles",
    "fit_power_law",
    "grid_correlations",
    "image_size_of",
    "is_allowed",
    "is_zoo",
    "load_table",
    "log_mean",
    "main_setting",
    "make_figures",
    "nearest_value",
    "noise_curves",
    "output_rows",
    "paper_correlations",
    "pearson",
    "power_laws",
    "seed_correlation",
    "seed_power_law",
    "select",
    "size_curves",
    "size_curves_markdown",
    "size_laws",
    "size_laws_markdown",
    "size_text",
    "temperature_bounds",
    "write_report",
    "zoo_markdown",
    "zoo_points",
]
