"""The result of a stability measurement: one record per (layer, cutoff, temperature)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning_diffeo._atomic import atomic_write_text

__all__ = ["StabilityResult", "json_safe"]

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
    model class, seed and settings.

    Example:
        >>> r = StabilityResult([{"layer": "output", "cutoff": 3.0, "temperature": 0.01,
        ...                       "delta": 1.0, "R_f": 0.5}])
        >>> r.get(layer="output", cutoff=3)
        0.5
    """

    def __init__(self, records: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any] | None = None) -> None:
        self.records: list[dict[str, Any]] = [dict(record) for record in records]
        self.metadata: dict[str, Any] = dict(metadata or {})

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

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write ``{"metadata": ..., "records": [...]}`` as strict JSON, atomically.

        NaN is written as null (read back as NaN). The file is written next to ``path`` and
        moved into place with ``os.replace``, so a reader never sees a partial file.
        """
        payload = json_safe({"metadata": self.metadata, "records": self.records})
        return atomic_write_text(path, json.dumps(payload, indent=1, allow_nan=False))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> StabilityResult:
        """Load a result written by :meth:`to_json`."""
        with open(path, encoding="utf-8") as stream:
            payload = json.load(stream)
        if not isinstance(payload, dict) or "records" not in payload:
            raise ValueError(f"{path} is not a StabilityResult JSON file (expected keys 'metadata' and 'records')")
        records = [{k: _from_json_value(k, v) for k, v in record.items()} for record in payload["records"]]
        return cls(records, payload.get("metadata"))

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
        return json_safe(self.records) == json_safe(other.records) and json_safe(self.metadata) == json_safe(other.metadata)


_SUMMARY_KEYS: Sequence[str] = ("model", "n_images", "image_size", "average", "interpolation", "mode", "seed")
