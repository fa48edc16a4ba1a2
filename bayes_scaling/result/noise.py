"""A new run's own evaluation standard error, where a fit's noise leaves room for it.

A fit's ``sigma`` is the noise of a new run at a new configuration. Only a fit with run noise *and* per-run SEs
(``--run-noise`` with an ``SE`` column) fitted the evaluation noise apart from ``sigma``; there a new run's SE is
a separate term, added in quadrature. Without run noise, ``sigma`` holds every source of scatter, evaluation noise
included; with run noise but no SEs, ``sigma_run`` holds it. Adding an SE there counts the evaluation noise twice,
so it is refused (:func:`check_new_run_se`).

A held-out run (one a backtest, an ensemble's stacking or the extrapolation calibration scores) is an observation, not
a new run: where the fit scoring it took SEs (the same rule), its predictive is the fit's with that run's own SE added
on the family's scale (:func:`held_out_se`, :func:`heldout_predictive`, :func:`heldout_lpd`: the one definition the
calibration's misses, the backtest's scores and the stacking's log score and CRPS share); elsewhere it is a new run's."""

from __future__ import annotations

import json

import numpy as np

from bayes_scaling.conventions import as_number
from bayes_scaling.errors import BayesScalingError

#: The largest standard deviation of any quantity in [0, 1] (half its range, at two equal point masses): a
#: metric's evaluation SE above it is not a fraction's.
MAX_FRACTION_SE = 0.5


def run_noise_record(result) -> dict | None:
    """The fit's run-noise record (``cells``, ``replicate_cells``, ``cell_by``, ``se``), or None without run noise."""
    return json.loads(result.tree.attrs.get("run_noise", "null") or "null")


def check_new_run_se(result, se, name: str = "se") -> float | None:
    """``se`` (a new run's evaluation standard error in the response's units; None: not given) as a float, or a
    one-line error naming ``name``: refused unless ``result`` fitted per-run SEs apart from its noise (module
    docstring), and, for a metric (a fraction), above :data:`MAX_FRACTION_SE`."""
    if se is None:
        return None
    rec = run_noise_record(result)
    if rec is None or not rec.get("se"):
        held = ("its sigma already holds every run's evaluation noise (it was fitted without run noise)" if rec is None
                else "its sigma_run already holds the evaluation noise (run noise was fitted without an SE column)")
        raise BayesScalingError(f"the evaluation standard error {name} = {se!r} would count evaluation noise twice: "
                                f"{held}; leave {name} out, or refit with --run-noise and --col SE=COLUMN",
                                quantity="SE")
    s = as_number(se)
    if not (s == s and 0 <= s < float("inf")):
        raise BayesScalingError(f"the evaluation standard error {name} must be a finite number >= 0 (in the "
                                f"response's units), got {se!r}", quantity="SE")
    if result.law.response == "metric" and s > MAX_FRACTION_SE:
        raise BayesScalingError(f"the evaluation standard error {name} = {s:g} of a metric (a fraction) must be at "
                                f"most {MAX_FRACTION_SE} (the largest sd of a quantity in [0, 1]); give it as a "
                                f"fraction, e.g. sqrt(p (1 - p) / n) on n examples", quantity="SE")
    return s


def held_out_se(fits, runs) -> np.ndarray | None:
    """Each run's evaluation standard error on the family's scale (the ``SE`` column times the family's
    :meth:`~bayes_scaling.specs.families.Family.location_slope` at the observed loss, as the fit itself converts it;
    on log-loss SE / loss), where every fit in ``fits`` fitted run noise with SEs (its sigma then leaves the
    evaluation noise out); None otherwise (its sigma holds that noise already), or when ``runs`` has no SE column."""
    if not fits or not runs.has("SE") or not all((run_noise_record(f) or {}).get("se") for f in fits):
        return None
    loss = runs.frame["loss"].to_numpy(float)
    return runs.frame["SE"].to_numpy(float) * np.abs(fits[0].spec.likelihood.dist.location_slope(loss))


def heldout_predictive(result, runs, *, seed: int = 0, discrepancy: bool = True) -> np.ndarray:
    """Draws of each held-out run's observed loss (response units; array run x draws): a new run's predictive
    (:meth:`~bayes_scaling.posterior.evaluator.PosteriorEvaluator.predictive_at_runs`) with the run's own
    evaluation SE added where ``result`` took SEs (:func:`held_out_se`)."""
    return result.evaluator.predictive_at_runs(runs, seed=seed, discrepancy=discrepancy,
                                               run_se=held_out_se([result], runs))


def heldout_lpd(result, runs) -> np.ndarray:
    """Each held-out run's log predictive density (log mean over draws of p(observed | draw), on the family's scale
    of the response's log), its own evaluation SE added to the noise where ``result`` took SEs (:func:`held_out_se`)."""
    from scipy.special import logsumexp

    ev = result.evaluator
    ll = ev.pointwise_loglik(ev.log_mean_at_runs(runs), np.log(runs.frame["loss"].to_numpy(float)),
                             run_se=held_out_se([result], runs)).values.reshape(-1, len(runs))
    return logsumexp(ll, axis=0) - np.log(ll.shape[0])
def new_run_relative_se(result, relative_se=None, name: str = "candidate_se") -> tuple[float | None, str | None]:
    """(the evaluation SE of a new run as a fraction of its loss, SE/loss, dimensionless; where it comes from) for a
    fit that fitted per-run SEs apart from its noise (run noise with an ``SE`` column; an ensemble: every member):
    ``relative_se`` where given, else the median SE/loss of the fit's recorded runs. A fit without them gives (None,
    None): its sigma already holds the evaluation noise, so a given ``relative_se`` is refused (counted twice)."""
    members = getattr(result, "members", {"": result})
    took = {k: bool((run_noise_record(f) or {}).get("se")) for k, f in members.items()}
    fits, fitted = list(members.values()), all(took.values())
    if any(took.values()) and not fitted:
        raise BayesScalingError(f"the ensemble's members were fitted differently: {', '.join(k for k in took if took[k])} "
                                f"took per-run SEs apart from their noise, {', '.join(k for k in took if not took[k])} "
                                f"did not, so a new run's evaluation SE would count for some and not others; fit every "
                                f"member alike (all with --run-noise and an SE column, or none)", quantity=name)
    if relative_se is not None and not fitted and as_number(relative_se) == 0:
        return None, None  # no evaluation SE asked of a fit whose noise holds it: nothing to add
    if relative_se is not None:
        s = as_number(relative_se)
        if not (s == s and 0 <= s < 1):
            raise BayesScalingError(f"{name} (a new run's evaluation SE as a fraction of its loss, SE/loss) must be a "
                                    f"number in [0, 1), got {relative_se!r}: e.g. 0.003 for 0.3% of the loss",
                                    quantity=name)
        if not fitted:
            raise BayesScalingError(f"{name} = {s:g} would count evaluation noise twice: this fit's noise already holds "
                                    f"it (it was not fitted with --run-noise and an SE column); leave {name} out, or "
                                    f"refit with --run-noise and --col SE=COLUMN", quantity=name)
        return s, "given"
    if not fitted:
        return None, None
    frame = fits[0].runs.frame
    rel = frame["SE"].to_numpy(float) / frame["loss"].to_numpy(float)
    return float(np.median(rel)), "median of the recorded runs"
