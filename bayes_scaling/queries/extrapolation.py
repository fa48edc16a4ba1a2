"""Extrapolation guard: how far a query lies beyond the observed runs, and whether the fit
describes the largest runs (the ones closest to any extrapolation) well.

Every prediction reports, per input, the decades beyond the largest observed value
(log10(query / max observed); <= 0 means inside the observed range) and below the smallest
(log10(min observed / query); <= 0 means inside), and a posterior predictive
check of the largest-compute runs: each run's PIT (posterior predictive probability of a loss
below the observed one) and whether it falls outside the ``ci_prob`` predictive interval.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import CI_PROB, INPUT_QUANTITIES
from bayes_scaling.posterior.intervals import flat_draws, interval_bounds

#: The check is flagged when a run's PIT is outside [PIT_EXTREME, 1 - PIT_EXTREME], or when more than
#: OUTSIDE_FRACTION of the largest runs fall outside the predictive interval (0.1 expected at 90%).
PIT_EXTREME = 0.005
OUTSIDE_FRACTION = 0.4


def decades_beyond(result, query: dict[str, np.ndarray]) -> dict[str, float]:
    """log10(max query value / max observed value) per input present in both."""
    frame = result.runs.frame
    out = {}
    for k in INPUT_QUANTITIES:
        if k in query and k in frame:
            out[k] = float(np.log10(np.max(query[k]) / frame[k].max()))
    return out


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
    decades = decades_beyond(result, query)
    below = decades_below(result, query)
    check = largest_runs_check(result, ci_prob=ci_prob)
    far = max(decades.values(), default=0.0)
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
    return {"decades_beyond": decades, "decades_below": below, "largest_runs_check": check, "flag": bool(notes),
            "notes": notes}
