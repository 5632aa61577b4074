"""Deform a handwritten digit at increasing temperatures and save the picture (Fig. 9 a-c).

Usage: python scripts/deform_digits.py [--out deformed_digits.png] [--cutoff 3] [--size 64] [--seed 0]
Uses scikit-learn's bundled digits, so it runs offline. The picture is drawn on a
``matplotlib.figure.Figure`` (pyplot and the backend are left alone) and written atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from sklearn.datasets import load_digits

from lightning_diffeo._atomic import atomic_write
from lightning_diffeo.diffeo import deform, temperature_range, typical_displacement


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("deformed_digits.png"), help="PNG, PDF or SVG file")
    parser.add_argument("--cutoff", type=float, default=3.0, help="highest mode c of the fields, > 1")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels, >= 8")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fields")
    return parser


def deformed_digits_figure(cutoff: float, size: int, seed: int) -> Figure:
    """Four digits (rows) deformed at T = 0, T_min, sqrt(T_min T_max), T_max, 10 T_max (columns)."""
    digits = torch.tensor(load_digits().images[:4], dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(digits, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
    t_min, t_max = temperature_range(size, cutoff)
    temperatures = [0.0, t_min, (t_min * t_max) ** 0.5, t_max, 10 * t_max]
    fig = Figure(figsize=(2 * len(temperatures), 2 * len(images)))
    axes = fig.subplots(len(images), len(temperatures))
    for col, temperature in enumerate(temperatures):
        generator = torch.Generator().manual_seed(seed)
        out = deform(images, cutoff=cutoff, temperature=temperature, generator=generator)
        delta = typical_displacement(temperature, cutoff, size)
        axes[0, col].set_title(f"T={temperature:.2g}\ndelta={delta:.2g} px", fontsize=9)
        for row in range(len(images)):
            axes[row, col].imshow(out[row, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[row, col].axis("off")
    fig.suptitle(f"Maximum-entropy diffeomorphisms, c = {cutoff:g} (T_max = {t_max:.2g})")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default ``sys.argv[1:]``), draw the figure and write it to ``--out``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.cutoff > 1 or args.cutoff != args.cutoff or args.cutoff == float("inf"):
        parser.error(f"--cutoff must be a finite number > 1, got {args.cutoff!r}")
    if args.size < 8:
        parser.error(f"--size must be an integer >= 8, got {args.size!r}")
    fmt = args.out.suffix.lstrip(".").lower()
    if fmt not in ("png", "pdf", "svg"):
        parser.error(f"--out must end in .png, .pdf or .svg, got {str(args.out)!r}")
    fig = deformed_digits_figure(args.cutoff, args.size, args.seed)
    atomic_write(args.out, lambda temporary: fig.savefig(temporary, format=fmt, dpi=100))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
