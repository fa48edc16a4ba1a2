"""Arguments shared by the commands: argparse value types, the option builders (runs columns,
sampler, law/spec, credible interval, JSON, compute unit) and what the parsed options become
(a spec, a runs table, a budget in FLOPs). Also the map from a quantity at fault in an error to the
option that sets it (:func:`option_for`): the only place quantities meet flags."""

from __future__ import annotations

import argparse
import math
from typing import Any

from bayes_scaling.conventions import (CI_PROB, COMPUTE_UNITS, DEFAULT_LOSS_UNIT, LOSS_UNITS, MAX_SEED, PARAMS_KINDS,
                                       compute_to_flops)
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.quantities import flag, label

CI_HELP = "credible interval mass, equal-tailed (default 0.9)"
#: Options that set the runs-file columns holding no quantity, by the role their errors carry.
COLUMN_ROLE_OPTIONS = {"group": "--group-col", "seed": "--seed-col", "covariate": "--covariate",
                       "shape": "--shape-cols"}


#: Options that set an argument of the library (not a quantity): the CLI names them after an error.
ARGUMENT_OPTIONS = {"law": "--law", "holdout_above": "--holdout-above", "holdout_fraction": "--holdout-fraction",
                    "calibrate_extrapolation": "--calibrate-extrapolation", "cost": "--cost", "n_ctx": "--n-ctx",
                    "aspect_ratio": "--aspect-ratio", "run_noise": "--run-noise", "shapes": "--shapes",
                    "draws": "--draws", "tune": "--tune", "chains": "--chains", "seed": "--seed", "weights": "--weights",
                    "vary": "--vary", "score": "--score", "candidates": "--candidates", "rope": "--rope",
                    "converged_within": "--converged-within", "residual_process": "--residual-process",
                    "target_metric": "--target", "chance": "--chance", "utility": "--utility", "group": "--group", "groups": "--groups",
                    "data_home": "--data-home", "dataset_option": "--option", "spec": "--spec",
                    "worlds": "--worlds", "prior_draws": "--prior-draws", "refit_sims": "--refit-sims",
                    "batch": "--batch", "exchange": "--exchange", "max_refits": "--max-refits",
                    "ladder_budget": "--ladder-budget", "target_flops": "--target-compute", "min_ess": "--min-ess",
                    "reach_optimal_shape": "--reach-optimal-shape", "max_params": "--max-params",
                    "max_tokens": "--max-tokens", "alt_tokens_per_param": "--alt-tokens-per-param",
                    "alternatives": "--alt-params", "method": "--method", "loss_unit": "--loss-unit",
                    "covariates": "--covariate", "compute_unit": "--compute-unit", "budget": "--budget",
                    "candidate_se": "--candidate-se"}


def option_for(quantity: str | None, column: bool = False) -> str | None:
    """The option that sets ``quantity`` (a quantity symbol or a column role such as ``"group"``):
    its runs-file column option with ``column=True``, else its value option; None if it has none."""
    if quantity is None:
        return None
    return (flag(quantity, column=column) or (COLUMN_ROLE_OPTIONS.get(quantity) if column else None)
            or (None if column else ARGUMENT_OPTIONS.get(quantity)))


def with_option(text: str, quantity: str | None, column: bool = False) -> str:
    """``text`` (an error message) on one line, ending with the option that sets ``quantity`` in brackets
    (once: not where the message names it already)."""
    import re

    text = " ".join(str(text).split())
    option = option_for(quantity, column)
    if option and not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
        text += f" [{option}]"
    return text


# -- value types --------------------------------------------------------------------------------

def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a count, a number of tokens, FLOPs ...)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number like 7e9, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


def ci_fraction(text: str) -> float:
    """argparse type: a credible interval mass strictly between 0 and 1."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected an interval mass in (0, 1) like 0.9, got {text!r}")
    return v


def int_at_least(low: int, why: str = "", high: int | None = None):
    """argparse type: a whole number >= ``low`` (and <= ``high`` when given; ``why`` explains the
    bounds in the error)."""
    bounds = f">= {low}" if high is None else f"in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < low or (high is not None and v > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {bounds}{why}, got {text[:40]!r}")
        return v

    return parse


#: argparse type of every ``--seed``: a whole number from 0 to 2^63 - 1 (NumPy refuses a negative seed, and
#: nutpie's is 64-bit unsigned; seeds derived from it wrap within that range, ``conventions.derived_seed``).
seed_value = int_at_least(0, high=MAX_SEED)


def name_value(text: str) -> tuple[str, float]:
    """argparse type: ``NAME=VALUE`` with a finite number VALUE (a covariate's value at a query)."""
    name, eq, value = str(text).partition("=")
    try:
        v = float(value)
    except ValueError:
        v = math.nan
    if not eq or not name.strip() or not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with a finite number, like log_aspect_ratio=4.1, "
                                         f"got {text[:60]!r}")
    return name.strip(), v


