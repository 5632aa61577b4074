"""The sweep machinery's own cost per run, against the runs' total time.

Runs a local sweep of ``--runs`` tiny Digits runs (LeNet and fc2, one short epoch, a 20-image
probe) with one worker, twice: runs forked from the fork server (the default) and a fresh
interpreter per run (``spawn``). Each time, splits the wall time into

- fit (training, validation and the StabilityCallback's probes) and test, as each run times
  them itself (``run.json`` ``timings``);
- everything else, the machinery's overhead: planning (the fit parser resolving each run's
  config, written to its folder), process start, imports and building the run from its
  config, claims, writes.

    python benchmarks/bench_sweep.py [--runs 20] [--out benchmarks/results/bench_sweep.json]

Target: under 2 s of overhead per run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from lightning_diffeo.studies import parse_spec, plan_runs, read_run

BASE = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 1, "accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False,
                "log_every_n_steps": 1},
    "model": {"arch": "lenet", "recipe": "sgd", "lr": 0.05},
    "data": {"class_path": "lightning_diffeo.datamodules.DigitsDataModule",
             "init_args": {"batch_size": 64, "image_size": 16, "train_size": 128}},
    "stability": {"probe_size": 20, "cutoffs": [3], "deltas": [1.0], "when": ["init", "best"], "plot": False},
}


def _sweep(runs: int, start_method: str) -> dict:
    from lightning_diffeo.studies.local import run_local
    from lightning_diffeo.studies.state import prepare_runs

    with tempfile.TemporaryDirectory() as folder:
        spec = parse_spec({"base": BASE, "grid": {"model.arch": ["lenet", "fc2"]}, "seeds": max(1, runs // 2),
                           "output": folder})
        start = time.perf_counter()
        run_dirs = prepare_runs(plan_runs(spec))
        plan_s = time.perf_counter() - start
        start = time.perf_counter()
        run_local(run_dirs, workers=1, echo=lambda line: None, start_method=start_method)
        total_s = plan_s + time.perf_counter() - start
        records = [read_run(path) for path in run_dirs]
    done = [r for r in records if r and r["status"] == "done"]
    timings = [r["timings"] for r in done]
    work_s = sum(t["fit_s"] + t["test_s"] for t in timings)
    overhead_s = total_s - work_s
    return {
        "start_method": start_method,
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/bench_sweep.json")
    args = parser.parse_args()
    plan_runs(parse_spec({"base": BASE}))  # builds the fit parser (imports torch and lightning) once, untimed
    results = [_sweep(args.runs, method) for method in ("forkserver", "spawn")]
    for result in results:
        print(f"{result['start_method']:>10}: {result['runs']} runs in {result['total_s']:.1f} s: fit+test "
              f"{result['fit_and_test_s']:.1f} s, machinery {result['overhead_s']:.1f} s = "
              f"{result['overhead_per_run_s']:.2f} s per run ({100 * result['overhead_fraction']:.0f}% of the total)")
        print(f"            per run (median): process start {result['median_startup_s']:.2f} s, imports and build "
              f"{result['median_build_s']:.2f} s, run.json {result['median_write_s'] * 1000:.0f} ms; planning "
              f"{result['plan_s']:.2f} s for all runs")
    payload = {"results": results, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
