"""Studies at scale: sweep specs, one run (fit, test at the best checkpoint, stability), local and
SLURM executors, status, and ``collect`` into one table (``collect_curves``: the learning curves).
A zoo spec (``kind: zoo``) probes pretrained models instead, one run each, through the same machinery.

Importing this package does not import torch or lightning; they load when a run starts.
"""

from __future__ import annotations

from .claims import Claim, ClaimHeld
from .collect import COLUMNS, check_table_path, collect, run_folders, write_table
from .curves import collect_curves
from .execute import execute_run, read_run
from .plan import RunPlan, plan_runs, resolve_config
from .spec import load_spec, parse_spec
from .spec_types import ExecutorSpec, SlurmSpec, SpecError, SweepSpec, ZooModel, ZooSpec
from .state import RunState, run_state
from .sweep import run_sweep, status_lines, study_states

__all__ = [
    "COLUMNS",
    "Claim",
    "ClaimHeld",
    "ExecutorSpec",
    "RunPlan",
    "RunState",
    "SlurmSpec",
    "SpecError",
    "SweepSpec",
    "ZooModel",
    "ZooSpec",
    "check_table_path",
    "collect",
    "collect_curves",
    "execute_run",
    "load_spec",
    "parse_spec",
    "plan_runs",
    "read_run",
    "resolve_config",
    "run_folders",
    "run_state",
    "run_sweep",
    "status_lines",
    "study_states",
    "write_table",
]