# -- option builders ----------------------------------------------------------------------------

def add_covariate_value_arg(p) -> None:
    """``--covariate NAME=VALUE`` (repeatable) of a query on a fit with covariates; unset ones stay at the runs' mean."""
    p.add_argument("--covariate", dest="covariate_values", type=name_value, action="append", default=None,
                   metavar="NAME=VALUE", help="a covariate's value at the query, e.g. log_aspect_ratio=4.1 "
                   "(repeatable; a fit's covariates not given answer at the mean of its runs, which the output states)")


def covariate_values(args) -> dict[str, float] | None:
    """``--covariate NAME=VALUE`` options as ``{name: value}`` (None when none was given); a name given twice fails."""
    pairs = getattr(args, "covariate_values", None) or []
    names = [k for k, _ in pairs]
    twice = sorted({k for k in names if names.count(k) > 1})
    if twice:
        from bayes_scaling.errors import BayesScalingError

        raise BayesScalingError(f"covariate(s) {twice} given more than once: give each one value",
                                quantity="covariates")
    return dict(pairs) or None


def add_ci_arg(p) -> None:
    """``--ci`` (alias ``--ci-prob``, as ``report`` spells it): the credible interval mass of every interval printed."""
    p.add_argument("--ci", "--ci-prob", dest="ci", type=ci_fraction, default=CI_PROB, help=CI_HELP)


def add_json_arg(p) -> None:
    """``--json``: print the answer as JSON instead of text."""
    p.add_argument("--json", action="store_true", help="print JSON")


def add_compute_unit_arg(p, help_text: str) -> None:
    """``--compute-unit``: flops or pf-days (1 PF-day = 8.64e19 FLOPs)."""
    p.add_argument("--compute-unit", choices=COMPUTE_UNITS, default="flops", help=help_text)


def add_law_args(p, law_help: str = "law name") -> None:
    """``--law`` and ``--spec`` (a spec's law must agree with ``--law`` when both are given)."""
    p.add_argument("--law", default=None, help=law_help)
    p.add_argument("--spec", default=None, help="spec file or shipped spec name (see `bayes-scaling specs`)")


def add_sampler_args(p, draws: int = 1000, tune: int | None = 1000, tune_help: str = "%(default)s") -> None:
    """``--draws``, ``--tune``, ``--chains``, ``--seed`` of the NUTS sampler."""
    p.add_argument("--draws", type=int_at_least(10), default=draws,
                   help="posterior draws per chain (default %(default)s)")
    p.add_argument("--tune", type=int_at_least(10), default=tune, help=f"tuning steps per chain (default {tune_help})")
    p.add_argument("--chains", type=int_at_least(2, " (R-hat compares chains)"), default=4,
                   help="chains, at least 2 (default %(default)s)")
    p.add_argument("--seed", type=seed_value, default=None,
                   help="random seed, 0 to 2^63 - 1 (default: drawn and recorded in the fit)")


def add_calibrate_arg(p) -> None:
    """``--calibrate-extrapolation``: also learn the extrapolation discrepancy."""
    p.add_argument("--calibrate-extrapolation", action="store_true",
                   help="also fit the runs below one decade under the largest and learn how far predictions miss "
                        "beyond the data; widens predictive intervals beyond the data accordingly")


def add_residual_process_arg(p) -> None:
    """``--residual-process``: also continue the law's correlated residuals beyond the data."""
    p.add_argument("--residual-process", action="store_true",
                   help="also model the law's residuals along the scale axis (C for laws of N and D) as a correlated "
                        "process (Ornstein-Uhlenbeck in log10 of the axis plus white noise) and continue it beyond the "
                        "data: a new run's predictive there is shifted by the last runs' offset from the law (decaying "
                        "over the fitted length, in decades) and widened by its uncertainty. Needs 4 or more distinct "
                        "axis values, at most 2000 runs, no groups, a law of the loss (not a metric law) and a likelihood with a "
                        "finite sd (Student-t nu > 2); refused otherwise. With the "
                        "leave-future-out discrepancy, both widen the interval")


