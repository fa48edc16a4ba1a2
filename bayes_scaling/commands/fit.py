"""Fitting commands: ``demo``, ``fit``, ``fit-many``, ``summary`` and ``specs`` (the laws and specs
a fit can use). Parameters are reported in their own units (see ``summary``'s unit column), losses
in nats/token, compute in FLOPs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bayes_scaling.commands.args import (add_calibrate_arg, add_ci_arg, add_cost_args, add_json_arg, add_law_args,
                                         add_residual_process_arg, add_runs_args, add_sampler_args, cost_from_args,
                                         fit_out, group_kw, int_at_least, runs_from_args, spec_from_args, with_option)
from bayes_scaling.commands.output import (data_notes, diagnostics_line, diagnostics_record, discrepancy_line,
                                           discrepancy_record, emit, interval_line)
from bayes_scaling.conventions import pct
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.inference.whiten import BIG_TABLE_ROWS, BIG_TUNE
from bayes_scaling.posterior.intervals import format_interval
from bayes_scaling.specs.metric import floor_prior_text, spec_for_metric_runs
from bayes_scaling.specs.moments import contraction_label


#: fit-many's default sampler settings per chain (4 chains): see benchmarks/README.md, "Many curves".
FIT_MANY_DRAWS = 400
FIT_MANY_TUNE = 200


def fmt(v: float) -> str:
    """A number with 4 significant digits."""
    return f"{v:.4g}"


def param_table(result, ci_prob: float, truth: dict[str, float] | None = None) -> str:
    """The parameter table of a fit: unit, median, interval, R-hat, bulk ESS, contraction (and the
    truth if known)."""
    df = result.summary(ci_prob)
    pct_text = pct(ci_prob)
    head = ["param", "unit", "median", f"{pct_text} interval", "r_hat", "ess_bulk", "contraction"] + \
        (["truth"] if truth else [])
    rows = [head]
    for name, r in df.iterrows():
        row = [name, r["unit"], fmt(r["median"]), format_interval(r, fmt, median=False),
               f"{r['r_hat']:.3f}", f"{r['ess_bulk']:.0f}",
               contraction_label(r["contraction"], r["contraction_scale"])]
        if truth:
            row.append(fmt(truth[name]) if name in truth else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _contraction_record(row) -> dict[str, Any]:
    return {"unit": str(row["unit"]), "contraction": float(row["contraction"]),
            "contraction_scale": str(row["contraction_scale"])}


def summary_json(result, ci_prob: float) -> dict[str, Any]:
    """The JSON record of a fit shared by ``fit --json`` and ``summary --json``: every row of the text's parameter
    table (:meth:`~bayes_scaling.result.FitResult.summary`: the law's parameters, sigma, the noise components,
    group scales ``tau_*`` and per-group values ``name[group]``; the law's derived parameters under ``derived``)."""
    from bayes_scaling.posterior.intervals import summary_record

    post = result.posterior
    table = result.summary(ci_prob)
    out: dict[str, Any] = {n: {**summary_record(post[n], ci_prob), **_contraction_record(table.loc[n])}
                           for n in [*result.law.param_names, "sigma"]}
    derived = result.law.derived(result.law.to_law_params(post))
    for name, row in table.iterrows():  # every further row of the text's table: noise parts, tau_*, group values
        if name not in out and name not in derived:
            out[name] = {**{k: float(row[k]) for k in ("median", "mean", "ci_low", "ci_high")},
                         "ci_prob": float(ci_prob), **_contraction_record(row)}
    if derived:
        out["derived"] = {k: summary_record(v, ci_prob) for k, v in derived.items()}
    out["law"] = result.law.name
    out["formula"] = result.law.formula
    out["spec"] = {"origin": result.spec.origin, **result.spec.provenance}
    out["runs"] = result.runs_metadata
    out["diagnostics"] = diagnostics_record(result)
    out["extrapolation_discrepancy"] = discrepancy_record(result, ci_prob)
    return out


def _runs_line(result) -> str:
    m = result.runs_metadata
    cols = {k: v for k, v in m["columns"].items() if v}
    derived = f"; derived {', '.join(m['derived'])}" if m["derived"] else ""
    kind = f"N = {m['params_kind']} parameters; " if "N" in result.runs.frame.columns else ""  # no N, no kind to give
    return f"runs: {m['n_runs']} from {m['source']} ({kind}columns {cols}{derived})"


def fit_lines(result, ci_prob: float, *, with_spec: bool = False) -> list[str]:
    """The text view of a fit shared by `fit` and `summary`: law, runs, the data's notes, parameters, diagnostics."""
    lines = [f"{result.law.title}: {result.law.formula}"]
    if with_spec:
        lines.append(f"spec: {result.spec.origin} ({result.spec.provenance.get('source', '')})")
    lines.append(_runs_line(result))
    if (floor := floor_prior_text(result.spec)) is not None:  # a metric law: where its chance level comes from
        lines.append(floor)
    notes, said = data_notes(result)  # a checkpoints note said in full here is not said again under diagnostics
    lines += [*notes, param_table(result, ci_prob), diagnostics_line(result, with_checkpoints=not said)]
    line = discrepancy_line(result, ci_prob)
    return lines if line is None else [*lines, line]


def cmd_fit(args) -> int:
    from bayes_scaling.inference.fit import check_units, fit

    spec = spec_from_args(args)
    out = fit_out(args.out)
    kw = group_kw(args, spec)
    runs = runs_from_args(args, laws=[spec.law])
    check_units(spec, runs)  # a loss law on a metric table (or the reverse) is named before --chance
    spec = spec_for_metric_runs(spec, runs, chance=args.chance)
    cost = cost_from_args(args, runs)
    if args.residual_process:  # refused before the sampling where the runs alone decide
        from bayes_scaling.inference.residual_process import check_process_runs

        check_process_runs(runs, [spec.law], grouped=kw["group_col"] is not None, families=[spec.likelihood.dist],
                           cost=cost)
    result = fit(runs, spec=spec, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                 strict=args.strict, command=args.command_line, calibrate_extrapolation=args.calibrate_extrapolation,
                 cost=None if cost is None else (lambda r: cost_from_args(args, r)),  # the rule: an inner fit's own
                 run_noise=args.run_noise, **kw)
    if args.residual_process:
        from bayes_scaling.inference.residual_process import with_residual_process

        result = with_residual_process(result)
    result.save(out)
    costed = [f"training cost: {cost.describe()}"] if cost is not None else []
    return emit(lambda: [*fit_lines(result, args.ci), *costed, f"saved {out}"],
                lambda: {**summary_json(result, args.ci), "out": str(out),
                         "cost": None if cost is None else json.loads(cost.to_json())}, as_json=args.json)


def _by_tables(args, out_dir: Path, laws) -> tuple[dict[str, Any], dict[str, Path]]:
    """``fit-many``'s runs split by the ``--by`` column: {value: runs table}, {value: fit file}."""
    import re
    from dataclasses import replace

    from bayes_scaling.data.runs import table_notes
    from bayes_scaling.data.sources import read_source
    from bayes_scaling.files import check_out_file

    frame, source, sha = read_source(args.runs)
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
                              "move that folder away or choose another --out-dir", "--out-dir")
        if path in paths.values():
            other = next(k for k, v in paths.items() if v == path)
            raise BayesScalingError(f"--by values {other!r} and {name!r} would both be saved as {path.name}: "
                                    f"rename one of them in column {args.by!r}")
        # Each table is a slice of one file: it records that file and its SHA-256, as load_runs does, and the file's
        # notes (written one a row from the first, so a slice holds some of them only)
        part_runs = runs_from_args(args, part.reset_index(drop=True), laws=laws)
        tables[name] = replace(part_runs, source=source, sha256=sha,
                               notes=tuple(dict.fromkeys([*table_notes(frame), *part_runs.notes])))
        paths[name] = path
    return tables, paths


