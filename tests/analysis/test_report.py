from __future__ import annotations

import json

import pandas as pd
import pytest

from lightning_diffeo.analysis import FigureOptions, write_report
from lightning_diffeo.cli.report import main
from tests.analysis.synthetic import ARCHS, synthetic_table


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("study")
    table = synthetic_table(archs={k: ARCHS[k] for k in ("lenet", "vgg11", "resnet18")}, seeds=2,
                            train_sizes=(1024, 4096), cutoffs=(3.0,), deltas=(1.0,), layers=2,
                            averages=("median",), noise_norms=())
    path = folder / "results.csv"
    table.to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def minimal_csv(tmp_path_factory) -> str:
    """A study that supports one figure (error vs stability): for the tests about everything else."""
    folder = tmp_path_factory.mktemp("minimal")
    table = synthetic_table(archs={k: ARCHS[k] for k in ("lenet", "vgg11", "resnet18")}, seeds=2, train_sizes=(4096,),
                            cutoffs=(3.0,), deltas=(1.0,), layers=1, stages=("best",), averages=("median",),
                            noise_norms=())
    path = folder / "results.csv"
    table.to_csv(path, index=False)
    return str(path)


def test_report_command_writes_figures_tables_and_index(csv_path, tmp_path, capsys):
    out = tmp_path / "report"
    main([csv_path, "-o", str(out), "--n_boot", "50", "--description", "A small synthetic study."])
    captured = capsys.readouterr()
    assert f"to {out}" in captured.out
    skipped_lines = [line for line in captured.err.splitlines() if line.startswith("skipped ")]
    assert {line.split()[1] for line in skipped_lines} == {"mean_vs_median", "delta_cutoff_grid", "noise", "along_training"}
    for name in ("error_vs_stability_cifar10_median", "stability_vs_size_cifar10_median",
                 "depth_profile_cifar10_median", "size_trajectories_cifar10_median"):
        for suffix in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{suffix}").stat().st_size > 1000
    assert (out / "figures" / "error_vs_stability_cifar10_median.pdf").read_bytes().startswith(b"%PDF")
    report = (out / "report.md").read_text()
    assert report.startswith("# Study report\n\nA small synthetic study.")
    assert "](figures/depth_profile_cifar10_median.png)" in report
    assert "**noise** (Fig 11): skipped, no noise-only rows" in report
    assert "2 runs per point" in report
    assert "- no row left out for a NaN or infinite D_f, G_f, R_f or test error" in report
    table2 = pd.read_csv(out / "table2.csv")
    assert list(table2["dataset"]) == ["cifar10"] and table2.loc[0, "paper_D_f"] == 0.62
    assert "| cifar10 | median | 3 | 2 |" in (out / "table2.md").read_text()
    # every interval says what it rests on: architectures, seeds per architecture, resampling
    provenance = table2.loc[0, ["n_archs", "seeds_per_arch", "resampling"]].tolist()
    assert provenance == [3, 2, "two-level"]
    assert "| dataset | average | n_archs | seeds per arch | resampling | D_f | G_f | R_f | Spearman D_f |" in report
    assert "| cifar10 | median | 3 | 2 | two-level |" in report
    assert "50 two-level bootstrap resamples (seed 0)" in report
    long = pd.read_csv(out / "correlations.csv")
    assert {"spearman", "spearman_ci_low", "spearman_ci_high", "n_archs", "seeds_per_arch", "resampling"} <= set(long)
    assert pd.read_csv(out / "points.csv")["n"].eq(2).all()
    laws = pd.read_csv(out / "power_laws.csv")
    assert set(laws["quantity"]) == {"D_f", "G_f", "R_f"} and laws["n_points"].eq(3).all()
    assert laws["n_archs"].eq(3).all() and laws["seeds_per_arch"].eq(2).all()
    assert laws["resampling"].eq("two-level").all()
    assert "| dataset | average | X | fit | b 95% interval |" in report
    assert "## Power laws: test error = a X^b across architectures" in report


