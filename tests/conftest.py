"""Under pytest-xdist, each worker's torch takes its share of the cores instead of all of them.

Set before any test module imports torch; subprocesses (the CLI tests) inherit it. A user's own
``OMP_NUM_THREADS`` stands.
"""
from __future__ import annotations

import os

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))
