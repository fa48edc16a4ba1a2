"""Validation command: ``backtest``."""

from __future__ import annotations

import numpy as np

from bayes_scaling.commands.args import (add_cost_args, add_json_arg, add_law_args, add_residual_process_arg,
                                         add_runs_args, add_sampler_args, cost_from_args, group_kw, int_at_least,
                                         positive_float, runs_from_args, spec_from_args)
from bayes_scaling.conventions import MAX_MONTE_CARLO, loss_unit_of
from bayes_scaling.commands.output import emit


def cmd_backtest(args) -> int:
    """Fit the smaller runs, predict the held-out larger ones; Bayes against baselines in one run."""
    from bayes_scaling.inference.backtest import backtest

    spec = spec_from_args(args)
    runs = runs_from_args(args, laws=[spec.law])
    res = backtest(runs, spec=spec, holdout_above=args.holdout_above, holdout_fraction=args.holdout_fraction,
                   seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains, n_boot=args.n_boot,
                   calibrate=not args.no_calibrate, residual_process=args.residual_process, run_noise=args.run_noise,
                   cost=lambda train: cost_from_args(args, train), **group_kw(args, spec))  # of the training runs
    table = res.table.reset_index().to_dict(orient="records")
    unit = loss_unit_of(res.fit)
    units = {"loss": unit, "crps": unit, "mare": "fraction of the observed loss", "coverage": "fraction of held-out runs"}

    def text():
        sp = res.split
        moved = sp.get("holdout_above_asked", sp["holdout_above"]) != sp["holdout_above"]
        moved = (f" (the threshold {sp['holdout_above_asked']:.4g} moved to the nearest gap between compute budgets, so "
                 f"no budget is split)") if moved else ""
        yield (f"backtest: trained on {sp['n_train']} runs with {sp['axis']} <= {sp['holdout_above']:.4g}{moved}, predicted "
               f"{sp['n_test']} held-out runs up to {sp['decades_beyond']:.2f} decades beyond "
               f"(fit r_hat_max {sp['r_hat_max']:.3f}, divergences {sp['divergences']})")
        if "cost" in sp:
            yield f"cost law of the training runs (prices the held-out runs' C): {sp['cost']}"
        if not sp["diagnostics_ok"] or sp["nonfinite_predictive_draws"]:
            yield (f"WARNING: the Bayesian fit's diagnostics failed ({sp['nonfinite_predictive_draws']} non-finite "
                   f"predictive draws): rerun with more --tune/--draws before trusting its row")
        disc = sp.get("discrepancy")
        if disc:
            yield (f"extrapolation discrepancy learned inside the training runs (leave-future-out, {disc['inner_n_train']} "
                   f"fit, {disc['inner_n_test']} held out): sd {disc['tau0_median']:.3g} + {disc['tau1_median']:.3g} "
                   f"per decade (log-loss, medians)")
        rp = sp.get("residual_process")
        if rp:
            yield (f"residual process fitted to the training runs: s {rp['s']:.3g}, ell {rp['ell_decades']:.3g} decades, "
                   f"se {rp['se']:.3g} (log-loss); its row's predictive is shifted and widened beyond them")
        yield f"losses in {unit}; CRPS in {unit}, MARE relative:"
        yield f"  {'method':<40} {'cover 50%':>9} {'cover 90%':>9} {'MARE':>8} {'CRPS':>8}"
        for r in table:
            if r.get("error") and isinstance(r["error"], str):
                yield f"  {r['method']:<40} failed: {r['error']}"
                continue
            cells = [f"{r[k]:>9.2f}" if np.isfinite(r[k]) else f"{'-':>9}" for k in ("coverage_50", "coverage_90")]
            cells += [f"{r['mare']:>8.2%}", f"{r['crps']:>8.4f}" if np.isfinite(r["crps"]) else f"{'-':>8}"]
            yield f"  {r['method']:<40} " + " ".join(cells)

    return emit(text, {"split": res.split, "units": units, "methods": table}, as_json=args.json)


def add_parsers(sub) -> None:
    """Register ``backtest``."""
    p = sub.add_parser("backtest", help="fit the smaller runs, predict the larger ones, score against baselines")
    p.add_argument("runs", help="runs file (.csv or .parquet)")
    add_law_args(p)
    p.add_argument("--holdout-above", type=positive_float, default=None,
                   help="hold out runs above this compute in FLOPs (or value of a single-axis law's input)")
    p.add_argument("--holdout-fraction", type=float, default=None, help="or hold out this fraction of the largest runs")
    p.add_argument("--n-boot", type=int_at_least(2, high=MAX_MONTE_CARLO), default=100,
                   help="bootstrap resamples of the Huber baseline")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip the leave-future-out extrapolation discrepancy (one fit fewer)")
    p.add_argument("--run-noise", action="store_true",
                   help="fit with run noise, as fit --run-noise (needs a normal or logit_normal likelihood); with "
                        "--col SE=COLUMN each held-out run is scored with its own evaluation standard error added")
    add_residual_process_arg(p)
    add_cost_args(p, stored=True)
    add_runs_args(p)
    add_sampler_args(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_backtest, seed=0)
