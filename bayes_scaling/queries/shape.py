"""Shape vs scale (Kaplan et al. 2020 §3.1, Fig. 5: at fixed N, depth vs width barely matters).

A fit with shape covariates (``load_runs(..., shape_cols=(d_model, n_layer))``) adds
gamma x (log aspect ratio - its mean) to log-loss, with a prior centred at no effect. This module
turns gamma into the statement a reader wants: how much the loss changes across the observed
range of shapes at fixed N and D, and the probability that the change stays within a ROPE.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import summary_record
from bayes_scaling.result import require_fit


def shape_effect(result, rope: float = 0.01, ci_prob: float = 0.9, covariate: str = "log_aspect_ratio") -> dict:
    """Posterior of the loss ratio between the most and least extreme observed shapes at fixed N
    and D, exp(gamma (x_max - x_min)) - 1, and P(|ratio| < rope) for each covariate."""
    require_fit(result)
    cov = result.covariates
    if cov is None or covariate not in cov["names"]:
        raise BayesScalingError(f"this fit has no covariate {covariate!r}: fit with --shape-cols WIDTH DEPTH")
    gamma = result.posterior["gamma"].sel(covariate=covariate, drop=True)
    x = result.runs.frame[covariate].to_numpy(float)
    span = float(x.max() - x.min())
    rel = np.expm1(gamma * span)
    return {
        "covariate": covariate,
        "observed_range": [float(x.min()), float(x.max())],
        "aspect_ratio_range": [float(np.exp(x.min())), float(np.exp(x.max()))] if covariate == "log_aspect_ratio" else None,
        "gamma": summary_record(gamma, ci_prob),
        "loss_change_across_range": summary_record(rel, ci_prob),
        # Kaplan et al. 2020 Fig. 5: "aspect ratio can vary 40x with only a few percent change in loss"
        "loss_change_per_40x_aspect_ratio": summary_record(np.expm1(gamma * np.log(40.0)), ci_prob),
        "rope": rope,
        "p_within_rope": float((np.abs(rel) < rope).mean()),
    }
