"""Ensembles of law forms: fit several laws (or specs) to the same runs and weight them by how well
each predicted runs larger than those it was fitted to.

Leave-future-out stacking (Bürkner, Gabry & Vehtari 2020; stacking: Yao et al. 2018): at each cut
on the split axis (compute C for laws of N and D), every member is fitted to the runs below the cut
and scores the log predictive density of each run above it; the weights maximise the summed log of
the weighted predictive densities over the held-out runs of all cuts. Weights per cut show how
stable the choice is. ``method="loo"`` stacks PSIS-LOO densities of the full-data fits instead
(in-sample: it rewards fit, not extrapolation). The members are then fitted to all runs.
``score="crps"`` stacks on the CRPS instead of the log score (:mod:`~bayes_scaling.inference.ensemble_scores`).

**When no cut is possible** (a ladder spanning under a decade, or few runs), :func:`fallback_cuts`
tries, in order: one cut between budgets (:func:`budget_levels`; a budget is never split) holding out
at least the largest quarter of the runs; the same with as few runs to fit as the members' proper
priors allow (always on the log score); else equal weights, the Dirichlet prior's mode.
``info["weights_fallback"]`` and the summary say which. Whole larger budgets keep the scored runs a
real extrapolation, as the default cuts do.

* **Regularised weights.** The cuts are nested, so each held-out run's score is weighted 1 / (number
  of cuts that hold it out): it counts once. The log-score objective adds a Dirichlet(alpha = 2) prior,
  (alpha - 1) sum_k log w_k, the score of one pseudo-run per member that only that member predicts: a
  few held-out runs cannot drive a weight to 0 or 1, a hundred that agree still come close. With no
  member the truth (M-open, Yao et al. 2018), 0/1 weights from a handful of correlated runs are noise.
  (The CRPS has no prior; its weights average over bootstrapped runs.)
* **Cross-fitted calibration.** The extrapolation discrepancy measures the misses of the whole
  procedure (choose weights below a cut, predict above it): at each cut the members fitted below it
  are mixed with weights learned only from runs below that cut, tempered to the final weights' concentration;
  the deepest cut, with nothing below it to learn from, is left out (:mod:`.ensemble_calibration`). The misses, each run at its own distance
  beyond its cut and counting once, enter one grid posterior of (tau0, tau1): leave-future-out
  (Bürkner, Gabry & Vehtari 2020) applied to the weighting step itself. Nothing is refitted.

The ensemble and the discrepancy do not count the same miss twice: the discrepancy is calibrated on
the *mixture's* misses, i.e. on what the law-form spread did not already cover.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from bayes_scaling.conventions import as_number, derived_seed
from bayes_scaling.data.runs import load_runs
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.inference.budgets import BUDGET_DECADES, budget_levels, decades_cut, snap_to_budgets  # noqa: F401 (re-exported)
from bayes_scaling.inference.budgets import level_cut as budgets_level_cut
from bayes_scaling.inference.discrepancy import split_axis
from bayes_scaling.inference.ensemble_calibration import (calibration_cuts, check_one_family, heldout_log_score,
                                                         heldout_weights, run_weights, with_cross_fitted_discrepancy)
from bayes_scaling.inference.model import replicate_shares
from bayes_scaling.inference.ensemble_scores import crps_block, crps_stacking_weights, member_crps
from bayes_scaling.inference.checks import check_ensemble_options
from bayes_scaling.inference.fit import check_units, fit, resolve_spec
from bayes_scaling.result.ensemble import EnsembleResult
from bayes_scaling.result.noise import heldout_lpd, heldout_predictive

#: Default cuts: hold out the runs within 0.5, 1 and 1.5 decades of the largest on the split axis.
CUT_DECADES = (0.5, 1.0, 1.5)
MIN_TEST = 3
#: Dirichlet prior on the stacking weights (alpha - 1 = 1: one pseudo-run per member, see the docstring).
PRIOR_ALPHA = 2.0


def stacking_weights(lpd: np.ndarray, *, point_weights=None, prior_alpha: float = PRIOR_ALPHA) -> np.ndarray:
    """Weights on the simplex maximising sum_i v_i log sum_k w_k exp(lpd[i, k]) + (alpha - 1) sum_k log w_k
    (points x members; v = ``point_weights``, default 1): stacking with a Dirichlet(``prior_alpha``)
    prior, the posterior mode. With no points, the prior's mode (equal weights)."""
    from scipy.optimize import minimize
    from scipy.special import log_softmax, logsumexp, softmax

    if not 1.0 <= (prior_alpha := as_number(prior_alpha)) < np.inf:
        raise BayesScalingError(f"prior_alpha must be >= 1 (1: plain stacking; 2: one pseudo-run per member), "
                                f"got {prior_alpha!r}", quantity="prior_alpha")
    lpd = np.asarray(lpd, float)
    n, k = lpd.shape
    if k == 1:
        return np.ones(1)
    if n == 0:
        return np.full(k, 1.0 / k)
    v = np.ones(n) if point_weights is None else np.asarray(point_weights, float)

    def objective(z):
        logw = log_softmax(np.append(z, 0.0))
        return -float(np.sum(v * logsumexp(lpd + logw[None, :], axis=1)) + (prior_alpha - 1.0) * logw.sum())

    method = "Nelder-Mead" if k <= 3 else "Powell"  # each with its own tolerance names
    tol = {"xatol": 1e-6, "fatol": 1e-9} if k <= 3 else {"xtol": 1e-6, "ftol": 1e-9}
    best = min((minimize(objective, z0, method=method, options={**tol, "maxiter": 20000}) for z0 in
                (np.zeros(k - 1), *np.eye(k - 1) * 3.0)), key=lambda r: r.fun)
    return softmax(np.append(best.x, 0.0))


