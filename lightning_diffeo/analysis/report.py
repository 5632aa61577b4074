"""The study report: the paper's figures, Table 2 and ``report.md`` from a study table (``lightning-diffeo report``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from lightning_diffeo._atomic import atomic_write_text
from lightning_diffeo.plotstyle import save_figure
from lightning_diffeo.analysis.markdown import laws_markdown, points_markdown, table2_markdown
from lightning_diffeo.analysis.correlate import correlation_table, correlations, power_laws
from lightning_diffeo.analysis.figures import FIGURE_KINDS, FigureOptions, FigureResult, make_figures
from lightning_diffeo.analysis.finite import Dropped, collect_dropped, note_merged
from lightning_diffeo.analysis.points import architecture_points, main_setting
from lightning_diffeo.analysis.stats import aggregate
from lightning_diffeo.analysis.table import load_table, size_text
from lightning_diffeo.analysis.training import convergence_check, convergence_markdown, learning_curves, read_curves
from lightning_diffeo.analysis.zoo import is_zoo, width_summary, zoo_markdown, zoo_points

__all__ = ["Report", "write_report"]

_SPEC_FILES = ("study.json", "spec.json", "study.yaml", "spec.yaml", "sweep.yaml")
_FORMATS = ("png", "pdf")
_STAGES = {"best": "trained network (best validation checkpoint)", "init": "at initialisation"}


@dataclass
class Report:
    """What ``write_report`` wrote: the folder, the files, the figures skipped with their reasons, and
    the rows each figure or table left out for a NaN or infinite value (each also warned about once)."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    figures: list[FigureResult] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    @property
    def skipped(self) -> list[FigureResult]:
        return [figure for figure in self.figures if figure.figure is None]


def _check_folder(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"report folder {str(out)!r} is an existing file")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"report folder {str(out)!r} already exists and is not empty; pass --overwrite to write "
                              "into it")


def _read_spec(path: Path) -> object:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return None


def _describe(spec: object) -> str | None:
    if isinstance(spec, dict):
        for key in ("description", "name"):
            if isinstance(spec.get(key), str) and spec[key].strip():
                return spec[key].strip()
    return None


def _study_description(source: object, spec: str | os.PathLike | None) -> tuple[str | None, str | None]:
    """(description, spec file) from ``spec``, else from a study file beside the table: one of
    ``_SPEC_FILES``, or a sweep spec (a YAML file with ``grid`` and ``description`` keys)."""
    if spec is not None:
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"spec {str(path)!r} does not exist")
        return _describe(_read_spec(path)), str(path)
    if isinstance(source, pd.DataFrame):
        return None, None
    folder = Path(source).parent
    for name in _SPEC_FILES:
        if (folder / name).is_file():
            return _describe(_read_spec(folder / name)), name
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        content = _read_spec(path)
        if isinstance(content, dict) and "grid" in content and _describe(content):
            return _describe(content), path.name
    return None, None


