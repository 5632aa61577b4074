"""The probe of pretrained-size models at 224 px against the bare forward passes it needs, and its memory plan.

Models: timm's ``resnet50`` and ``vit_base_patch16_224``, randomly initialised and built as
``lightning-diffeo probe --model timm:NAME`` builds them (``load_pretrained``: the model's own
normalisation, its default probe layers: ResNet-50's stem and four stages, five evenly spaced
ViT blocks each over all tokens and over patch tokens only, plus the output).

Speed (``--repeats``, default 3): on N random 224x224 images (``--n-images``, default 32),
cutoff 3 at delta = 1 pixel and one diffeomorphism per image, ``measure_stability`` needs 3
forward passes over the N images (clean, deformed, noisy). Timed in turn within one run, each
repeat in the same order:

* ``bare``: those 3 passes of ``model(normalize(batch))`` under ``no_grad`` in eval mode, same
  batches;
* ``output``: ``measure_stability(model, images, layers="output")``;
* ``default layers``: ``measure_stability`` on the default probe layers.

Eval mode for all three (a random-init probe runs in ``init`` mode by default, where the batch
is the whole probe set: the comparison of passes is the same). The headline is the median of
the per-repeat ratios of process CPU time (robust to other jobs on the machine) and of wall
time; with ``--max-memory`` unset the plan is "as requested" (no layer split).

Memory (``--memory-images``, default 500; 0 skips): one measurement of the default layers on
N images in a fresh interpreter per model, within ``--max-memory`` (default: the package's
default budget), timed, reporting the plan (batch, layer groups, forward passes), the estimate
and the live peak. The live peak is measured as ``tests/stability/test_memory_peak.py`` does:
glibc's mmap threshold fixed at 128 kB so the resident set follows the live tensors, the
kernel's high-water mark reset just before the call and read after it.

Usage::

    python benchmarks/bench_pretrained.py                             # speed (N = 32) and memory (N = 500)
    python benchmarks/bench_pretrained.py --memory-images 0 --repeats 5
    python benchmarks/bench_pretrained.py --models resnet50 --memory-images 500 --max-memory 6GB
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

from lightning_diffeo._atomic import atomic_write_text
from lightning_diffeo.evaluation import load_pretrained
from lightning_diffeo.stability import measure_stability
from lightning_diffeo.stability.probe import batch_slices

MODELS = ("resnet50", "vit_base_patch16_224")
SETTINGS = {"cutoffs": [3], "deltas": [1.0], "diffeos_per_image": 1, "average": ["median", "mean"]}
PASSES = 3  # clean, deformed, noisy


def _images(count: int, size: int) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(0))


def _clock(fn) -> tuple[float, float]:
    """(wall, process CPU) seconds of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _measure(built, images: torch.Tensor, layers, batch_size: int, max_memory=None) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = measure_stability(built.model, images, normalize=built.normalize, layers=layers, mode="eval",
                                   batch_size=batch_size, generator=torch.Generator().manual_seed(0),
                                   progress=False, max_memory=max_memory, **SETTINGS)
    return result.metadata


def _bare(built, images: torch.Tensor, batch_size: int) -> None:
    with torch.no_grad():
        for _ in range(PASSES):
            for part in batch_slices(images.shape[0], batch_size):
                built.model(built.normalize(images[part]))