def cross_fitted_weights(blocks, thresholds, values, prior_alpha: float = PRIOR_ALPHA, *, weigh=None,
                         shares=None) -> list[np.ndarray]:
    """Per cut j, the stacking weights a fit below cut j could have learned: from the held-out scores
    ``blocks[k]`` (runs x members) of the deeper cuts k (``thresholds[k] < thresholds[j]``), on their runs
    at or below ``thresholds[j]`` only (``values[k]``: those runs on the split axis); the prior's equal
    weights where there are none. Cut j's own held-out runs never enter its weights. ``weigh(rows,
    point_weights)``: the stacking rule (default :func:`stacking_weights` with ``prior_alpha``). Each run weighs
    :func:`heldout_weights`, ``shares[k]`` its configuration's share (default 1)."""
    if weigh is None:
        weigh = lambda rows, point_weights: stacking_weights(rows, point_weights=point_weights,  # noqa: E731
                                                             prior_alpha=prior_alpha)
    out = []
    for tj in thresholds:
        used = [k for k, tk in enumerate(thresholds) if tk < tj]
        keep = {k: values[k] <= tj for k in used}
        lpd = np.vstack([blocks[k][keep[k]] for k in used]) if used else np.zeros((0, blocks[0].shape[1]))
        pw = [heldout_weights(values[k][keep[k]], [thresholds[i] for i in used],
                              None if shares is None else np.asarray(shares[k])[keep[k]]) for k in used]
        out.append(weigh(lpd, point_weights=np.concatenate(pw) if pw else np.zeros(0)))
    return out


def _lpd(result, test) -> np.ndarray:
    """log mean over draws of p(observed log-loss | draw) for each held-out run, its own evaluation SE added where
    the fit took SEs (:func:`~bayes_scaling.result.noise.heldout_lpd`)."""
    return heldout_lpd(result, test)


