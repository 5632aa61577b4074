"""Lightning callbacks: ``StabilityCallback`` measures R_f per layer during training."""

from .report import comparison_table, metric_dict, write_report
from .stability import WHEN, StabilityCallback

__all__ = ["WHEN", "StabilityCallback", "comparison_table", "metric_dict", "write_report"]
