"""``report``: one self-contained HTML (or Markdown) report of a fit."""

from __future__ import annotations

import time

from bayes_scaling.commands.args import CI_HELP, ci_fraction, positive_float
from bayes_scaling.commands.output import diagnostics_line, emit
from bayes_scaling.conventions import CI_PROB
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.files import os_error


def cmd_report(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # headless: figures are only ever written to files

    from bayes_scaling.report import ReportConfig, build_report, check_out_path, write_report
    from bayes_scaling.result import FitResult, load_fit

    t0 = time.perf_counter()
    path, fmt = check_out_path(args.out, args.format)
    result = load_fit(args.fit)
    try:
        kaplan = tuple(FitResult.load(p) for p in args.kaplan_fits) if args.kaplan_fits else None
    except BayesScalingError as e:  # which of the two options' files
        raise BayesScalingError(f"--kaplan-fits: {e}") from None
    config = ReportConfig(ci_prob=args.ci_prob, budgets=tuple(args.budgets) if args.budgets else None,
                          refits=not args.no_refits, kaplan_fits=kaplan, design_budget=args.design_budget,
                          command=args.command_line, fit_path=args.fit)
    report = build_report(result, config)
    try:
        written = write_report(report, path, fmt)
    except OSError as e:  # the cause and its fix (full disk, permissions), as for every output file
        raise os_error(e, path, "write the report to") from None
    size = path.stat().st_size / 1024
    extra = f" and {len(written) - 1} figure file(s) next to it" if len(written) > 1 else ""
    return emit([f"wrote {path} ({fmt}, {len(report.sections)} sections, {size:.0f} KiB){extra} in "
                 f"{time.perf_counter() - t0:.1f} s" + ("" if config.refits else "; refits skipped (--no-refits)"),
                 diagnostics_line(result)])


def add_parser(sub) -> None:
    """Register ``report``."""
    p = sub.add_parser("report", help="self-contained HTML or Markdown report of a fit (figures, tables, checks)")
    p.add_argument("fit", help="fit file (.nc) from `bayes-scaling fit`")
    p.add_argument("--out", required=True, help="output file: report.html (one self-contained file) or report.md")
    p.add_argument("--format", choices=("html", "md"), default=None, help="default: from the --out suffix")
    p.add_argument("--budgets", type=positive_float, nargs="+", default=None, metavar="C",
                   help="compute budgets in FLOPs for the allocation table (default: 10x, 100x, 1000x the largest run)")
    p.add_argument("--design-budget", type=positive_float, default=None, metavar="FLOPS",
                   help="extra ladder compute for 'Which runs next' (default: as much again as the runs so far)")
    p.add_argument("--ci-prob", "--ci", dest="ci_prob", type=ci_fraction, default=CI_PROB, help=CI_HELP)
    p.add_argument("--no-refits", action="store_true",
                   help="skip the sensitivity and break-test refits (each compiles and samples a model)")
    p.add_argument("--kaplan-fits", nargs=2, metavar=("C.nc", "D.nc"), default=None,
                   help="kaplan_c and kaplan_d fits: adds Kaplan's contradiction point")
    p.set_defaults(func=cmd_report)
