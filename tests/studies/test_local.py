"""Local sweeps of tiny Digits runs: results, idempotence, failure isolation, status, collect."""

from __future__ import annotations

import json
import math

import pytest

from lightning_diffeo.models import model_info
from lightning_diffeo.studies import COLUMNS, collect, parse_spec, read_run, run_sweep, status_lines
from lightning_diffeo.cli.collect import main as collect_main
from lightning_diffeo.cli.sweep import main as sweep_main


def _tiny_spec() -> dict:
    from tests.studies.conftest import TINY_BASE

    return {
        "base": TINY_BASE,
        "grid": {"model.arch": ["lenet", "fc2"]},
        # A run whose callback refuses its settings (a layer the model lacks): it must fail
        # alone, with its reason.
        "include": [{"model.arch": "fc2", "stability.layers": ["model.no_such_layer"]}],
        "executor": {"workers": 2},
    }


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """Three tiny runs, two workers: LeNet and fc2 succeed, a third run fails."""
    spec = parse_spec({**_tiny_spec(), "output": str(tmp_path_factory.mktemp("study"))})
    lines: list[str] = []
    result = run_sweep(spec, echo=lines.append)
    return spec, result, lines


def test_failures_are_isolated_and_recorded(tiny_study):
    spec, result, lines = tiny_study
    assert result["result"] == {"done": 2, "failed": 1, "skipped": 0, "interrupted": 0, "stopped": 0}
    runs = [read_run(path) for path in spec.output.iterdir()]
    failed = [r for r in runs if r["status"] == "failed"]
    assert len(failed) == 1 and "model.no_such_layer" in failed[0]["error"]
    assert any(line.startswith("[") and "failed" in line and "model.no_such_layer" in line for line in lines)
    done = [r for r in runs if r["status"] == "done"]
    assert len(done) == 2
    for record in done:
        assert 0.0 <= record["test_error"] <= 1.0
        assert math.isclose(record["test_error"], 1.0 - record["test_acc"])
        assert record["best_epoch"] == 0 and record["epochs"] == 1 and record["n_params"] > 0
        assert record["stability"] == "stability.json" and record["attempts"] == 1
        assert (spec.output / record["run_id"] / "checkpoints" / "last.ckpt").is_file()  # resumable
        assert 0.0 <= record["best_val_acc"] <= 1.0 and record["wall_time_s"] > 0


