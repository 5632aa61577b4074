"""Rows left out of a statistic because a quantity it averages is NaN or infinite, and the warning that says so.

A point of a figure or statistic averages D_f, G_f, R_f (and test error where it uses it) over
the same runs: a row with any of them NaN or infinite is left out of all of them, so that ``n``,
the error bars and the titles count what was averaged. Each figure or statistic then warns once
(``NonFiniteWarning``), naming the runs left out.

Statistics built from other statistics (a figure from ``architecture_points``, which calls
``aggregate``) gather what their parts left out with ``collect_dropped`` and warn once for all.
"""

from __future__ import annotations

import contextvars
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Dropped", "NonFiniteWarning", "collect_dropped", "dropped_as", "merge_dropped", "note_dropped",
           "note_merged", "required_quantities", "split_finite", "warn_dropped"]

NON_FINITE = "non_finite"
"""Column of the rows left out: the quantities that were NaN or infinite, comma-separated."""

_RUNS_SHOWN = 20


@dataclass(frozen=True, eq=False)
class Dropped:
    """The rows one figure or statistic left out.

    Attributes:
        what: the figure (its file stem) or statistic (e.g. ``"aggregated.csv"``, ``"correlations"``).
        rows: the rows left out, with the columns of the table and ``non_finite`` (which quantities
            were NaN or infinite).
    """

    what: str
    rows: pd.DataFrame

    @property
    def runs(self) -> list[str]:
        """Run ids of the rows left out, sorted."""
        if "run_id" not in self.rows.columns:
            return []
        return sorted(map(str, self.rows["run_id"].dropna().unique()))

    @property
    def quantities(self) -> list[str]:
        """The quantities found NaN or infinite, in the order D_f, G_f, R_f, test_error."""
        found = {q for text in self.rows[NON_FINITE] for q in str(text).split(", ") if q}
        order = ("D_f", "G_f", "R_f", "test_error")
        return [q for q in order if q in found] + sorted(found - set(order))

    def message(self, limit: int | None = _RUNS_SHOWN) -> str:
        """One line: how many rows, which quantities, which runs (the first ``limit``; None: all)."""
        rows, runs = len(self.rows), self.runs
        shown = runs if limit is None or len(runs) <= limit else runs[:limit]
        more = f" and {len(runs) - len(shown)} more" if len(shown) < len(runs) else ""
        return (f"{self.what}: left out {rows} row{'' if rows == 1 else 's'} with NaN or infinite "
                f"{', '.join(self.quantities)} from {len(runs)} run{'' if len(runs) == 1 else 's'} "
                f"({', '.join(shown)}{more}); n counts the runs averaged")


class NonFiniteWarning(UserWarning):
    """Rows with a NaN or infinite D_f, G_f, R_f or test error were left out; ``dropped`` says which."""

    def __init__(self, dropped: Dropped) -> None:
        super().__init__(dropped.message())
        self.dropped = dropped


