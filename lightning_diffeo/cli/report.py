"""``lightning-diffeo report RESULTS -o DIR``: the paper's figures, Table 2 and ``report.md`` from a study table.

    lightning-diffeo report results.csv -o report/
    lightning-diffeo report results.parquet -o report/ --cutoff 5 --delta 1 --overwrite
    lightning-diffeo report results.csv -o report/ --curves curves.csv --doubled doubled.csv
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal

from .errors import fail

__all__ = ["build_parser", "main"]

_FORMATS = ("png", "pdf")


def build_parser():
    """The jsonargparse parser of ``lightning-diffeo report``."""
    from jsonargparse import ActionConfigFile, ActionYesNo, ArgumentParser

    parser = ArgumentParser(
        prog="lightning-diffeo report", exit_on_error=False, allow_abbrev=False,
        description="Write the paper's figures (PNG and PDF), Table 2 (CSV and Markdown) and report.md from the "
        "study table of `lightning-diffeo collect` (CSV or parquet). Figures whose data is missing are skipped with "
        "the reason.",
    )
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("results", type=str, help="study table: .csv or .parquet")
    parser.add_argument("-o", "--out", type=str, required=True, help="report folder (refused if not empty)")
    parser.add_argument("--description", type=str | None, default=None,
                        help="study description (default: from --spec, or study.json or a sweep spec beside the table)")
    parser.add_argument("--spec", type=str | None, default=None,
                        help="sweep spec or study.json to take the description from")
    parser.add_argument("--overwrite", action=ActionYesNo, default=False,
                        help="write into an existing, non-empty folder (files of the same name are replaced)")
    parser.add_argument("--cutoff", type=float | None, default=None, help="cutoff of the main figures (default 3)")
    parser.add_argument("--delta", type=float | None, default=None,
                        help="typical displacement in pixels of the main figures (default: nearest to 1)")
    parser.add_argument("--scale", type=Literal["log", "linear"], default="log", help="scale of the correlations")
    parser.add_argument("--n_boot", type=int, default=2000, help="bootstrap resamples for correlation intervals")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--image_size", type=int | None, default=None,
                        help="image side in pixels for T_min/T_max (default: from the table or the dataset)")
    parser.add_argument("--stage", type=str, default="best",
                        help="stage set against the test error: best (trained; a zoo's published weights) or init "
                        "(e.g. a zoo of random initialisations against their architectures' published error)")
    parser.add_argument("--formats", type=list[Literal["png", "pdf"]], default=list(_FORMATS),
                        help="figure formats: PNG (raster) and PDF (vector)")
    parser.add_argument("--curves", type=str | None, default=None,
                        help="learning curves of the study (collect --curves): adds their figure")
    parser.add_argument("--doubled", type=str | None, default=None,
                        help="table of the same study with twice the epochs on one seed: adds the convergence check")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``lightning-diffeo report`` (``argv`` without the subcommand word)."""
    from jsonargparse import ArgumentError

    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except ArgumentError as error:
        fail(str(error))
    from lightning_diffeo.analysis import FigureOptions, write_report  # pandas and matplotlib: after parsing

    try:
        options = FigureOptions(cutoff=args.cutoff, delta=args.delta, scale=args.scale, n_boot=args.n_boot,
                                seed=args.seed, image_size=args.image_size, stage=args.stage)
    except ValueError as error:
        fail(f"--{error}")
    try:
        report = write_report(args.results, args.out, description=args.description, spec=args.spec,
                              overwrite=args.overwrite,
                              options=options, formats=args.formats, curves=args.curves, doubled=args.doubled)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        fail(str(error))
    drawn = [r for r in report.figures if r.figure is not None]
    for result in report.skipped:
        print(f"skipped {result.kind} ({result.paper}): {result.reason}", file=sys.stderr)
    print(f"wrote {len(drawn)} figure{'' if len(drawn) == 1 else 's'}, Table 2 and report.md to {report.folder}")
