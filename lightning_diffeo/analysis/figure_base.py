"""What every figure builder of the report shares: the figure kinds, their options and their result."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from matplotlib.figure import Figure

from lightning_diffeo.analysis.finite import Dropped

__all__ = ["FIGURE_KINDS", "FigureOptions", "FigureResult"]

FIGURE_KINDS = {
    "error_vs_stability": "Figs 3, 5, 15, 16, 17, 19, 20",
    "stability_vs_size": "Figs 13, 22",
    "depth_profile": "Fig 14",
    "mean_vs_median": "Fig 17",
    "size_trajectories": "Fig 18",
    "delta_cutoff_grid": "Fig 21",
    "noise": "Fig 11",
    "along_training": "not in the paper: R_f along training",
    "learning_curves": "not in the paper: learning curves",
}


@dataclass(frozen=True)
class FigureOptions:
    """Settings shared by the figures.

    Attributes:
        cutoff: cutoff c of the main figures; None: 3 if measured, else the smallest.
        delta: typical displacement (pixels) of the main figures; None: the one closest to 1.
        scale: scale of the correlation coefficients, ``"log"`` (default) or ``"linear"``.
        n_boot: bootstrap resamples of the correlation intervals.
        seed: seed of the bootstrap.
        image_size: image side in pixels for T_min/T_max; None: from the table or the dataset.
        stage: the stage whose measurements are set against the test error in the error-vs-stability
            figure, Table 2 and the power laws: ``"best"`` (the trained network; a zoo's published
            weights) or ``"init"`` (e.g. a zoo of random initialisations against the error their
            architectures reach when trained).
    """

    cutoff: float | None = None
    delta: float | None = None
    scale: Literal["log", "linear"] = "log"
    n_boot: int = 2000
    seed: int = 0
    image_size: int | None = None
    stage: str = "best"

    def __post_init__(self) -> None:
        for name in ("cutoff", "delta"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if self.scale not in ("log", "linear"):
            raise ValueError(f"scale must be one of 'log', 'linear', got {self.scale!r}")
        for name, minimum in (("n_boot", 0), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if self.image_size is not None and (isinstance(self.image_size, bool) or not isinstance(self.image_size, int)
                                            or self.image_size < 2):
            raise ValueError(f"image_size must be an integer >= 2 or None, got {self.image_size!r}")
        if not isinstance(self.stage, str) or not (self.stage in ("best", "init") or self.stage.startswith("epoch")):
            raise ValueError(f"stage must be 'best', 'init' or 'epoch<k>', got {self.stage!r}")


@dataclass(frozen=True)
class FigureResult:
    """One figure of the report, or the reason it could not be drawn.

    Attributes:
        name: file stem (``<kind>_<dataset>_<average>...``), or the kind when skipped as a whole.
        kind: key of ``FIGURE_KINDS``.
        title: one-line description.
        figure: the Figure, None when skipped.
        reason: why it was skipped, None when drawn.
        runs: realisations behind each point ("5", or "3-5"), after the runs left out.
        dropped: the rows left out because a quantity the figure uses was NaN or infinite
            (warned about once, ``NonFiniteWarning``), None when none.
    """

    name: str
    kind: str
    title: str
    figure: Figure | None = None
    reason: str | None = None
    runs: str = ""
    dropped: Dropped | None = None

    @property
    def paper(self) -> str:
        return FIGURE_KINDS[self.kind]
