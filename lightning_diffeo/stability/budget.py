"""How much memory a measurement may use by default: a safe fraction of what is available.

On the CPU, "available" is the kernel's ``MemAvailable`` (free memory plus what it can reclaim
without swapping), lowered to the headroom of the process's memory cgroup when one limits it
(a SLURM job or a container: ``MemAvailable`` then describes the whole machine, not what the
job may take). On a CUDA device it is the device's free memory (``torch.cuda.mem_get_info``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["CPU_MEMORY_FRACTION", "DEVICE_MEMORY_FRACTION", "available_memory", "default_max_memory", "format_bytes"]

CPU_MEMORY_FRACTION = 0.7
"""Share of the available RAM a measurement plans for by default (the estimate errs by up to ~30%)."""
DEVICE_MEMORY_FRACTION = 0.8
"""Share of a CUDA device's free memory a measurement plans for by default."""
_NO_LIMIT = 2**60  # cgroup v1 writes "no limit" as a number near 2^63


def format_bytes(count: float) -> str:
    """Bytes in decimal units with three significant digits: ``format_bytes(3.2e9) == '3.2 GB'``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} B"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (cgroup v2): no limit


def _reclaimable(stat: Path) -> int:
    """The cgroup's inactive page cache (``inactive_file``), which the kernel reclaims before failing."""
    try:
        for line in stat.read_text(encoding="ascii").splitlines():
            key, _, value = line.partition(" ")
            if key == "inactive_file":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_headroom() -> int | None:
    """The least (limit - usage + inactive page cache) over the process's memory cgroup and its parents."""
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    headroom = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            root, limit_file, usage_file = Path("/sys/fs/cgroup"), "memory.max", "memory.current"
        elif "memory" in controllers.split(","):  # cgroup v1
            root, limit_file, usage_file = Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        folder = root / path.lstrip("/")
        while True:
            limit, usage = _read_int(folder / limit_file), _read_int(folder / usage_file)
            if limit is not None and usage is not None and limit < _NO_LIMIT:
                room = max(0, limit - usage + _reclaimable(folder / "memory.stat"))
                headroom = room if headroom is None else min(headroom, room)
            if folder == root:
                break
            folder = folder.parent
    return headroom


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes available now on ``device`` (None where the platform does not say)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    found = [value for value in (_meminfo_available(), _cgroup_headroom()) if value is not None]
    return min(found) if found else None


def default_max_memory(device: torch.device | str = "cpu") -> int | None:
    """The default budget: :data:`CPU_MEMORY_FRACTION` of the available RAM, or on a CUDA device
    :data:`DEVICE_MEMORY_FRACTION` of its free memory (None: unknown, no limit)."""
    device = torch.device(device)
    available = available_memory(device)
    if available is None:
        return None
    fraction = DEVICE_MEMORY_FRACTION if device.type == "cuda" else CPU_MEMORY_FRACTION
    return int(fraction * available)
