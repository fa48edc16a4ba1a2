"""Plausibility checks around a fit: the runs before sampling (only under ``strict``: loading them
already warned) and the posterior after it (prior-data conflicts warn, or raise under ``strict``)."""

from __future__ import annotations

import warnings

from bayes_scaling.data.plausibility import check_plausible
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.checks import prior_conflicts


def check_runs(runs, *, strict: bool) -> None:
    """Under ``strict``, refuse runs with implausible values (a sign of wrong units) before sampling."""
    if strict:
        check_plausible(runs.implausible(), strict=True)


def check_posterior(result, *, strict: bool, stacklevel: int = 3) -> list[str]:
    """Prior-data conflicts of a fitted ``result`` (a parameter's posterior median beyond its prior's
    0.1% or 99.9% quantile): one warning line each, or a :class:`BayesScalingError` under ``strict``."""
    problems = prior_conflicts(result.spec, result.posterior)
    if problems and strict:
        raise BayesScalingError("; ".join(problems) + " (strict)")
    for p in problems:
        warnings.warn(p, UserWarning, stacklevel=stacklevel)
    return problems
