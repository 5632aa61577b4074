"""How long the command takes to answer before any work: help, a bad subcommand, a missing file, a bad option.

Each case runs ``lightning-diffeo ARGS`` in a fresh interpreter, in turns (one of each per
repeat), and reports the median wall time and its ratio to ``lightning-diffeo fit --help``,
which needs LightningCLI's parser and so imports torch and Lightning.

    python benchmarks/bench_startup.py [--repeats 5] [--out benchmarks/results/bench_startup.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "--help": ["--help"],
    "unknown subcommand": ["fitt"],
    "fit, missing --config": ["fit", "--config", "missing.yaml"],
    "probe, missing --ckpt_path": ["probe", "--ckpt_path", "missing.ckpt"],
    "sweep run, bad option": ["sweep", "run", "spec.yaml", "--work", "2"],
    "report, bad option": ["report", "t.csv", "-o", "r", "--n_bot", "3"],
    "fit --help (loads torch and Lightning)": ["fit", "--help"],
}
REFERENCE = "fit --help (loads torch and Lightning)"


def _once(argv: list[str], folder: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lightning_diffeo.cli", *argv], cwd=folder, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/bench_startup.json")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for name, argv in CASES.items():
                times[name].append(_once(argv, folder))
    reference = statistics.median(times[REFERENCE])
    rows = {name: {"median_s": statistics.median(values), "ratio_to_fit_help": statistics.median(values) / reference}
            for name, values in times.items()}
    print(f"{'case':42} {'median':>8} {'/ fit --help':>12}")
    for name, row in rows.items():
        print(f"{name:42} {row['median_s']:7.2f}s {row['ratio_to_fit_help']:11.3f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "repeats": args.repeats,
                               "cases": rows}, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
