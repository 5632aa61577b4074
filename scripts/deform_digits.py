"""Deform a handwritten digit at increasing temperatures and save the picture (Fig. 9 a-c).

Usage: python scripts/deform_digits.py [--out deformed_digits.png] [--cutoff 3] [--size 64]
Uses scikit-learn's bundled digits, so it runs offline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from lightning_diffeo.diffeo import deform, temperature_range, typical_displacement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("deformed_digits.png"))
    parser.add_argument("--cutoff", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    digits = torch.tensor(load_digits().images[:4], dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(digits, size=args.size, mode="bilinear", align_corners=False).clamp(0, 1)
    t_min, t_max = temperature_range(args.size, args.cutoff)
    temperatures = [0.0, t_min, (t_min * t_max) ** 0.5, t_max, 10 * t_max]
    fig, axes = plt.subplots(len(images), len(temperatures), figsize=(2 * len(temperatures), 2 * len(images)))
    for col, temperature in enumerate(temperatures):
        generator = torch.Generator().manual_seed(args.seed)
        out = deform(images, cutoff=args.cutoff, temperature=temperature, generator=generator)
        delta = typical_displacement(temperature, args.cutoff, args.size)
        axes[0, col].set_title(f"T={temperature:.2g}\ndelta={delta:.2g} px", fontsize=9)
        for row in range(len(images)):
            axes[row, col].imshow(out[row, 0], cmap="gray", vmin=0, vmax=1)
            axes[row, col].axis("off")
    fig.suptitle(f"Maximum-entropy diffeomorphisms, c = {args.cutoff:g} (T_max = {t_max:.2g})")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
