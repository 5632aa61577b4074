"""Training-batch augmentation: the datamodules' batched transform vs torchvision v2 per image.

Random crop (4-pixel padding) + horizontal flip on a batch of 128 uint8 3x32x32 images, ours
batched against torchvision v2 applied image by image, side by side in one run, median of
repeats; also with the Diffeo augmentation added. Prints ratios and writes JSON.

Usage: python benchmarks/bench_augmentation.py [--repeats 50] [--out benchmarks/results/augmentation.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torchvision.transforms.v2 as v2

from lightning_diffeo.datamodules import BatchTransform


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/augmentation.json"))
    args = parser.parse_args()
    images = torch.randint(0, 256, (128, 3, 32, 32), dtype=torch.uint8)
    half = (0.5, 0.5, 0.5)
    ours = BatchTransform(half, half, random_crop=True, horizontal_flip=True)
    ours_diffeo = BatchTransform(half, half, random_crop=True, horizontal_flip=True, diffeo={"cutoff": (3, 15)})
    reference = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.RandomCrop(32, padding=4),
                            v2.RandomHorizontalFlip(), v2.Normalize(half, half)])
    timings = {
        "ours_crop_flip": _median_ms(lambda: ours(images), args.repeats),
        "torchvision_per_image_crop_flip": _median_ms(lambda: torch.stack([reference(x) for x in images]), args.repeats),
        "ours_crop_flip_diffeo": _median_ms(lambda: ours_diffeo(images), args.repeats),
    }
    ratio = timings["torchvision_per_image_crop_flip"] / timings["ours_crop_flip"]
    for name, value in timings.items():
        print(f"{name:<34} {value:8.2f} ms per batch of 128")
    print(f"speed-up of the batched crop + flip over torchvision per image: x{ratio:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"ms_per_batch": timings, "speedup": ratio, "threads": torch.get_num_threads(),
                               "cpu_count": os.cpu_count()}, indent=2))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