def _cuts(runs, law, cut_decades, n_min_train: int):
    """(axis, [(decades, threshold, train, test)]): the cuts ``cut_decades`` below the largest run, each
    moved to the nearest gap between budgets (:func:`~.budgets.snap_to_budgets`), that leave ``n_min_train``
    runs to fit and ``MIN_TEST`` to score (empty when none does); a depth that lands on an earlier one's
    threshold is dropped."""
    axis = split_axis(law)
    v = runs.frame[axis].to_numpy(float)
    out = []
    for dec in cut_decades:
        thr = decades_cut(v, dec, min_below=n_min_train, min_above=MIN_TEST)
        if thr is not None and all(thr != c[1] for c in out):
            out.append((float(dec), thr, runs.subset(v <= thr), runs.subset(v > thr)))
    return axis, out


def level_cut(values, fits_ok, quarter: float = 0.25):
    """:func:`~.budgets.level_cut` holding out at least ``MIN_TEST`` runs."""
    return budgets_level_cut(values, fits_ok, quarter, min_above=MIN_TEST)


def fallback_cuts(runs, items, n_min_train: int):
    """(cuts, rule) when no cut at the default depths is possible (a ladder spanning under a decade or
    so, or few runs): one cut between budgets holding out at least the largest quarter, with
    ``n_min_train`` runs to fit (rule ``"level"``); else the same with as few runs to fit as every member's design and
    priors allow (the few-run fits that proper priors permit: ``"few_runs"``); else no cut (``"equal"``:
    equal weights, the mode of the weights' Dirichlet prior with no held-out run to score)."""
    axis = split_axis(items[0].law)
    v = runs.frame[axis].to_numpy(float)

    def members_fit(mask):  # a probe, not a fit: the require warnings (e.g. prior-dominated) are not shown
        sub = runs.subset(mask)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for s in items:
                    sub.require(s.law, proper_priors=s.priors_proper)
        except BayesScalingError:
            return False
        return True

    for rule, ok in (("level", lambda m: m.sum() >= n_min_train and members_fit(m)), ("few_runs", members_fit)):
        thr = level_cut(v, ok)
        if thr is not None:
            test = v > thr
            return [(round(float(np.log10(v.max() / thr)), 2), thr, runs.subset(~test), runs.subset(test))], rule
    return [], "equal"


#: The calibration mixture's weights under ``method="loo"`` (in the discrepancy's info and the summary).
LOO_WEIGHTS_SOURCE = ("full-data PSIS-LOO weights, whose fits include the runs that then score the calibration "
                      "(in-sample: the calibration can be optimistic)")

#: What each fallback rule does, for ``info["weights_fallback"]`` and the summary.
FALLBACK_RULES = {
    "level": "no cut at the default depths leaves {n_min} runs to fit and 3 to score; one cut between budgets "
             "holds out at least the largest quarter of the runs (whole budgets)",
    "few_runs": "no cut leaves {n_min} runs to fit; one cut between budgets with as few runs to fit as the members' "
                "proper priors allow (prior-dominated inner fits)",
    "equal": "no cut leaves runs the members can be fitted to and 3 to score: equal weights (the Dirichlet "
             "prior's mode with no held-out run); the law-form spread is not weighted by extrapolation",
}


