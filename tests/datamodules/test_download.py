"""Downloads against a loopback HTTP server and file:// URLs; safe extraction."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest
import torch
from .dm_helpers import make_cifar10, make_mnist, make_tiny_imagenet

from lightning_diffeo.datamodules import CIFAR10DataModule, MNISTDataModule, TinyImageNet32DataModule
from torchvision.datasets.utils import calculate_md5

from lightning_diffeo.datamodules.download import Resource, download_file, safe_extract


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        try:
            super().do_GET()
        except (ConnectionResetError, BrokenPipeError):
            pass  # torchvision's redirect probe is a GET it closes after the headers


@pytest.fixture
def server(tmp_path):
    """Serves ``tmp_path / "www"`` on 127.0.0.1; yields (base URL, folder, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, handler.requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def _tiny_archive(tmp_path: Path, www: Path) -> Path:
    source = make_tiny_imagenet(tmp_path / "build")
    return _zip_folder(source, www / "tiny-imagenet-200.zip")


def test_tiny_imagenet_download_over_http(tmp_path, server, monkeypatch):
    url, www, requests = server
    archive = _tiny_archive(tmp_path, www)
    monkeypatch.setattr(TinyImageNet32DataModule, "resources",
                        (Resource(f"{url}/tiny-imagenet-200.zip", "tiny-imagenet-200.zip", calculate_md5(archive), True),))
    data = tmp_path / "data"
    dm = TinyImageNet32DataModule(data_dir=data, val_size=2, download=True)
    dm.prepare_data()
    # torchvision probes for redirects with a GET it closes after the headers, then downloads.
    assert set(requests) == {"/tiny-imagenet-200.zip"}
    count = len(requests)
    assert (data / "tiny-imagenet-200" / "wnids.txt").is_file() and dm.cache_path.is_file()
    assert not (data / "tiny-imagenet-200.zip").exists()
    dm.setup("fit")
    assert len(dm.train_indices) == 10
    dm.prepare_data()  # present: no second download
    assert len(requests) == count


def test_wrong_checksum_leaves_nothing(tmp_path, server, monkeypatch):
    url, www, requests = server
    _tiny_archive(tmp_path, www)
    monkeypatch.setattr(TinyImageNet32DataModule, "resources",
                        (Resource(f"{url}/tiny-imagenet-200.zip", "tiny-imagenet-200.zip", "0" * 32, True),))
    data = tmp_path / "data"
    with pytest.raises(ValueError, match=r"checksum mismatch for 'http://127\.0\.0\.1:\d+/tiny-imagenet-200\.zip': "
                                         r"expected MD5 0{32}, got [0-9a-f]{32}"):
        TinyImageNet32DataModule(data_dir=data, download=True).prepare_data()
    assert list(data.iterdir()) == []


def test_no_download_unless_asked(tmp_path, server, monkeypatch):
    url, www, requests = server
    archive = _tiny_archive(tmp_path, www)
    monkeypatch.setattr(TinyImageNet32DataModule, "resources",
                        (Resource(f"{url}/tiny-imagenet-200.zip", "tiny-imagenet-200.zip", calculate_md5(archive), True),))
    with pytest.raises(ValueError, match="data not found"):
        TinyImageNet32DataModule(data_dir=tmp_path / "data").prepare_data()
    assert requests == []


def test_unreachable_url(tmp_path, server, monkeypatch):
    url, _, _ = server
    monkeypatch.setattr(CIFAR10DataModule, "resources",
                        (Resource(f"{url}/missing.tar.gz", "cifar-10-python.tar.gz", "0" * 32, True),))
    with pytest.raises(ValueError, match="could not download .*missing.tar.gz"):
        CIFAR10DataModule(data_dir=tmp_path / "data", download=True).prepare_data()


def test_mnist_download_from_file_urls(tmp_path, monkeypatch):
    arrays = make_mnist(tmp_path / "src")
    raw = tmp_path / "src" / "MNIST" / "raw"
    monkeypatch.setattr(MNISTDataModule, "resources", tuple(
        Resource(path.as_uri(), path.name, calculate_md5(path)) for path in sorted(raw.iterdir())))
    dm = MNISTDataModule(data_dir=tmp_path / "data", download=True, val_size=5, normalize=False)
    dm.prepare_data()
    assert sorted(p.name for p in (tmp_path / "data" / "MNIST" / "raw").iterdir()) == sorted(p.name for p in raw.iterdir())
    images, labels = dm.probe_set(size=20)
    assert sorted(labels.tolist()) == sorted(arrays["test_labels"].tolist())


def test_cifar_download_tar_gz(tmp_path, server, monkeypatch):
    url, www, _ = server
    make_cifar10(tmp_path / "src")
    with tarfile.open(www / "cifar.tar.gz", "w:gz") as tf:
        tf.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10DataModule, "resources",
                        (Resource(f"{url}/cifar.tar.gz", "cifar-10-python.tar.gz", calculate_md5(www / "cifar.tar.gz"), True),))
    dm = CIFAR10DataModule(data_dir=tmp_path / "data", download=True, val_size=10)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_indices) == 50 and next(iter(dm.train_dataloader()))[0].dtype == torch.float32


