"""Concurrent runs on a few cores: processes x torch threads, side by side in one run.

A local sweep runs ``workers`` trainings at once. PyTorch gives each process as many intra-op
threads as the machine has cores, so W processes on C cores run W x C threads; this benchmark
times a training step (forward, cross-entropy, backward, SGD step; batch 128, FashionMNIST-sized
inputs) of each configuration on the same model, every process stepping at the same time:

    python benchmarks/bench_workers.py                       # width-8 ResNet18 and LeNet
    python benchmarks/bench_workers.py --models lenet --steps 40

Prints ms per step (median over the processes) and images per second over all processes, and the
ratio to the fastest configuration. The sweep's default (``studies.local.threads_per_run``) is
``cores // workers`` threads per run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time


def _step_time(model_name: str, threads: int, steps: int, start: multiprocessing.Event, out) -> None:
    import torch

    from lightning_diffeo.models import create_model

    torch.set_num_threads(threads)
    options = {"base_channels": 8} if model_name == "resnet18" else {}
    net = create_model(model_name, in_channels=1, num_classes=10, image_size=28, **options)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    images, labels = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()

    for _ in range(3):
        step()
    start.wait()  # every process steps at the same time
    began = time.perf_counter()
    for _ in range(steps):
        step()
    out.put((time.perf_counter() - began) / steps)


def measure(model_name: str, processes: int, threads: int, steps: int) -> float:
    """Median seconds per step of ``processes`` concurrent processes of ``threads`` threads each."""
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_step_time, args=(model_name, threads, steps, start, out)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    time.sleep(8.0)  # imports and warm-up of every process
    start.set()
    times = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "lenet"], choices=["resnet18", "lenet"])
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    settings = sorted({(1, cores), (1, 1), (cores, cores), (cores, 1)})
    print(f"{cores} cores; batch 128, 1x28x28 inputs, {args.steps} timed steps per process")
    for model_name in args.models:
        label = "resnet18 (base width 8)" if model_name == "resnet18" else model_name
        rows = []
        for processes, threads in settings:
            seconds = measure(model_name, processes, threads, args.steps)
            rows.append((processes, threads, seconds, processes * 128 / seconds))
        best = max(row[3] for row in rows)
        for processes, threads, seconds, throughput in rows:
            print(f"{label:24s} {processes} process{'es' if processes > 1 else '  '} x {threads} thread"
                  f"{'s' if threads > 1 else ' '}: {1000 * seconds:6.0f} ms/step, {throughput:6.0f} img/s in all "
                  f"({throughput / best:.2f} of the best)")


if __name__ == "__main__":
    main()
