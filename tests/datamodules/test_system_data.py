"""MNIST/FashionMNIST found in the system dataset folders (Debian's layout), on fake files."""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets.utils import calculate_md5

from lightning_diffeo.datamodules import FashionMNISTDataModule, MNISTDataModule

from .dm_helpers import make_mnist

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _debian_folder(tmp_path: Path, seed: int = 0) -> tuple[Path, dict[str, np.ndarray]]:
    """Upstream-named ``.gz`` files, recompressed (another gzip level, so other checksums)."""
    arrays = make_mnist(tmp_path / "upstream", folder="FashionMNIST", seed=seed)
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    system.mkdir()
    for name in NAMES:
        data = gzip.decompress((tmp_path / "upstream" / "FashionMNIST" / "raw" / f"{name}.gz").read_bytes())
        (system / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=0))
    return system, arrays


@pytest.fixture
def capture_info():
    """Records of Lightning's rank-zero logger (it does not propagate to the root logger)."""
    records: list[str] = []
    handler = logging.Handler(level=logging.INFO)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def _labels(dm) -> torch.Tensor:
    return torch.cat([labels for _, labels in dm.test_dataloader()])


def test_reads_the_system_folder_when_data_dir_has_nothing(tmp_path, monkeypatch, capture_info):
    system, arrays = _debian_folder(tmp_path)
    monkeypatch.setattr(FashionMNISTDataModule, "system_data_dirs", (str(tmp_path / "absent"), system))  # str or Path
    resources = FashionMNISTDataModule.resources
    recompressed = calculate_md5(system / "train-images-idx3-ubyte.gz")
    assert recompressed not in {resource.md5 for resource in resources}
    # download=True with unreachable sources: proves nothing is fetched or checksummed.
    monkeypatch.setattr(FashionMNISTDataModule, "resources", tuple(
        type(r)(f"http://127.0.0.1:9/{r.filename}", r.filename, r.md5) for r in resources))
    data = tmp_path / "data"
    dm = FashionMNISTDataModule(data_dir=data, val_size=10, download=True)
    assert dm.search_dirs() == [data / "FashionMNIST" / "raw", tmp_path / "absent", system]
    dm.prepare_data()
    dm.setup("test")
    assert dm.source_dir() == system
    assert _labels(dm).tolist() == arrays["test_labels"].tolist()
    assert capture_info == [f"FashionMNISTDataModule: reading the IDX files in {str(system)!r}"]
    assert not data.exists()  # nothing written into data_dir


def test_data_dir_files_come_first(tmp_path, monkeypatch):
    system, _ = _debian_folder(tmp_path, seed=0)
    monkeypatch.setattr(FashionMNISTDataModule, "system_data_dirs", (system,))
    local = make_mnist(tmp_path / "data", folder="FashionMNIST", n_test=30, seed=1)
    dm = FashionMNISTDataModule(data_dir=tmp_path / "data", val_size=10)
    assert dm.source_dir() == tmp_path / "data" / "FashionMNIST" / "raw"
    assert _labels(dm).tolist() == local["test_labels"].tolist()


def test_an_incomplete_folder_is_skipped_whole(tmp_path, monkeypatch):
    system, arrays = _debian_folder(tmp_path)
    monkeypatch.setattr(FashionMNISTDataModule, "system_data_dirs", (system,))
    make_mnist(tmp_path / "data", folder="FashionMNIST", seed=1)
    (tmp_path / "data" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    dm = FashionMNISTDataModule(data_dir=tmp_path / "data", val_size=10)
    assert dm.source_dir() == system  # never a mix of two folders
    assert _labels(dm).tolist() == arrays["test_labels"].tolist()


def test_not_found_names_every_place_looked(tmp_path, monkeypatch):
    system, _ = _debian_folder(tmp_path)
    (system / "train-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(FashionMNISTDataModule, "system_data_dirs", (system,))
    dm = FashionMNISTDataModule(data_dir=tmp_path / "data")
    with pytest.raises(ValueError, match="data not found") as info:
        dm.setup("fit")
    message = str(info.value)
    assert str(tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte[.gz]") in message
    assert f"Also looked in {str(system)!r} (install it with `sudo apt-get install dataset-fashion-mnist`)" in message
    assert "download=True" in message and "\n" not in message


def test_a_corrupt_system_file_is_named(tmp_path, monkeypatch):
    system, _ = _debian_folder(tmp_path)
    path = system / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-5]))
    monkeypatch.setattr(FashionMNISTDataModule, "system_data_dirs", (system,))
    with pytest.raises(ValueError, match=f"truncated or corrupt IDX file '{path}'"):
        FashionMNISTDataModule(data_dir=tmp_path / "data").probe_set()


def test_mnist_searches_its_own_system_folder(tmp_path, monkeypatch):
    system, arrays = _debian_folder(tmp_path)
    mnist_system = tmp_path / "mnist"
    shutil.copytree(system, mnist_system)
    monkeypatch.setattr(MNISTDataModule, "system_data_dirs", (mnist_system,))
    dm = MNISTDataModule(data_dir=tmp_path / "data", val_size=10)
    assert dm.source_dir() == mnist_system
    assert _labels(dm).tolist() == arrays["test_labels"].tolist()