def split_finite(rows: pd.DataFrame, required: dict[str, pd.Series | bool]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, left out): the rows whose every required quantity is finite, and the others.

    Args:
        rows: rows of the study table.
        required: quantity -> where it is required (a boolean Series over ``rows``, or True for
            every row).

    Returns:
        The kept rows, and the rows left out with a ``non_finite`` column naming their NaN or
        infinite quantities.
    """
    bad = pd.DataFrame(index=rows.index)
    for quantity, where in required.items():
        values = pd.to_numeric(rows[quantity], errors="coerce").to_numpy(float)
        bad[quantity] = ~np.isfinite(values) & (np.asarray(where, dtype=bool) if not isinstance(where, bool)
                                                else where)
    left = bad.any(axis=1) if len(bad.columns) else pd.Series(False, index=rows.index)
    dropped = rows[left].copy()
    names = pd.Series("", index=dropped.index, dtype=object)
    for quantity in bad.columns:
        names = names.where(~bad.loc[left, quantity], names + quantity + ", ")
    dropped[NON_FINITE] = names.str.rstrip(", ")
    return rows[~left], dropped


_COLLECTORS: contextvars.ContextVar[tuple[list[pd.DataFrame], ...]] = contextvars.ContextVar(
    "lightning_diffeo_analysis_dropped", default=())


@contextmanager
def collect_dropped() -> Iterator[list[pd.DataFrame]]:
    """Inside this block, rows that statistics leave out are gathered in the yielded list instead of warned about.

    For a figure or statistic built from several others: it warns once, with ``merge_dropped``.
    """
    bucket: list[pd.DataFrame] = []
    token = _COLLECTORS.set((*_COLLECTORS.get(), bucket))
    try:
        yield bucket
    finally:
        _COLLECTORS.reset(token)


@contextmanager
def dropped_as(what: str, stacklevel: int = 1) -> Iterator[list[pd.DataFrame]]:
    """Everything the statistics in this block leave out is noted once, as ``what`` (see ``note_dropped``).

    ``stacklevel``: 1 points a warning at the caller of the function holding the block, 2 at its caller, ...
    """
    with collect_dropped() as parts:
        yield parts
    merged = merge_dropped(parts, what)
    if merged is not None:
        note_dropped(merged.rows, what, stacklevel=stacklevel + 3)


def merge_dropped(parts: Iterable[pd.DataFrame], what: str, **where: object) -> Dropped | None:
    """The rows of ``parts`` (each row of the table once) whose columns equal ``where``, as one Dropped.

    None when there are none.
    """
    frames = [part for part in parts if not part.empty]
    if not frames:
        return None
    rows = pd.concat(frames)
    rows = rows[~rows.index.duplicated(keep="first")]
    for column, value in where.items():
        if column in rows.columns:
            rows = rows[rows[column] == value]
    return Dropped(what, rows) if not rows.empty else None


def note_merged(parts: Iterable[pd.DataFrame], what: str, stacklevel: int = 2, **where: object) -> Dropped | None:
    """``merge_dropped`` of ``parts``, noted once as ``what`` (warned about, or collected); None if nothing."""
    dropped = merge_dropped(parts, what, **where)
    if dropped is not None:
        note_dropped(dropped.rows, what, stacklevel + 1)
    return dropped


def warn_dropped(dropped: Dropped | None, stacklevel: int = 2) -> Dropped | None:
    """Warn (``NonFiniteWarning``) about ``dropped`` unless it is None; return it."""
    if dropped is not None:
        warnings.warn(NonFiniteWarning(dropped), stacklevel=stacklevel + 1)
    return dropped


def note_dropped(rows: pd.DataFrame, what: str, stacklevel: int = 2) -> Dropped | None:
    """Hand rows left out to the innermost ``collect_dropped`` block, or else warn once about them.

    Returns:
        The Dropped warned about, None when nothing was left out or a block collected it.
    """
    if rows.empty:
        return None
    collectors = _COLLECTORS.get()
    if collectors:
        collectors[-1].append(rows)
        return None
    return warn_dropped(Dropped(what, rows), stacklevel + 1)


def required_quantities(rows: pd.DataFrame, quantities: Sequence[str]) -> dict[str, pd.Series | bool]:
    """Where each of ``quantities`` must be finite for a row to count.

    D_f and R_f on every row but noise-only rows (``kind == "noise"``, which measure only G_f);
    G_f on every row; test error on every row where the rows have one at all (a column of NaN
    only is a study without test runs: left NaN, not required).
    """
    noise = rows["kind"].eq("noise") if "kind" in rows.columns else pd.Series(False, index=rows.index)
    required: dict[str, pd.Series | bool] = {}
    for quantity in quantities:
        if quantity in ("D_f", "R_f"):
            required[quantity] = ~noise
        elif quantity == "test_error":
            values = pd.to_numeric(rows[quantity], errors="coerce").to_numpy(float)
            required[quantity] = bool(np.isfinite(values).any())
        else:
            required[quantity] = True
    return required
