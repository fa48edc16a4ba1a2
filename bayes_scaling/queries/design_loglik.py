"""The outcome log-likelihoods of a design (:mod:`bayes_scaling.queries.design`): log p(y | draw) of every
candidate's simulated outcome in every world under every posterior draw, filled in blocks of candidates so
that the temporaries stay small, and the bound on their memory (the array is held for the whole search)."""

from __future__ import annotations

import os

import numpy as np

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.queries.design_preposterior import Preposterior

#: Values (candidates x worlds x draws) of one block of :func:`outcome_loglik`'s temporaries, 2^23 float64 =
#: 64 MB each: the result is filled block by block, so its size alone bounds the memory a design needs.
LOGLIK_BLOCK_VALUES = 2**23
#: Share of the machine's physical memory the outcomes' log-likelihoods may take (the rest: the posterior,
#: the worlds' weights, the interpreter and whatever else runs).
LOGLIK_MEMORY_SHARE = 0.5


def outcome_loglik(pre: Preposterior, log_mu: np.ndarray, worlds, outcome=None) -> np.ndarray:
    """log p(y_wj | draw) for each candidate j, world w and draw: array (candidates, worlds, draws);
    ``log_mu`` is (draws, candidates), ``worlds`` a :class:`~bayes_scaling.queries.design.Worlds`, ``outcome``
    the candidates' predictive (:class:`~bayes_scaling.queries.design_outcome.Outcome`; None: the family's
    noise with the fitted scale alone). Each world's outcome is drawn from its true draw's predictive (noise
    ``worlds.noise``, discrepancy ``worlds.z``) and weighed by every draw's density of it; an ensemble's
    worlds (``worlds.truth`` worlds x members) simulate one outcome per member from its true draw, with the
    same noise, each weighed by that member's draws alone (law-form weights stay fixed,
    :data:`~bayes_scaling.queries.design_preposterior.ENSEMBLE_NOTE`). Filled in blocks of candidates
    (:data:`LOGLIK_BLOCK_VALUES` values each), so only the result is large."""
    fam = pre.family
    if outcome is None:
        from bayes_scaling.queries.design_outcome import Outcome

        outcome = Outcome.plain(pre.sigma, log_mu.shape[1])
    loc = fam.location(np, log_mu) + outcome.shift  # (draws, candidates), the family's scale
    truth = np.asarray(worlds.truth)
    per_member = truth.ndim == 2  # an ensemble's worlds: a true draw per member, each member's own outcome
    noise, z = worlds.noise, getattr(worlds, "z", None)
    noise, z = (noise[:, None], None if z is None else z[:, None]) if per_member else (noise, z)
    y = loc[truth] + outcome.scale[truth] * noise
    if outcome.s is not None:
        y = y + outcome.s[truth] * z
    y = y.T  # (candidates, worlds); per member: (candidates, members, worlds)
    out = np.empty((y.shape[0], y.shape[-1], pre.size))
    step = max(1, LOGLIK_BLOCK_VALUES // max(y.shape[-1] * pre.size, 1))
    for a in range(0, y.shape[0], step):
        if per_member:  # draw r weighs the outcome simulated from its own member's true draw
            r = np.transpose(y[a:a + step][:, pre.member, :], (0, 2, 1)) - loc.T[a:a + step, None, :]
        else:
            r = y[a:a + step, :, None] - loc.T[a:a + step, None, :]
        scale = outcome.scale.T[a:a + step, None, :]
        if outcome.s is None:
            out[a:a + step] = fam.logpdf(r / scale) - np.log(scale)
        else:
            out[a:a + step] = fam.logpdf_plus_normal(r, scale, outcome.s.T[a:a + step, None, :])
    return out


#: cgroup files that hold a container's memory limit (v2, then v1): the machine's memory is not the process's.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
#: Values the outcome log-likelihoods may hold where the memory is not known (0.8 GB).
UNKNOWN_MEMORY_VALUES = 100_000_000


def physical_memory_bytes() -> float | None:
    """Memory this process may use, in bytes: the smaller of the machine's physical memory and a container's
    (cgroup) limit; None where neither is known."""
    known = []
    try:
        known.append(float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
    except (AttributeError, ValueError, OSError):
        pass
    for path in _CGROUP_LIMITS:
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) > 0:  # "max" (no limit), or v1's huge sentinel, which min() ignores
            known.append(float(text))
    return min(known) if known else None


#: Fewest simulated worlds a design takes (``design --worlds``' minimum): never suggested below it.
MIN_WORLDS = 8


def check_loglik_memory(candidates: int, worlds: int, draws: int) -> None:
    """Refuse a design whose outcome log-likelihoods (candidates x worlds x draws float64 values, held for
    the whole greedy search) would take more than :data:`LOGLIK_MEMORY_SHARE` of physical memory. The
    message suggests fewer candidates, and fewer worlds only down to :data:`MIN_WORLDS` (the worlds are
    the precision of every expected gain)."""
    memory = physical_memory_bytes()
    limit = 8.0 * UNKNOWN_MEMORY_VALUES if memory is None else LOGLIK_MEMORY_SHARE * memory
    need = 8.0 * candidates * worlds * draws
    if need <= limit:
        return
    most_candidates = int(limit // (8.0 * worlds * draws))
    most_worlds = int(limit // (8.0 * candidates * draws))
    most_draws = int(limit // (8.0 * candidates * MIN_WORLDS))
    fixes = ([f"give at most {most_candidates} candidates (a coarser grid or a narrower range)"]
             if most_candidates >= 1 else [])
    fixes += [f"ask for at most {most_worlds} worlds"] if most_worlds >= MIN_WORLDS else []
    quantity = "candidates" if most_candidates >= 1 else "worlds"
    if not fixes:  # not even one candidate fits at the fewest worlds
        quantity = "candidates"
        fixes = ["give fewer candidates"] + ([f"design on a fit of at most {most_draws} draws"] if 1 <= most_draws < draws else [])
    where = ("the 0.8 GB allowed where this machine's memory is not known" if memory is None else
             f"{LOGLIK_MEMORY_SHARE:.0%} of the {memory / 1e9:.3g} GB of memory this process may use")
    raise BayesScalingError(f"{candidates} candidates x {worlds} worlds x {draws} draws of outcome log-likelihoods "
                            f"take {need / 1e9:.3g} GB, over {where}: {', or '.join(fixes)}", quantity=quantity)
