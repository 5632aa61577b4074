"""The StabilityCallback's ``per_image`` option: each probe image's terms at the output, at the ``best`` stage.

Only the ``best`` measurement keeps them, as ``lightning-diffeo probe --per_image true`` does for
a checkpoint: which images the trained network finds stable, and which break it. (At ``init`` the
ranking would be one of random weights; ``callback.measure(module, "init", per_image=True)`` gives
it on demand.) The terms cost no extra forward pass; the files are those of the probe
(:func:`~lightning_diffeo.viz.write_per_image`), written beside ``stability.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from lightning_diffeo.stability import PerImageTerms, StabilityResult
from lightning_diffeo.viz import PER_IMAGE_FILES, write_per_image

__all__ = ["PER_IMAGE_STAGE", "check_output_layer", "per_image_files", "write_per_image_files"]

PER_IMAGE_STAGE = "best"
"""The one stage whose measurement keeps per-image terms."""


def per_image_files(per_image: bool, when: Sequence[str]) -> tuple[str, ...]:
    """The per-image files a fit writes: :data:`~lightning_diffeo.viz.PER_IMAGE_FILES` when ``per_image``
    and the ``best`` stage is measured, else none."""
    return PER_IMAGE_FILES if per_image and PER_IMAGE_STAGE in when else ()


def check_output_layer(files: Sequence[str], layers: Sequence[str]) -> None:
    """With per-image ``files`` to write, raise ``ValueError`` unless the output is among ``layers``."""
    if files:
        PerImageTerms(count=2, draws=1).check_layers(layers)


def write_per_image_files(directory: Path, result: StabilityResult, images: torch.Tensor | None,
                          resumed: bool) -> None:
    """``per_image.csv`` (and with ``images``, ``per_image.png``) of a result that kept per-image terms.

    A fresh fit never replaces a ``per_image.csv`` (``FileExistsError``); a resumed one (``resumed``)
    replaces its own run's, as it does ``stability.json``.
    """
    if result.per_image is not None:
        write_per_image(result, directory, images, overwrite=resumed)
