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
variance (growing to s^2), plus the calibrated discrepancy; the family's noise there is cut to the
white part's sd se (its scale by min(1, se / (k sigma)) per draw, k the family's sd per unit of
scale: 1 for Normal, sqrt(2) for Laplace, sqrt(nu / (nu - 2)) for Student-t), because the noise's
variance (k sigma)^2, fitted under independent noise, already holds the process's marginal variance
s^2 + se^2. Student-t with nu <= 2 has no finite sd and is refused. Inside the data nothing changes.
A two-stage approximation: the law's posterior is not refitted under the correlated error model.

Only the predictive of a new run (``predict``'s ``loss_predictive``, ``predictive_at_runs`` and what
uses them) carries the process. Law-based queries (allocate, decide, frontier, compare, breakdown;
``predict``'s ``loss``) use the law alone. For an ensemble, the process is fitted once to the
mixture median's residuals and every member is shifted by it: a design choice (one curve, one
wander), so a member whose own residuals differ is still moved by the mixture's.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.cost import stored_cost, with_cost
from bayes_scaling.posterior.discrepancy import (NO_SD, Discrepancy, ResidualProcess, box_axes, process_cholesky,
                                                scale_values, split_axis)
from bayes_scaling.quantities import label

__all__ = ["fit_residual_process", "with_residual_process", "check_process_runs", "ELL_BOUNDS", "ELL_STARTS",
           "MAX_RUNS"]

ELL_BOUNDS = (0.005, 10.0)  # decades: the length scale's search range
ELL_STARTS = (0.03, 0.3, 3.0)  # decades: the optimiser's starts (s starts at the residuals' sd, se at half of it)
FLAT_NATS = 0.5  # optima within this many nats of the best count as equally good (flat likelihood)
MAX_RUNS = 2000  # runs: above this the n x n factorisation is refused


def _nll(p, t, e):
    s, ell, se = np.exp(p)
    try:
        chol = process_cholesky(t, s, ell, se)
    except np.linalg.LinAlgError:
        return np.inf
    a = solve_triangular(chol, e, lower=True)
    return float(0.5 * a @ a + np.log(np.diag(chol)).sum())


#: Axis values (log10) closer than this count as one: a C(N, D) recomputed from a recorded C (D = C / f(N), then
#: f(N) D) differs from it by floating-point rounding (~1e-16 relative), which is not a new scale.
SAME_DECADES = 1e-9


def distinct_count(t) -> int:
    """How many distinct values ``t`` (finite log10 axis values) holds, values within :data:`SAME_DECADES` of the
    next one counting as one."""
    t = np.sort(np.asarray(t, float).reshape(-1))
    return int(t.size > 0) + int(np.count_nonzero(np.diff(t) > SAME_DECADES))


def _check_axis(t, axis: str = "the split axis"):
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise BayesScalingError(f"the residual process needs finite positive values on {axis}; run {bad[0]} has "
                                f"log10 value {t[bad[0]]}", quantity="residual_process")
    n_distinct = distinct_count(t)
    if n_distinct < 4:
        raise BayesScalingError(f"the residual process needs 4 or more distinct values on {axis}, got {n_distinct}: "
                                f"add runs at other values or fit without the process", quantity="residual_process")
    if len(t) > MAX_RUNS:
        raise BayesScalingError(f"the residual process is fitted to at most {MAX_RUNS} runs (its cost grows as n^3), "
                                f"got {len(t)}: fit a subset of the curve or fit without the process",
                                quantity="residual_process")


def _check(t, e):
    _check_axis(t)
    bad = np.flatnonzero(~np.isfinite(e))
    if bad.size:
        raise BayesScalingError(f"the residual process needs finite residuals; run {bad[0]} has {e[bad[0]]} (the law's "
                                f"posterior median is not finite there: check the fit's draws)", quantity="residual_process")


def _axis_of(law) -> str:
    if getattr(law, "response", "loss") != "loss":
        raise BayesScalingError(f"the residual process follows a loss curve along its scale axis; law {law.name!r} "
                                f"predicts a {law.response}: use it with a loss law, or fit the metric law without it",
                                quantity="residual_process")
    return split_axis(law)


def _refuse_groups() -> None:
    raise BayesScalingError("the residual process follows one curve along its axis; this fit has groups, whose "
                            "runs interleave on it: fit each group's runs on their own", quantity="residual_process")


def check_process_runs(runs, laws, *, grouped: bool = False, families=(), cost=None) -> None:
    """Refuse, before any sampling, ``runs`` (a ``RunTable``; None: check the laws and families only) that
    the residual process of a fit of ``laws`` (law objects, sharing one split axis) with likelihood
    ``families`` (family objects) and cost law ``cost`` (the :class:`~bayes_scaling.cost.CostLaw` the fit
    will store; None: 6ND) cannot be fitted to: a fit with groups (``grouped``), a law of a metric, a
    family without a finite sd (Student-t with nu <= 2), axis values not finite and positive, fewer than 4
    distinct values on the split axis, more than ``MAX_RUNS`` runs. The axis values are those the process
    is fitted at (:func:`with_residual_process`): for laws of N and D, C is the cost law's C(N, D) of the
    runs as the fit stores them (:func:`~bayes_scaling.cost.with_cost`), not the recorded or nominal C
    column. Raises a one-line error whose quantity is ``residual_process``."""
    if grouped:
        _refuse_groups()
    if any(not np.isfinite(f.sd_per_scale) for f in families):
        raise BayesScalingError(NO_SD, quantity="residual_process")
    frame = None if runs is None else with_cost(runs, cost).frame  # D as the fit will read it
    for law in laws:
        axis = _axis_of(law)
        if frame is not None and set(box_axes(law)) - {"C"} <= set(frame) and axis in frame:
            with np.errstate(divide="ignore", invalid="ignore"):
                _check_axis(np.log10(scale_values(law, frame, cost)[axis]), f"the split axis {label(axis)}")


