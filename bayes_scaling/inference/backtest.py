"""Backtests: fit the smaller runs, predict the larger held-out ones, score the predictions.

The split is by compute for laws of N and D (or by the law's single input axis): runs above
``holdout_above``, or the largest runs, at least a ``holdout_fraction`` of them, are held out. Whole
budgets are kept together, so the fraction is a floor: 0.05 holds out the bundled example's top
budget, 7 of its 63 runs (11%); where a budget's runs differ in compute by rounding, the budget the
fraction's threshold cuts is held out whole. Reported per
method, on the held-out runs:

- coverage of the 50% and 90% intervals (Bayes: posterior predictive of a new run; Huber:
  bootstrap percentile interval of the fitted curve);
- median absolute relative error (MARE) of the point prediction (Bayes: predictive median);
- CRPS (Bayes, from predictive draws; in the runs' loss unit), the proper score;
- baselines in the same run: Huber / L-BFGS point fit with bootstrap (Hoffmann et al. 2022
  Approach 3 style) and, for single-axis curves, the M4 estimator (Alabdulmohsin et al. 2022) and
  a BNSL point fit (Caballero et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling.conventions import MAX_MONTE_CARLO, check_count, check_positive
from bayes_scaling.cost import CostLaw, training_cost, with_cost
from bayes_scaling.data.runs import require_runs
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.base import ScalingLaw
from bayes_scaling.laws.registry import get_law
from bayes_scaling.inference.budgets import sides_hold, snap_to_budgets
from bayes_scaling.inference.discrepancy import decades_outside, extrapolation_box, scale_values, split_axis
from bayes_scaling.posterior.intervals import interval_bounds, quantiles
from bayes_scaling.result.noise import heldout_predictive


@dataclass
class BacktestResult:
    """``table``: one row per method; ``runs``: per held-out run predictions; ``split``: how."""

    table: pd.DataFrame
    runs: pd.DataFrame
    split: dict
    fit: object


def split_runs(runs, law, *, holdout_above: float | None = None, holdout_fraction: float | None = None, cost=None):
    """(train, test, info): hold out runs with the split axis above a threshold or the largest fraction.
    ``info["decades_beyond"]``: the furthest held-out run's distance beyond the training runs (decades, max over
    N, D and C for laws of N and D, as the discrepancy's d, C in ``cost``'s currency: :func:`split_with_cost`; along
    the split axis alone: ``decades_beyond_split_axis``).
    Either threshold then moves to a gap between compute budgets (:func:`~.budgets.snap_to_budgets`: a budget is
    never split; ``info["holdout_above"]`` is the threshold used), keeping a run on each side: ``holdout_above`` to
    the nearer gap, a fraction's threshold down, holding out the budget it cuts, so at least the fraction is held out."""
    return split_with_cost(runs, law, holdout_above=holdout_above, holdout_fraction=holdout_fraction, cost=cost)[:3]


def split_with_cost(runs, law, *, holdout_above: float | None = None, holdout_fraction: float | None = None, cost=None):
    """:func:`split_runs` and the cost law of the training runs, (train, test, info, cost): ``cost`` is resolved on
    the training runs (:func:`~bayes_scaling.cost.training_cost`), a D that loading derived from recorded compute is derived with it on
    both sides (:func:`~bayes_scaling.cost.with_cost`), and C in the distance beyond is its C(N, D)
    (``info["cost"]``: its description, where one is given)."""
    require_runs(runs)
    law = law if isinstance(law, ScalingLaw) else get_law(law)
    axis = split_axis(law)
    if axis not in runs.frame:
        raise BayesScalingError(f"backtests split on {axis}, which the runs table lacks")
    v = runs.frame[axis].to_numpy(float)
    if (holdout_above is None) == (holdout_fraction is None):
        raise BayesScalingError("give one of holdout_above (a value on the split axis) or holdout_fraction (of the runs)",
                                quantity="holdout_above")
    if holdout_fraction is not None:
        holdout_fraction = check_positive("holdout_fraction must be in (0, 1)", holdout_fraction, "holdout_fraction",
                                          below=1.0)
        k = min(max(1, int(round(holdout_fraction * len(v)))), len(v) - 1)  # keep at least one run to fit
        below = v[v < np.sort(v)[-k]]  # hold out at least k runs, whole groups of tied values ...
        if below.size == 0 and np.unique(v).size == 1:
            raise BayesScalingError(f"holdout_fraction {holdout_fraction} cannot split: every run has the same {axis}",
                                    quantity="holdout_fraction")
        holdout_above = float(below.max()) if below.size else float(v.min())  # ... but fit at least the smallest
    else:
        holdout_above = check_positive(f"holdout_above must be a finite number > 0 (a value of {axis})", holdout_above,
                                       "holdout_above")
    asked, holdout_above = holdout_above, snap_to_budgets(v, holdout_above, hold_whole=holdout_fraction is not None)
    test = v > holdout_above
    if not sides_hold(v, holdout_above, min_below=1, min_above=1):
        raise BayesScalingError(f"holding out {axis} > {holdout_above:.4g} leaves {int(test.sum())} of {len(v)} runs "
                                f"out: choose a threshold inside the data ({v.min():.3g} to {v.max():.3g})",
                                quantity="holdout_above")
    cost = training_cost(cost, runs.subset(~test))
    runs = with_cost(runs, cost)  # held-out runs' derived D as the training runs' (fit derives those again: a no-op)
    train, held = runs.subset(~test), runs.subset(test)
    beyond = decades_outside(scale_values(law, held.frame, cost), extrapolation_box(law, train.frame, cost))  # the d
    info = {"axis": axis, "holdout_above": float(holdout_above), "holdout_above_asked": float(asked),
            "n_train": int((~test).sum()), "n_test": int(test.sum()), "decades_beyond": float(beyond.max()),
            "decades_beyond_split_axis": float(np.log10(v[test].max() / v[~test].max()))}
    if cost is not None:
        info["cost"] = cost.describe()
    return train, held, info, cost