def add_runs_args(p) -> None:
    """Column mapping and unit options of a runs file (``fit``, ``fit-many``, ``backtest``)."""
    p.add_argument("--params-col", default="params", help="column with parameter counts N")
    p.add_argument("--tokens-col", default="tokens", help="column with training tokens D ('' if absent)")
    p.add_argument("--compute-col", default="compute", help="column with training compute C ('' if absent)")
    p.add_argument("--loss-col", default=None,
                   help="column with the response: the final loss (in --loss-unit), or a metric for a metric law "
                        "(default: column 'loss', or where there is none column 'metric', which is read as a metric, "
                        "a fraction with no loss unit, that loss laws refuse)")
    p.add_argument("--loss-unit", choices=LOSS_UNITS, default=None,
                   help=f"unit of the loss column, recorded with the fit and printed with every loss (values are "
                        f"not converted; default {DEFAULT_LOSS_UNIT}; bits/byte: e.g. a task's bits-per-byte; "
                        f"nats/word: a word-level log-perplexity such as LAMBADA's). For a metric law (response a fraction): the unit of its predictor loss L (--col L=...), recorded "
                        f"so that predict-metric and target-metric refuse a loss fit in another unit (default: "
                        f"unknown, a note)")
    p.add_argument("--params-kind", choices=PARAMS_KINDS, default="total",
                   help="whether N counts total or non-embedding parameters (default %(default)s)")
    add_compute_unit_arg(p, "unit of the compute column")
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


# -- what the options become ----------------------------------------------------------------------

def col_map(items: list[str]) -> dict[str, str]:
    """``--col Q=COLUMN`` options as {quantity symbol: column}; Q must be a further law input."""
    from bayes_scaling.data.runs import EXTRA_QUANTITIES

    out = {}
    for item in items:
        q, sep, col = item.partition("=")
        if not sep or not q.strip() or not col.strip():
            raise BayesScalingError(f"--col expects Q=COLUMN (e.g. U=unique_tokens), got {item!r}")
        out[q.strip()] = col.strip()
    unknown = sorted(set(out) - set(EXTRA_QUANTITIES))
    if unknown:
        raise BayesScalingError(f"unknown quantity {unknown} in --col; known: {sorted(EXTRA_QUANTITIES)} "
                                f"(parameters, tokens, compute and loss have their own options)")
    return out


#: The law input each ``--col`` quantity reaches a fit through, where it is not one itself: batch size B only
#: turns optimizer steps S into Kaplan's S_min; SE (evaluation standard errors) enters the likelihood, not a
#: law (with run noise; the fit warns without it). Every other quantity must be read by a law being fitted.
READ_THROUGH: dict[str, str | None] = {"B": "S", "SE": None}


def runs_from_args(args, source=None, laws=()):
    """The runs table of ``args.runs`` (or of ``source``, a path or DataFrame) mapped by the runs options.
    ``laws``: the laws to be fitted; a law input given with ``--col`` that none of them reads is refused."""
    from bayes_scaling.data.runs import load_runs

    metric = [w for w in laws if w.response_unit != DEFAULT_LOSS_UNIT]
    unit = getattr(args, "loss_unit", None)
    if metric and unit is not None and len(metric) < len(laws):
        raise BayesScalingError(f"--loss-unit is ambiguous with metric law {metric[0].name!r} and a loss law: it is the "
                                f"unit of a metric law's predictor L but of a loss law's response; fit them apart",
                                quantity="loss_unit")
    runs = load_runs(
        args.runs if source is None else source,
        params_col=args.params_col or None,
        tokens_col=args.tokens_col or None,
        compute_col=args.compute_col or None,
        loss_col=args.loss_col,
        params_kind=args.params_kind,
        compute_unit=args.compute_unit,
        loss_unit=None if metric else unit or DEFAULT_LOSS_UNIT,  # a metric law's response is not a loss
        predictor_unit=unit if metric else None,  # for a metric law, --loss-unit is its predictor L's unit
        group_cols=args.group_col or (),
        seed_col=args.seed_col,
        extra_cols=col_map(args.col),
        shape_cols=tuple(args.shape_cols) if args.shape_cols else None,
        covariate_cols=args.covariate or (),
        strict=getattr(args, "strict", False),
    )
    for q in col_map(args.col) if laws else ():
        via = READ_THROUGH.get(q, q)
        if via is not None and not any(via in w.input_names for w in laws):
            through = "" if via == q else f" (the only input {label(q)} changes)"
            raise BayesScalingError(f"--col {q}=... has no effect here: law(s) {[w.name for w in laws]} do not read "
                                    f"{label(via)}{through}; drop it or choose a law that does")
    return runs