def fit_residual_process(log10_axis, resid) -> ResidualProcess:
    """Maximum marginal likelihood (s, ell, se) of the OU-plus-white-noise process (module docstring)
    for residuals ``resid`` (log-loss) at ``log10_axis`` (log10 of the split axis); needs 4 or more
    distinct axis values and at most ``MAX_RUNS`` runs. Its ``fit_info`` says whether ell sits at a bound
    of ``ELL_BOUNDS`` and whether the likelihood is flat in ell (optima from the starts with ell a factor
    > 10 apart, or ell moved a factor 10 from the best, within ``FLAT_NATS`` nats: ell not identified)."""
    from scipy.optimize import minimize

    t, e = np.asarray(log10_axis, float), np.asarray(resid, float)
    if t.shape != e.shape or t.ndim != 1:
        raise BayesScalingError(f"the residual process needs one residual per axis value, got {t.shape} and {e.shape}",
                                quantity="residual_process")
    _check(t, e)
    sd = max(float(np.std(e)), 1e-6)
    lo, hi = np.log(ELL_BOUNDS)
    bounds = [(np.log(sd) - 12, np.log(sd) + 3), (lo, hi), (np.log(sd) - 12, np.log(sd) + 3)]
    from threadpoolctl import threadpool_limits

    found = []
    with threadpool_limits(limits=1, user_api="blas"):  # tiny problems: BLAS threads only oversubscribe (6x slower)
        for ell0 in ELL_STARTS:
            r = minimize(_nll, [np.log(sd), np.log(ell0), np.log(sd / 2)], args=(t, e), method="L-BFGS-B",
                         bounds=bounds)
            if np.isfinite(r.fun):
                found.append(r)
    if not found:
        raise BayesScalingError("the residual process's marginal likelihood could not be evaluated",
                                quantity="residual_process")
    best = min(found, key=lambda r: r.fun)
    near = [r.x[1] for r in found if r.fun - best.fun < FLAT_NATS]
    for step in (-np.log(10.0), np.log(10.0)):  # the profile a factor 10 either side (s, se held)
        ell_k = float(np.clip(best.x[1] + step, lo, hi))
        if ell_k != best.x[1] and _nll([best.x[0], ell_k, best.x[2]], t, e) - best.fun < FLAT_NATS:
            near.append(best.x[1] + step)
    s, ell, se = map(float, np.exp(best.x))
    info = {"ell_at_bound": bool(min(abs(best.x[1] - lo), abs(best.x[1] - hi)) < 0.01),
            "likelihood_flat_in_ell": bool(max(near) - min(near) > np.log(10.0)), "nll": float(best.fun)}
    return ResidualProcess(t, e, s, ell, se, info)


def with_residual_process(result):
    """``result`` (a ``FitResult`` or an ``EnsembleResult``) whose discrepancy also carries the law's
    residual process (its mixture median's, for an ensemble), fitted to its own runs only. A fit
    without a calibrated discrepancy gets tau0 = tau1 = 0 and the process alone."""
    members = getattr(result, "members", None)
    first = result if members is None else next(iter(members.values()))
    if first.hierarchy is not None:
        _refuse_groups()
    axis = _axis_of(first.law)
    check_process_runs(None, [], families=[m.evaluator.family for m in (members or {"": result}).values()])
    runs = result.runs
    x = scale_values(first.law, runs.frame, stored_cost(result))[axis]  # C in a query's currency, as the box's
    law = result.evaluator.log_mean_at_runs(runs)  # chain, draw, run (the mixture's draws for an ensemble)
    resid = np.log(runs.frame["loss"].to_numpy(float)) - np.median(law.values.reshape(-1, len(x)), axis=0)
    proc = fit_residual_process(np.log10(x), resid)
    top = float(np.log10(x.max()))
    info = {"residual_process": {"kernel": "exponential in log10 axis + white noise", "s": proc.s,
                                 "ell_decades": proc.ell, "se": proc.se, "n_runs": len(x),
                                 "ell_at_bound": proc.fit_info["ell_at_bound"],
                                 "likelihood_flat_in_ell": proc.fit_info["likelihood_flat_in_ell"]}}

    def attach(m):
        d = m.discrepancy
        if d is None:
            zero = m.posterior["sigma"] * 0.0
            d = Discrepancy(zero, zero, axis, top, {"method": "none (residual process only)"})
        # the process's end is where its axis (built above as the box's) ends, also for a fit calibrated before
        return m.with_discrepancy(Discrepancy(d.tau0, d.tau1, d.axis, top, {**d.info, **info}, proc, d.box))

    if members is None:
        return attach(result)
    from bayes_scaling.result.ensemble import EnsembleResult

    return EnsembleResult({k: attach(m) for k, m in members.items()}, result.weights, {**result.info, **info},
                          seed=result.seed)