def write_report(
    source: str | os.PathLike | pd.DataFrame,
    out: str | os.PathLike,
    *,
    description: str | None = None,
    spec: str | os.PathLike | None = None,
    overwrite: bool = False,
    options: FigureOptions | None = None,
    formats: Sequence[Literal["png", "pdf"]] = _FORMATS,
    curves: str | os.PathLike | pd.DataFrame | None = None,
    doubled: str | os.PathLike | pd.DataFrame | None = None,
) -> Report:
    """Write every figure the table supports (PNG and PDF), Table 2, aggregated tables and ``report.md``.

    Args:
        source: the study table (CSV, parquet, or DataFrame).
        out: report folder; refused if it exists and is not empty, unless ``overwrite``
            (then files of the same name are replaced, each atomically).
        description: the study's description; default the ``description`` (or ``name``) of
            ``spec``, else of a ``study.json``/``spec.json``/``study.yaml``/``spec.yaml``/
            ``sweep.yaml`` or a sweep spec (YAML with ``grid`` and ``description``) beside the table.
        spec: a study or sweep spec file (JSON or YAML) to take the description from.
        options: figure settings (cutoff, delta, correlation scale, bootstrap).
        formats: figure file formats.
        curves: the study's learning curves (``collect --curves``): adds their figure.
        doubled: the table of the same study with twice the epochs (one seed): adds the
            convergence check (``convergence.csv``, ``convergence.md``, a section of ``report.md``).

    Raises:
        FileExistsError: ``out`` exists and is not empty, without ``overwrite``.
        FileNotFoundError, ValueError: an unreadable or malformed table (see ``load_table``).
    """
    out = Path(out)
    options = options or FigureOptions()
    bad = [f for f in formats if f not in _FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty list of {list(_FORMATS)}, got {list(formats)!r}")
    _check_folder(out, overwrite)
    table = load_table(source)
    curve_table = read_curves(curves) if curves is not None else None
    check = convergence_check(table, load_table(doubled)) if doubled is not None else None
    spec_description, spec_file = _study_description(source, spec)
    description = description or spec_description
    report = Report(out)
    report.figures = make_figures(table, options)
    if curve_table is not None:
        report.figures += learning_curves(curve_table)
    report.dropped += [result.dropped for result in report.figures if result.dropped is not None]
    for result in report.figures:
        if result.figure is not None:
            for suffix in formats:
                report.files.append(save_figure(result.figure, out / "figures" / f"{result.name}.{suffix}"))

    with _left_out(report, "aggregated.csv"):
        aggregated = aggregate(table)
    report.files.append(_write_csv(aggregated, out / "aggregated.csv"))
    with _left_out(report, "points.csv"):
        points = architecture_points(table, cutoff=options.cutoff, delta=options.delta, stage=options.stage)
    report.files.append(_write_csv(points, out / "points.csv"))
    if not points.empty:
        report.files.append(atomic_write_text(out / "points.md", points_markdown(points) + "\n"))
    table2, laws = pd.DataFrame(), pd.DataFrame()
    if "test_error" in table.columns and not points.empty:
        with _left_out(report, "power_laws.csv"):
            laws = power_laws(table, cutoff=options.cutoff, delta=options.delta, n_boot=options.n_boot,
                              seed=options.seed, stage=options.stage)
        report.files.append(_write_csv(laws, out / "power_laws.csv"))
        with _left_out(report, "correlations.csv, table2"):
            long = correlations(table, scale=options.scale, cutoff=options.cutoff, delta=options.delta,
                                n_boot=options.n_boot, seed=options.seed, stage=options.stage)
        report.files.append(_write_csv(long, out / "correlations.csv"))
        table2 = correlation_table(long)
        report.files.append(_write_csv(table2, out / "table2.csv"))
        report.files.append(atomic_write_text(out / "table2.md", table2_markdown(table2) + "\n"))
    zoo = zoo_points(table, cutoff=options.cutoff, delta=options.delta) if is_zoo(table) else None
    if zoo is not None:
        report.files.append(_write_csv(zoo, out / "zoo.csv"))
        report.files.append(atomic_write_text(out / "zoo.md", zoo_markdown(zoo) + "\n"))
    if check is not None:
        report.files.append(_write_csv(check, out / "convergence.csv"))
        report.files.append(atomic_write_text(out / "convergence.md", convergence_markdown(check) + "\n"))
    markdown = _report_markdown(table, report, table2, laws, description, spec_file, options, formats)
    if not points.empty:
        markdown += ("\n## Architectures: test error and stability at the output\n\n" + points_markdown(points)
                     + "\n\nGeometric means over the seeds (runs) ± relative error (std of the log over sqrt(n)), "
                     f"main setting, {_STAGES.get(options.stage, f'stage {options.stage}')} (`points.csv`).\n")
    if zoo is not None:
        markdown += _zoo_section(zoo, table)
    if check is not None:
        markdown += "\n## Convergence: twice the epochs on one seed\n\n" + convergence_markdown(check) + "\n"
    report.files.append(atomic_write_text(out / "report.md", markdown))
    return report


@contextmanager
def _left_out(report: Report, what: str) -> Iterator[None]:
    """The rows the statistics of this block leave out: one warning, as ``what``, and a line of report.md."""
    with collect_dropped() as parts:
        yield
    dropped = note_merged(parts, what, stacklevel=3)
    if dropped is not None:
        report.dropped.append(dropped)


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    from lightning_diffeo._atomic import atomic_write

    return atomic_write(path, lambda temporary: frame.to_csv(temporary, index=False))


def _dropped_summary(dropped: list[Dropped]) -> str:
    if not dropped:
        return "- no row left out for a NaN or infinite D_f, G_f, R_f or test error"
    runs = sorted({run for item in dropped for run in item.runs})
    return (f"- rows of {len(runs)} run{'' if len(runs) == 1 else 's'} left out for a NaN or infinite value, by "
            f"{len(dropped)} of the figures and tables (see *Rows left out* below)")


def _report_markdown(table: pd.DataFrame, report: Report, table2: pd.DataFrame, laws: pd.DataFrame,
                     description: str | None,
                     spec_file: str | None, options: FigureOptions, formats: Sequence[str]) -> str:
    cutoff, delta = main_setting(table)
    cutoff = options.cutoff if options.cutoff is not None else cutoff
    delta_text = f"{options.delta:g} (nearest measured)" if options.delta is not None else f"{delta:.3g}"
    runs = table["run_id"].nunique()
    lines = ["# Study report", ""]
    if description:
        lines += [description, ""]
    if spec_file:
        lines += [f"Study specification: `{spec_file}`.", ""]
    stage = _STAGES.get(options.stage, f"stage {options.stage}")
    lines += [
        f"- runs: {runs}; datasets: {', '.join(map(str, sorted(table['dataset'].unique())))}; architectures: "
        f"{', '.join(map(str, sorted(table['arch'].unique())))}",
        f"- training-set sizes: {size_text(table['train_size'])}"
        f" ({table['train_size'].nunique()} measured); seeds per configuration: see `n` in `aggregated.csv`"
        if not is_zoo(table) else "- a zoo: pretrained (or randomly initialised) models probed on one folder of "
        "images, one run each (published weights are stage `best`, random initialisations `init`)",
        f"- main setting: cutoff c = {cutoff:g}, delta = {delta_text} px, largest P of each dataset, output layer, "
        f"{stage}",
        "- every point is a geometric mean over realisations (seeds); relative error = std of the log (ddof = 1) / "
        "sqrt(n), NaN for n = 1",
        f"- correlation coefficients: Pearson on {options.scale} scales and Spearman's rank correlation; 95% "
        f"intervals in brackets from {options.n_boot} two-level bootstrap resamples (seed {options.seed}): "
        "architectures drawn with replacement, then within each drawn architecture its seeds with replacement, each "
        "point re-averaged (resampling `points` when every point has one seed); resamples with fewer than 3 distinct "
        "architectures dropped",
        _dropped_summary(report.dropped),
        "",
    ]
    if report.dropped:
        lines += ["## Rows left out: NaN or infinite values", "",
                  "A row with D_f, G_f, R_f or the test error NaN or infinite is left out of every quantity of its "
                  "point (D_f, G_f and R_f of a point come from the same runs); `n`, error bars and titles count the "
                  "runs that remain.", ""]
        lines += [f"- {dropped.message(limit=None)}" for dropped in report.dropped]
        lines.append("")
    lines += ["## Figures", ""]
    for kind, paper in FIGURE_KINDS.items():
        for result in (r for r in report.figures if r.kind == kind):
            if result.figure is None:
                lines.append(f"- **{kind}** ({paper}): skipped, {result.reason}")
                continue
            links = ", ".join(f"[{suffix.upper()}](figures/{result.name}.{suffix})" for suffix in formats)
            lines.append(f"- **{result.title}** ({paper}; {result.runs} runs per point): {links}")
            if "png" in formats:
                lines += ["", f"  ![{result.name}](figures/{result.name}.png)", ""]
    lines += ["", "## Table 2: correlation of test error with D_f, G_f, R_f", ""]
    if table2.empty:
        lines.append("Not computed: the table has no test error or no trained diffeomorphism measurements.")
    else:
        lines += [table2_markdown(table2), "",
                  "n_archs: architectures (points) with a positive test error and stability (log scales need them), "
                  "seeds per arch: the seeds behind each point; a coefficient needs at least 3 architectures (n/a "
                  "otherwise), and one resting on fewer says so in its cell. Spearman's rho is the same on log and "
                  "linear scales. Paper values (Petrini et al. 2021, Table 2; CIFAR10 "
                  "from Figs 15-16) are shown for median rows of the paper's datasets. Files: `table2.csv`, "
                  "`table2.md`, `correlations.csv`."]
    lines += ["", "## Power laws: test error = a X^b across architectures", ""]
    if laws.empty:
        lines.append("Not computed: the table has no test error or no trained diffeomorphism measurements.")
    else:
        lines += [laws_markdown(laws), "", "Least squares in log-log with standard errors (`power_laws.csv`); the "
                  "95% interval of b is from the two-level bootstrap of the correlations (its `a_ci_low`, "
                  "`a_ci_high` in the CSV); the paper finds eps_t ~ 0.2 sqrt(R_f) on CIFAR10."]
    lines += ["", "## Tables", "",
              "- `aggregated.csv`: every configuration (stage, layer, cutoff, temperature, average, ...) with "
              "geometric means, relative errors and `n` realisations",
              "- `points.csv` (`points.md`): the per-architecture points of the main setting", ""]
    return "\n".join(lines)


def _zoo_section(zoo: pd.DataFrame, table: pd.DataFrame) -> str:
    sources = sorted(set(table["test_error_source"].dropna().astype(str)))
    return ("\n## The zoo: each model's error and stability, with intervals over the images\n\n" + zoo_markdown(zoo)
            + f"\n\nOutput layer, main setting, every stage (`zoo.csv`, `zoo.md`). The test error is the "
            f"{' and '.join(sources)} one: `published` is 1 - the published top-1 accuracy (ImageNet's validation "
            "set), `measured` the top-1 error on the folder's labelled images (both are columns of the table). The "
            "brackets are 95% intervals over the images: the model measured again on half-samples of them (a "
            "delete-d jackknife, `run.json` of each run says how many). " + width_summary(zoo) + "\n")
