"""The result of a stability measurement: one record per (layer, cutoff, temperature)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning_diffeo._atomic import atomic_write_text

__all__ = ["R_F_EXPLANATION", "StabilityResult", "json_safe", "stability_table"]

QUANTITIES = ("D_f", "G_f", "R_f", "denominator", "numerator_diffeo", "numerator_noise")
_FLOAT_KEYS = frozenset(QUANTITIES) | {"relative_depth", "cutoff", "temperature", "delta", "noise_norm", "fraction_diffeomorphic"}


def json_safe(value: Any) -> Any:
    """A JSON-ready copy: NaN -> null, +-inf -> "inf"/"-inf", tuples -> lists, keys -> str."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _from_json_value(key: str, value: Any) -> Any:
    if key in _FLOAT_KEYS and key not in ("cutoff", "temperature", "delta", "noise_norm") and value is None:
        return math.nan
    if key in _FLOAT_KEYS and value in ("inf", "-inf"):
        return float(value)
    return value


def _matches(record: Mapping[str, Any], key: str, wanted: Any) -> bool:
    value = record.get(key)
    if isinstance(wanted, float) and isinstance(value, (int, float)):
        return math.isclose(value, wanted, rel_tol=1e-9, abs_tol=0.0)
    return value == wanted


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