def test_report_refuses_a_non_empty_folder_unless_overwrite(minimal_csv, tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main([minimal_csv, "-o", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lightning-diffeo: error: report folder") and "--overwrite" in err
    assert not (out / "report.md").exists()
    main([minimal_csv, "-o", str(out), "--overwrite", "--formats", "[png]", "--n_boot", "0"])
    assert (out / "report.md").exists() and (out / "keep.txt").read_text() == "mine"
    assert not list((out / "figures").glob("*.pdf"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.csv", "-o", "{out}"], "does not exist"),
        (["{bad}", "-o", "{out}"], "lacks the column(s) train_size"),
        (["{csv}", "-o", "{out}", "--n_boot", "-1"], "--n_boot must be an integer >= 0, got -1"),
        (["{csv}", "-o", "{out}", "--delta", "0"], "--delta must be a positive number or None, got 0.0"),
        (["{csv}", "-o", "{out}", "--formats", "[]"], "formats must be a non-empty list"),
        (["{csv}", "-o", "{out}", "--scale", "loglog"], "scale"),
        (["{csv}"], "out"),
    ],
)
def test_report_bad_input_gives_one_line_before_any_work(minimal_csv, tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.csv"
    pd.read_csv(minimal_csv).drop(columns=["train_size"]).to_csv(bad, index=False)
    out = tmp_path / "out"
    argv = [a.format(out=out, bad=bad, csv=minimal_csv) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lightning-diffeo: error: ") and message in err
    assert not out.exists()


def test_report_help_and_print_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--overwrite" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--print_config", "results.csv", "-o", "x"])
    assert "n_boot: 2000" in capsys.readouterr().out


def test_description_comes_from_study_json_beside_the_table(minimal_csv, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    pd.read_csv(minimal_csv).to_csv(folder / "results.csv", index=False)
    (folder / "study.json").write_text(json.dumps({"description": "LeNet, VGG11 and ResNet18 on CIFAR10."}))
    report = write_report(folder / "results.csv", tmp_path / "r", options=FigureOptions(n_boot=0), formats=["png"])
    assert "LeNet, VGG11 and ResNet18 on CIFAR10." in (tmp_path / "r" / "report.md").read_text()
    assert "Study specification: `study.json`." in (tmp_path / "r" / "report.md").read_text()
    assert {p.suffix for p in report.files if p.parent.name == "figures"} == {".png"}


def test_console_command_dispatches_report(minimal_csv, tmp_path, capsys):
    from lightning_diffeo.cli import main as cli_main

    cli_main(["report", minimal_csv, "-o", str(tmp_path / "r"), "--formats", "[png]", "--n_boot", "0"])
    assert "wrote 1 figure," in capsys.readouterr().out
    assert (tmp_path / "r" / "report.md").exists()


def test_description_from_a_sweep_spec_beside_the_table_or_given(minimal_csv, tmp_path, capsys):
    folder = tmp_path / "study"
    folder.mkdir()
    pd.read_csv(minimal_csv).to_csv(folder / "results.csv", index=False)
    (folder / "digits_tiny.yaml").write_text("description: LeNet and fc2 on Digits\ngrid:\n  model.arch: [lenet, fc2]\n")
    write_report(folder / "results.csv", tmp_path / "a", options=FigureOptions(n_boot=0), formats=["png"])
    assert "LeNet and fc2 on Digits\n" in (tmp_path / "a" / "report.md").read_text()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "named study"}))
    main([str(folder / "results.csv"), "-o", str(tmp_path / "b"), "--spec", str(other), "--formats", "[png]",
          "--n_boot", "0"])
    assert "named study" in (tmp_path / "b" / "report.md").read_text()
    with pytest.raises(SystemExit):
        main([minimal_csv, "-o", str(tmp_path / "c"), "--spec", str(tmp_path / "none.yaml")])
    assert "spec" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_points_markdown_sorts_by_test_error_and_quotes_relative_errors():
    from lightning_diffeo.analysis.markdown import points_markdown

    points = pd.DataFrame([
        {"dataset": "fashionmnist", "average": "median", "arch": "lenet", "n_params": 44426, "n": 3,
         "test_error": 0.1, "test_error_rel_err": 0.02, "D_f": 0.01, "D_f_rel_err": 0.1, "G_f": 0.02,
         "G_f_rel_err": 0.1, "R_f": 0.5, "R_f_rel_err": float("nan")},
        {"dataset": "fashionmnist", "average": "median", "arch": "fc2", "n_params": 51008, "n": 3,
         "test_error": 0.2, "test_error_rel_err": 0.05, "D_f": 0.02, "D_f_rel_err": 0.1, "G_f": 0.02,
         "G_f_rel_err": 0.1, "R_f": 1.0, "R_f_rel_err": 0.125},
    ]).iloc[::-1]
    lines = points_markdown(points).splitlines()
    assert lines[0] == "| dataset | average | architecture | parameters | runs | test error | D_f | G_f | R_f |"
    assert lines[2] == "| fashionmnist | median | lenet | 44,426 | 3 | 0.1 ± 2% | 0.01 ± 10% | 0.02 ± 10% | 0.5 |"
    assert lines[3].endswith("| 0.2 ± 5% | 0.02 ± 10% | 0.02 ± 10% | 1 ± 12% |")