def test_the_cores_are_shared_out_between_the_workers(tiny_study, monkeypatch):
    from lightning_diffeo.studies.local import threads_per_run

    spec, result, lines = tiny_study
    threads = threads_per_run(2)  # None where OMP_NUM_THREADS is set: then torch's own choice stands
    done = [d for d in spec.output.iterdir() if (read_run(d) or {}).get("status") == "done"]
    assert len(done) == 2
    if threads is not None:
        assert f"each run on {threads} torch thread{'' if threads == 1 else 's'} (2 at a time)" in lines
        assert all(read_run(d)["torch_threads"] == threads for d in done)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert [threads_per_run(w, cores=16) for w in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads_per_run(2, cores=16) is None  # the user's setting stands


def test_second_invocation_does_nothing_and_says_so(tiny_study, capsys):
    spec, _, _ = tiny_study
    before = {p.name: (p / "run.json").stat().st_mtime_ns for p in spec.output.iterdir()}
    again = run_sweep(spec)
    assert again["selected"] == 0
    out = capsys.readouterr().out
    assert "nothing to do: all 3 runs are accounted for (2 done, 1 failed (rerun them with --retry-failed))" in out
    assert {p.name: (p / "run.json").stat().st_mtime_ns for p in spec.output.iterdir()} == before


def test_status_counts_and_failure_reasons(tiny_study, capsys):
    spec, _, _ = tiny_study
    sweep_main(["status", str(spec.output)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["done", "2", "running", "0", "failed", "1", "pending", "0"]
    assert lines[2].startswith("  failed fc2-layers") and "model.no_such_layer" in lines[2]


def test_status_of_a_spec_whose_runs_went_to_another_folder(tiny_study, tmp_path, capsys):
    # `sweep run SPEC --output FOLDER` put them there: `sweep status SPEC --output FOLDER` finds them.
    spec, _, _ = tiny_study
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(json.dumps({**_tiny_spec(), "output": str(tmp_path / "not_there")}))
    sweep_main(["status", str(spec_file)])
    assert capsys.readouterr().out.splitlines()[1].split() == ["done", "0", "running", "0", "failed", "0", "pending", "3"]
    sweep_main(["status", str(spec_file), "--output", str(spec.output)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{spec.output.resolve()}: 3 runs"
    assert lines[1].split() == ["done", "2", "running", "0", "failed", "1", "pending", "0"]


def test_status_shows_how_far_each_running_run_is(tiny_study, tmp_path, capsys):
    import shutil

    import yaml

    from lightning_diffeo.studies import Claim
    from lightning_diffeo.studies.execute import write_run

    spec, _, _ = tiny_study
    lenet = next(p for p in spec.output.iterdir() if p.name.startswith("lenet"))
    study = tmp_path / "study"
    started, fresh = study / "started", study / "fresh"
    for run_dir in (started, fresh):
        shutil.copytree(lenet, run_dir)
        write_run(run_dir, {**read_run(run_dir), "status": "running"})
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        config["trainer"]["max_epochs"] = 4  # one of four epochs logged
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (fresh / "metrics.csv").unlink()
    claims = [Claim(started), Claim(fresh)]
    for claim in claims:
        claim.acquire()  # held by this live process: both runs count as running
    try:
        sweep_main(["status", str(study)])
    finally:
        for claim in claims:
            claim.release()
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["done", "0", "running", "2", "failed", "0", "pending", "0"]
    assert sorted(lines[2:]) == ["  running fresh: 0 of 4 epochs done", "  running started: 1 of 4 epochs done"]


def test_collect_table_of_the_finished_runs(tiny_study, tmp_path):
    spec, _, _ = tiny_study
    with pytest.warns(UserWarning, match="1 of 3 runs are not done and are left out"):
        table = collect(spec.output)
    assert list(table.columns) == list(COLUMNS)  # grid keys of finished runs: model.arch is the arch column
    assert table["run_id"].nunique() == 2
    assert set(table["stage"]) == {"init", "best"} and set(table["kind"]) == {"diffeo"}
    lenet = table[table["arch"] == "lenet"]
    assert (lenet["depth"] == model_info("lenet")["depth"]).all() and not lenet["batch_norm"].any()
    assert list(dict.fromkeys(lenet["layer"])) == ["model.stage1", "model.stage2", "model.fc1", "model.fc2", "output"]
    assert len(lenet) == 2 * 5 * 2  # (init, best) x five probe layers x (median, mean); one cutoff, one delta
    assert set(table["average"]) == {"median", "mean"}
    assert lenet["relative_depth"].between(0, 1).all()
    assert (table["dataset"] == "digits").all() and (table["train_size"] == 128).all() and (table["seed"] == 0).all()
    assert table["R_f"].gt(0).all() and (table["R_f"] - table["D_f"] / table["G_f"]).abs().max() < 1e-9
    assert table["fraction_diffeomorphic"].between(0, 1).all()

    with pytest.warns(UserWarning):
        collect_main([str(spec.output), "-o", str(tmp_path / "results.csv")])
    import pandas as pd

    written = pd.read_csv(tmp_path / "results.csv")
    assert list(written.columns) == list(COLUMNS) and len(written) == len(table)


def test_cli_errors_are_one_line_before_any_work(tmp_path, capsys, tiny_base):
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"base": tiny_base, "grid": {"model.arch": ["lenet"]}, "output": str(tmp_path / "out")}))
    cases = [
        (["run", str(tmp_path / "nope.yaml")], "sweep spec not found"),
        (["run", str(spec), "--workers", "0"], "--workers must be a positive integer, got 0"),
        (["run", str(spec), "--executor", "pbs"], "executor"),
        (["status", str(tmp_path / "nowhere")], "no sweep spec or study folder"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exited:
            sweep_main(argv)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("lightning-diffeo: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_slurm_without_sbatch_is_one_line_before_any_work(tmp_path, capsys, tiny_base, monkeypatch):
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"base": tiny_base, "output": str(tmp_path / "out")}))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        sweep_main(["run", str(spec), "--executor", "slurm"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "lightning-diffeo: error: --executor slurm: sbatch is not on the PATH (no SLURM client on this machine)\n"
    )
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as exited:
        collect_main([str(tmp_path), "-o", str(tmp_path / "t.xlsx")])
    assert exited.value.code == 2 and "no run folders" in capsys.readouterr().err


def test_collect_writes_parquet_or_says_what_is_missing(tiny_base, tmp_path):
    from lightning_diffeo.studies import write_table
    import pandas as pd

    table = pd.DataFrame({"run_id": ["a"], "R_f": [1.5]})
    with pytest.raises(ValueError, match=r"-o must end in .csv or .parquet, got '.*t.json'"):
        write_table(table, tmp_path / "t.json")
    pytest.importorskip("pyarrow")
    write_table(table, tmp_path / "t.parquet")
    assert pd.read_parquet(tmp_path / "t.parquet").equals(table)


def test_collect_of_a_spec_leaves_out_runs_it_does_not_plan(tiny_study, tmp_path):
    import shutil

    from tests.studies.conftest import TINY_BASE

    spec, _, _ = tiny_study
    done = next(p for p in spec.output.iterdir() if p.name.startswith("lenet-"))
    stale = spec.output / "lenet-seed0-0000000000"  # a run of an earlier version of the spec
    shutil.copytree(done, stale)
    try:
        spec_file = tmp_path / "spec.yaml"
        spec_file.write_text(json.dumps({
            "base": TINY_BASE,
            "grid": {"model.arch": ["lenet", "fc2"]},
            "include": [{"model.arch": "fc2", "stability.layers": ["model.no_such_layer"]}],
            "output": str(spec.output),
            "executor": {"workers": 2},
        }))
        with pytest.warns(UserWarning, match="1 of 4 runs are not done"):
            assert stale.name in set(collect(spec.output)["run_id"])
        with pytest.warns(UserWarning, match="1 of 3 runs are not done"):
            planned = set(collect(spec_file)["run_id"])
        assert stale.name not in planned and len(planned) == 2
    finally:
        shutil.rmtree(stale)


def test_runs_another_invocation_settles_are_named_not_claimed(tmp_path, tiny_base, monkeypatch):
    """Two `sweep run`s of one spec: what the other one finished (or holds) after this one chose
    its runs is reported as skipped, with the reason, and counted as skipped, not done."""
    from lightning_diffeo.studies import Claim, sweep
    from lightning_diffeo.studies.execute import write_run

    spec = parse_spec({"base": tiny_base, "grid": {"model.arch": ["lenet", "fc2", "fc4"]}, "output": str(tmp_path)})
    chosen = sweep._select
    claims: list[Claim] = []

    def other_invocation_moves_in(states, retry_failed):
        selected = chosen(states, retry_failed)
        done, failed, running = (state.run_dir for state in selected)
        write_run(done, {"status": "done", "test_error": 0.25, "attempts": 1})
        write_run(failed, {"status": "failed", "error": "ValueError: boom", "attempts": 1})
        claims.append(Claim(running))
        claims[0].acquire()  # held by this (live) process, as by the other invocation
        return selected

    monkeypatch.setattr(sweep, "_select", other_invocation_moves_in)
    lines: list[str] = []
    try:
        result = run_sweep(spec, echo=lines.append)
    finally:
        for claim in claims:
            claim.release()
    assert result["selected"] == 3
    assert result["result"] == {"done": 0, "failed": 0, "skipped": 3, "interrupted": 0, "stopped": 0}
    names = {record["status"]: path.name for path in tmp_path.iterdir() if (record := read_run(path))}
    running = next(path.name for path in tmp_path.iterdir() if path.name not in names.values())
    reported = sorted(line.split("] ", 1)[1] for line in lines if line.startswith("["))
    assert reported == sorted([
        f"skipped {names['done']}: already done by another process",
        f"skipped {names['failed']}: failed in another process (rerun it with --retry-failed)",
        f"skipped {running}: another process is running it",
    ])
    assert lines[-1] == "finished: 0 done, 0 failed, 0 interrupted, 3 skipped (run by another process)"
    assert read_run(tmp_path / names["done"]) == {"status": "done", "test_error": 0.25, "attempts": 1}
    assert read_run(tmp_path / names["failed"])["attempts"] == 1  # not retried behind the user's back


def test_execute_main_exits_4_on_a_run_settled_before_its_claim(tmp_path, tiny_base, capsys):
    from lightning_diffeo.studies import plan_runs
    from lightning_diffeo.studies.execute import main as execute_main, write_run
    from lightning_diffeo.studies.state import prepare_runs

    spec = parse_spec({"base": tiny_base, "output": str(tmp_path)})
    (run_dir,) = prepare_runs(plan_runs(spec))
    write_run(run_dir, {"status": "failed", "error": "ValueError: boom", "attempts": 1})
    assert execute_main([str(run_dir), "--skip-failed"]) == 4
    assert "settled by another process" in capsys.readouterr().err
    write_run(run_dir, {"status": "done", "attempts": 2})
    assert execute_main([str(run_dir)]) == 4
    assert read_run(run_dir) == {"status": "done", "attempts": 2}
    assert not (run_dir / ".claim").exists()