def cmd_fit_many(args) -> int:
    import sys

    from bayes_scaling.inference.batch import fit_many

    spec = spec_from_args(args)
    kw = group_kw(args, spec)
    out_dir = Path(args.out_dir)
    if not args.out_dir.strip() or not out_dir.is_dir():
        raise BayesScalingError(f"--out-dir {args.out_dir!r} is not an existing folder: create it first")
    if args.scheduler is not None and not args.scheduler.strip():
        raise BayesScalingError("--scheduler is empty: give a Dask scheduler address (tcp://host:port), or drop it")
    if args.residual_process:  # what refuses every curve (groups, a metric law, the family) is said once
        from bayes_scaling.inference.residual_process import check_process_runs

        check_process_runs(None, [spec.law], grouped=kw["group_col"] is not None, families=[spec.likelihood.dist])
    tables, paths = _by_tables(args, out_dir, [spec.law])
    # the progress line goes to stderr: when asked (--progress), or by default on a terminal without --json
    progress = args.progress if args.progress is not None else (sys.stderr.isatty() and not args.json)
    res = fit_many(tables, spec=spec, workers=args.workers, scheduler=args.scheduler, out=paths, keep=False,
                   progress=progress, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                   calibrate_extrapolation=args.calibrate_extrapolation, residual_process=args.residual_process, **kw)
    rows = [{"name": name, **r} for name, r in res.records.items()]
    errors = {name: with_option(err, res.error_quantities.get(name)) for name, err in res.errors.items()}
    if not rows:  # exit 2 says why in one line, as every refusal does
        first = next(iter(errors.items()), ("", "no curve"))
        raise BayesScalingError(f"none of the {len(tables)} curves was fitted; {first[0]}: {first[1]}")
    summary = {"curves": len(tables), "fitted": len(rows), "passed_diagnostics": res.passed,
               "not_fitted": len(res.errors), "seconds": round(res.seconds, 2),
               "sampler": {"chains": args.chains, "tune": args.tune, "draws": args.draws}}

    def text():
        for r in rows:
            yield (f"{r['name']}: {r['n_runs']} runs, r_hat_max {r['r_hat_max']:.3f}, divergences {r['divergences']}"
                   f"{'' if r['ok'] else ' (diagnostics FAILED: ' + '; '.join(r['problems']) + ')'} -> {r['out']}")
        for name, err in errors.items():
            yield f"{name}: not fitted: {err}"
        yield (f"{len(rows)} of {len(tables)} curves fitted, {res.passed} pass the diagnostics (R-hat, ESS, "
               f"divergences), {len(res.errors)} not fitted; {res.seconds:.1f} s ({args.chains} chains x "
               f"{args.tune} tune + {args.draws} draws)")

    emit(text, {"fits": rows, "errors": errors, "summary": summary}, as_json=args.json)
    return 0


