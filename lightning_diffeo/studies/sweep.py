"""``run_sweep`` and ``sweep_status``: a whole study, idempotent and resumable, local or on SLURM."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from lightning_diffeo.runs.layout import CONFIG_FILE
from lightning_diffeo.runs.training_log import epoch_metrics

from .plan import RunPlan, plan_runs
from .spec import load_spec
from .spec_types import EXECUTORS, SpecError, SweepSpec, ZooSpec
from .state import RunState, prepare_runs, run_state, scan_study, summarize

__all__ = ["run_sweep", "status_lines", "study_states"]


def _select(states: list[RunState], retry_failed: bool) -> list[RunState]:
    wanted = {"pending", "failed"} if retry_failed else {"pending"}
    return [s for s in states if s.state in wanted]


def _nothing_to_do(counts: dict[str, int], total: int) -> str:
    parts = [f"{counts['done']} done"]
    if counts["running"]:
        parts.append(f"{counts['running']} running elsewhere")
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed (rerun them with --retry-failed)")
    return f"nothing to do: all {total} runs are accounted for ({', '.join(parts)})"


def _check_options(spec: SweepSpec | ZooSpec, executor: str | None, workers: Any, dry_run: bool) -> str:
    """The executor's name, once the options of this invocation are checked (one line naming the bad one)."""
    name = executor or spec.executor.name
    if name not in EXECUTORS:
        raise SpecError(f"--executor must be local or slurm, got {name!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SpecError(f"--workers must be a positive integer, got {workers!r}")
    if name == "slurm" and not dry_run and shutil.which("sbatch") is None:
        raise SpecError("--executor slurm: sbatch is not on the PATH (no SLURM client on this machine)")
    study = Path(spec.output)
    if study.exists() and not study.is_dir():
        raise SpecError(f"output {str(study)!r} is a file, not a study folder")
    return name


def _planned(spec: SweepSpec | ZooSpec) -> list[RunPlan]:
    plans = plan_runs(spec)
    ids = [plan.run_id for plan in plans]
    if len(set(ids)) != len(ids):
        raise SpecError("two combinations resolve to the same config (an override equal to the base value twice?)")
    return plans


def _dry_run(plans: list[RunPlan], study: Path, name: str, echo: Callable[[str], None]) -> dict[str, Any]:
    states = [run_state(plan.run_dir) for plan in plans]
    echo(f"{len(plans)} runs in {study} ({name} executor):")
    for plan, state in zip(plans, states):
        choice = ", ".join(f"{k}={v}" for k, v in plan.overrides.items())
        echo(f"  {state.state:8s} {plan.run_id}  [{choice}{', ' if choice else ''}seed={plan.seed}]")
    return {"runs": len(plans), "selected": 0, "states": summarize(states), "result": None}


def run_sweep(
    spec: SweepSpec | ZooSpec | str | Path,
    executor: Literal["local", "slurm"] | None = None,
    workers: int | None = None,
    output: str | Path | None = None,
    dry_run: bool = False,
    wait: bool = False,
    retry_failed: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the runs of ``spec`` that are not done yet.

    Done runs are skipped, interrupted ones resume from their ``last.ckpt``, failed ones are
    retried only with ``retry_failed``, and runs another invocation holds are left to it; a
    run another invocation finishes after this one chose it is skipped and named as such.

    Args:
        spec: a :class:`SweepSpec`, a :class:`ZooSpec` (each model probed, nothing trained) or the path of
            a spec YAML file.
        executor: ``"local"`` or ``"slurm"``; None for the spec's.
        workers: local worker processes; None for the spec's.
        output: study folder; None for the spec's.
        dry_run: list the runs and their state, run nothing.
        wait: SLURM only: block until the jobs end, with a progress bar.
        retry_failed: run failed runs again.
        echo: where progress lines go.

    Returns:
        ``{"runs": total, "selected": n, "states": counts before running, "result": ...}``.

    Raises:
        SpecError: the spec or an option is invalid (one line naming it), before any run starts.
    """
    if not isinstance(spec, (SweepSpec, ZooSpec)):
        spec = load_spec(spec)
    if output is not None:
        spec = replace(spec, output=Path(output))
    name = _check_options(spec, executor, workers, dry_run)
    plans = _planned(spec)
    study = Path(spec.output).resolve()
    if dry_run:
        return _dry_run(plans, study, name, echo)
    states = [run_state(run_dir) for run_dir in prepare_runs(plans)]
    counts = summarize(states)
    selected = _select(states, retry_failed)
    if not selected:
        echo(_nothing_to_do(counts, len(plans)))
        return {"runs": len(plans), "selected": 0, "states": counts, "result": None}
    resuming = sum(s.resumable for s in selected)
    echo(
        f"{len(selected)} of {len(plans)} runs to do in {study} ({counts['done']} done, {counts['running']} running "
        f"elsewhere{f', {resuming} resuming from last.ckpt' if resuming else ''}), {name} executor"
    )
    dirs = [s.run_dir for s in selected]
    if name == "local":
        from .local import run_local

        result: Any = run_local(dirs, workers or spec.executor.workers, echo=echo, retry_failed=retry_failed)
    else:
        from .slurm import run_slurm

        result = run_slurm(dirs, spec.executor.slurm, study, name=spec.path.stem if spec.path else "sweep", wait=wait, echo=echo)
    return {"runs": len(plans), "selected": len(selected), "states": counts, "result": result}


def study_states(spec_or_folder: str | Path, output: str | Path | None = None) -> tuple[Path, list[RunState]]:
    """The study folder and the state of each of its runs.

    A spec file lists every planned run (pending ones included), in its ``output`` folder or
    in ``output`` (a study run with ``sweep run --output``); a folder lists the runs that have
    a folder in it.

    Raises:
        SpecError: no spec file or folder there, a folder without runs, an invalid spec, or
            ``output`` with a folder.
    """
    path = Path(spec_or_folder)
    if output is not None and not path.is_file():
        given = "a study folder" if path.is_dir() else "a missing path"
        raise SpecError(f"--output goes with a sweep spec file, not with {given} ({path})")
    if path.is_file():
        spec = load_spec(path)
        if output is not None:
            spec = replace(spec, output=Path(output))
        plans = plan_runs(spec)
        return Path(spec.output).resolve(), [run_state(plan.run_dir) for plan in plans]
    if not path.is_dir():
        raise SpecError(f"no sweep spec or study folder at {path}")
    run_dirs = scan_study(path)
    if not run_dirs:
        raise SpecError(f"no run folders (with overrides.json) in {path}: give a study folder or its sweep spec")
    return path.resolve(), [run_state(run_dir) for run_dir in run_dirs]


def epoch_progress(run_dir: Path) -> str | None:
    """``"12 of 96 epochs done"`` for a run that trains, from its ``metrics.csv`` (epochs whose
    ``train/loss`` is logged) and its ``config.yaml`` (``trainer.max_epochs``); None for a run
    with neither (a zoo's, or one not started)."""
    import yaml

    logged = [epoch for epoch, metrics in epoch_metrics(run_dir).items() if "train/loss" in metrics]
    try:
        config = yaml.safe_load((Path(run_dir) / CONFIG_FILE).read_text())
        planned = config["trainer"]["max_epochs"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        planned = None
    if not logged and planned is None:
        return None
    done = max(logged) + 1 if logged else 0
    of = f" of {planned}" if isinstance(planned, int) and planned > 0 else ""
    return f"{done}{of} epoch{'' if done == 1 and not of else 's'} done"


def status_lines(spec_or_folder: str | Path, max_failures: int = 15, output: str | Path | None = None) -> list[str]:
    """``sweep status``: counts per state and the reason of each failure, one screen
    (``output``: the spec's runs in that folder instead of the spec's own)."""
    study, states = study_states(spec_or_folder, output)
    counts = summarize(states)
    resumable = sum(s.resumable for s in states if s.state == "pending")
    lines = [
        f"{study}: {len(states)} runs",
        "  " + "  ".join(f"{name} {count}" for name, count in counts.items())
        + (f"  ({resumable} pending with a last.ckpt to resume from)" if resumable else ""),
    ]
    for state in [s for s in states if s.state == "running"][:max_failures]:
        progress = epoch_progress(state.run_dir)
        if progress is not None:
            lines.append(f"  running {state.run_id}: {progress}")
    failures = [s for s in states if s.state == "failed"]
    for state in failures[:max_failures]:
        lines.append(f"  failed {state.run_id}: {state.error}")
    if len(failures) > max_failures:
        lines.append(f"  ... and {len(failures) - max_failures} more failures")
    return lines
