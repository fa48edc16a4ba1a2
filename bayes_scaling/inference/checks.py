"""Checks around a fit: the sampler's counts and the runs before sampling (the runs' plausibility only
under ``strict``: loading them already warned), the posterior after it (prior-data conflicts warn, or
raise under ``strict``)."""

from __future__ import annotations

import warnings

import numpy as np

from bayes_scaling.conventions import as_number, check_count, real_array
from bayes_scaling.data.plausibility import check_plausible
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.checks import prior_conflicts
from bayes_scaling.posterior.inputs import MAX_DRAW_VALUES

#: Most chains one fit samples: R-hat and ESS need 2 and gain little beyond a few dozen; nutpie keeps a
#: sampler state per chain, so thousands of chains are a typo rather than a plan.
MAX_CHAINS = 1024
#: Most warmup steps (chains x tune) one fit takes. Warmup is not in the result (``save_warmup=False``), but
#: nutpie (0.16) keeps every step of every chain in its trace while it samples, the parameters and about 15
#: sampler statistics each, and converts them all to arrays before it drops the warmup: at least ~20
#: float64 values x 2 copies = 320 bytes a step, so 1e8 steps hold >= 32 GB. The same 1e8 as the draws'
#: bound, for a reason of its own.
MAX_WARMUP_STEPS = 100_000_000


def check_sampler_counts(draws, tune, chains) -> tuple[int, int | None, int]:
    """``(draws, tune, chains)`` as whole numbers, refused (with the quantity at fault) unless draws >= 10,
    tune >= 10 (or None: the default), 2 <= chains <= :data:`MAX_CHAINS`, chains x draws <=
    :data:`~bayes_scaling.posterior.inputs.MAX_DRAW_VALUES` (1e8: every query holds each parameter's
    draws in one array and refuses more, so a larger fit could answer none) and chains x tune <=
    :data:`MAX_WARMUP_STEPS` (memory: see there)."""
    draws = check_count("draws", draws, 10)
    tune = None if tune is None else check_count("tune", tune, 10)
    chains = check_count("chains", chains, 2, MAX_CHAINS, min_why=" (R-hat, the check that chains agree, compares chains)")
    if draws * chains > MAX_DRAW_VALUES:
        raise BayesScalingError(f"draws x chains = {draws * chains:.3g} is more than the {MAX_DRAW_VALUES:.0e} draws "
                                f"a query can hold: ask for at most {MAX_DRAW_VALUES // chains} draws per chain",
                                quantity="draws")
    if tune is not None and tune * chains > MAX_WARMUP_STEPS:
        raise BayesScalingError(f"tune x chains = {tune * chains:.3g} is more than the {MAX_WARMUP_STEPS:.0e} warmup "
                                f"steps allowed (the sampler keeps each step's draw and statistics until it ends: 1e8 "
                                f"steps take 32 GB or more): ask for at most {MAX_WARMUP_STEPS // chains} tune per chain",
                                quantity="tune")
    return draws, tune, chains


def check_runs(runs, *, strict: bool, stacklevel: int = 3) -> None:
    """Under ``strict``, refuse runs with implausible values (a sign of wrong units) before sampling. (Rows that
    share a run id, checkpoints of one run, are warned about once, by ``load_runs``.)"""
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


def check_ensemble_options(laws, cut_decades, inner_draws, prior_alpha) -> tuple[float, ...]:
    """An ensemble's options checked before any member is fitted: ``laws`` a list of law names,
    ``cut_decades`` decades > 0 below the largest run (returned as a tuple), ``inner_draws`` a count
    >= 10, ``prior_alpha`` a finite number >= 1."""
    if laws is not None and (not isinstance(laws, (list, tuple)) or not all(isinstance(x, str) for x in laws)):
        raise BayesScalingError(f"laws must be a list of law names (e.g. ['chinchilla', 'chinchilla_tied']), got "
                                f"{laws!r}"[:200], quantity="laws")
    cuts = real_array(cut_decades)
    if cuts is None or cuts.ndim != 1 or not np.all(np.isfinite(cuts)) or np.any(cuts <= 0):
        raise BayesScalingError(f"cut_decades must be a list of decades > 0 below the largest run (e.g. "
                                f"(0.5, 1.0, 1.5)), got {cut_decades!r}"[:200], quantity="cut_decades")
    check_count("inner_draws", inner_draws, 10, MAX_DRAW_VALUES // 2, " (its fits' draws x 2 chains <= 1e8)")
    if not 1.0 <= as_number(prior_alpha) < np.inf:
        raise BayesScalingError(f"prior_alpha must be a finite number >= 1 (1: plain stacking; 2: one pseudo-run per "
                                f"member), got {prior_alpha!r}", quantity="prior_alpha")
    return tuple(cuts.tolist())
