"""Lower medians of the rows of a buffer, by selection (the authors' median, ``torch.median``).

Medians are lower medians (the smaller of the two middle values for an even count). They
are computed by selection (``numpy.partition``, split over threads) on the CPU and by
``torch.kthvalue`` on other devices, which picks the same element. Squared differences and
squared distances are never negative, and non-negative IEEE floats order as their bit
patterns do: those buffers are selected as integers (``nonnegative=True``), about twice as
fast as a float selection, which must order NaN.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

__all__ = ["lower_median_rows"]

_MIN_PARALLEL_ELEMENTS = 1 << 20  # below ~4 MB a thread pool costs more than it saves
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