def fit_ensemble(runs, laws=None, specs=None, *, method: str = "lfo", cut_decades=CUT_DECADES,
                 draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0, inner_draws: int = 500,
                 calibrate_extrapolation: bool = False, progress: bool = False, columns: dict | None = None,
                 group_col: str | None = None, vary=None, prior_alpha: float = PRIOR_ALPHA,
                 inner_fit_kw: dict | None = None, score: str = "log", **fit_kw) -> EnsembleResult:
    """Fit each law (names) or spec (objects, names or paths) to ``runs`` and stack them.

    ``method``: ``"lfo"`` (leave-future-out stacking at ``cut_decades`` below the largest run),
    ``"loo"`` (PSIS-LOO stacking) or ``"equal"``. Inner fits use ``inner_draws`` draws and tuning
    steps per chain. ``group_col``: a hierarchical ensemble (every member varies ``vary`` by group, or
    by default all its parameters but the irreducible loss). ``calibrate_extrapolation``: True, False
    or ``"auto"`` (calibrate when the runs allow the discrepancy's split, else record why not in
    ``info["discrepancy"]``). ``fit_kw``: further options of every fit (``retries``,
    ``retry_budget_s``, ``target_accept``); ``inner_fit_kw`` overrides them for the inner (stacking) fits,
    e.g. ``{"retries": 0}``: their draws only score held-out runs. ``score``: the stacking score of the
    ``"lfo"`` weights, ``"log"`` (log predictive density, Dirichlet(``prior_alpha``) prior) or ``"crps"``
    (:mod:`~bayes_scaling.inference.ensemble_scores`). Returns an :class:`EnsembleResult`; ``info``: the cuts, the
    weights per cut, the held-out scores and the score used."""
    runs = runs if hasattr(runs, "frame") else load_runs(runs, **(columns or {}))
    cut_decades = check_ensemble_options(laws, cut_decades, inner_draws, prior_alpha)
    items = [resolve_spec(law=name) for name in (laws or [])] + [resolve_spec(spec=s) for s in (specs or [])]
    if len(items) < 1:
        raise BayesScalingError("an ensemble needs at least one law or spec (e.g. laws=['chinchilla', 'chinchilla_tied'])")
    names = [s.law_name if s.origin.endswith(f"{s.law_name}.toml") else Path(s.origin).stem for s in items]
    if len(set(names)) != len(names):
        raise BayesScalingError(f"ensemble members (laws, specs) must differ; got {names}", quantity="laws")
    with warnings.catch_warnings():  # each member's inputs and design, before any fit (the fits warn again)
        warnings.simplefilter("ignore")
        for s in items:
            check_units(s, runs)
            runs.require(s.law, proper_priors=s.priors_proper)
    axes = {split_axis(s.law) for s in items}
    if len(axes) > 1:
        raise BayesScalingError(f"ensemble members must extrapolate along one axis; these use {sorted(axes)}")
    if score not in ("log", "crps"):
        raise BayesScalingError(f"ensemble stacking score must be 'log' or 'crps', got {score!r}", quantity="score")
    if method not in ("lfo", "loo", "equal"):
        raise BayesScalingError(f"ensemble weights method must be 'lfo', 'loo' or 'equal', got {method!r}",
                                quantity="weights")
    if score != "log" and method != "lfo":
        raise BayesScalingError(f"stacking score {score!r} (--score) applies to leave-future-out weights only; "
                                f"weights by {method!r} use no held-out score", quantity="score")
    if group_col is not None:
        items = [s.with_vary(_vary_for(s, vary)) for s in items]
    elif vary:
        raise BayesScalingError("vary needs a group column (group_col) whose groups get their own parameters",
                                quantity="group", column=True)
    t0 = time.perf_counter()
    kw = {"chains": chains, "progress": progress, "group_col": group_col, **fit_kw}
    no_calibration = None
    if calibrate_extrapolation == "auto":
        from bayes_scaling.inference.discrepancy import inner_split

        try:
            inner_split(runs, items[0].law)
            calibrate_extrapolation = True
        except BayesScalingError as e:
            calibrate_extrapolation, no_calibration = False, f"not calibrated: {e}"
    elif calibrate_extrapolation not in (True, False):
        raise BayesScalingError(f"calibrate_extrapolation must be True, False or 'auto', got {calibrate_extrapolation!r}")
    info: dict = {"method": method}
    inner_fits: dict = {}  # cut threshold -> member fits below it (reused by the discrepancy's split)
    cuts: list = []
    if method == "lfo":
        n_min = max(6, max(len(s.law.param_names) for s in items) + 2)
        axis, cuts = _cuts(runs, items[0].law, cut_decades, n_min)
        if not cuts:
            cuts, rule = fallback_cuts(runs, items, n_min)
            info["weights_fallback"] = {"rule": rule, "why": FALLBACK_RULES[rule].format(n_min=n_min)}
            score = _fallback_score(score, rule, info)
        info["score"] = score
    if calibrate_extrapolation is True and not cuts:  # refuse before fitting: the mixture's split must exist
        from bayes_scaling.inference.discrepancy import inner_split

        inner_split(runs, items[0].law)
    if method == "lfo" and cuts:
        weigh = (crps_stacking_weights if score == "crps" else
                 lambda rows, point_weights=None: stacking_weights(rows, point_weights=point_weights, prior_alpha=prior_alpha))
        per_cut, blocks, inner_ok, values, lpds, shares = {}, [], {}, [], [], []
        for j, (dec, thr, train, test) in enumerate(cuts):
            fits_j = {n: fit(train, spec=s, draws=inner_draws, tune=inner_draws, seed=derived_seed(seed, 1 + j),
                             **{**kw, **(inner_fit_kw or {})})
                      for n, s in zip(names, items)}
            inner_fits[thr] = fits_j
            lpds.append(np.column_stack([_lpd(f, test) for f in fits_j.values()]))
            blocks.append(lpds[-1] if score == "log" else _crps(fits_j, test, derived_seed(seed, 1 + j)))
            values.append(test.frame[axis].to_numpy(float))
            shares.append(replicate_shares([s.law for s in items], test, group_col))  # k replicates count as one run
            per_cut[f"{dec:g}"] = dict(zip(names, map(float, weigh(blocks[-1], point_weights=shares[-1]))))
            inner_ok[f"{dec:g}"] = {n: bool(f.diagnostics.ok) for n, f in fits_j.items()}
        thresholds = [t for _, t, _, _ in cuts]
        pw = np.concatenate([heldout_weights(v, thresholds, s) for v, s in zip(values, shares)])
        w = weigh(np.vstack(blocks), point_weights=pw)
        crossed = cross_fitted_weights(blocks, thresholds, values, prior_alpha, weigh=weigh, shares=shares)
        info.update({"axis": axis, "cuts": [{"decades": d, "threshold": t, "n_train": len(tr), "n_test": len(te)}
                                             for d, t, tr, te in cuts],
                     "weights_per_cut": per_cut, "inner_diagnostics_ok": inner_ok, "prior_alpha": prior_alpha,
                     "weights_cross_fitted": {f"{c[0]:g}": dict(zip(names, map(float, x))) for c, x in zip(cuts, crossed)},
                     "heldout_lpd_per_member": {n: float(v) for n, v in zip(names, heldout_log_score(lpds, values, thresholds, shares))}})
        if score == "crps":
            info["heldout_crps_per_member"] = {n: float(v) for n, v in zip(names, np.average(member_crps(np.vstack(blocks)),
                                                                                        axis=0, weights=pw))}
    members = {n: fit(runs, spec=s, draws=draws, tune=tune, seed=seed, **kw) for n, s in zip(names, items)}
    if method == "equal" or (method == "lfo" and not cuts):
        w = np.ones(len(items)) / len(items)
    elif method == "loo":
        w = stacking_weights(_loo_pointwise(members, info), prior_alpha=prior_alpha)
    info["seconds"] = time.perf_counter() - t0
    if no_calibration:
        info["discrepancy"] = no_calibration
    ens = EnsembleResult(members, dict(zip(names, map(float, w))), info, seed=seed)
    if calibrate_extrapolation and method == "lfo" and cuts:
        cal, selection = calibration_cuts([(c[0], c[1], c[3], inner_fits[c[1]]) for c in cuts], crossed, values, w)
        ens = with_cross_fitted_discrepancy(ens, cal, seed=seed, selection=selection)
    elif calibrate_extrapolation:
        ens = with_mixture_discrepancy(ens, seed=seed, draws=inner_draws, fit_kw=fit_kw)
    return ens


