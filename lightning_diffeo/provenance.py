"""Where a result came from: package and library versions, git commit, device, precision, probe set.

Every result file (``run.json``, ``stability.json``) and every collected row carries these, so
that numbers that move with the CPU's arithmetic or a library version can be traced.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["FIELDS", "LIBRARIES", "probe_hash", "provenance"]

LIBRARIES = ("torch", "lightning", "timm", "torchvision")
# The keys of a provenance record, in order: where a result came from, never what was measured.
FIELDS = ("package_version", "git_commit", *(f"{name}_version" for name in LIBRARIES), "python_version",
          "cpu", "gpu", "precision", "probe_hash")


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """The commit of the checkout the package is installed from (editable installs), else None."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> str | None:
    torch = sys.modules.get("torch")  # never imported here just to ask
    if torch is None or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(torch.cuda.current_device())


def probe_hash(images: Any) -> str:
    """The first 16 hex digits of the SHA-256 of the probe images' float32 bytes (shape included)."""
    array = images.detach().cpu().float().contiguous().numpy()
    digest = hashlib.sha256(repr(tuple(array.shape)).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def provenance(precision: str | None = None, probe: Any = None) -> dict[str, Any]:
    """The provenance record: versions, commit, device, training precision and the probe set's hash.

    Args:
        precision: the trainer's precision (e.g. ``"32-true"``, ``"bf16-mixed"``), if any.
        probe: the probe images ``[N, C, n, n]`` (hashed), if any.
    """
    from lightning_diffeo import __version__

    record: dict[str, Any] = {"package_version": __version__, "git_commit": _git_commit()}
    record.update({f"{name}_version": _version(name) for name in LIBRARIES})
    record.update(python_version=platform.python_version(), cpu=_cpu(), gpu=_gpu(), precision=precision,
                  probe_hash=probe_hash(probe) if probe is not None else None)
    return record
