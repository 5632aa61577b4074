"""Training throughput of ``ImageClassifier`` under a Lightning Trainer vs a plain PyTorch loop.

Both sides start from the same initial weights, read the same in-memory batches in the same
order (``DataLoader`` over a ``TensorDataset``, no shuffling, no workers), and run the same
optimizer and per-step cosine schedule (``build_optimization`` of the ``sgd`` recipe). The
plain loop does what a typical hand-written loop does: forward, cross-entropy, zero_grad,
backward, step, scheduler step, and accumulates loss and number of correct predictions on
the fly (Lightning logs the epoch loss and accuracy through ``self.log``). Neither side has a
progress bar, logger, checkpointing, model summary or validation loop.

Repeats alternate which side runs first. Reported: the median images/s of each side and the
median over repeats of the per-repeat ratio (plain images/s / Lightning images/s, i.e. the time
factor Lightning adds), both end to end (``trainer.fit`` call vs the whole plain loop, set-up included) and in steady state
(from the start of batch ``--warmup`` to the end of the run).

Usage::

    python benchmarks/bench_training.py              # LeNet and ResNet18, writes JSON
    python benchmarks/bench_training.py --quick      # a few steps, to check it runs
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import lightning
import torch
import torch.nn.functional as F
from lightning import Callback, Trainer

from lightning_diffeo.models import ImageClassifier, build_optimization

CLOCK = {"clock": time.perf_counter}


def _clock() -> float:
    """Wall time, or process CPU time with ``--clock cpu`` (robust to other jobs on a shared machine)."""
    return CLOCK["clock"]()


DEFAULTS = {  # arch: (batch size, steps per run)
    "lenet": (128, 40),
    "resnet18": (64, 6),
}


class _StepClock(Callback):
    """Time stamps at the start of every training batch and at the end of training."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.stamps.append(_clock())

    def on_train_end(self, trainer, pl_module) -> None:
        self.stamps.append(_clock())


def _loader(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size, shuffle=False)


def run_lightning(arch: str, init: dict, loader, warmup: int) -> tuple[float, float, ImageClassifier]:
    module = ImageClassifier(arch)
    module.load_state_dict(init)
    clock = _StepClock()
    trainer = Trainer(
        accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, num_sanity_val_steps=0,
        limit_val_batches=0, callbacks=[clock],
    )
    start = _clock()
    trainer.fit(module, loader)
    end = _clock()
    return end - start, clock.stamps[-1] - clock.stamps[warmup], module


def run_plain(arch: str, init: dict, loader, warmup: int) -> tuple[float, float, ImageClassifier]:
    start = _clock()
    module = ImageClassifier(arch)
    module.load_state_dict(init)
    model = module.model
    config = build_optimization(model, module.recipe, total_steps=len(loader))
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    model.train()
    total_loss = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    stamps = []
    for x, y in loader:
        stamps.append(_clock())
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach() * x.shape[0]
        correct += (logits.detach().argmax(dim=1) == y).sum()
    _ = (total_loss / len(loader.dataset)).item(), (correct / len(loader.dataset)).item()
    end = _clock()
    return end - start, end - stamps[warmup], module


def bench(arch: str, batch_size: int, steps: int, repeats: int, warmup: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    init = ImageClassifier(arch).state_dict()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(steps * batch_size, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (steps * batch_size,), generator=g)
    loader = _loader(x, y, batch_size)
    images = steps * batch_size
    steady_images = (steps - warmup) * batch_size
    results: dict[str, dict[str, list[float]]] = {k: {"total": [], "steady": []} for k in ("lightning", "plain")}
    max_diff = None
    for r in range(repeats):
        order = ("plain", "lightning") if r % 2 == 0 else ("lightning", "plain")
        finals = {}
        for side in order:
            runner = run_plain if side == "plain" else run_lightning
            total, steady, module = runner(arch, init, loader, warmup)
            results[side]["total"].append(images / total)
            results[side]["steady"].append(steady_images / steady)
            finals[side] = module.state_dict()
            print(f"  {arch} repeat {r} {side:9s}: {images / total:8.1f} img/s end to end, "
                  f"{steady_images / steady:8.1f} img/s steady", flush=True)
        if max_diff is None:  # same steps on both sides: the final weights agree
            max_diff = max(
                (finals["plain"][k].float() - finals["lightning"][k].float()).abs().max().item()
                for k in finals["plain"]
            )
    out = {"arch": arch, "batch_size": batch_size, "steps": steps, "repeats": repeats, "warmup_steps": warmup,
           "max_abs_weight_difference": max_diff}
    for kind in ("total", "steady"):
        plain = statistics.median(results["plain"][kind])
        light = statistics.median(results["lightning"][kind])
        # The machine is shared: load drifts between repeats, so the ratio is the median of the
        # per-repeat ratios (the two sides of a repeat run back to back under similar load).
        pairs = [p / l for p, l in zip(results["plain"][kind], results["lightning"][kind])]
        out[kind] = {
            "plain_images_per_s": plain, "lightning_images_per_s": light,
            "overhead_ratio": statistics.median(pairs),  # time under Lightning / time of the plain loop
            "overhead_ratio_all": pairs,
            "plain_all": results["plain"][kind], "lightning_all": results["lightning"][kind],
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=list(DEFAULTS), choices=list(DEFAULTS))
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default per arch)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 128 (LeNet), 64 (ResNet18)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2, help="steps left out of the steady-state timing")
    parser.add_argument("--quick", action="store_true", help="3 steps, 2 repeats: checks that it runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: process CPU time (with one thread, robust to other jobs on a shared machine)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "bench_training.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.warmup = 3, 2, 1
    torch.set_num_threads(args.threads)
    CLOCK["clock"] = time.process_time if args.clock == "cpu" else time.perf_counter
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    runs = []
    for arch in args.archs:
        batch, steps = DEFAULTS[arch]
        batch, steps = args.batch_size or batch, args.steps or steps
        if steps <= args.warmup:
            parser.error(f"--steps ({steps}) must exceed --warmup ({args.warmup})")
        print(f"{arch}: batch {batch}, {steps} steps, {args.repeats} repeats", flush=True)
        runs.append(bench(arch, batch, steps, args.repeats, args.warmup))
    report = {
        "benchmark": "lightning_vs_plain_training",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
                    "clock": args.clock},
        "versions": {"torch": torch.__version__, "lightning": lightning.__version__},
        "runs": runs,
    }
    print(f"\n{'arch':10s} {'plain img/s':>12s} {'lightning img/s':>16s} {'ratio':>7s} "
          f"{'steady ratio':>13s}")
    for r in runs:
        t, s = r["total"], r["steady"]
        print(f"{r['arch']:10s} {t['plain_images_per_s']:12.1f} {t['lightning_images_per_s']:16.1f} "
              f"{t['overhead_ratio']:7.3f} {s['overhead_ratio']:13.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