def spec_from_args(args):
    """The spec named by ``--law`` / ``--spec``; one of them is required."""
    from bayes_scaling.inference.fit import resolve_spec

    if args.law is None and args.spec is None:
        raise BayesScalingError("choose a law with --law NAME or a spec with --spec FILE")
    return resolve_spec(args.law, args.spec)


def group_kw(args, spec) -> dict[str, Any]:
    """``vary`` and ``group_col`` of a fit from ``--group-col``/``--vary``. With a group column, the
    parameters in ``--vary`` vary by group, else the spec's ``[hierarchy]`` ones, else all but the
    irreducible loss."""
    if args.vary is not None and not [v for v in args.vary.split(",") if v.strip()]:
        raise BayesScalingError("--vary names no parameter: give the parameters that vary by group, e.g. --vary A,B")
    if not args.group_col:
        if args.vary is not None:
            raise BayesScalingError("--vary needs --group-col COLUMN (the column whose groups get their own parameters)")
        return {"vary": None, "group_col": None}
    vary = ([v.strip() for v in args.vary.split(",") if v.strip()] if args.vary is not None
            else list(spec.hierarchy.vary) if spec.hierarchy
            else [p.name for p in spec.law.params if p.kind != "loss"])
    return {"vary": vary, "group_col": args.group_col[0]}


def add_cost_args(p, stored: bool) -> None:
    """``--cost``, ``--n-ctx`` and ``--aspect-ratio``: the training cost law (FLOPs). ``stored``: the
    fit command, which stores the law with the fit; else the queries, which override the stored one."""
    from bayes_scaling.cost import COST_KINDS

    default = ("6nd" if stored else "the fit's stored law, else 6nd")
    p.add_argument("--cost", choices=COST_KINDS, default=None,
                   help=f"training cost C = f(N) D in FLOPs: 6nd (k N D, k = --flops-per-token), kaplan (Kaplan et al. "
                        f"2020 Table 1: 6 N D (1 + n_ctx / (12 d_model)); needs --n-ctx) or fitted (C = k N^a D fitted "
                        f"to the runs' recorded compute column) (default: {default})")
    p.add_argument("--n-ctx", type=positive_float, default=None, help="--cost kaplan: context length (tokens)")
    p.add_argument("--aspect-ratio", type=positive_float, default=None,
                   help="--cost kaplan: d_model / n_layer (default: the runs' shape columns' median)")


def cost_from_args(args, runs=None):
    """The :class:`~bayes_scaling.cost.CostLaw` of ``--cost`` (None when not given: the stored law or 6ND)."""
    from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN
    from bayes_scaling.cost import cost_from_options

    k = getattr(args, "flops_per_token", FLOPS_PER_PARAM_TOKEN)
    if args.cost not in (None, "6nd") and k != FLOPS_PER_PARAM_TOKEN:
        raise BayesScalingError(f"--flops-per-token sets k of the 6nd cost; --cost {args.cost} has its own")
    return cost_from_options(args.cost, flops_per_token=k, n_ctx=args.n_ctx, aspect_ratio=args.aspect_ratio,
                             runs=runs)


def to_flops(value: float, compute_unit: str) -> float:
    """A compute value given in ``--compute-unit`` (flops or pf-days), in FLOPs."""
    return float(compute_to_flops(value, compute_unit))


def budget_flops(args) -> float:
    """``--compute`` in FLOPs."""
    return to_flops(args.compute, args.compute_unit)


def fit_out(out: str):
    """The path of a fit file to write (``--out``), checked before the fit."""
    from pathlib import Path

    from bayes_scaling.files import check_out_file

    if Path(out).suffix.lower() not in (".nc", ".h5", ".nc4"):
        raise BayesScalingError(f"--out {out!r} should end in .nc (the fit is written as netCDF)")
    return check_out_file(out, "give a file name such as fit.nc")


def refuse_unused(args, options: dict[str, tuple[str, Any]], why: str) -> None:
    """One line naming the ``options`` (flag -> (dest, default)) that were given a value other than
    their default where they have no effect; ``why`` completes "... only applies ...". Called so that
    an option is never silently ignored."""
    given = [f for f, (dest, default) in options.items() if getattr(args, dest, default) != default]
    if given:
        raise BayesScalingError(f"{', '.join(given)} {'has' if len(given) == 1 else 'have'} no effect here: "
                                f"{'it applies' if len(given) == 1 else 'they apply'} only {why}")
