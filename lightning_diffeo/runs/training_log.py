"""A resumed run keeps its training log: the rows of ``metrics.csv`` up to its checkpoint carry over.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` when a run's logger starts in a folder that
already holds one. Before fitting from a checkpoint, the rows logged up to the checkpoint's
step are kept in ``.metrics-carried.csv`` beside it, replayed into the logger through its public
``log_metrics`` and saved; the side file goes once ``metrics.csv`` holds them again, and a
crash in between finds it at the next resume. Rows after the checkpoint (a killed epoch's)
are dropped: that epoch is trained again.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lightning_diffeo._atomic import atomic_write_text

__all__ = ["CARRIED_FILE", "METRICS_FILE", "carry_over_metrics", "epoch_metrics"]

METRICS_FILE = "metrics.csv"
CARRIED_FILE = ".metrics-carried.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _number(text: str | None) -> float | None:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def carry_over_metrics(logger: Any, global_step: int) -> int:
    """Keep the rows of the logger's ``metrics.csv`` logged at or before ``global_step``; return how many.

    Args:
        logger: the trainer's logger; only a Lightning ``CSVLogger`` (whose folder holds a
            ``metrics.csv``) is handled, any other is left alone.
        global_step: the checkpoint's ``global_step``.
    """
    from lightning.pytorch.loggers import CSVLogger

    if not isinstance(logger, CSVLogger):
        return 0
    folder = Path(logger.log_dir)
    metrics, carried = folder / METRICS_FILE, folder / CARRIED_FILE
    source = carried if carried.is_file() else metrics
    if not source.is_file():
        return 0
    rows = [row for row in _rows(source) if (_number(row.get("step", "")) or 0) <= global_step]
    if source is metrics:
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        atomic_write_text(carried, buffer.getvalue())
    for row in rows:
        values = {key: int(number) if key == "epoch" and number.is_integer() else number
                  for key, text in row.items() if key != "step" and text not in ("", None)
                  and (number := _number(text)) is not None}
        logger.log_metrics(values, step=int(float(row["step"])))
    logger.save()
    carried.unlink()
    return len(rows)


def epoch_metrics(run_dir: str | Path) -> dict[int, dict[str, float]]:
    """The training log of a run by epoch: ``{epoch: {metric: value}}`` from its ``metrics.csv``.

    Epochs are 0-based as Lightning counts them; each metric keeps the last value logged in
    its epoch (the epoch-level ``train/acc``, ``val/acc``, ...). The stability measurements
    (``stability/...``), the test metrics (``test/...``, logged after training), ``step`` and
    per-step values (``*_step``) are left out. An empty dict when the run has no ``metrics.csv``.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    epochs: dict[int, dict[str, float]] = {}
    for row in _rows(path):
        epoch = _number(row.get("epoch"))
        if epoch is None:
            continue
        values = epochs.setdefault(int(epoch), {})
        for key, text in row.items():
            if key in ("epoch", "step") or key.startswith(("stability/", "test/")) or key.endswith("_step"):
                continue
            number = _number(text)
            if number is not None:
                values[key] = number
    return {epoch: values for epoch, values in sorted(epochs.items()) if values}