def crps_samples(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of predictive samples (rows: observations, columns: draws) at observations ``y``:
    E|X - y| - E|X - X'| / 2, with the second term from sorted samples (exact for the empirical
    distribution)."""
    draws = np.sort(draws, axis=1)
    m = draws.shape[1]
    term1 = np.abs(draws - y[:, None]).mean(axis=1)
    w = (2 * np.arange(1, m + 1) - m - 1) / (m * m)
    term2 = (draws * w).sum(axis=1)
    return term1 - term2


#: The backtest scores the equal-tailed 50% and 90% predictive intervals (its ``coverage_50`` and
#: ``coverage_90`` columns) by definition, whatever ``ci_prob`` a user reads elsewhere: their quantile
#: levels, with the median, ascending.
SCORED_LEVELS = [interval_bounds(0.9)[0], interval_bounds(0.5)[0], 0.5, interval_bounds(0.5)[1], interval_bounds(0.9)[1]]


def _covers(lo, hi, y):
    return float(np.mean((lo <= y) & (y <= hi)))


def backtest(runs, law: str | None = None, spec=None, *, holdout_above: float | None = None,
             holdout_fraction: float | None = None, seed: int = 0, draws: int = 1000, tune: int = 1000,
             chains: int = 4, n_boot: int = 100, baselines: bool = True, calibrate: bool = True,
             group_col: str | None = None,
             vary: tuple[str, ...] | list[str] | None = None, residual_process: bool = False,
             cost=None, run_noise: bool = False) -> BacktestResult:
    """Fit on the smaller runs, predict the held-out larger ones, and score every method.

    ``calibrate``: also score the fit with its extrapolation discrepancy, learned by
    leave-future-out inside the training runs only (:mod:`bayes_scaling.inference.discrepancy`).
    ``group_col`` and ``vary``: a hierarchical fit (e.g. runs that are checkpoints of one model share
    that model's data term); held-out runs of unseen groups are predicted as a new group.
    ``residual_process``: also score the fit (with its discrepancy, if calibrated) whose predictive continues
    the training runs' correlated residuals beyond them (:mod:`bayes_scaling.inference.residual_process`);
    training runs it cannot be fitted to (groups, fewer than 4 distinct axis values) are refused before sampling.
    ``cost``: the training cost law (a :class:`~bayes_scaling.cost.CostLaw`) the fit stores, as ``fit`` takes it
    (default 6ND), or a rule that makes one from runs (a cost fitted to recorded compute), applied to the training
    runs only (:func:`~bayes_scaling.cost.training_cost`): a D derived from recorded compute (a table of N and C) is
    derived with it on both sides, and C beyond the runs is priced with it; the LFO calibration's inner split applies
    the rule to its own training runs and derives that D again with the inner law (:func:`~bayes_scaling.cost.with_cost`).
    ``run_noise``: the fit's noise split as ``fit`` splits it (run to run, configuration to law; an ``SE`` column's
    evaluation standard errors apart from sigma); a held-out run is then scored as the observation it is, its own
    SE added to the predictive (:func:`~bayes_scaling.result.noise.heldout_predictive`), in the intervals, coverage,
    MARE's median and CRPS alike."""
    from bayes_scaling import baselines as bl
    from bayes_scaling.inference.fit import fit, resolve_spec

    spec = resolve_spec(law, spec)
    lw = spec.law
    n_boot = check_count("n_boot", n_boot, 1, MAX_MONTE_CARLO)  # before the fit, which would be wasted
    if cost is not None and not isinstance(cost, CostLaw) and not callable(cost):
        raise BayesScalingError(f"cost must be a CostLaw or a function of the training runs returning one, got {cost!r}",
                                quantity="cost")
    rule = cost if callable(cost) and not isinstance(cost, CostLaw) else None  # the LFO split applies it again
    train, test, info, cost = split_with_cost(runs, lw, holdout_above=holdout_above, holdout_fraction=holdout_fraction,
                                              cost=cost)
    if residual_process:
        from bayes_scaling.inference.residual_process import check_process_runs, with_residual_process

        check_process_runs(train, [lw], grouped=group_col is not None, families=[spec.likelihood.dist])
    res = fit(train, spec=spec, seed=seed, draws=draws, tune=tune, chains=chains, progress=False, group_col=group_col,
              vary=vary, cost=cost, run_noise=run_noise)
    inputs = {k: test.frame[k].to_numpy(float) for k in lw.input_names if k in test.frame}
    if "C" not in inputs and "C" in test.frame:
        inputs["C"] = test.frame["C"].to_numpy(float)
    y = test.frame["loss"].to_numpy(float)
    fits = [(f"bayes ({lw.name})", "bayes", res)]
    if calibrate:
        from bayes_scaling.inference.discrepancy import calibrate as lfo

        try:
            res = res.with_discrepancy(lfo(res, fit, draws=draws, tune=tune, cost_rule=rule))
            fits.append((f"bayes + LFO discrepancy ({lw.name})", "bayes_lfo", res))
        except BayesScalingError as e:  # too few runs to split again: the plain posterior predictive stands
            if e.quantity != "calibrate_extrapolation":  # any other failure is the user's to see
                raise
            info["discrepancy_error"] = str(e)
    if residual_process:
        with_process = with_residual_process(res)
        fits.append((f"{fits[-1][0].split(' (')[0]} + residual process ({lw.name})", "bayes_rp", with_process))
        info["residual_process"] = with_process.discrepancy.process_record()
    rows, per_run, nonfinite = [], pd.DataFrame({"loss": y, **inputs}), 0
    for label, key, r in fits:
        samples = heldout_predictive(r, test, seed=seed)  # its own SE added where the fit took SEs
        bad = int((~np.isfinite(samples)).sum())
        nonfinite = max(nonfinite, bad)
        if bad:  # e.g. a stuck chain; quantiles skip them, CRPS is undefined
            samples = np.where(np.isfinite(samples), samples, np.nan)
        q = quantiles(samples, SCORED_LEVELS)  # lo90, lo50, median, hi50, hi90
        rows.append({"method": label, "coverage_50": _covers(q[1], q[3], y), "coverage_90": _covers(q[0], q[4], y),
                     "mare": float(np.median(np.abs(q[2] - y) / y)),
                     "crps": float(crps_samples(samples, y).mean()) if not bad else np.nan})
        per_run[f"{key}_median"], per_run[f"{key}_lo90"], per_run[f"{key}_hi90"] = q[2], q[0], q[4]
    if baselines:
        log_train = train.log_inputs(lw.compute_unit)
        log_test = test.log_inputs(lw.compute_unit)
        xtr = {k: log_train[k] for k in lw.input_names}
        xte = {k: log_test[k] for k in lw.input_names}
        ytr = np.log(train.frame["loss"].to_numpy(float))
        try:
            boot = bl.huber_bootstrap(lw.name, xtr, ytr, n_boot=n_boot, seed=seed)
            p90, p50 = bl.predict_interval(boot, xte, prob=0.9), bl.predict_interval(boot, xte, prob=0.5)
            rows.append({"method": f"huber + bootstrap ({lw.name})", "coverage_50": _covers(p50["lower"], p50["upper"], y),
                         "coverage_90": _covers(p90["lower"], p90["upper"], y),
                         "mare": float(np.median(np.abs(p90["point"] - y) / y)), "crps": np.nan})
            per_run["huber_point"] = p90["point"]
        except (BayesScalingError, ValueError, FloatingPointError) as e:
            rows.append({"method": f"huber + bootstrap ({lw.name})", "error": str(e)})
        if len(lw.input_names) == 1:
            xs = np.exp(xtr[lw.input_names[0]])
            xt = np.exp(xte[lw.input_names[0]])
            for name, predict in (("m4", lambda: bl.m4_predict(bl.m4_fit(xs, np.exp(ytr)), xt)),
                                  ("bnsl point fit", lambda: bl.bnsl_point_fit(xs, np.exp(ytr)).predict(
                                      {"X": np.log(xt)}) if lw.input_names[0] == "X" else None)):
                try:
                    pt = predict()
                except (BayesScalingError, ValueError, FloatingPointError, RuntimeError) as e:
                    rows.append({"method": name, "error": str(e)})
                    continue
                if pt is None:
                    continue
                rows.append({"method": name, "coverage_50": np.nan, "coverage_90": np.nan,
                             "mare": float(np.median(np.abs(pt - y) / y)), "crps": np.nan})
                per_run[name.replace(" ", "_")] = pt
    table = pd.DataFrame(rows).set_index("method")
    d = res.diagnostics
    info.update({"r_hat_max": d.r_hat_max, "divergences": d.divergences, "diagnostics_ok": d.ok,
                 "nonfinite_predictive_draws": nonfinite})
    if res.discrepancy is not None:
        disc = res.discrepancy
        info["discrepancy"] = {**disc.info, "tau0_median": float(disc.tau0.median()),
                               "tau1_median": float(disc.tau1.median())}
    return BacktestResult(table, per_run, info, res)
