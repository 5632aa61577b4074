"""What the StabilityCallback logs, prints and writes: metric names, table, JSON, plot and checkpoint state."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.stability.result import stability_table
from lightning_diffeo.stages import ALONG_TRAINING, is_intermediate_stage

__all__ = ["comparison_table", "metric_dict", "results_from_state", "results_state", "write_report"]

LOGGED_QUANTITIES = ("D_f", "G_f", "R_f")


def _size_key(record: Mapping[str, Any], by_temperature: bool) -> str:
    return f"T{record['temperature']:.3g}" if by_temperature else f"d{record['delta']:g}"


def metric_dict(result: StabilityResult, stage: str) -> dict[str, float]:
    """``stability/<stage>/<quantity>/<layer>/c<cutoff>[/d<delta> or /T<temperature>][/mean]`` -> value.

    Every ``epoch<k>`` stage logs under ``stability/along/...``: one series over the logged steps,
    not a new set of names per measurement (a CSV logger rewrites its whole file for each new
    name). The size suffix appears when several deltas (or temperatures) were measured;
    ``/mean`` marks mean-estimator values when the median was measured too.
    """
    segment = ALONG_TRAINING if is_intermediate_stage(stage) else stage
    by_temperature = result.metadata.get("sizes") == "temperatures"
    key = "temperature" if by_temperature else "delta"
    several_sizes = len({round(r[key], 12) for r in result.records}) > 1
    averages = {r.get("average", "median") for r in result.records}
    metrics = {}
    for record in result.records:
        suffix = f"/{_size_key(record, by_temperature)}" if several_sizes else ""
        average = record.get("average", "median")
        if len(averages) > 1 and average != "median":
            suffix += f"/{average}"
        for quantity in LOGGED_QUANTITIES:
            name = f"stability/{segment}/{quantity}/{record['layer']}/c{record['cutoff']:g}{suffix}"
            metrics[name] = float(record[quantity])
    return metrics


def comparison_table(results: Mapping[str, StabilityResult], quantity: str = "R_f") -> str:
    """Layer x cutoff table of ``quantity``, one column per stage (see :func:`stability_table`)."""
    return stability_table(results, quantity)


def write_report(
    directory: Path, filename: str, results: Mapping[str, StabilityResult], summary: Mapping[str, Any], plot: bool
) -> Path:
    """Write every stage as one :class:`StabilityResult` JSON file (records tagged with ``stage``), and a plot.

    The file loads back with ``StabilityResult.from_json``; ``.by_stage()`` splits it again.
    """
    path = StabilityResult.combine(results, {"summary": dict(summary)}).to_json(Path(directory) / filename)
    if plot:
        from lightning_diffeo.viz import plot_depth_profile

        plot_depth_profile(results, path.with_suffix(".png"))
    return path


def results_state(results: Mapping[str, StabilityResult]) -> dict[str, Any]:
    """The results by stage as plain records and metadata, for a checkpoint."""
    return {stage: {"records": result.to_dicts(), "metadata": result.metadata} for stage, result in results.items()}


def results_from_state(state: Mapping[str, Any]) -> dict[str, StabilityResult]:
    """The results by stage back from :func:`results_state`."""
    return {stage: StabilityResult.from_dicts(saved["records"], saved["metadata"]) for stage, saved in state.items()}