def cmd_summary(args) -> int:
    from bayes_scaling.commands.ensemble import ensemble_json, ensemble_lines
    from bayes_scaling.conventions import is_ensemble
    from bayes_scaling.result import load_fit

    result = load_fit(args.fit)
    if is_ensemble(result):
        return emit(lambda: ensemble_lines(result, args.ci), lambda: ensemble_json(result, args.ci), as_json=args.json)
    return emit(lambda: fit_lines(result, args.ci, with_spec=True), lambda: summary_json(result, args.ci),
                as_json=args.json)


def cmd_demo(args) -> int:
    import numpy as np

    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.examples import EXAMPLE, example_path
    from bayes_scaling.inference.fit import fit
    from bayes_scaling.posterior.intervals import summary_record
    from bayes_scaling.simulate import true_loss

    out = fit_out(args.out) if args.out is not None else None
    path = example_path()
    runs = load_runs(path, params_kind=EXAMPLE["params_kind"])
    truth = EXAMPLE["truth"]
    budgets = EXAMPLE["budgets_flops"]
    emit([f"bundled example: {len(runs)} simulated runs ({path.name}), IsoFLOP ladder of "
          f"{len(budgets)} budgets {budgets[0]:.1e}-{budgets[-1]:.1e} FLOPs",
          "truth: " + ", ".join(f"{k} = {v:g}" for k, v in truth.items())
          + f"; noise Student-t(nu={EXAMPLE['nu']:g}) on log-loss, sigma = {EXAMPLE['sigma']}",
          f"fitting {EXAMPLE['law']} with NUTS (nutpie), seed {args.seed} ..."])
    result = fit(runs, law=EXAMPLE["law"], draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                 command=args.command_line)
    emit([param_table(result, args.ci, truth={**truth, "sigma": EXAMPLE["sigma"]}), diagnostics_line(result)])
    n_big = 10 * float(runs.frame["N"].max())
    d_big = 20 * n_big
    pred = result.predict(N=n_big, D=d_big)
    s = summary_record(pred["loss"].isel(query=0), args.ci)
    t = float(true_loss(EXAMPLE["law"], truth, N=n_big, D=d_big))
    inside = "inside" if s["ci_low"] <= t <= s["ci_high"] else "OUTSIDE"
    emit([f"prediction for a model 10x larger than the largest run: N = {n_big:.3g} parameters, "
          f"D = {d_big:.3g} tokens (20 tokens/parameter), C = {6 * n_big * d_big:.3g} FLOPs",
          interval_line("loss", s, " nats/token", ".4f") + f"; truth {t:.4f} ({inside} the interval)"])
    if out:
        result.save(out)
        emit(f"saved {out}")
    return 0 if np.isfinite(s["median"]) else 1


