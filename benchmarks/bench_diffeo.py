"""Throughput of lightning_diffeo.diffeo against a straightforward per-image implementation.

For 500 images of 3x32x32 and 1x28x28, cutoffs 3 and 15, bilinear and Gaussian interpolation:
images per second of ``deform`` (one batched call, a field per image, sampling included) and of
``reference_diffeo.reference_deform`` called once per image (dense O(n^4) Gaussian), timed side
by side in one process: within each repeat every call is made once in turn, and each ratio is
the median over repeats of the ratio within a repeat. Bilinear is also compared with a bare
identity ``grid_sample`` on the same batch (what any resampling must cost at least), and
``deform`` is split into its parts (coefficient draws, sampling grid, ``grid_sample``). Also the
largest difference between the truncated Gaussian and the dense sum on the same fields.

Usage: python benchmarks/bench_diffeo.py [--images 500] [--repeats 11] [--threads 1] [--out benchmarks/results/diffeo.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_diffeo import reference_deform, reference_gaussian  # noqa: E402

from lightning_diffeo.diffeo import (  # noqa: E402
    deform,
    remap,
    sample_coefficients,
    sample_displacement,
    sampling_grid,
    temperature_from_displacement,
)


CLOCK = {"clock": time.perf_counter}  # --clock cpu: process CPU time, robust to other jobs on a shared machine


def _interleaved_seconds(functions: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each function per repeat, the functions called in turn within every repeat.

    Interleaving exposes every function to the same machine state (frequency, other jobs), so
    ratios taken within a repeat are robust where separate medians are not.
    """
    for fn in functions.values():
        fn()  # warm-up
    clock = CLOCK["clock"]
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def _median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def _gaussian_error(images: torch.Tensor, temperature: float, cutoff: float) -> float:
    n = images.shape[-1]
    count = min(20, len(images))
    fields = sample_displacement(count, n, temperature, cutoff, generator=torch.Generator().manual_seed(1))
    ours = remap(images[:count], fields, "gaussian")
    dense = torch.stack([reference_gaussian(images[i], fields[i]) for i in range(count)])
    return float((ours - dense).abs().max())


def _warm_up(n_images: int) -> None:
    """Run every path once so that first-call costs (allocator growth, kernels) are not timed."""
    for channels, n in ((3, 32), (1, 28)):
        images = torch.rand(n_images, channels, n, n)
        for interpolation in ("bilinear", "gaussian"):
            deform(images, cutoff=3, delta=1.0, interpolation=interpolation)
            reference_deform(images[0], 1e-3, 3, interpolation, torch.Generator().manual_seed(0))


INTERPOLATIONS = {"chosen": ("bilinear", "gaussian")}


def _functions(images: torch.Tensor, temperature: float, cutoff: float, interpolation: str) -> dict:
    """The timed calls of one configuration: ``deform``, the per-image loop, and for bilinear an
    identity ``grid_sample`` and the three parts of ``deform``."""
    count, n = images.shape[0], images.shape[-1]
    ours_gen, ref_gen, part_gen = (torch.Generator().manual_seed(0) for _ in range(3))
    functions = {
        "ours": lambda: deform(images, cutoff=cutoff, temperature=temperature, interpolation=interpolation, generator=ours_gen),
        "reference": lambda: [reference_deform(image, temperature, cutoff, interpolation, ref_gen) for image in images],
    }
    if interpolation == "bilinear":
        axis = torch.linspace(-1, 1, n)
        identity = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).expand(count, n, n, 2).contiguous()
        coefficients = sample_coefficients(count, temperature, cutoff, generator=part_gen)
        grid = sampling_grid(coefficients, n)

        def sample(g):
            return F.grid_sample(images, g, mode="bilinear", padding_mode="border", align_corners=True)

        functions.update({
            "identity_grid_sample": lambda: sample(identity),
            "coefficients": lambda: sample_coefficients(count, temperature, cutoff, generator=part_gen),
            "grid": lambda: sampling_grid(coefficients, n),
            "grid_sample": lambda: sample(grid),
        })
    return functions


def run(n_images: int, repeats: int) -> list[dict]:
    _warm_up(n_images)
    rows = []
    for channels, n in ((3, 32), (1, 28)):
        images = torch.rand(n_images, channels, n, n, generator=torch.Generator().manual_seed(0))
        for cutoff in (3, 15):
            temperature = temperature_from_displacement(1.0, cutoff, n)
            for interpolation in INTERPOLATIONS["chosen"]:
                count = max(3, repeats // 2) if interpolation == "gaussian" else repeats  # the dense sum is slow
                times = _interleaved_seconds(_functions(images, temperature, cutoff, interpolation), count)
                median = {name: statistics.median(values) for name, values in times.items()}
                row = {
                    "shape": f"{channels}x{n}x{n}",
                    "cutoff": cutoff,
                    "interpolation": interpolation,
                    "images": n_images,
                    "repeats": count,
                    "ours_images_per_s": n_images / median["ours"],
                    "reference_images_per_s": n_images / median["reference"],
                    # median over repeats of the ratio taken within each repeat
                    "speedup": _median_ratio(times["reference"], times["ours"]),
                }
                if interpolation == "gaussian":
                    row["max_abs_error_vs_dense"] = _gaussian_error(images, temperature, cutoff)
                else:
                    row.update({f"{name}_s": median[name] for name in ("identity_grid_sample", "coefficients", "grid", "grid_sample")})
                    row["ratio_to_identity_grid_sample"] = _median_ratio(times["ours"], times["identity_grid_sample"])
                rows.append(row)
                extra = (f"  max|ours - dense| = {row['max_abs_error_vs_dense']:.1e}" if "max_abs_error_vs_dense" in row
                         else f"  x{row['ratio_to_identity_grid_sample']:.2f} an identity grid_sample "
                              f"(draws {row['coefficients_s'] * 1e3:.2f} ms, grid {row['grid_s'] * 1e3:.2f} ms, "
                              f"grid_sample {row['grid_sample_s'] * 1e3:.2f} ms, identity {row['identity_grid_sample_s'] * 1e3:.2f} ms)")
                print(
                    f"{row['shape']:>8} c={cutoff:<3} {interpolation:<9} ours {row['ours_images_per_s']:>10.0f} img/s"
                    f"  per-image {row['reference_images_per_s']:>8.0f} img/s  speedup x{row['speedup']:.1f}{extra}",
                    flush=True,
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: process CPU time (with one thread, robust to other jobs on a shared machine)")
    parser.add_argument("--interpolations", nargs="+", choices=["bilinear", "gaussian"], default=["bilinear", "gaussian"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/diffeo.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    CLOCK["clock"] = time.process_time if args.clock == "cpu" else time.perf_counter
    INTERPOLATIONS["chosen"] = tuple(args.interpolations)
    machine = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "clock": args.clock,
    }
    print(f"machine: {machine}")
    rows = run(args.images, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"machine": machine, "results": rows}, indent=2))
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
