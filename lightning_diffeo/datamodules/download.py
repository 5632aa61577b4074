"""Checksummed downloads and safe archive extraction on ``torchvision.datasets.utils``.

Nothing here runs unless a datamodule is built with ``download=True``. URLs may be
``http(s)://`` or ``file://`` (the tests use a loopback server and local files).
torchvision downloads and checks the MD5; this module adds what it leaves out: the file
appears at its destination only once complete and verified (``lightning_diffeo._atomic``),
errors say what failed and what to do, and archive members are checked before extraction.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets.utils import calculate_md5, check_integrity, download_url, extract_archive

from lightning_diffeo._atomic import atomic_write

__all__ = ["Resource", "download_file", "safe_extract", "fetch_resource"]


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


def download_file(url: str, destination: str | os.PathLike[str], md5: str) -> Path:
    """Download ``url`` to ``destination``, verifying its MD5 before it appears there.

    torchvision's ``download_url`` writes to a temporary file beside the destination, which
    is renamed into place only once the checksum matches; a failed or wrong download leaves
    nothing behind.

    Args:
        url: ``http(s)://`` or ``file://`` address.
        destination: Final path of the file.
        md5: Expected MD5 hex digest.

    Returns:
        The destination path.

    Raises:
        ValueError: The download failed or its checksum differs from ``md5``.
    """
    destination = Path(destination)

    def write(temporary: Path) -> None:
        try:
            if urllib.parse.urlparse(url).scheme == "file":  # torchvision's downloader needs a Content-Length
                shutil.copyfile(urllib.request.url2pathname(urllib.parse.urlparse(url).path), temporary)
                if not check_integrity(temporary, md5.lower()):
                    raise RuntimeError("checksum")
            else:
                download_url(url, str(temporary.parent), temporary.name, md5=md5.lower())
        except RuntimeError:  # torchvision's "File not found or corrupted." after a complete download
            got = calculate_md5(temporary) if temporary.is_file() else "no file"
            raise ValueError(
                f"checksum mismatch for {url!r}: expected MD5 {md5}, got {got}; the file was discarded. "
                f"Retry the download, or fetch the file by hand and place it at {str(destination)!r}."
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ValueError(f"could not download {url!r} to {str(destination)!r}: {error}") from error

    return atomic_write(destination, write)


def _check_member(name: str, target: Path) -> None:
    resolved = (target / name).resolve()
    if resolved != target and target not in resolved.parents:
        raise ValueError(f"refusing to extract archive member {name!r}: it would land outside {str(target)!r}")


def _check_tar_members(archive: Path, target: Path) -> None:
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            _check_member(member.name, target)
            if member.issym() or member.islnk():
                link_base = target / Path(member.name).parent if member.issym() else target
                _check_member(str(link_base.relative_to(target) / member.linkname), target)
            if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                raise ValueError(f"refusing to extract special archive member {member.name!r}")


def safe_extract(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Extract a zip or tar archive into ``target`` with torchvision's ``extract_archive``.

    Every member is checked first (absolute paths, ``..`` components, and for tar files
    symbolic or hard links pointing outside, devices and pipes); nothing is written unless
    all of them stay inside ``target``. The archive type comes from the file name
    (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``, ...), as in torchvision.

    Raises:
        ValueError: The archive is not a zip/tar file, is corrupt, or has an escaping member.
    """
    archive, target = Path(archive), Path(target).resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _check_member(name, target)
        elif tarfile.is_tarfile(archive):
            _check_tar_members(archive, target)
        else:
            raise ValueError(f"{str(archive)!r} is neither a zip nor a tar archive")
        target.mkdir(parents=True, exist_ok=True)
        extract_archive(str(archive), str(target))
    except RuntimeError as error:  # torchvision cannot tell the type from the name
        raise ValueError(f"cannot extract {str(archive)!r}: {error}".replace("\n", " ")) from error
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as error:
        raise ValueError(f"corrupt archive {str(archive)!r}: {error}; delete it and download again") from error


def fetch_resource(resource: Resource, folder: str | os.PathLike[str], *, keep_archive: bool = False) -> Path:
    """Download ``resource`` into ``folder`` (skipped if a file with the right MD5 is there) and extract it.

    Returns:
        Path of the downloaded file (removed after extraction unless ``keep_archive``).
    """
    folder = Path(folder)
    path = folder / resource.filename
    if not check_integrity(path, resource.md5.lower()):
        download_file(resource.url, path, resource.md5)
    if resource.extract:
        safe_extract(path, folder)
        if not keep_archive:
            path.unlink()
    return path
