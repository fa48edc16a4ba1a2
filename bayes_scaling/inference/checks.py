"""Checks around a fit: the sampler's counts and the runs before sampling (the runs' plausibility only
under ``strict``: loading them already warned), the posterior after it (prior-data conflicts warn, or
raise under ``strict``)."""

from __future__ import annotations

import warnings

import numpy as np

from bayes_scaling.data.plausibility import check_plausible
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.checks import prior_conflicts
from bayes_scaling.posterior.inputs import MAX_DRAW_VALUES

#: Most chains one fit samples: R-hat and ESS need 2 and gain little beyond a few dozen; nutpie keeps a
#: sampler state per chain, so thousands of chains are a typo rather than a plan.
MAX_CHAINS = 1024


def check_sampler_counts(draws, tune, chains) -> tuple[int, int | None, int]:
    """``(draws, tune, chains)`` as whole numbers, refused (with the quantity at fault) unless draws >= 10,
    tune >= 10 (or None: the default), 2 <= chains <= :data:`MAX_CHAINS`, and chains x draws and
    chains x tune <= :data:`~bayes_scaling.posterior.inputs.MAX_DRAW_VALUES` (1e8): every query holds
    each parameter's draws in one array, and refuses more than that, so a larger fit could answer none."""
    def whole(name, value, low, why=""):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise BayesScalingError(f"{name} must be an integer >= {low}{why}, got {value!r}", quantity=name)
        return int(value)

    draws = whole("draws", draws, 10)
    tune = None if tune is None else whole("tune", tune, 10)
    chains = whole("chains", chains, 2, " (R-hat, the check that chains agree, compares chains)")
    if chains > MAX_CHAINS:
        raise BayesScalingError(f"chains must be at most {MAX_CHAINS}, got {chains}", quantity="chains")
    for name, n in (("draws", draws), ("tune", tune)):
        if n is not None and n * chains > MAX_DRAW_VALUES:
            raise BayesScalingError(f"{name} x chains = {n * chains:.3g} is more than the {MAX_DRAW_VALUES:.0e} draws "
                                    f"a query can hold: ask for at most {MAX_DRAW_VALUES // chains} {name} per chain",
                                    quantity=name)
    return draws, tune, chains


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
