"""Provenance: the versions, commit, device, precision and probe-set hash every result records."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import torch

from lightning_diffeo import __version__
from lightning_diffeo.provenance import LIBRARIES, probe_hash, provenance

ROOT = Path(__file__).resolve().parents[2]


def test_provenance_names_the_versions_commit_device_and_precision():
    record = provenance("bf16-mixed", torch.zeros(3, 1, 8, 8))
    assert record["package_version"] == __version__ and record["precision"] == "bf16-mixed"
    for name in LIBRARIES:
        assert record[f"{name}_version"] == metadata.version(name)
    assert record["cpu"] and record["gpu"] is None or torch.cuda.is_available()
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert record["git_commit"] == head.strip()
    assert provenance()["probe_hash"] is None and provenance()["precision"] is None


def test_probe_hash_follows_the_images_not_their_dtype_or_device():
    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert probe_hash(images) == probe_hash(images.clone()) == probe_hash(images.double().float())
    changed = images.clone()
    changed[0, 0, 0, 0] += 1e-3
    assert probe_hash(changed) != probe_hash(images)
    assert probe_hash(images.reshape(2, 2, 8, 8)) != probe_hash(images)  # the shape is part of it
    assert len(probe_hash(images)) == 16