def bench_speed(name: str, count: int, repeats: int, batch_size: int) -> dict:
    torch.manual_seed(0)
    built = load_pretrained(f"timm:{name}")
    built.model.eval()
    images = _images(count, built.image_size)
    _bare(built, images[:2], 2)  # warm-up
    runs = {"bare": lambda: _bare(built, images, batch_size),
            "output": lambda: _measure(built, images, "output", batch_size),
            "default layers": lambda: _measure(built, images, list(built.layers), batch_size)}
    wall: dict[str, list[float]] = {key: [] for key in runs}
    cpu: dict[str, list[float]] = {key: [] for key in runs}
    for repeat in range(repeats):
        for key, fn in runs.items():
            w, c = _clock(fn)
            wall[key].append(w)
            cpu[key].append(c)
        print(f"[{name}] repeat {repeat + 1}/{repeats}: "
              + ", ".join(f"{key} {wall[key][-1]:.1f}s (CPU {cpu[key][-1]:.1f}s)" for key in runs), flush=True)
    plan = _measure(built, images[:4], list(built.layers), batch_size)["memory"]["plan"]
    ratios = {}
    for key in ("output", "default layers"):
        per_cpu = [p / b for p, b in zip(cpu[key], cpu["bare"])]
        per_wall = [p / b for p, b in zip(wall[key], wall["bare"])]
        ratios[key] = {"cpu_median": statistics.median(per_cpu), "cpu_range": [min(per_cpu), max(per_cpu)],
                       "wall_median": statistics.median(per_wall), "wall_range": [min(per_wall), max(per_wall)]}
    print(f"[{name}] N = {count}, {len(built.layers)} default layers, plan {plan!r}: ratio to the bare passes, "
          f"CPU time (median [range]) output {_fmt(ratios['output'], 'cpu')}, default layers "
          f"{_fmt(ratios['default layers'], 'cpu')}; wall {_fmt(ratios['output'], 'wall')}, "
          f"{_fmt(ratios['default layers'], 'wall')}", flush=True)
    return {"model": name, "n_images": count, "layers": list(built.layers), "plan": plan, "wall_s": wall,
            "cpu_s": cpu, "ratios": ratios}


def _fmt(ratio: dict, clock: str) -> str:
    low, high = ratio[f"{clock}_range"]
    return f"{ratio[f'{clock}_median']:.3f} [{low:.3f}, {high:.3f}]"


def memory_child(name: str, count: int, batch_size: int, max_memory: str | None) -> None:
    """One measurement of the default layers in this fresh process; prints its plan and live peak as JSON."""
    torch.manual_seed(0)
    built = load_pretrained(f"timm:{name}")
    built.model.eval()
    images = _images(count, built.image_size)
    _bare(built, images[:2], 2)
    import tqdm.auto  # noqa: F401  (imported by the progress bar: not the measurement's memory)

    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as stream:
        stream.write("5")  # the high-water mark of the resident set, reset to the current one
    base = _status("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    metadata = _measure(built, images, list(built.layers), batch_size, max_memory)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"peak": _status("VmHWM") - base, "memory": metadata["memory"],
                      "batch_size": metadata["batch_size"], "wall_s": wall, "cpu_s": cpu}))


def _status(key: str) -> int:
    with open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def bench_memory(name: str, count: int, batch_size: int, max_memory: str | None, threads: int) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    command = [sys.executable, __file__, "--memory-child", name, "--memory-images", str(count),
               "--batch-size", str(batch_size), "--threads", str(threads)]
    if max_memory is not None:
        command += ["--max-memory", max_memory]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory run of {name} failed:\n{done.stderr[-3000:]}")
    values = json.loads(done.stdout.strip().splitlines()[-1])
    memory = values["memory"]
    print(f"[{name}] N = {count}: plan {memory['plan']!r}, batch {values['batch_size']}, "
          f"{len(memory['groups'])} layer group(s), {memory['forward_passes']} forward passes over N "
          f"(as asked {memory['forward_passes_as_requested']}); budget {_gb(memory['max_memory'])}, "
          f"estimate {_gb(memory['estimate'])} (as asked {_gb(memory['estimate_as_requested'])}), "
          f"live peak {_gb(values['peak'])}; {values['wall_s']:.0f} s wall, {values['cpu_s']:.0f} s CPU", flush=True)
    return {"model": name, "n_images": count, **values}


def _gb(value: int | None) -> str:
    return "none" if value is None else f"{value / 1e9:.2f} GB"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--n-images", type=int, default=32, help="images of the speed comparison")
    parser.add_argument("--repeats", type=int, default=3, help="speed repeats (0: skip the speed comparison)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--memory-images", type=int, default=500, help="images of the memory run (0: skip it)")
    parser.add_argument("--max-memory", default=None, help="budget of the memory run (default: the package's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--memory-child", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child, args.memory_images, args.batch_size, args.max_memory)
        return {}
    report = {
        "benchmark": "bench_pretrained", "settings": {**SETTINGS, "batch_size": args.batch_size,
                                                     "max_memory": args.max_memory},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "speed": [bench_speed(name, args.n_images, args.repeats, args.batch_size)
                  for name in args.models if args.repeats],
        "memory": [bench_memory(name, args.memory_images, args.batch_size, args.max_memory, args.threads)
                   for name in args.models if args.memory_images],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = atomic_write_text(args.out / "bench_pretrained.json", json.dumps(report, indent=1))
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
