"""What the StabilityCallback logs, prints and writes: metric names, table, JSON and plot."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning_diffeo._atomic import atomic_write_text
from lightning_diffeo.stability import StabilityResult
from lightning_diffeo.stability.result import json_safe

__all__ = ["comparison_table", "metric_dict", "write_report"]

LOGGED_QUANTITIES = ("D_f", "G_f", "R_f")


def _size_key(record: Mapping[str, Any], by_temperature: bool) -> str:
    return f"T{record['temperature']:.3g}" if by_temperature else f"d{record['delta']:g}"


def _sizes(result: StabilityResult) -> tuple[bool, int]:
    by_temperature = result.metadata.get("sizes") == "temperatures"
    key = "temperature" if by_temperature else "delta"
    return by_temperature, len({round(r[key], 12) for r in result.records})


def metric_dict(result: StabilityResult, stage: str) -> dict[str, float]:
    """``stability/<stage>/<quantity>/<layer>/c<cutoff>[/d<delta> or /T<temperature>]`` -> value."""
    by_temperature, count = _sizes(result)
    metrics = {}
    for record in result.records:
        suffix = f"/{_size_key(record, by_temperature)}" if count > 1 else ""
        for quantity in LOGGED_QUANTITIES:
            name = f"stability/{stage}/{quantity}/{record['layer']}/c{record['cutoff']:g}{suffix}"
            metrics[name] = float(record[quantity])
    return metrics


def _cell(value: float | None) -> str:
    return "-" if value is None else ("nan" if math.isnan(value) else f"{value:.3g}")


def comparison_table(results: Mapping[str, StabilityResult], quantity: str = "R_f") -> str:
    """Layer x cutoff table of ``quantity``, one column per stage (init, best, ...) under each cutoff."""
    stages = list(results)
    first = next(iter(results.values()))
    layers = list(dict.fromkeys(layer for r in results.values() for layer in r.layers))
    cutoffs = sorted({c for r in results.values() for c in r.cutoffs})
    by_temperature, _ = _sizes(first)
    size = _size_key(first.records[0], by_temperature)
    lookup = {
        (stage, r["layer"], r["cutoff"]): r[quantity]
        for stage, result in results.items()
        for r in result.records
        if _size_key(r, by_temperature) == size
    }
    width = max(len(layer) for layer in layers) + 2
    column = max(8, max(len(s) for s in stages) + 2)
    header = f"{quantity} ({size.replace('d', 'delta=', 1) if size.startswith('d') else size})".ljust(width)
    header += "".join(f"c={c:g}".center(column * len(stages)) for c in cutoffs)
    sub = "layer".ljust(width) + "".join(s.rjust(column) for _ in cutoffs for s in stages)
    lines = [header, sub, "-" * len(sub)]
    for layer in layers:
        cells = "".join(_cell(lookup.get((s, layer, c))).rjust(column) for c in cutoffs for s in stages)
        lines.append(layer.ljust(width) + cells)
    return "\n".join(lines)


def write_report(
    directory: Path, filename: str, results: Mapping[str, StabilityResult], summary: Mapping[str, Any], plot: bool
) -> Path:
    """Write ``{"summary", "stages": {stage: {"metadata", "records"}}}`` atomically, and a plot."""
    payload = {
        "summary": dict(summary),
        "stages": {stage: {"metadata": r.metadata, "records": r.to_dicts()} for stage, r in results.items()},
    }
    path = atomic_write_text(directory / filename, json.dumps(json_safe(payload), indent=1, allow_nan=False))
    if plot:
        from lightning_diffeo.plotting import plot_depth_profile

        plot_depth_profile(results, path.with_suffix(".png"))
    return path
