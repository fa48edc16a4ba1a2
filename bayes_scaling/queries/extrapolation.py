"""Extrapolation guard: how far a query lies beyond the observed runs, and whether the fit
describes the largest runs (the ones closest to any extrapolation) well.

Every prediction reports the decades beyond the data, one number (the largest over the inputs, the
extrapolation discrepancy's d), and per input the decades beyond the largest fitted value
(log10(query / max fitted), C as the fit's cost law's C of the runs; <= 0 means inside the observed range) and below the smallest
(log10(min observed / query); <= 0 means inside), and a posterior predictive
check of the largest-compute runs: each run's PIT (posterior predictive probability of a loss
below the observed one) and whether it falls outside the ``ci_prob`` predictive interval.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import CI_PROB, INPUT_QUANTITIES, check_ci_prob, check_positive_array
from bayes_scaling.cost import CostLaw, stored_cost
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.discrepancy import extrapolation_box
from bayes_scaling.posterior.intervals import flat_draws, interval_bounds
from bayes_scaling.result import require_fit

#: The check is flagged when a run's PIT is outside [PIT_EXTREME, 1 - PIT_EXTREME], or when more than
#: OUTSIDE_FRACTION of the largest runs fall outside the predictive interval (0.1 expected at 90%).
PIT_EXTREME = 0.005
OUTSIDE_FRACTION = 0.4


def fitted_maxima(result) -> dict[str, float]:
    """log10 of the largest fitted value per input: for loss laws of N and D, N, D and C as the extrapolation
    discrepancy measures them (:func:`~bayes_scaling.posterior.discrepancy.extrapolation_box`: C as the stored
    cost law's C(N, D) of the runs, a query's currency); other inputs from the runs' columns."""
    frame, law = result.runs.frame, result.law
    out = {k: float(np.log10(frame[k].max())) for k in INPUT_QUANTITIES if k in frame}
    if getattr(law, "response", "loss") == "loss" and {"N", "D"} <= set(law.input_names):
        out.update(extrapolation_box(law, frame, stored_cost(result)))
    return out


def decades_beyond(result, query: dict[str, np.ndarray]) -> dict[str, float]:
    """log10(max query value / largest fitted value, :func:`fitted_maxima`) per input present in both (<= 0:
    inside; a query of N and D without C gets C from the fit's cost law); the headline distance beyond the data
    is :func:`decades_beyond_data`."""
    top = fitted_maxima(result)
    if "C" in top and "C" not in query and "N" in query and "D" in query:
        cost = stored_cost(result) or CostLaw("6nd", k=result.law.flops_per_param_token)
        query = {**query, "C": cost.flops(query["N"], query["D"])}
    return {k: float(np.log10(np.max(query[k])) - top[k]) for k in INPUT_QUANTITIES if k in query and k in top}


def decades_beyond_data(result, query: dict[str, np.ndarray]) -> float:
    """The one distance beyond the data of ``query`` (decades, 0 inside): the largest over the inputs of
    :func:`decades_beyond`, i.e. the extrapolation discrepancy's d (:func:`~bayes_scaling.posterior.discrepancy.
    decades_outside`: max over N, D and C for laws of N and D)."""
    return max(0.0, *decades_beyond(result, query).values())


def decades_below(result, query: dict[str, np.ndarray]) -> dict[str, float]:
    """log10(min observed value / min query value) per input present in both (> 0: below the data)."""
    frame = result.runs.frame
    return {k: float(np.log10(frame[k].min() / np.min(query[k]))) for k in INPUT_QUANTITIES
            if k in query and k in frame}


def largest_runs_check(result, n_largest: int = 5, ci_prob: float = CI_PROB) -> dict:
    """Posterior predictive check of the ``n_largest`` runs by compute (or by the law's last input)."""
    frame = result.runs.frame
    key = "C" if "C" in frame else result.law.input_names[-1]
    idx = np.argsort(frame[key].to_numpy())[::-1][: max(1, min(n_largest, len(frame)))]
    sub = frame.iloc[idx]
    h = result.hierarchy
    rows = []
    for i in range(len(sub)):  # each run with its own group's parameters in a hierarchical fit
        one = sub.iloc[[i]]
        group = str(one[h["group_col"]].iloc[0]) if h else None
        cov = result.covariates
        covariates = {n: float(one[n].iloc[0]) for n in cov["names"]} if cov else None
        pred = result.predict(group=group, covariates=covariates, **{k: one[k].to_numpy() for k in result.law.input_names})
        rows.append(flat_draws(pred["loss_predictive"]).reshape(-1))  # one query point
    draws = np.stack(rows)
    obs = sub["loss"].to_numpy()
    pit = (draws < obs[:, None]).mean(axis=1)
    lo, hi = interval_bounds(ci_prob)
    outside = (pit < lo) | (pit > hi)
    poor = bool(np.any((pit < PIT_EXTREME) | (pit > 1 - PIT_EXTREME)) or outside.mean() > OUTSIDE_FRACTION)
    return {
        "n_runs": int(len(sub)),
        "ranked_by": key,
        "pit": [float(v) for v in pit],
        "outside_interval": int(outside.sum()),
        "ci_prob": float(ci_prob),
        "poor_fit": poor,
    }


def extrapolation_report(result, query: dict[str, np.ndarray], ci_prob: float = CI_PROB) -> dict:
    """Decades beyond (and below) the data plus the largest-runs check, with one line per concern."""
    require_fit(result)
    if not isinstance(query, dict) or not set(query) & set(result.law.input_names):
        raise BayesScalingError(f"query must be a dict of the law's inputs ({', '.join(result.law.input_names)}), "
                                f"got {query!r}"[:200], quantity="query")
    query = {k: check_positive_array(f"query[{k!r}] must be finite numbers > 0", v, k) for k, v in query.items()}
    check_ci_prob(ci_prob)
    decades = decades_beyond(result, query)
    below = decades_below(result, query)
    check = largest_runs_check(result, ci_prob=ci_prob)
    far = max(0.0, *decades.values())  # decades_beyond_data: the one distance, max over the axes
    under = max(below.values(), default=0.0)
    notes = []
    if far > 1:
        plain = getattr(result, "discrepancy", None) is None and getattr(result, "members", None) is None
        notes.append(f"extrapolates {far:.1f} decades beyond the largest observed run" + (
            ": its interval assumes the law's form holds there; calibrating the extrapolation discrepancy "
            "(fit --calibrate-extrapolation) or an ensemble of law forms (bayes-scaling ensemble) adds the "
            "form's error" if plain else ""))
    if under > 1:
        worst = max(below, key=below.get)
        notes.append(f"extrapolates {under:.1f} decades below the smallest observed run ({worst}): the law was not "
                     f"fitted there and small-scale effects dominate")
    if check["poor_fit"]:
        notes.append(f"the fit misses the {check['n_runs']} largest runs (posterior predictive check)")
    return {"decades_beyond_data": far, "decades_beyond": decades, "decades_below": below, "largest_runs_check": check, "flag": bool(notes),
            "notes": notes}