class StabilityResult:
    """Records of D_f, G_f, R_f for every probed (layer, cutoff, temperature or delta).

    Each record is a dict with keys ``layer, relative_depth, cutoff, temperature, delta,
    D_f, G_f, R_f, denominator, numerator_diffeo, numerator_noise, n_images, average,
    interpolation, mode`` (noise-only measurements carry ``noise_norm`` instead of
    cutoff/temperature/delta, and only G_f). ``metadata`` holds image size, number of images,
    model class, seed and settings. ``per_image``: None, or the output's per-image records of
    ``measure_stability(per_image=True)`` (keys :data:`~.per_image.PER_IMAGE_KEYS`).

    Example:
        >>> r = StabilityResult([{"layer": "output", "cutoff": 3.0, "temperature": 0.01,
        ...                       "delta": 1.0, "R_f": 0.5}])
        >>> r.get(layer="output", cutoff=3)
        0.5
    """

    def __init__(
        self, records: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any] | None = None,
        per_image: Iterable[Mapping[str, Any]] | None = None,
    ) -> None:
        self.records: list[dict[str, Any]] = [dict(record) for record in records]
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.per_image: list[dict[str, Any]] | None = None if per_image is None else [dict(r) for r in per_image]

    # ----------------------------------------------------------------- lookup
    @property
    def layers(self) -> list[str]:
        """Probed layer names in probe order."""
        return list(dict.fromkeys(record["layer"] for record in self.records))

    @property
    def cutoffs(self) -> list[float]:
        """Distinct cutoffs in measurement order."""
        return list(dict.fromkeys(r["cutoff"] for r in self.records if r.get("cutoff") is not None))

    def select(self, **filters: Any) -> list[dict[str, Any]]:
        """Records whose fields equal every given filter (floats compared to 1e-9 relative)."""
        return [r for r in self.records if all(_matches(r, k, v) for k, v in filters.items() if v is not None)]

    def get(self, quantity: str = "R_f", **filters: Any) -> float:
        """One quantity of the single record matching ``filters``.

        Args:
            quantity: a record key, e.g. ``"R_f"``, ``"D_f"``, ``"G_f"``, ``"denominator"``.
            **filters: e.g. ``layer="output", cutoff=3, delta=1.0``; None values are ignored.

        Raises:
            KeyError: no record matches, or several do (add filters to pick one).
        """
        found = self.select(**filters)
        if len(found) != 1:
            raise KeyError(
                f"{len(found)} records match {filters}; expected exactly one "
                f"(filter on layer, cutoff, temperature or delta to pick one)"
            )
        if quantity not in found[0]:
            raise KeyError(f"unknown quantity {quantity!r}; available: {sorted(found[0])}")
        return found[0][quantity]

    # ------------------------------------------------------------- conversion
    def to_dicts(self) -> list[dict[str, Any]]:
        """The records as a list of plain dicts (copies)."""
        return [dict(record) for record in self.records]

    @classmethod
    def from_dicts(cls, records: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any] | None = None) -> StabilityResult:
        """Build a result from plain dicts (as given by :meth:`to_dicts`)."""
        return cls(records, metadata)

    @property
    def stages(self) -> list[str]:
        """Distinct ``stage`` values of the records (``"init"``, ``"best"``, ``"epoch<k>"``), in order."""
        return list(dict.fromkeys(r["stage"] for r in self.records if r.get("stage") is not None))

    @classmethod
    def combine(cls, results: Mapping[str, StabilityResult], metadata: Mapping[str, Any] | None = None) -> StabilityResult:
        """One result holding several stages: every record gains ``stage`` (and ``epoch``, ``global_step``).

        Args:
            results: stage name -> result of that stage.
            metadata: extra top-level metadata (e.g. the best epoch); each stage's own
                metadata is kept under ``metadata["stages"][stage]``.
        """
        records = []
        for stage, result in results.items():
            extra = {key: result.metadata[key] for key in ("epoch", "global_step") if key in result.metadata}
            records.extend({**record, "stage": stage, **extra} for record in result.records)
        combined = dict(metadata or {})
        combined["stages"] = {stage: dict(result.metadata) for stage, result in results.items()}
        return cls(records, combined)

    def by_stage(self) -> dict[str, StabilityResult]:
        """The inverse of :meth:`combine`: stage -> result (``{}`` when no record has a stage)."""
        saved = self.metadata.get("stages") or {}

        def strip(record: dict[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
            added = {"stage"} | {k for k in ("epoch", "global_step") if k in metadata and record.get(k) == metadata[k]}
            return {k: v for k, v in record.items() if k not in added}

        return {
            stage: StabilityResult(
                [strip(r, saved.get(stage, {})) for r in self.records if r.get("stage") == stage], saved.get(stage, {})
            )
            for stage in self.stages
        }

    def to_json(self, path: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write ``{"metadata": ..., "records": [...]}`` (and ``"per_image"`` when kept) as strict JSON, atomically.

        Every ``stability.json`` the package writes (``StabilityCallback``, ``lightning-diffeo
        probe``) has this layout and loads back with :meth:`from_json`. NaN is written as null
        (read back as NaN). The file is written next to ``path`` and moved into place, so a
        reader never sees a partial file; ``overwrite=False`` refuses to replace an existing one.
        """
        payload = json_safe({"metadata": self.metadata, "records": self.records,
                             **({} if self.per_image is None else {"per_image": self.per_image})})
        return atomic_write_text(path, json.dumps(payload, indent=1, allow_nan=False), overwrite=overwrite)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> StabilityResult:
        """Load a ``stability.json`` written by :meth:`to_json`, the callback or ``probe``."""
        with open(path, encoding="utf-8") as stream:
            payload = json.load(stream)
        if not isinstance(payload, dict) or "records" not in payload:
            raise ValueError(f"{path} is not a StabilityResult JSON file (expected keys 'metadata' and 'records')")
        def read(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: _from_json_value(k, v) for k, v in record.items()} for record in records]

        per_image = payload.get("per_image")
        return cls(read(payload["records"]), payload.get("metadata"), None if per_image is None else read(per_image))

    def to_dataframe(self):  # -> pandas.DataFrame
        """The records as a pandas DataFrame, one row per record (pandas imported lazily)."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("StabilityResult.to_dataframe needs pandas: pip install pandas") from error
        return pd.DataFrame.from_records(self.to_dicts())

    # ---------------------------------------------------------------- display
    def table(self, quantity: str | None = None) -> str:
        """A readable table of one quantity (default R_f, or G_f for noise-only results).

        Layers x cutoffs when each cutoff has a single temperature; otherwise one row per
        (layer, cutoff, temperature) with delta, D_f, G_f, R_f; noise-only results list G_f
        per noise norm.
        """
        if not self.records:
            return "(no records)"
        rows: list[list[str]]
        noise_only = all("noise_norm" in r for r in self.records)
        if quantity is None:
            quantity = "G_f" if noise_only else "R_f"
        averages = list(dict.fromkeys(r.get("average") for r in self.records))
        # One row per (layer, average) when the records hold several averages.
        groups = [(layer, avg) for layer in self.layers for avg in averages] if len(averages) > 1 else [(layer, None) for layer in self.layers]

        def label(layer: str, avg: str | None) -> str:
            return layer if avg is None else f"{layer} ({avg})"

        if noise_only:
            norms = list(dict.fromkeys(r["noise_norm"] for r in self.records))
            header = [f"{quantity} \\ ||eta||"] + [_format(v) for v in norms]
            rows = [[label(layer, avg)] + [_format(self.get(quantity, layer=layer, noise_norm=v, average=avg)) for v in norms]
                    for layer, avg in groups]
        elif all(len(self.select(layer=self.records[0]["layer"], cutoff=c, average=groups[0][1])) == 1 for c in self.cutoffs):
            header = [f"{quantity} \\ cutoff"] + [_format(c) for c in self.cutoffs]
            rows = [[label(layer, avg)] + [_format(self.get(quantity, layer=layer, cutoff=c, average=avg)) for c in self.cutoffs]
                    for layer, avg in groups]
        else:
            keys = ["layer", "cutoff", "temperature", "delta", "D_f", "G_f", "R_f"] + (["average"] if len(averages) > 1 else [])
            header = keys
            rows = [[_format(r.get(k)) for k in keys] for r in self.records]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __str__(self) -> str:
        meta = ", ".join(f"{k}={v}" for k, v in self.metadata.items() if k in _SUMMARY_KEYS)
        return f"StabilityResult({meta})\n{self.table()}"

    def __repr__(self) -> str:
        return f"StabilityResult({len(self.records)} records, layers={self.layers})"

    def __len__(self) -> int:
        return len(self.records)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StabilityResult):
            return NotImplemented
        return all(json_safe(getattr(self, key)) == json_safe(getattr(other, key))
                   for key in ("records", "metadata", "per_image"))


R_F_EXPLANATION = (
    "R_f = D_f / G_f: a layer's sensitivity to smooth deformations relative to noise of the same norm; "
    "below 1 it is more stable to diffeomorphisms than to noise."
)


def _size_label(record: Mapping[str, Any], by_temperature: bool) -> str:
    return f"T={record['temperature']:.3g}" if by_temperature else f"delta={record['delta']:.3g} px"


def _by_temperature(records: Sequence[Mapping[str, Any]]) -> bool:
    """Label by delta when every cutoff was measured at the same typical displacements, else by T."""
    per_cutoff: dict[Any, set[float]] = {}
    for record in records:
        per_cutoff.setdefault(record["cutoff"], set()).add(round(record["delta"], 6))
    return len({frozenset(deltas) for deltas in per_cutoff.values()}) > 1


def stability_table(results: Mapping[str, StabilityResult], quantity: str = "R_f") -> str:
    """The init-vs-best table of fit and probe: one block per (average, size), layers x (cutoff, stage).

    Headed with one line saying what R_f is. A block per average when both the median and
    the mean were measured, a block per typical displacement (or temperature); a sweep with
    many temperatures lists its records instead. A last line gives the fraction of sampled
    fields that were diffeomorphisms (max Xi < 1) when some were not.

    Args:
        results: column label (stage, e.g. ``"init"``, ``"best"``, ``"epoch 12"``) -> result.
        quantity: record key shown in the cells.
    """
    records = [r for result in results.values() for r in result.records if r.get("cutoff") is not None]
    if not records:
        return "(no records)"
    stages = list(results)
    layers = list(dict.fromkeys(r["layer"] for r in records))
    cutoffs = sorted({r["cutoff"] for r in records})
    averages = list(dict.fromkeys(r.get("average", "median") for r in records))
    by_temperature = _by_temperature(records)
    sizes = list(dict.fromkeys(_size_label(r, by_temperature) for r in records))
    lines = [R_F_EXPLANATION] if quantity == "R_f" else []
    if len(sizes) > 6:  # a temperature sweep: a long table, stage by stage
        for stage, result in results.items():
            lines += [f"{stage}:", result.table(quantity)]
        return "\n".join(lines)
    lookup = {
        (stage, r.get("average", "median"), _size_label(r, by_temperature), r["layer"], r["cutoff"]): r.get(quantity)
        for stage, result in results.items()
        for r in result.records
        if r.get("cutoff") is not None
    }
    width = max(len(layer) for layer in layers) + 2
    column = max(8, max(len(s) for s in stages) + 2)
    for average in averages:
        for size in sizes:
            header = " " * width + "".join(f"c={c:g}".rjust(column * len(stages)) for c in cutoffs)
            sub = "layer".ljust(width) + "".join(s.rjust(column) for _ in cutoffs for s in stages)
            lines += ["", f"{quantity} ({average}, {size})", header.rstrip(), sub, "-" * len(sub)]
            for layer in layers:
                cells = "".join(
                    _cell(lookup.get((s, average, size, layer, c))).rjust(column) for c in cutoffs for s in stages
                )
                lines.append(layer.ljust(width) + cells)
    fractions = [r["fraction_diffeomorphic"] for r in records if r.get("fraction_diffeomorphic") is not None]
    if fractions and min(fractions) < 1:
        lines += ["", f"fraction of sampled fields with max Xi < 1 (a diffeomorphism): lowest {min(fractions):.3g}"]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return "nan" if isinstance(value, float) and math.isnan(value) else f"{value:.3g}"


_SUMMARY_KEYS: Sequence[str] = ("model", "n_images", "image_size", "average", "interpolation", "mode", "seed")
