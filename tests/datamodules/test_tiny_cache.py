"""The Tiny ImageNet 32x32 cache: built once, source untouched, rebuilt on change, atomic."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from .dm_helpers import make_tiny_imagenet
from PIL import Image

from lightning_diffeo.datamodules import TinyImageNet32DataModule
from lightning_diffeo.datamodules import tiny_imagenet as tiny


def _tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)} {stat.st_size} {stat.st_mtime_ns}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _count_builds(monkeypatch):
    calls = []
    original = tiny.build_tiny_imagenet_cache
    monkeypatch.setattr(tiny, "build_tiny_imagenet_cache", lambda *a, **k: (calls.append(a), original(*a, **k)))
    return calls


def test_cache_built_once_and_source_untouched(tmp_path, monkeypatch):
    source = make_tiny_imagenet(tmp_path)
    before = _tree_digest(source)
    builds = _count_builds(monkeypatch)
    dm = TinyImageNet32DataModule(data_dir=tmp_path, val_size=2)
    dm.prepare_data()
    dm.setup("fit")
    TinyImageNet32DataModule(data_dir=tmp_path, val_size=3).prepare_data()
    assert len(builds) == 1
    assert _tree_digest(source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-imagenet-200", "tiny-imagenet-200-32x32.npz"]


def test_cache_rebuilt_when_source_changes(tmp_path, monkeypatch):
    source = make_tiny_imagenet(tmp_path)
    TinyImageNet32DataModule(data_dir=tmp_path, val_size=2).prepare_data()
    builds = _count_builds(monkeypatch)
    # Replace one training image by a white one (new size and mtime).
    path = sorted((source / "train" / "n01443537" / "images").glob("*"))[0]
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(path, format="JPEG", quality=100)
    os.utime(path, ns=(1, 1))
    dm = TinyImageNet32DataModule(data_dir=tmp_path, val_size=2, normalize=False)
    dm.prepare_data()
    assert len(builds) == 1
    with np.load(dm.cache_path) as cache:
        assert cache["train_images"][0].mean() > 250  # the first image of class 0 is the white one
    # Adding a file also triggers a rebuild.
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(path.with_name("extra.JPEG"))
    TinyImageNet32DataModule(data_dir=tmp_path, val_size=2).prepare_data()
    assert len(builds) == 2
    with np.load(tmp_path / "tiny-imagenet-200-32x32.npz") as cache:
        assert cache["train_images"].shape[0] == 13


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    make_tiny_imagenet(tmp_path)
    dm = TinyImageNet32DataModule(data_dir=tmp_path, val_size=2)
    dm.cache_path.write_bytes(b"not an npz")
    builds = _count_builds(monkeypatch)
    dm.setup("fit")
    assert len(builds) == 1 and len(dm.train_indices) == 10


def test_interrupted_build_leaves_no_cache(tmp_path, monkeypatch):
    make_tiny_imagenet(tmp_path)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tiny.np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        TinyImageNet32DataModule(data_dir=tmp_path, val_size=2).prepare_data()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-imagenet-200"]


def test_cache_alone_suffices(tmp_path):
    source = make_tiny_imagenet(tmp_path)
    first = TinyImageNet32DataModule(data_dir=tmp_path, val_size=2)
    probe = first.probe_set(size=4)
    for path in sorted(source.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    second = TinyImageNet32DataModule(data_dir=tmp_path, val_size=2)
    again = second.probe_set(size=4)
    assert (probe[0] == again[0]).all() and (probe[1] == again[1]).all()
