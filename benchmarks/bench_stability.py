"""Probe overhead of measure_stability over the bare forward passes it needs, and its peak memory.

For a ResNet18-like and a LeNet-like model on N random 3x32x32 images, cutoffs 3, 5, 15 and one
diffeomorphism per image, measure_stability needs 1 + 2 * (items) forward passes over the N
images (clean, then a deformed and a noisy batch per (cutoff, temperature) item):
``--protocol default`` (delta = 1 pixel: 3 items, 7 passes) or ``--protocol full`` (the paper's
30-temperature sweep per cutoff: 90 items, 181 passes). The benchmark times, side by side in
one run and repeated:

* ``bare``: those 7 passes of plain ``model(batch)`` under ``torch.no_grad`` in eval mode,
  same batch size, same chunking;
* ``output``: ``measure_stability(model, images, layers="output")``;
* ``all_layers``: ``measure_stability(model, images)`` with every default probe layer;

* ``perturb``: the perturbations alone (fields, resampling, noise, the distortion check) for
  the same items and seed;

and reports the ratios ``output / bare`` and ``all_layers / bare`` of the fastest of the
repeats (other processes sharing the CPU only ever slow a run down, so the minimum is the
robust estimate), and the median of the per-repeat ratios; also the median of the per-repeat ratios of process CPU
time (with one thread, other jobs on a shared machine barely change it). Peak memory is the
high-water mark of the process RSS sampled every 5 ms during one call made in a fresh
interpreter (model built, images made, one warm-up batch), minus the RSS just before the call
(plus ``torch.cuda.max_memory_allocated`` on CUDA).

``--reductions`` also times the estimator reductions alone against reference copies of the
first version's (``torch.median(dim=0)``, the masked float64-centred pair denominator).
``--large-n N`` times the share of the pair denominators in one default LeNet call on N images.
``--breakdown`` times each part of the probe's extra work alone (fields, resampling, distortion
check, noise draw, perturbation arithmetic, numerator reductions) against the bare passes.
``--repeats 0`` skips the model comparison. ``--no-memory`` skips the peak-memory runs.
``--average median`` measures one average only (the first version's default; both averages
share the forward passes). Runs with ``--threads`` torch threads (default 1).

Usage::

    python benchmarks/bench_stability.py                       # 500 images, 5 repeats, CPU
    python benchmarks/bench_stability.py --models lenet --protocol full --reductions
    python benchmarks/bench_stability.py --n-images 100 --repeats 1 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from torch import nn

from lightning_diffeo.stability import measure_stability
from lightning_diffeo.stability.probe import batch_slices

CUTOFFS = (3, 5, 15)
CPU_TIMES: list[float] = []  # process CPU time of the last timed call(s): robust to other jobs on the machine
SETTINGS: dict = {"protocol": "default", "average": ("median", "mean"), "memory": True}  # set by main()


def _protocol_kwargs() -> dict:
    return {"sweep": True} if SETTINGS["protocol"] == "full" else {"deltas": (1.0,)}


def _passes() -> int:
    return 1 + 2 * len(CUTOFFS) * (30 if SETTINGS["protocol"] == "full" else 1)


# ---------------------------------------------------------------- fallback models
class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18Like(nn.Module):
    """CIFAR-style ResNet18 (3x3 stem, [2, 2, 2, 2] basic blocks, 64-512 channels)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        stages, cin = [], 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(_Block(cin, cout, stride), _Block(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)
        self.probe_layers = ("stem", "layer1", "layer2", "layer3", "layer4", "pool", "output")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(self.pool(x).flatten(1))


class LeNetLike(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.stage2 = nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Sequential(nn.Linear(16 * 25, 120), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(120, 84), nn.ReLU())
        self.head = nn.Linear(84, classes)
        self.probe_layers = ("stage1", "stage2", "fc1", "fc2", "output")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc2(self.fc1(self.stage2(self.stage1(x)).flatten(1))))


def build(name: str) -> tuple[nn.Module, str]:
    """The package's model when lightning_diffeo.models provides it, else the local stand-in."""
    try:
        from lightning_diffeo.models import create_model

        return create_model({"resnet": "resnet18", "lenet": "lenet"}[name], in_channels=3, image_size=32), "lightning_diffeo.models"
    except Exception as error:  # noqa: BLE001 - any failure falls back to the stand-in
        print(f"[{name}] lightning_diffeo.models unavailable ({type(error).__name__}: {error}); using the local model")
        return (ResNet18Like() if name == "resnet" else LeNetLike()), "benchmark stand-in"


# ---------------------------------------------------------------- measurement
def _rss_bytes() -> int:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak RSS increase over the block, sampled every ``interval`` s (Linux /proc)."""

    def __init__(self, device: torch.device, interval: float = 0.005) -> None:
        self.device, self.interval = device, interval
        self.peak_rss = 0
        self.cuda_peak = 0

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._max = max(self._max, _rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
            self._cuda_base = torch.cuda.memory_allocated(self.device)
        self._base = self._max = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, _rss_bytes())
        self.peak_rss = self._max - self._base
        if self.device.type == "cuda":
            self.cuda_peak = torch.cuda.max_memory_allocated(self.device) - self._cuda_base


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_forward(model: nn.Module, images: torch.Tensor, passes: int, batch_size: int) -> float:
    """Seconds for ``passes`` plain forward passes over ``images`` in the same chunks."""
    _sync(images.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for _ in range(passes):
            for part in batch_slices(images.shape[0], batch_size):
                model(images[part])
    _sync(images.device)
    CPU_TIMES.append(time.process_time() - cpu_start)
    return time.perf_counter() - start


def timed_measure(model: nn.Module, images: torch.Tensor, layers, batch_size: int) -> float:
    """Seconds of one ``measure_stability`` call (its process CPU time goes to ``CPU_TIMES``)."""
    _sync(images.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    average = SETTINGS["average"]
    measure_stability(model, images, cutoffs=CUTOFFS, layers=layers, batch_size=batch_size,
                      average=average if len(average) > 1 else average[0],
                      generator=torch.Generator().manual_seed(0), progress=False, **_protocol_kwargs())
    _sync(images.device)
    CPU_TIMES.append(time.process_time() - cpu_start)
    return time.perf_counter() - start


def perturbations_only(images: torch.Tensor) -> float:
    """Seconds to draw the perturbations ``measure_stability`` needs (fields, resampling, noise, distortion check)."""
    from lightning_diffeo.stability.measure import work_items
    from lightning_diffeo.stability.perturb import perturb

    kwargs = _protocol_kwargs()
    items = work_items(images.shape[-1], CUTOFFS, kwargs.get("deltas"), None, kwargs.get("sweep", False))
    generator = torch.Generator().manual_seed(0)
    _sync(images.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for cutoff, temperature, _ in items:
        perturb(images, images, cutoff=cutoff, temperature=temperature, generator=generator)
    _sync(images.device)
    CPU_TIMES.append(time.process_time() - cpu_start)
    return time.perf_counter() - start


def memory_child(name: str, probe: str, n_images: int, batch_size: int, device: str) -> None:
    """Run one measurement in this (fresh) process and print its peak memory as JSON."""
    torch.manual_seed(0)
    model = build(name)[0].to(device).eval()
    images = torch.rand(n_images, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    bare_forward(model, images[:batch_size], 1, batch_size)
    if probe == "bare":
        with PeakMemory(images.device) as peak:
            bare_forward(model, images, _passes(), batch_size)
    else:
        # The sampling thread costs CPU time: memory is measured here only, never in the timed repeats.
        with PeakMemory(images.device) as peak:
            timed_measure(model, images, "output" if probe == "output" else None, batch_size)
    print(json.dumps({"peak_rss": peak.peak_rss, "cuda_peak": peak.cuda_peak}))


def fresh_process_memory(name: str, probe: str, n_images: int, batch_size: int, device: str) -> dict[str, float]:
    """Peak memory of one measurement in a fresh interpreter (no allocator state from other runs)."""
    command = [sys.executable, __file__, "--memory-child", name, probe, "--n-images", str(n_images),
               "--batch-size", str(batch_size), "--device", device, "--protocol", SETTINGS["protocol"],
               "--average", *SETTINGS["average"], "--threads", str(torch.get_num_threads())]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    values = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"rss_mib": values["peak_rss"] / 2**20, "cuda_mib": values["cuda_peak"] / 2**20}


def bench_model(name: str, images: torch.Tensor, repeats: int, batch_size: int) -> dict:
    torch.manual_seed(0)
    model, source = build(name)
    model = model.to(images.device).eval()
    passes = _passes()
    layers = list(getattr(model, "probe_layers", ("output",)))
    bare_forward(model, images[:batch_size], 1, batch_size)  # warm-up
    times: dict[str, list[float]] = {"bare": [], "perturb": [], "output": [], "all_layers": []}
    cpu: dict[str, list[float]] = {"bare": [], "perturb": [], "output": [], "all_layers": []}
    for repeat in range(repeats):
        times["bare"].append(bare_forward(model, images, passes, batch_size))
        cpu["bare"].append(CPU_TIMES[-1])
        times["perturb"].append(perturbations_only(images))
        cpu["perturb"].append(CPU_TIMES[-1])
        for key, probe in (("output", "output"), ("all_layers", None)):
            times[key].append(timed_measure(model, images, probe, batch_size))
            cpu[key].append(CPU_TIMES[-1])
        print(f"[{name}] repeat {repeat + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s (CPU {cpu[k][-1]:.2f}s)" for k, v in times.items()), flush=True)
    median = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    empty = {"rss_mib": float("nan"), "cuda_mib": float("nan")}
    memory = {key: fresh_process_memory(name, key, images.shape[0], batch_size, str(images.device))
              if SETTINGS["memory"] else empty for key in ("bare", "output", "all_layers")}
    result = {
        "model": name, "model_source": source, "model_class": type(model).__name__, "layers": layers,
        "forward_passes": passes, "times_s": times, "median_s": median, "min_s": best,
        # headline: ratio of the fastest runs (robust to other processes sharing the CPU)
        "ratio_output": best["output"] / best["bare"],
        "ratio_all_layers": best["all_layers"] / best["bare"],
        "ratio_output_median_of_repeats": statistics.median(o / b for o, b in zip(times["output"], times["bare"])),
        "ratio_all_layers_median_of_repeats": statistics.median(a / b for a, b in zip(times["all_layers"], times["bare"])),
        "peak_rss_mib": {k: v["rss_mib"] for k, v in memory.items()},
        # CPU time of the process (1 thread): other jobs on a shared machine barely change it
        "cpu_s": cpu,
        "cpu_ratio_output": statistics.median(o / b for o, b in zip(cpu["output"], cpu["bare"])),
        "cpu_ratio_all_layers": statistics.median(a / b for a, b in zip(cpu["all_layers"], cpu["bare"])),
        # the perturbations alone, as a fraction of the bare passes (part of every probe's overhead)
        "cpu_ratio_perturbations": statistics.median(p / b for p, b in zip(cpu["perturb"], cpu["bare"])),
    }
    if images.device.type == "cuda":
        result["peak_cuda_mib"] = {k: v["cuda_mib"] for k, v in memory.items()}
    print(f"[{name}] ratio (fastest runs) output-only {result['ratio_output']:.3f}, all layers {result['ratio_all_layers']:.3f}; "
          f"median of per-repeat ratios {result['ratio_output_median_of_repeats']:.3f}, "
          f"{result['ratio_all_layers_median_of_repeats']:.3f}; CPU-time ratios {result['cpu_ratio_output']:.3f}, "
          f"{result['cpu_ratio_all_layers']:.3f} (perturbations alone {result['cpu_ratio_perturbations']:.3f}); "
          f"peak RSS increase bare forwards {result['peak_rss_mib']['bare']:.0f} MiB, "
          f"output {result['peak_rss_mib']['output']:.0f} MiB, "
          f"all layers {result['peak_rss_mib']['all_layers']:.0f} MiB", flush=True)
    return result


def _reference_median(squares: torch.Tensor) -> float:
    return float(squares.median(dim=0).values.double().sum())


def _reference_pair_median(features: torch.Tensor, chunk_size: int = 1024) -> float:
    count = features.shape[0]
    centred = (features.double() - features.double().mean(dim=0, keepdim=True)).float()
    norms = centred.square().sum(dim=1)
    upper = []
    for start in range(0, count - 1, chunk_size):
        stop = min(start + chunk_size, count - 1)
        block = norms[start:stop, None] + norms[None, :] - 2.0 * centred[start:stop] @ centred.T
        mask = torch.arange(count)[None, :] > torch.arange(start, stop)[:, None]
        upper.append(block[mask].clamp_min_(0.0))
    return float(torch.cat(upper).median())


def _best_of(fn, repeats: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def bench_reductions(repeats: int) -> list[dict]:
    """The estimator reductions alone, new against the first version's, on the same data."""
    from lightning_diffeo.stability import NumeratorAccumulator, pair_denominators

    rows = []
    g = torch.Generator().manual_seed(0)
    for label, rows_count, dim in (("LeNet stage1", 500, 6 * 28 * 28), ("ResNet18 layer1", 500, 64 * 32 * 32)):
        clean = torch.rand(rows_count, dim, generator=g).clamp_min(0.5) - 0.5  # sparse, as after a ReLU
        perturbed = clean + 0.1 * torch.randn(rows_count, dim, generator=g)
        squares = (perturbed - clean).square()

        def new() -> float:
            accumulator = NumeratorAccumulator("median", rows_count, dim)
            accumulator.add(perturbed, clean)
            return accumulator.value()

        def old() -> float:
            return _reference_median(torch.sub(perturbed, clean).square_())

        t_old, v_old = _best_of(old, repeats)
        t_new, v_new = _best_of(new, repeats)
        rows.append({"reduction": f"median numerator [{rows_count}, {dim}] ({label})", "first_version_s": t_old,
                     "now_s": t_new, "speedup": t_old / t_new, "identical": v_old == v_new})
        del squares
    for count, dim in ((500, 4704), (5000, 400)):
        features = torch.rand(count, dim, generator=g)
        t_old, v_old = _best_of(lambda: _reference_pair_median(features), max(1, repeats // 2))
        t_new, v_new = _best_of(lambda: pair_denominators(features, "median")["median"], max(1, repeats // 2))
        rows.append({"reduction": f"median pair denominator N={count}, D={dim}", "first_version_s": t_old,
                     "now_s": t_new, "speedup": t_old / t_new, "relative_difference": abs(v_new - v_old) / v_old})
    for row in rows:
        print(f"[reductions] {row['reduction']}: first version {row['first_version_s'] * 1e3:.1f} ms, "
              f"now {row['now_s'] * 1e3:.1f} ms (x{row['speedup']:.1f})", flush=True)
    return rows


def bench_large_n(count: int) -> dict:
    """Share of the pair denominators in one default call of LeNet on ``count`` images.

    Times ``measure_stability`` (delta = 1 pixel, 7 passes), the bare passes, and
    ``pair_denominators`` alone on the same clean activations of every probed layer.
    """
    from lightning_diffeo.stability import ActivationCapture, pair_denominators

    torch.manual_seed(0)
    model = build("lenet")[0].eval()
    images = torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    layers = list(getattr(model, "probe_layers", ("output",)))
    with torch.no_grad(), ActivationCapture(model, layers) as capture:
        clean = [capture(images[part]) for part in batch_slices(count, 128)]
    features = {name: torch.cat([part[name] for part in clean]) for name in layers}
    start = time.process_time()
    for name in layers:
        pair_denominators(features[name], SETTINGS["average"])
    pairs = time.process_time() - start
    bare_forward(model, images, 7, 128)
    bare = CPU_TIMES[-1]
    saved = SETTINGS["protocol"]
    SETTINGS["protocol"] = "default"
    timed_measure(model, images, None, 128)
    SETTINGS["protocol"] = saved
    total = CPU_TIMES[-1]
    row = {"n_images": count, "measure_cpu_s": total, "bare_cpu_s": bare, "pair_denominators_cpu_s": pairs,
           "pair_share": pairs / total, "forward_share": bare / total}
    print(f"[large N] LeNet, {count} images, delta = 1: measure_stability {total:.2f} s CPU, of which the bare passes "
          f"{bare:.2f} s ({bare / total:.0%}) and the pair denominators {pairs:.2f} s ({pairs / total:.0%})", flush=True)
    return row


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def bench_breakdown(name: str, images: torch.Tensor, repeats: int, batch_size: int) -> dict:
    """Where the probe's extra time goes: each part of its work timed alone over the same items.

    Per (cutoff, temperature) item of the protocol, in turn within each repeat: the fields
    (coefficients and sampling grid), the resampling (``grid_sample``), the distortion check,
    the noise draw (N C n^2 normals), the perturbation arithmetic (tau x - x, the norms,
    x + eta), and the numerator reductions of both passes on activations captured beforehand;
    the bare passes; and the same passes through the probe's activation hooks. Reports each as a fraction of the bare passes (median of the
    per-repeat ratios; process CPU time with one thread, wall clock otherwise).
    """
    from lightning_diffeo.diffeo import is_diffeomorphism, sample_coefficients, sampling_grid
    from lightning_diffeo.diffeo.interpolation import resample_grid
    from lightning_diffeo.stability import ActivationCapture, NumeratorAccumulator
    from lightning_diffeo.stability.measure import work_items

    torch.manual_seed(0)
    model = build(name)[0].to(images.device).eval()
    layers = list(getattr(model, "probe_layers", ("output",)))
    kwargs = _protocol_kwargs()
    items = work_items(images.shape[-1], CUTOFFS, kwargs.get("deltas"), None, kwargs.get("sweep", False))
    count = images.shape[0]
    parts = list(batch_slices(count, batch_size))
    with torch.no_grad(), ActivationCapture(model, layers) as capture:
        clean = [capture(images[part]) for part in parts]
        perturbed = [capture(images[part].flip(-1)) for part in parts]  # any other activations
    bare_forward(model, images[:batch_size], 1, batch_size)  # warm-up
    use_cpu = torch.get_num_threads() == 1
    keys = ("bare", "fields", "resampling", "distortion check", "noise draw", "perturbation arithmetic", "reductions")
    times: dict[str, list[float]] = {key: [] for key in (*keys, "hooked passes")}
    for repeat in range(repeats):
        spent = dict.fromkeys(keys[1:], 0.0)
        generator = torch.Generator().manual_seed(repeat)
        buffer = torch.empty_like(images)

        def timed(key: str, fn):
            wall, cpu = _clock()
            value = fn()
            spent[key] += (time.process_time() - cpu) if use_cpu else (time.perf_counter() - wall)
            return value

        for cutoff, temperature, _ in items:
            coefficients = timed("fields", lambda: sample_coefficients(
                count, temperature, cutoff, generator=generator, device=images.device, dtype=images.dtype))
            grid = timed("fields", lambda: sampling_grid(coefficients, images.shape[-1]))
            deformed = timed("resampling", lambda: resample_grid(images, grid, "bilinear"))
            timed("distortion check", lambda: float(is_diffeomorphism(coefficients, images.shape[-1]).float().mean()))
            norms = timed("perturbation arithmetic", lambda: torch.linalg.vector_norm(
                torch.sub(deformed, images, out=buffer).flatten(1), dim=1))
            timed("noise draw", lambda: buffer.normal_(generator=generator))
            timed("perturbation arithmetic", lambda: torch.addcmul(
                images, buffer, (norms / torch.linalg.vector_norm(buffer.flatten(1), dim=1)).view(-1, 1, 1, 1), out=buffer))

            def reductions() -> None:
                for _ in range(2):  # the deformed and the noisy pass
                    accumulators = {layer: NumeratorAccumulator(SETTINGS["average"], count, clean[0][layer].shape[1])
                                    for layer in layers}
                    for batch, reference in zip(perturbed, clean):
                        for layer in layers:
                            accumulators[layer].add(batch[layer], reference[layer])
                    for accumulator in accumulators.values():
                        accumulator.values()

            timed("reductions", reductions)
        bare = bare_forward(model, images, _passes(), batch_size)
        times["bare"].append(CPU_TIMES[-1] if use_cpu else bare)
        wall, cpu = _clock()
        with torch.no_grad(), ActivationCapture(model, layers, copy="when_modified") as capture:
            for _ in range(_passes()):
                for part in parts:
                    capture(images[part], check_finite=False)
        times["hooked passes"].append((time.process_time() - cpu) if use_cpu else (time.perf_counter() - wall))
        for key, value in spent.items():
            times[key].append(value)
        print(f"[{name} breakdown] repeat {repeat + 1}/{repeats}: "
              + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    ratios = {key: statistics.median(t / b for t, b in zip(times[key], times["bare"])) for key in keys[1:]}
    floor = statistics.median((n + r + d) / b for n, r, d, b in zip(
        times["noise draw"], times["resampling"], times["reductions"], times["bare"]))
    hooked = statistics.median(h / b for h, b in zip(times["hooked passes"], times["bare"]))
    print(f"[{name} breakdown] as fractions of the bare passes ({'CPU' if use_cpu else 'wall'} time): "
          + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())
          + f"; sum {sum(ratios.values()):.3f}; noise draw + resampling + reductions {floor:.3f}; "
          f"the same passes with the probe's hooks x{hooked:.3f}", flush=True)
    return {"model": name, "clock": "cpu" if use_cpu else "wall", "times_s": times, "ratios": ratios,
            "sum": sum(ratios.values()), "noise_resampling_reductions": floor, "hooked_over_bare": hooked}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", nargs="+", default=["resnet", "lenet"], choices=["resnet", "lenet"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--protocol", choices=["default", "full"], default="default")
    parser.add_argument("--average", nargs="+", choices=["median", "mean"], default=["median", "mean"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reductions", action="store_true", help="also time the reductions alone")
    parser.add_argument("--large-n", type=int, default=0, metavar="N",
                        help="also time the share of the pair denominators in a LeNet call on N images")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time each part of the probe's extra work alone, against the bare passes")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory runs (three more measurements, each in a fresh interpreter)")
    parser.add_argument("--memory-child", nargs=2, metavar=("MODEL", "PROBE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    SETTINGS["protocol"], SETTINGS["average"], SETTINGS["memory"] = args.protocol, tuple(args.average), not args.no_memory
    if args.memory_child:
        memory_child(*args.memory_child, args.n_images, args.batch_size, args.device)
        return {}
    device = torch.device(args.device)
    images = torch.rand(args.n_images, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    report = {
        "benchmark": "bench_stability",
        "settings": {"n_images": args.n_images, "repeats": args.repeats, "batch_size": args.batch_size,
                     "cutoffs": list(CUTOFFS), "protocol": args.protocol, "forward_passes": _passes(),
                     "diffeos_per_image": 1, "average": list(args.average)},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "device": str(device),
                    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None},
        "results": [bench_model(name, images, args.repeats, args.batch_size) for name in args.models if args.repeats],
    }
    if args.breakdown:
        report["breakdown"] = [bench_breakdown(name, images, max(1, args.repeats), args.batch_size) for name in args.models]
    if args.reductions:
        report["reductions"] = bench_reductions(args.repeats)
    if args.large_n:
        report["large_n"] = bench_large_n(args.large_n)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench_stability_{device.type}_{args.protocol}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=1))
    os.replace(temporary, path)
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
