"""Lower medians of the rows of a buffer, by selection (the authors' median, ``torch.median``).

Medians are lower medians (the smaller of the two middle values for an even count). They
are computed by selection (``numpy.partition``, split over threads) on the CPU and by
``torch.kthvalue`` on other devices, which picks the same element. Squared differences and
squared distances are never negative, and non-negative IEEE floats order as their bit
patterns do: those buffers are selected as integers (``nonnegative=True``), about twice as
fast as a float selection, which must order NaN.

:func:`lower_median_columns` selects along the columns of an [M, D] buffer (the layout in which
squared differences are formed, one row per perturbed image) without a transposed copy of the
whole buffer: blocks of columns are transposed into a small scratch array that stays in cache,
and its rows are selected there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

__all__ = ["lower_median_columns", "lower_median_rows"]

_MIN_PARALLEL_ELEMENTS = 1 << 20  # below ~4 MB a thread pool costs more than it saves
_COLUMN_BLOCK_ELEMENTS = 1 << 17  # elements of one transposed block of columns (512 kB of float32: cache-sized)
_AS_INTEGERS = {torch.float32: np.int32, torch.float64: np.int64}


def _partition_rows(rows: np.ndarray, kth: int) -> np.ndarray:
    rows.partition(kth, axis=1)  # in place: no copy of the buffer
    return rows[:, kth].copy()


def lower_median_rows(values: torch.Tensor, *, destroy: bool = False, nonnegative: bool = False) -> torch.Tensor:
    """Lower median of every row of ``values`` [D, M]: the ((M - 1) // 2)-th smallest entry.

    Equal, element for element, to ``values.median(dim=1).values`` (which also computes
    indices and runs on one thread). On the CPU the rows are split over
    ``torch.get_num_threads()`` threads, each running ``numpy.partition``.

    Args:
        values: [D, M] floating tensor without NaN, rows contiguous for speed.
        destroy: allow reordering ``values`` in place (saves a copy of the buffer).
        nonnegative: the caller guarantees every entry is >= 0 (or -0.0): the rows are then
            selected on the integer view of their bits, which orders them the same way.

    Returns:
        [D] medians, same dtype and device as ``values``.
    """
    count = values.shape[1]
    kth = (count - 1) // 2
    if values.device.type != "cpu" or values.dtype not in (torch.float32, torch.float64):
        return values.kthvalue(kth + 1, dim=1).values
    work = values if destroy and values.is_contiguous() else values.contiguous().clone()
    floats = work.numpy()
    array = floats.view(_AS_INTEGERS[values.dtype]) if nonnegative else floats
    threads = min(torch.get_num_threads(), array.shape[0])
    if threads <= 1 or array.size < _MIN_PARALLEL_ELEMENTS:
        medians = _partition_rows(array, kth)
    else:
        chunks = np.array_split(array, threads)  # views: each thread partitions its own rows
        with ThreadPoolExecutor(threads) as pool:
            medians = np.concatenate(list(pool.map(_partition_rows, chunks, [kth] * threads)))
    return torch.from_numpy(medians.view(floats.dtype))


def _select_columns(values: np.ndarray, kth: int, out: np.ndarray, start: int, stop: int) -> None:
    """Write the kth smallest entry of columns ``start:stop`` of ``values`` [M, D] into ``out``."""
    count = values.shape[0]
    width = max(1, _COLUMN_BLOCK_ELEMENTS // count)
    scratch = np.empty((min(width, stop - start), count), dtype=values.dtype)
    for begin in range(start, stop, width):
        end = min(begin + width, stop)
        block = scratch[:end - begin]
        np.copyto(block, values[:, begin:end].T)  # a transposed block, in cache
        block.partition(kth, axis=1)
        out[begin:end] = block[:, kth]


def lower_median_columns(values: torch.Tensor, *, nonnegative: bool = False) -> torch.Tensor:
    """Lower median of every column of ``values`` [M, D]: the ((M - 1) // 2)-th smallest entry.

    Equal, element for element, to ``values.median(dim=0).values`` and to
    ``lower_median_rows(values.T)``; ``values`` is left unchanged. On the CPU, blocks of columns
    are transposed into a cache-sized scratch array and selected there (``numpy.partition``),
    the columns split over ``torch.get_num_threads()`` threads; elsewhere ``torch.kthvalue``.

    Args:
        values: [M, D] floating tensor without NaN, rows contiguous for speed.
        nonnegative: the caller guarantees every entry is >= 0 (or -0.0): the columns are then
            selected on the integer view of their bits, which orders them the same way.

    Returns:
        [D] medians, same dtype and device as ``values``.
    """
    count, dim = values.shape
    kth = (count - 1) // 2
    if values.device.type != "cpu" or values.dtype not in (torch.float32, torch.float64):
        return values.kthvalue(kth + 1, dim=0).values
    floats = values.numpy() if values.is_contiguous() else values.contiguous().numpy()
    array = floats.view(_AS_INTEGERS[values.dtype]) if nonnegative else floats
    out = np.empty(dim, dtype=array.dtype)
    threads = min(torch.get_num_threads(), dim)
    if threads <= 1 or array.size < _MIN_PARALLEL_ELEMENTS:
        _select_columns(array, kth, out, 0, dim)
    else:
        bounds = np.linspace(0, dim, threads + 1).astype(int)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda i: _select_columns(array, kth, out, bounds[i], bounds[i + 1]), range(threads)))
    return torch.from_numpy(out.view(floats.dtype))
