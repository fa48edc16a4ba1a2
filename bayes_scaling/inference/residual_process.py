"""Correlated residuals along a curve, continued beyond the data (an option of the discrepancy).

The likelihood treats each run's noise as independent. The runs of one learning curve are not: a
curve wanders around any law form smoothly (one run's optimiser, schedule and data order), so its
residuals are autocorrelated and the last runs' offset from the law persists for a while beyond
them. Following Kennedy & O'Hagan (2001), who model a simulator's discrepancy as a Gaussian
process, the law's residuals along the split axis are modelled as an Ornstein-Uhlenbeck process in
t = log10(axis) (exponential kernel s^2 exp(-|t - t'| / ell)) plus white noise se^2, its three
scales fitted by maximum marginal likelihood (Rasmussen & Williams 2006, ch. 5) to the residuals
of the law's posterior median at the fitted runs. Beyond the data a new run's log-loss gets the
process's conditional mean (the last runs' offset, decaying over ell decades) and conditional
variance (growing to s^2), on top of the fit's noise and calibrated discrepancy. A two-stage
approximation: the law's posterior is not refitted under the correlated error model.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.discrepancy import Discrepancy, ResidualProcess, split_axis

__all__ = ["fit_residual_process", "with_residual_process", "ELL_BOUNDS"]

ELL_BOUNDS = (0.005, 10.0)  # decades: the length scale's search range


def _nll(p, t, e):
    s, ell, se = np.exp(p)
    k = s ** 2 * np.exp(-np.abs(t[:, None] - t[None, :]) / ell) + (se ** 2 + 1e-12) * np.eye(len(t))
    try:
        chol = np.linalg.cholesky(k)
    except np.linalg.LinAlgError:
        return np.inf
    a = np.linalg.solve(chol, e)
    return float(0.5 * a @ a + np.log(np.diag(chol)).sum())


def fit_residual_process(log10_axis, resid) -> ResidualProcess:
    """Maximum marginal likelihood (s, ell, se) of the OU-plus-white-noise process (module docstring)
    for residuals ``resid`` (log-loss) at ``log10_axis`` (log10 of the split axis); needs 4 runs or more."""
    from scipy.optimize import minimize

    t, e = np.asarray(log10_axis, float), np.asarray(resid, float)
    if len(t) < 4 or not (np.all(np.isfinite(t)) and np.all(np.isfinite(e))):
        raise BayesScalingError(f"the residual process needs 4 or more finite residuals, got {len(t)}",
                                quantity="residual_process")
    sd = max(float(np.std(e)), 1e-6)
    lo, hi = np.log(ELL_BOUNDS)
    bounds = [(np.log(sd) - 12, np.log(sd) + 3), (lo, hi), (np.log(sd) - 12, np.log(sd) + 3)]
    from threadpoolctl import threadpool_limits

    best = None
    with threadpool_limits(limits=1, user_api="blas"):  # tiny problems: BLAS threads only oversubscribe (6x slower)
        for ell0 in (0.03, 0.3, 3.0):
            r = minimize(_nll, [np.log(sd), np.log(ell0), np.log(sd / 2)], args=(t, e), method="L-BFGS-B",
                         bounds=bounds)
            if np.isfinite(r.fun) and (best is None or r.fun < best.fun):
                best = r
    if best is None:
        raise BayesScalingError("the residual process's marginal likelihood could not be evaluated",
                                quantity="residual_process")
    s, ell, se = map(float, np.exp(best.x))
    return ResidualProcess(t, e, s, ell, se)


def with_residual_process(result):
    """``result`` (a ``FitResult`` or an ``EnsembleResult``) whose discrepancy also carries the law's
    residual process (its mixture median's, for an ensemble), fitted to its own runs only. A fit
    without a calibrated discrepancy gets tau0 = tau1 = 0 and the process alone."""
    members = getattr(result, "members", None)
    first = result if members is None else next(iter(members.values()))
    if first.hierarchy is not None:
        raise BayesScalingError("the residual process follows one curve along its axis; this fit has groups, whose "
                                "runs interleave on it", quantity="residual_process")
    axis = split_axis(first.law)
    runs = result.runs
    x = runs.frame[axis].to_numpy(float)
    law = result.evaluator.log_mean_at_runs(runs)  # chain, draw, run (the mixture's draws for an ensemble)
    resid = np.log(runs.frame["loss"].to_numpy(float)) - np.median(law.values.reshape(-1, len(x)), axis=0)
    proc = fit_residual_process(np.log10(x), resid)
    top = float(np.log10(x.max()))
    info = {"residual_process": {"kernel": "exponential in log10 axis + white noise", "s": proc.s,
                                 "ell_decades": proc.ell, "se": proc.se, "n_runs": len(x)}}

    def attach(m):
        d = m.discrepancy
        if d is None:
            zero = m.posterior["sigma"] * 0.0
            d = Discrepancy(zero, zero, axis, top, {"method": "none (residual process only)"})
        return m.with_discrepancy(Discrepancy(d.tau0, d.tau1, d.axis, d.log10_axis_max, {**d.info, **info}, proc))

    if members is None:
        return attach(result)
    from bayes_scaling.result.ensemble import EnsembleResult

    return EnsembleResult({k: attach(m) for k, m in members.items()}, result.weights, {**result.info, **info},
                          seed=result.seed)
