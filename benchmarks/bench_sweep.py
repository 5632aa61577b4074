"""The sweep machinery's own cost per run, against the runs' total time.

Runs a local sweep of ``--runs`` tiny Digits runs (LeNet and fc2, one short epoch, a 20-image
probe) with one worker, then splits the wall time of the whole invocation into

- fit (training, validation and the StabilityCallback's probes) and test, as each run times
  them itself (``run.json`` ``timings``);
- everything else, the machinery's overhead: planning (the fit parser resolving each run's
  config), process start, imports and building the run from its config, claims, writes.

    python benchmarks/bench_sweep.py [--runs 20] [--out benchmarks/results/bench_sweep.json]

Target: under 2 s of overhead per run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from lightning_diffeo.studies import parse_spec, plan_runs, read_run, run_sweep

BASE = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 1, "accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False,
                "log_every_n_steps": 1},
    "model": {"arch": "lenet", "recipe": "sgd", "lr": 0.05},
    "data": {"class_path": "lightning_diffeo.datamodules.DigitsDataModule",
             "init_args": {"batch_size": 64, "image_size": 16, "train_size": 128}},
    "stability": {"probe_size": 20, "cutoffs": [3], "deltas": [1.0], "when": ["init", "best"], "plot": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/bench_sweep.json")
    args = parser.parse_args()
    seeds = max(1, args.runs // 2)
    with tempfile.TemporaryDirectory() as folder:
        spec = parse_spec({"base": BASE, "grid": {"model.arch": ["lenet", "fc2"]}, "seeds": seeds,
                           "output": folder, "executor": {"workers": 1}})
        start = time.perf_counter()
        plan_runs(spec)
        plan_s = time.perf_counter() - start  # in a fresh interpreter: includes building the fit parser
        start = time.perf_counter()
        run_sweep(spec, echo=lambda line: None)
        total_s = plan_s + time.perf_counter() - start
        records = [read_run(path) for path in Path(folder).iterdir() if (path / "run.json").exists()]
    done = [r for r in records if r and r["status"] == "done"]
    timings = [r["timings"] for r in done]
    work_s = sum(t["fit_s"] + t["test_s"] for t in timings)
    overhead_s = total_s - work_s
    result = {
        "runs": len(done),
        "total_s": total_s,
        "fit_and_test_s": work_s,
        "overhead_s": overhead_s,
        "overhead_per_run_s": overhead_s / len(done),
        "overhead_fraction": overhead_s / total_s,
        "plan_s": plan_s,
        "median_build_s": statistics.median(t["build_s"] for t in timings),
        "median_startup_s": statistics.median(t.get("startup_s", float("nan")) for t in timings),
        "median_write_s": statistics.median(t["write_s"] for t in timings),
        "median_fit_s": statistics.median(t["fit_s"] for t in timings),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
    }
    print(f"{result['runs']} runs in {total_s:.1f} s: fit+test {work_s:.1f} s, machinery {overhead_s:.1f} s "
          f"= {result['overhead_per_run_s']:.2f} s per run ({100 * result['overhead_fraction']:.0f}% of the total)")
    print(f"  per run (median): interpreter start {result['median_startup_s']:.2f} s, imports and build "
          f"{result['median_build_s']:.2f} s, run.json {result['median_write_s'] * 1000:.0f} ms; planning "
          f"{plan_s:.2f} s for all runs")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