def test_zip_member_escaping_is_rejected(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/file.txt", "fine")
        zf.writestr("../escaped.txt", "bad")
    target = tmp_path / "target"
    with pytest.raises(ValueError, match="refusing to extract archive member '../escaped.txt'"):
        safe_extract(archive, target)
    assert not (tmp_path / "escaped.txt").exists() and not (target / "ok").exists()


@pytest.mark.parametrize("kind", ["absolute", "symlink"])
def test_tar_member_escaping_is_rejected(tmp_path, kind):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("/tmp/escaped.txt" if kind == "absolute" else "link")
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "../../outside"
            tf.addfile(info)
        else:
            info.size = 3
            tf.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(ValueError, match="refusing to extract archive member"):
        safe_extract(archive, tmp_path / "target")
    assert not (tmp_path / "target" / "link").exists()


def test_not_an_archive(tmp_path):
    path = tmp_path / "plain.zip"
    path.write_bytes(b"hello")
    with pytest.raises(ValueError, match=r"^'.*plain\.zip' is neither a zip nor a tar archive$"):
        safe_extract(path, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_archive_type_comes_from_the_name(tmp_path):
    archive = tmp_path / "data.bin"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(ValueError, match=r"^cannot extract '.*data\.bin': Unknown compression or archive type: '\.bin'"):
        safe_extract(archive, tmp_path / "t")


def test_truncated_tar_gz_is_reported(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "big.bin").write_bytes(bytes(range(256)) * 4000)
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(source, arcname="src")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(ValueError, match=r"^corrupt archive '.*data\.tar\.gz': .*delete it and download again$"):
        safe_extract(archive, tmp_path / "t")


def test_download_file_replaces_nothing_on_failure(tmp_path, server):
    url, www, requests = server
    (www / "a.bin").write_bytes(b"new content")
    destination = tmp_path / "out" / "a.bin"
    destination.parent.mkdir()
    destination.write_bytes(b"old content")
    with pytest.raises(ValueError, match=r"checksum mismatch .*the file was discarded"):
        download_file(f"{url}/a.bin", destination, "0" * 32)
    assert destination.read_bytes() == b"old content"
    assert sorted(p.name for p in destination.parent.iterdir()) == ["a.bin"]
    good = calculate_md5(www / "a.bin")
    assert download_file(f"{url}/a.bin", destination, good.upper()) == destination
    assert destination.read_bytes() == b"new content"


def test_file_url_checksum_and_missing_file(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"payload")
    destination = tmp_path / "out" / "copy.bin"
    with pytest.raises(ValueError, match=r"^checksum mismatch for 'file://.*src\.bin': expected MD5 0{32}, got "):
        download_file(source.as_uri(), destination, "0" * 32)
    assert not destination.exists()
    with pytest.raises(ValueError, match=r"^could not download 'file://.*absent\.bin' to "):
        download_file((tmp_path / "absent.bin").as_uri(), destination, "0" * 32)
    assert download_file(source.as_uri(), destination, calculate_md5(source)).read_bytes() == b"payload"
    assert sorted(p.name for p in destination.parent.iterdir()) == ["copy.bin"]
