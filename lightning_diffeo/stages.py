"""Names of the measurement stages: ``init``, ``best`` and ``epoch<k>`` (after epoch k, along training).

No dependencies: the callback names and logs the stages, the figures draw them.
"""

from __future__ import annotations

__all__ = ["ALONG_TRAINING", "is_intermediate_stage"]

ALONG_TRAINING = "along"
"""The stage segment of the logged metric names of every ``epoch<k>`` stage: one time series over steps."""


def is_intermediate_stage(stage: str) -> bool:
    """Whether ``stage`` is an intermediate measurement along training (``epoch<k>``, ``epoch <k>``)."""
    return stage.startswith("epoch") and stage[len("epoch"):].strip().isdigit()
