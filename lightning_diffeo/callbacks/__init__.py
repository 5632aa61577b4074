"""Lightning callbacks: ``StabilityCallback`` measures R_f per layer during training; run checkpoints."""

from .progress import EpochLine, EpochSeeds, InterruptCheckpoint, last_checkpoint
from .report import comparison_table, metric_dict, write_report
from .stability import MEASURE_DEFAULTS, WHEN, StabilityCallback

__all__ = [
    "MEASURE_DEFAULTS",
    "WHEN",
    "EpochLine",
    "EpochSeeds",
    "InterruptCheckpoint",
    "StabilityCallback",
    "comparison_table",
    "last_checkpoint",
    "metric_dict",
    "write_report",
]
