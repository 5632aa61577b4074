"""Checksummed downloads and safe archive extraction, standard library only.

Nothing here runs unless a datamodule is built with ``download=True``. URLs may be
``http(s)://`` or ``file://`` (the tests use a loopback server and local files).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["Resource", "file_md5", "download_file", "safe_extract", "fetch_resource"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """One file to download.

    Attributes:
        url: Where to get it.
        filename: Name to store it under, relative to the destination folder.
        md5: Expected MD5 hex digest of the downloaded file.
        extract: Whether the file is an archive (zip, tar, tar.gz) to unpack in place.
    """

    url: str
    filename: str
    md5: str
    extract: bool = False


def file_md5(path: str | os.PathLike[str]) -> str:
    """MD5 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, destination: str | os.PathLike[str], md5: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination``, verifying its MD5 before it appears there.

    The bytes go to a temporary file in the destination folder, which is renamed into
    place only once the checksum matches; a wrong checksum leaves nothing behind.

    Args:
        url: ``http(s)://`` or ``file://`` address.
        destination: Final path of the file.
        md5: Expected MD5 hex digest.
        timeout: Socket timeout in seconds.

    Returns:
        The destination path.

    Raises:
        ValueError: The download failed or its checksum differs from ``md5``.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    digest = hashlib.md5()
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - user-chosen URL
            except OSError as error:
                raise ValueError(f"could not download {url!r} to {str(destination)!r}: {error}") from error
            with response:
                total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
                with tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                          desc=f"downloading {destination.name}", leave=False) as bar:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        got = digest.hexdigest()
        if got != md5.lower():
            raise ValueError(
                f"checksum mismatch for {url!r}: expected MD5 {md5}, got {got}; the file was discarded. "
                "Retry the download, or fetch the file by hand and place it at "
                f"{str(destination)!r}."
            )
        os.replace(tmp_name, destination)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return destination


def _check_member(name: str, target: Path) -> None:
    resolved = (target / name).resolve()
    if resolved != target and target not in resolved.parents:
        raise ValueError(f"refusing to extract archive member {name!r}: it would land outside {str(target)!r}")


def safe_extract(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Extract a zip or tar archive into ``target``, rejecting members that escape it.

    Every member name is checked (absolute paths, ``..`` components, and for tar files
    symbolic or hard links pointing outside) before anything is written.

    Raises:
        ValueError: The archive is not a zip/tar file, is corrupt, or has an escaping member.
    """
    archive, target = Path(archive), Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _check_member(name, target)
                zf.extractall(target)
            return
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for member in members:
                    _check_member(member.name, target)
                    if member.issym() or member.islnk():
                        link_base = target / Path(member.name).parent if member.issym() else target
                        _check_member(str(link_base.relative_to(target) / member.linkname), target)
                    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                        raise ValueError(f"refusing to extract special archive member {member.name!r}")
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(target, members=members, filter="data")
                else:  # pragma: no cover - Python < 3.11.4; the members were checked above
                    tf.extractall(target, members=members)
            return
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise ValueError(f"corrupt archive {str(archive)!r}: {error}; delete it and download again") from error
    raise ValueError(f"{str(archive)!r} is neither a zip nor a tar archive")


def fetch_resource(resource: Resource, folder: str | os.PathLike[str], *, keep_archive: bool = False) -> Path:
    """Download ``resource`` into ``folder`` (skipped if a file with the right MD5 is there) and extract it.

    Returns:
        Path of the downloaded file (removed after extraction unless ``keep_archive``).
    """
    folder = Path(folder)
    path = folder / resource.filename
    if not (path.is_file() and file_md5(path) == resource.md5.lower()):
        download_file(resource.url, path, resource.md5)
    if resource.extract:
        safe_extract(path, folder)
        if not keep_archive:
            path.unlink()
    return path