def cmd_specs(args) -> int:
    from bayes_scaling.laws.registry import get_law, list_laws
    from bayes_scaling.specs.spec import list_specs, load_spec

    def text():
        for name in list_laws():
            law = get_law(name)
            yield f"law {name}: {law.formula}  [{law.citation}]"
        for name in list_specs():
            spec = load_spec(name)
            yield f"spec {name} (law {spec.law_name}): {spec.provenance.get('source', '')}"

    return emit(text)


def add_parsers(sub) -> None:
    """Register ``demo``, ``fit``, ``fit-many`` and ``summary`` (``specs``: :func:`add_specs_parser`)."""
    p = sub.add_parser("demo", help="fit the bundled simulated ladder and compare with the truth")
    add_sampler_args(p)
    p.set_defaults(seed=1)
    add_ci_arg(p)
    p.add_argument("--out", default=None, help="also save the fit to this .nc file")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("fit", help="fit a law to a runs file and save the posterior")
    p.add_argument("runs", help="runs file (.csv or .parquet), one row per training run")
    add_law_args(p, "law name (chinchilla, kaplan_n, kaplan_d, kaplan_c, kaplan_nd; see `bayes-scaling specs`)")
    p.add_argument("--out", required=True, help="output fit file (.nc)")
    add_runs_args(p)
    add_sampler_args(p, tune=None, tune_help=f"1000; {BIG_TUNE} for tables of {BIG_TABLE_ROWS:,}+ rows, which start "
                                            "at the posterior mode, whitened")
    p.add_argument("--strict", action="store_true", help="fail (exit 1) when diagnostics fail")
    add_calibrate_arg(p)
    p.add_argument("--run-noise", action="store_true",
                   help="split the noise into run to run (replicates: runs at the same N, D and other inputs) and each configuration's "
                        "offset from the law; a column given as --col SE=COLUMN holds each run's evaluation standard "
                        "error (the loss column's units). Needs a normal or logit_normal likelihood")
    add_residual_process_arg(p)
    p.add_argument("--chance", type=float, default=None, metavar="P",
                   help="a metric law's chance level, 0 <= P < 1 (the accuracy of a guess: 0.5 for 2-way, 0.25 for 4-way "
                        "multiple choice, 0 for an open-ended answer): the floor's prior is centred on it. Default: the "
                        "level the runs table records (a dataset's, or a column 'chance'), else the spec's prior")
    add_cost_args(p, stored=True)
    add_ci_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("fit-many", help="fit one law to each curve/dataset of a runs file (one compile per worker)")
    p.add_argument("runs", help="runs file (.csv or .parquet)")
    p.add_argument("--by", required=True, help="column whose values split the runs into separate fits")
    add_law_args(p)
    p.add_argument("--out-dir", required=True, help="existing folder for one <value>.nc per fit")
    p.add_argument("--workers", type=int_at_least(1), default=None, help="local worker processes (default: CPU count)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port) instead of local workers")
    add_runs_args(p)
    add_sampler_args(p, draws=FIT_MANY_DRAWS, tune=FIT_MANY_TUNE)
    add_calibrate_arg(p)
    add_residual_process_arg(p)
    add_json_arg(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress line on stderr (curves done/total, rate, ETA, failures); default: on a terminal, "
                        "not with --json")
    p.set_defaults(func=cmd_fit_many, seed=0)

    p = sub.add_parser("summary", help="parameter table with credible intervals and diagnostics")
    p.add_argument("fit", help="fit file (.nc) from `bayes-scaling fit`")
    add_ci_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_summary)


def add_specs_parser(sub) -> None:
    """Register ``specs`` (listed last in ``--help``, after every query)."""
    p = sub.add_parser("specs", help="list the shipped laws and prior specs")
    p.set_defaults(func=cmd_specs)
