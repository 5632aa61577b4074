from __future__ import annotations

import pytest

from lightning_diffeo.analysis import FigureOptions, make_figures
from tests.analysis.synthetic import small_table


@pytest.fixture(scope="session")
def small_figures():
    """Every figure of ``small_table()`` (all seven kinds, both averages), built once for the modules that read them."""
    return make_figures(small_table(), FigureOptions(n_boot=50))
