"""An image source: a folder of photographs -> probe images [N, 3, n, n] in [0, 1], with labels where the folders give them.

Two layouts, read with torchvision's and PIL's readers:

* a torchvision ``ImageFolder`` tree, ``DIR/<class>/<image>`` (labels = the class folders);
* a flat folder, ``DIR/<image>`` (no labels).

Every format PIL opens is taken (JPEG, PNG, GIF, BMP, TIFF, WebP, ...), by file ending;
grayscale, RGBA, palette and CMYK images become RGB (``torchvision.datasets.folder.pil_loader``:
``convert("RGB")``, which drops an alpha channel); sizes may differ (the model's transform
resizes and crops). A file PIL cannot decode is skipped, each with its reason. With more files
than ``probe_size``, a seeded random subset is decoded.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

__all__ = ["FolderImages", "image_extensions", "list_images", "load_folder_images"]

Layout = Literal["imagefolder", "flat"]


@dataclass
class FolderImages:
    """Probe images decoded from a folder.

    Attributes:
        images: [N, 3, n, n] float32 in [0, 1].
        paths: the N files, in the order of ``images``.
        targets: [N] class-folder index of each image (``classes``), or None for a flat folder.
        classes: class folder names (``ImageFolder.classes``), or None.
        layout: ``"imagefolder"`` or ``"flat"``.
        found: image files in the folder (by ending).
        skipped: (file, reason) of every file tried that could not be decoded.
        ignored: image files outside the class folders of a tree (not read).
    """

    images: torch.Tensor
    paths: list[Path]
    targets: torch.Tensor | None
    classes: list[str] | None
    layout: Layout
    found: int
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    ignored: int = 0

    def metadata(self) -> dict[str, Any]:
        """What the probe's JSON records about the images."""
        return {"layout": self.layout, "files_found": self.found, "images_probed": len(self.paths),
                "skipped": [[str(path), reason] for path, reason in self.skipped], "classes": self.classes,
                "files": [str(path) for path in self.paths]}


@functools.lru_cache(maxsize=1)
def image_extensions() -> tuple[str, ...]:
    """File endings of every format PIL can open (``.jpg``, ``.png``, ``.gif``, ``.tif``, ``.webp``...)."""
    from PIL import Image

    Image.init()
    return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN))


def _is_image(path: str) -> bool:
    return path.lower().endswith(image_extensions()) and not os.path.basename(path).startswith(".")


def list_images(directory: str | os.PathLike) -> tuple[Layout, list[tuple[Path, int]], list[str] | None, int]:
    """(layout, [(file, class index or -1)], classes or None, image files ignored), without decoding.

    A folder with class subfolders holding images is an ``ImageFolder`` tree (image files beside
    the class folders are ignored and counted); otherwise the image files directly in it.

    Raises:
        FileNotFoundError: not a folder.
        ValueError: no image file.
    """
    from torchvision.datasets import ImageFolder

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"--images {directory}: not a folder")
    top = sorted(entry.path for entry in os.scandir(directory) if entry.is_file() and _is_image(entry.path))
    if any(entry.is_dir() for entry in os.scandir(directory)):
        tree = ImageFolder(str(directory), is_valid_file=_is_image, allow_empty=True)
        if tree.samples:
            samples = [(Path(path), target) for path, target in tree.samples]
            return "imagefolder", samples, list(tree.classes), len(top)
    if not top:
        raise ValueError(f"--images {directory}: no image file in it or in its class folders "
                         f"(formats PIL opens: {', '.join(e for e in image_extensions() if e in _COMMON)}, ...)")
    return "flat", [(Path(path), -1) for path in top], None, 0


_COMMON = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _decode(path: Path) -> tuple[Any, str | None]:
    """(RGB PIL image, None) or (None, why it cannot be read)."""
    from PIL import Image
    from torchvision.datasets.folder import pil_loader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # PIL's note on palette transparency
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return pil_loader(str(path)), None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return None, " ".join(str(error).split()) or type(error).__name__


def load_folder_images(
    directory: str | os.PathLike,
    transform: Callable[[Any], torch.Tensor],
    probe_size: int,
    seed: int = 0,
    listing: tuple[Layout, list[tuple[Path, int]], list[str] | None, int] | None = None,
) -> FolderImages:
    """Decode up to ``probe_size`` images of a folder through ``transform`` (PIL image -> [3, n, n] in [0, 1]).

    Args:
        directory: an ``ImageFolder`` tree or a flat folder.
        transform: the model's geometric preprocessing.
        probe_size: images wanted; with more files, a random subset drawn with ``seed``
            (files that cannot be decoded are replaced by further draws).
        seed: seed of the subset.
        listing: :func:`list_images`' answer, if already made.

    Returns:
        The images in file order, with their class targets for a tree.

    Raises:
        ValueError: no image file, or fewer than 2 that decode.
    """
    layout, samples, classes, ignored = listing if listing is not None else list_images(directory)
    order = range(len(samples))
    if len(samples) > probe_size:
        order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).tolist()
    chosen: list[tuple[int, torch.Tensor]] = []
    skipped: list[tuple[Path, str]] = []
    for index in order:
        if len(chosen) == probe_size:
            break
        image, reason = _decode(samples[index][0])
        if image is None:
            skipped.append((samples[index][0], reason or "unreadable"))
            continue
        chosen.append((index, transform(image)))
    if len(chosen) < 2:
        raise ValueError(f"--images {directory}: {len(chosen)} of {len(samples)} image files could be read; "
                         "the probe needs at least 2")
    chosen.sort(key=lambda pair: pair[0])
    images = torch.stack([tensor for _, tensor in chosen]).float()
    paths = [samples[i][0] for i, _ in chosen]
    targets = torch.tensor([samples[i][1] for i, _ in chosen]) if layout == "imagefolder" else None
    return FolderImages(images, paths, targets, classes, layout, len(samples), skipped, ignored)
