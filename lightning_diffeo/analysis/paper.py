"""Published numbers of Petrini et al. (NeurIPS 2021) a study is compared with (docs/science.md section 5)."""

from __future__ import annotations

import math
import re

__all__ = ["PAPER_CORRELATIONS", "PAPER_POWER_LAW", "paper_correlations"]

# Table 2: correlation coefficients of test error with D_f, G_f, R_f. CIFAR10 from Figs 15-16
# (0.85 is quoted against 1/G_f, hence -0.85 against G_f on log scales); its R_f value is not
# among the numbers docs/science.md records.
PAPER_CORRELATIONS: dict[str, dict[str, float]] = {
    "MNIST": {"D_f": 0.71, "G_f": -0.43, "R_f": 0.75},
    "SVHN": {"D_f": 0.87, "G_f": -0.28, "R_f": 0.81},
    "FashionMNIST": {"D_f": 0.72, "G_f": -0.68, "R_f": 0.94},
    "Tiny ImageNet": {"D_f": 0.69, "G_f": -0.66, "R_f": 0.74},
    "CIFAR10": {"D_f": 0.62, "G_f": -0.85, "R_f": math.nan},
}

# eps_t ~ 0.2 sqrt(R_f) on CIFAR10 across 15 architectures.
PAPER_POWER_LAW = {"dataset": "CIFAR10", "a": 0.2, "b": 0.5}

_ALIASES = {"mnist": "MNIST", "svhn": "SVHN", "fashionmnist": "FashionMNIST", "tinyimagenet": "Tiny ImageNet",
            "tinyimagenet32": "Tiny ImageNet", "cifar10": "CIFAR10"}


def paper_correlations(dataset: str) -> tuple[str, dict[str, float]] | None:
    """The paper's name and coefficients for a dataset name of the table (any case), or None."""
    name = _ALIASES.get(re.sub(r"[^a-z0-9]", "", str(dataset).lower()))
    return None if name is None else (name, PAPER_CORRELATIONS[name])