def _fallback_score(score: str, rule: str, info: dict) -> str:
    """The score a fallback ``rule`` stacks on (recorded in ``info``): few-run cuts the log score with its
    prior whatever was asked (prior-dominated fits could set CRPS weights near 0 or 1); equal weights none."""
    if rule == "equal" or (rule == "few_runs" and score != "log"):
        info["score_requested"] = score
        info["score_note"] = ("no held-out run to score" if rule == "equal" else
                              "a few-run cut stacks on the log score, whose Dirichlet prior keeps weights from "
                              "prior-dominated fits away from 0 and 1")
        return "none" if rule == "equal" else "log"
    return score


def _crps(fits, test, seed: int) -> np.ndarray:
    """The CRPS block (:func:`~bayes_scaling.inference.ensemble_scores.crps_block`) of member ``fits`` on
    the held-out runs ``test``, from their predictive draws of each run's observed log-loss
    (:func:`~bayes_scaling.result.noise.heldout_predictive`)."""
    draws = [np.log(heldout_predictive(f, test, seed=seed)) for f in fits.values()]  # an SE where a fit took SEs
    return crps_block(draws, np.log(test.frame["loss"].to_numpy(float)), seed=seed)


def _vary_for(spec, vary) -> list[str]:
    law = spec.law
    if not vary:
        return [p.name for p in law.params if p.kind != "loss"]
    missing = [v for v in vary if v not in law.param_names]
    if missing:
        raise BayesScalingError(f"ensemble member {law.name!r} has no parameter(s) {missing} to vary by group; "
                                f"its parameters are {list(law.param_names)}", quantity="vary")
    return list(vary)


