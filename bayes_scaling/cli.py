"""Command line: ``bayes-scaling demo | fit | summary | predict | allocate | target | frontier | breakdown | compare |
shape | compare-laws | fit-many | backtest | report | specs``.

Exit codes: 0 success; 2 bad input (one line on stderr, no traceback, no output file);
1 when ``--strict`` diagnostics fail.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import warnings
from typing import Any

from bayes_scaling.commands.common import (_add_law_args, _diag_json, _diag_line, _discrepancy_json,
                                          _discrepancy_line, _extrapolation_lines, _group_kw, _int_at_least,
                                          _spec_from_args)
from bayes_scaling.conventions import CI_PROB, INPUT_QUANTITIES, PARAMS_KINDS
from bayes_scaling.errors import BayesScalingError, DiagnosticsError
from bayes_scaling.queries.extrapolation import extrapolation_report


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str):  # noqa: D401
        raise BayesScalingError(f"{message} (see `{self.prog} --help`)")


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number like 7e9, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


def _ci(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an interval mass in (0, 1) like 0.9, got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected an interval mass in (0, 1) like 0.9, got {text!r}")
    return v


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _param_table(result, ci_prob: float, truth: dict[str, float] | None = None) -> str:
    df = result.summary(ci_prob)
    pct = f"{ci_prob:.0%}"
    head = ["param", "unit", "median", f"{pct} interval", "r_hat", "ess_bulk"] + (["truth"] if truth else [])
    rows = [head]
    for name, r in df.iterrows():
        row = [name, r["unit"], _fmt(r["median"]), f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
               f"{r['r_hat']:.3f}", f"{r['ess_bulk']:.0f}"]
        if truth:
            row.append(_fmt(truth[name]) if name in truth else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _summary_json(result, ci_prob: float) -> dict[str, Any]:
    from bayes_scaling.posterior.intervals import summary_record

    post = result.posterior
    out: dict[str, Any] = {n: summary_record(post[n], ci_prob) for n in [*result.law.param_names, "sigma"]}
    out["law"] = result.law.name
    out["formula"] = result.law.formula
    out["spec"] = {"origin": result.spec.origin, **result.spec.provenance}
    out["runs"] = result.runs_metadata
    out["diagnostics"] = _diag_json(result)
    out["extrapolation_discrepancy"] = _discrepancy_json(result, ci_prob)
    return out


def _runs_line(result) -> str:
    m = result.runs_metadata
    cols = {k: v for k, v in m["columns"].items() if v}
    derived = f"; derived {', '.join(m['derived'])}" if m["derived"] else ""
    return f"runs: {m['n_runs']} from {m['source']} (N = {m['params_kind']} parameters; columns {cols}{derived})"


def _print_fit(result, ci_prob: float, *, with_spec: bool = False) -> None:
    """The text view of a fit shared by `fit` and `summary`: law, runs, parameters, diagnostics."""
    print(f"{result.law.title}: {result.law.formula}")
    if with_spec:
        print(f"spec: {result.spec.origin} ({result.spec.provenance.get('source', '')})")
    print(_runs_line(result))
    print(_param_table(result, ci_prob))
    print(_diag_line(result))
    line = _discrepancy_line(result, ci_prob)
    if line is not None:
        print(line)


# -- commands ------------------------------------------------------------------------------

def _load_runs(args, source=None):
    from bayes_scaling.data.runs import load_runs

    return load_runs(
        args.runs if source is None else source,
        params_col=args.params_col or None,
        tokens_col=args.tokens_col or None,
        compute_col=args.compute_col or None,
        loss_col=args.loss_col,
        params_kind=args.params_kind,
        compute_unit=args.compute_unit,
        group_cols=args.group_col or (),
        seed_col=args.seed_col,
        extra_cols=_col_map(args.col),
        shape_cols=tuple(args.shape_cols) if args.shape_cols else None,
        covariate_cols=args.covariate or (),
    )


def _col_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        q, sep, col = item.partition("=")
        if not sep or not q.strip() or not col.strip():
            raise BayesScalingError(f"--col expects Q=COLUMN (e.g. U=unique_tokens), got {item!r}")
        out[q.strip()] = col.strip()
    return out


def _fit_out(out: str):
    """The path of a fit file to write (``--out``), checked before the fit."""
    from pathlib import Path

    from bayes_scaling.files import check_out_file

    if Path(out).suffix.lower() not in (".nc", ".h5", ".nc4"):
        raise BayesScalingError(f"--out {out!r} should end in .nc (the fit is written as netCDF)")
    return check_out_file(out, "give a file name such as fit.nc")


def cmd_fit(args) -> int:
    from bayes_scaling.inference.fit import fit

    spec = _spec_from_args(args)
    out = _fit_out(args.out)
    group_kw = _group_kw(args, spec)
    runs = _load_runs(args)
    result = fit(runs, spec=spec, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                 strict=args.strict, command=args.command_line, calibrate_extrapolation=args.calibrate_extrapolation,
                 **group_kw)
    result.save(out)
    if args.json:
        print(json.dumps({**_summary_json(result, args.ci), "out": str(out)}, indent=2))
    else:
        _print_fit(result, args.ci)
        print(f"saved {out}")
    return 0


def cmd_fit_many(args) -> int:
    import re
    from dataclasses import replace
    from pathlib import Path

    from bayes_scaling.files import check_out_file
    from bayes_scaling.data.runs import _read_source
    from bayes_scaling.inference.batch import fit_many

    spec = _spec_from_args(args)
    group_kw = _group_kw(args, spec)
    out_dir = Path(args.out_dir)
    if not out_dir.is_dir():
        raise BayesScalingError(f"--out-dir {args.out_dir!r} is not an existing folder: create it first")
    frame, source, sha = _read_source(args.runs)
    if args.by not in frame.columns:
        raise BayesScalingError(f"--by column {args.by!r} not found; columns are: {list(frame.columns)}")
    by = frame[args.by]
    empty = (by.isna() | (by.astype(str).str.strip() == "")).to_numpy()
    if empty.any():
        rows = (empty.nonzero()[0] + 1).tolist()[:5]
        raise BayesScalingError(f"--by column {args.by!r} is empty in data row(s) {rows}: give every run a value "
                                f"or drop those runs")
    tables, paths = {}, {}
    for value, part in frame.groupby(args.by, sort=True):
        name = str(value)
        path = check_out_file(out_dir / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".nc"),
                              "move that folder away or choose another --out-dir", "output file")
        if path in paths.values():
            other = next(k for k, v in paths.items() if v == path)
            raise BayesScalingError(f"--by values {other!r} and {name!r} would both be saved as {path.name}: "
                                    f"rename one of them in column {args.by!r}")
        # Each table is a slice of one file: it records that file and its SHA-256, as load_runs does.
        tables[name] = replace(_load_runs(args, part.reset_index(drop=True)), source=source, sha256=sha)
        paths[name] = path
    res = fit_many(tables, spec=spec, workers=args.workers, scheduler=args.scheduler, draws=args.draws,
                   tune=args.tune, chains=args.chains, seed=args.seed,
                   calibrate_extrapolation=args.calibrate_extrapolation, **group_kw)
    rows = []
    for name, fit_result in res.fits.items():
        path = paths[name]
        fit_result.save(path)
        d = fit_result.diagnostics
        rows.append({"name": name, "out": str(path), "n_runs": len(fit_result.runs),
                     **{k: float(fit_result.posterior[k].median()) for k in fit_result.law.param_names},
                     "r_hat_max": d.r_hat_max, "divergences": d.divergences, "ok": d.ok})
    if args.json:
        print(json.dumps({"fits": rows, "errors": res.errors}, indent=2))
    else:
        for r in rows:
            print(f"{r['name']}: {r['n_runs']} runs, r_hat_max {r['r_hat_max']:.3f}, divergences {r['divergences']}"
                  f"{'' if r['ok'] else ' (diagnostics FAILED)'} -> {r['out']}")
        for name, err in res.errors.items():
            print(f"{name}: not fitted: {err}")
    return 0 if rows else 2


def cmd_summary(args) -> int:
    from bayes_scaling.result import FitResult

    result = FitResult.load(args.fit)
    if args.json:
        print(json.dumps(_summary_json(result, args.ci), indent=2))
        return 0
    _print_fit(result, args.ci, with_spec=True)
    return 0


def _prediction_json(result, pred, ci_prob: float) -> dict[str, Any]:
    from bayes_scaling.posterior.intervals import summary_record

    out = {
        "loss": summary_record(pred["loss"].isel(query=0), ci_prob),
        "loss_predictive": summary_record(pred["loss_predictive"].isel(query=0), ci_prob),
        "query": {k: float(pred[k].values[0]) for k in INPUT_QUANTITIES if k in pred.coords},
        "units": {"loss": "nats/token", "N": f"{result.runs_metadata['params_kind']} parameters", "D": "tokens",
                  "C": "FLOPs"},
    }
    out["extrapolation"] = extrapolation_report(
        result, {k: pred[k].values for k in INPUT_QUANTITIES if k in pred.coords}, ci_prob)
    out["diagnostics"] = _diag_json(result)
    return out


def cmd_predict(args) -> int:
    from bayes_scaling.result import FitResult

    result = FitResult.load(args.fit)
    extra = {k: v for k, v in (("U", args.unique_tokens), ("X", args.x), ("S", args.steps)) if v is not None}
    pred = result.predict(N=args.params, D=args.tokens, C=args.compute, group=args.group, **extra)
    out = _prediction_json(result, pred, args.ci)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    q = ", ".join(f"{k} = {_fmt(v)}" for k, v in out["query"].items())
    pct = f"{args.ci:.0%}"
    for key, label in (("loss", "law (mean curve)"), ("loss_predictive", "new run (with run-to-run noise)")):
        s = out[key]
        print(f"predicted loss at {q}: {label}: median {s['median']:.4f} nats/token, "
              f"{pct} interval [{s['ci_low']:.4f}, {s['ci_high']:.4f}]")
    print("\n".join(_extrapolation_lines(out["extrapolation"])))
    print(_diag_line(result))
    return 0


def cmd_demo(args) -> int:
    import numpy as np

    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.examples import EXAMPLE, example_path
    from bayes_scaling.inference.fit import fit
    from bayes_scaling.posterior.intervals import summary_record
    from bayes_scaling.simulate import true_loss

    out = _fit_out(args.out) if args.out else None
    path = example_path()
    runs = load_runs(path, params_kind=EXAMPLE["params_kind"])
    truth = EXAMPLE["truth"]
    print(f"bundled example: {len(runs)} simulated runs ({path.name}), IsoFLOP ladder of "
          f"{len(EXAMPLE['budgets_flops'])} budgets {EXAMPLE['budgets_flops'][0]:.1e}-{EXAMPLE['budgets_flops'][-1]:.1e} FLOPs")
    print("truth: " + ", ".join(f"{k} = {v:g}" for k, v in truth.items())
          + f"; noise Student-t(nu={EXAMPLE['nu']:g}) on log-loss, sigma = {EXAMPLE['sigma']}")
    print(f"fitting {EXAMPLE['law']} with NUTS (nutpie), seed {args.seed} ...", flush=True)
    result = fit(runs, law=EXAMPLE["law"], draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                 command=args.command_line)
    print(_param_table(result, args.ci, truth={**truth, "sigma": EXAMPLE["sigma"]}))
    print(_diag_line(result))
    n_big = 10 * float(runs.frame["N"].max())
    d_big = 20 * n_big
    pred = result.predict(N=n_big, D=d_big)
    s = summary_record(pred["loss"].isel(query=0), args.ci)
    t = float(true_loss(EXAMPLE["law"], truth, N=n_big, D=d_big))
    inside = "inside" if s["ci_low"] <= t <= s["ci_high"] else "OUTSIDE"
    print(f"prediction for a model 10x larger than the largest run: N = {n_big:.3g} parameters, "
          f"D = {d_big:.3g} tokens (20 tokens/parameter), C = {6 * n_big * d_big:.3g} FLOPs")
    print(f"  loss: median {s['median']:.4f} nats/token, {args.ci:.0%} interval [{s['ci_low']:.4f}, "
          f"{s['ci_high']:.4f}]; truth {t:.4f} ({inside} the interval)")
    if out:
        result.save(out)
        print(f"saved {out}")
    return 0 if np.isfinite(s["median"]) else 1


def cmd_specs(args) -> int:
    from bayes_scaling.laws.registry import get_law, list_laws
    from bayes_scaling.specs.spec import list_specs, load_spec

    for name in list_laws():
        law = get_law(name)
        print(f"law {name}: {law.formula}  [{law.citation}]")
    for name in list_specs():
        spec = load_spec(name)
        print(f"spec {name} (law {spec.law_name}): {spec.provenance.get('source', '')}")
    return 0


def _add_sampler_args(p, draws=1000, tune=1000):
    p.add_argument("--draws", type=int, default=draws, help="posterior draws per chain (default %(default)s)")
    p.add_argument("--tune", type=int, default=tune, help="tuning steps per chain (default %(default)s)")
    p.add_argument("--chains", type=int, default=4, help="chains (default %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: drawn and recorded in the fit)")


def _add_calibrate_arg(p) -> None:
    p.add_argument("--calibrate-extrapolation", action="store_true",
                   help="also fit the runs below one decade under the largest and learn how far predictions miss "
                        "beyond the data; widens predictive intervals beyond the data accordingly")


def _add_runs_args(p) -> None:
    """Column mapping and unit options shared by `fit` and `fit-many`."""
    p.add_argument("--params-col", default="params", help="column with parameter counts N")
    p.add_argument("--tokens-col", default="tokens", help="column with training tokens D ('' if absent)")
    p.add_argument("--compute-col", default="compute", help="column with training compute C ('' if absent)")
    p.add_argument("--loss-col", default="loss", help="column with final loss in nats/token")
    p.add_argument("--params-kind", choices=PARAMS_KINDS, default="total",
                   help="whether N counts total or non-embedding parameters (default %(default)s)")
    p.add_argument("--compute-unit", choices=("flops", "pf-days"), default="flops", help="unit of the compute column")
    p.add_argument("--group-col", action="append",
                   help="group column (architecture, dataset): each group gets its own, partially pooled parameters")
    p.add_argument("--vary", default=None,
                   help="comma-separated parameters that vary by group (default: all but the irreducible loss)")
    p.add_argument("--seed-col", default=None, help="column with the training seed of each run")
    p.add_argument("--shape-cols", nargs=2, metavar=("WIDTH", "DEPTH"), default=None,
                   help="d_model and n_layer columns: adds log(d_model/n_layer) as a covariate (shape vs scale)")
    p.add_argument("--covariate", action="append", default=None, help="numeric column entering log-loss linearly")
    p.add_argument("--col", action="append", default=[], metavar="Q=COLUMN",
                   help="column of a further law input: U (unique tokens), X (scale axis), S (steps) or B (batch "
                        "size in tokens, with S); repeatable")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bayes-scaling", description="Posterior distributions over neural scaling laws.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", help="fit the bundled simulated ladder and compare with the truth")
    _add_sampler_args(p)
    p.set_defaults(seed=1)
    p.add_argument("--ci", type=_ci, default=CI_PROB, help="credible interval mass, equal-tailed (default 0.9)")
    p.add_argument("--out", default=None, help="also save the fit to this .nc file")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("fit", help="fit a law to a runs file and save the posterior")
    p.add_argument("runs", help="runs file (.csv or .parquet), one row per training run")
    _add_law_args(p, "law name (chinchilla, kaplan_n, kaplan_d, kaplan_c, kaplan_nd; see `bayes-scaling specs`)")
    p.add_argument("--out", required=True, help="output fit file (.nc)")
    _add_runs_args(p)
    _add_sampler_args(p)
    p.add_argument("--strict", action="store_true", help="fail (exit 1) when diagnostics fail")
    _add_calibrate_arg(p)
    p.add_argument("--ci", type=_ci, default=CI_PROB, help="credible interval mass, equal-tailed (default 0.9)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("fit-many", help="fit one law to each curve/dataset of a runs file (one compile per worker)")
    p.add_argument("runs", help="runs file (.csv or .parquet)")
    p.add_argument("--by", required=True, help="column whose values split the runs into separate fits")
    _add_law_args(p)
    p.add_argument("--out-dir", required=True, help="existing folder for one <value>.nc per fit")
    p.add_argument("--workers", type=_int_at_least(1), default=None, help="local worker processes (default: CPU count)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port) instead of local workers")
    _add_runs_args(p)
    _add_sampler_args(p)
    _add_calibrate_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_fit_many, seed=0)

    p = sub.add_parser("summary", help="parameter table with credible intervals and diagnostics")
    p.add_argument("fit", help="fit file (.nc) from `bayes-scaling fit`")
    p.add_argument("--ci", type=_ci, default=CI_PROB, help="credible interval mass, equal-tailed (default 0.9)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("predict", help="predicted loss with credible intervals")
    p.add_argument("fit", help="fit file (.nc)")
    p.add_argument("--params", type=_positive_float, default=None, help="parameters N")
    p.add_argument("--tokens", type=_positive_float, default=None, help="training tokens D")
    p.add_argument("--compute", type=_positive_float, default=None, help="training compute C in FLOPs")
    p.add_argument("--unique-tokens", type=_positive_float, default=None, help="unique tokens U (data-constrained laws)")
    p.add_argument("--x", type=_positive_float, default=None, help="value on the scale axis X (single-axis laws)")
    p.add_argument("--steps", type=_positive_float, default=None,
                   help="optimizer steps S_min (laws of N and S: kaplan_ns)")
    p.add_argument("--group", default=None, help="hierarchical fits: a group label, or 'new' for an unseen group")
    p.add_argument("--ci", type=_ci, default=CI_PROB, help="credible interval mass, equal-tailed (default 0.9)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_predict)

    from bayes_scaling.commands import add_all

    add_all(sub, _positive_float, _ci)
    from bayes_scaling.commands import report

    report.add_parser(sub, _positive_float, _ci)

    p = sub.add_parser("specs", help="list the shipped laws and prior specs")
    p.set_defaults(func=cmd_specs)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    text = " ".join(str(message).split())
    print(f"warning: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayes-scaling`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    old = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", UserWarning)
            for cat in (FutureWarning, DeprecationWarning, RuntimeWarning):
                warnings.simplefilter("ignore", cat)
            args = parser.parse_args(argv)
            args.command_line = "bayes-scaling " + shlex.join(argv)
            return int(args.func(args) or 0)
    except BayesScalingError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except DiagnosticsError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `bayes-scaling ... | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    finally:
        warnings.showwarning = old