def _loo_pointwise(members: dict, info: dict) -> np.ndarray:
    """Pointwise PSIS-LOO elpd (runs x members). ArviZ's per-fit Pareto-k warnings become one line, and
    each member's largest k is kept in ``info["pareto_k_max"]``."""
    from bayes_scaling.result.loglik import loo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        elpd = {k: loo(m) for k, m in members.items()}
    info["pareto_k_max"] = khat = {k: float(np.max(e.pareto_k.values)) for k, e in elpd.items()}
    if max(khat.values()) > 0.7:
        warnings.warn(f"PSIS-LOO weights: Pareto k up to {max(khat.values()):.2f} (> 0.7): influential runs, so treat "
                      f"the weights as indicative", UserWarning, stacklevel=3)
    return np.column_stack([np.asarray(e.elpd_i.values, float).ravel() for e in elpd.values()])


def with_mixture_discrepancy(ens: EnsembleResult, *, seed: int = 0, draws: int = 500, inner_decades: float = 1.0,
                             inner_fits: dict | None = None, fit_kw: dict | None = None) -> EnsembleResult:
    """Calibrate one extrapolation discrepancy on the mixture's held-out misses (members fitted below
    the discrepancy's split, :func:`~bayes_scaling.inference.discrepancy.inner_split`, mixed with the ensemble's
    weights) and give it to every member, so the law-form spread and the discrepancy do not count the same miss
    twice: :func:`~.ensemble_calibration.with_cross_fitted_discrepancy` with that one cut and the final weights.
    ``inner_fits`` (split threshold -> member fits below it, from the stacking cuts): fits on the same split are
    reused, not refitted."""
    from bayes_scaling.inference.discrepancy import inner_split

    first = check_one_family(ens)  # before any inner fit
    train, test, thr = inner_split(ens.runs, first.law, inner_decades)
    h = first.hierarchy
    inner = (inner_fits or {}).get(thr)
    reused = inner is not None and set(inner) == set(ens.members)
    if not reused:
        inner = {k: fit(train, spec=m.spec, draws=draws, tune=draws, seed=derived_seed(seed, 99), chains=4, progress=False,
                        group_col=None if h is None else h["group_col"], **(fit_kw or {}))
                 for k, m in ens.members.items()}
    v = ens.runs.frame[split_axis(first.law)].to_numpy(float)
    cut = (round(float(np.log10(v.max() / thr)), 2), thr, test, inner, [ens.weights[k] for k in inner])
    method = ens.info.get("method")
    selection = {"method": "leave-future-out grid posterior on the ensemble's mixture", "inner_fits_reused": reused,
                 "weights_source": LOO_WEIGHTS_SOURCE if method == "loo" else f"the ensemble's final weights ({method})"}
    return with_cross_fitted_discrepancy(ens, [cut], seed=seed, selection=selection, note="calibrated on the mixture")
