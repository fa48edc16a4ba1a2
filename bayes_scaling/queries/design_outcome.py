"""A candidate run's outcome as run design simulates and weighs it: the predictive that ``predict`` draws
a new run from (:meth:`~bayes_scaling.posterior.evaluator.PosteriorEvaluator.log_predictive`), per
posterior draw, so the design's worlds and its importance weights use the fit's whole predictive.

On the family's scale (log-loss for the loss families) a new run at (N, D, C) is

    y = law + shift + f sigma eps + s(d) z,    eps ~ the family, z ~ Normal(0, 1),

with sigma the draw's noise scale (for a fit with run noise and per-run SEs, a new run's evaluation SE is added
to it in quadrature, as ``predict(se=)`` adds it: the candidate's SE/loss, ``candidate_se``, times the law's loss
and the family's slope, i.e. SE/loss itself on log-loss; :func:`~bayes_scaling.result.noise.new_run_relative_se`)
and, where the fit carries an extrapolation discrepancy
(:class:`~bayes_scaling.posterior.discrepancy.Discrepancy`), s(d) the draw's discrepancy sd at the run's
distance d beyond the fitted runs; with a residual process, beyond the data ``shift`` is the process's
conditional mean there, its conditional variance is in s(d)^2 and f = min(1, se / (k sigma)) keeps the
noise's white part (``noise_factor``); else shift = 0 and f = 1. Its density is the family's convolution
with a Normal (:meth:`~bayes_scaling.specs.families.Family.logpdf_plus_normal`; Normal family: Normal of
variance sigma^2 + s^2). Each run is taken alone, as ``predict`` takes each query point: given a draw, the
runs of a batch have independent deltas and the residual process's conditional at each run leaves out its
covariance between runs, so several runs within the process's length ell of each other (or at one
distance) tell more here than they would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_scaling.conventions import is_ensemble
from bayes_scaling.posterior.inputs import query_inputs


@dataclass
class Outcome:
    """Per thinned posterior draw and candidate (arrays draws x candidates): the family's ``scale``
    (f sigma, with the evaluation SE in quadrature where there is one), the discrepancy's sd ``s`` (None: no
    discrepancy) and the residual process's ``shift`` (0 without one), all on the family's scale;
    ``relative_se`` (SE/loss of a new run, None: none added) and where it comes from (``se_source``)."""

    scale: np.ndarray
    s: np.ndarray | None
    shift: np.ndarray
    relative_se: float | None = None
    se_source: str | None = None

    @classmethod
    def plain(cls, sigma: np.ndarray, candidates: int) -> "Outcome":
        """The family's noise alone (a fit without a discrepancy)."""
        sigma = np.asarray(sigma, float)
        return cls(np.repeat(sigma[:, None], candidates, axis=1), None, np.zeros((len(sigma), candidates)))

    def variance(self, information: float) -> np.ndarray:
        """The outcome's observation variance per draw and candidate for a Gaussian update: (f sigma)^2 /
        ``information`` (the family's Fisher information per unit scale) + s(d)^2 (family scale squared)."""
        v = self.scale ** 2 / information
        return v if self.s is None else v + self.s ** 2


def _flat(a) -> np.ndarray:
    """Draws x candidates from dims (chain, draw, query), chain-major."""
    a = np.asarray(a, float)
    return a.reshape(-1, a.shape[-1])


def _member_terms(fit, n: np.ndarray, d: np.ndarray):
    """(scale, s, shift) of one fit's predictive at runs (N, D), each draws x candidates over all its draws
    flattened chain-major (s: None without a discrepancy)."""
    ev = fit.evaluator
    sigma = ev.sigma.transpose("chain", "draw")
    size = int(np.prod(ev.shape))
    disc = ev.discrepancy
    if disc is None:
        return np.repeat(sigma.values.reshape(-1, 1), len(n), axis=1), None, np.zeros((size, len(n)))
    values = query_inputs(ev.law, N=n, D=d, cost=ev.cost)["values"]
    scale = np.repeat(sigma.values.reshape(-1, 1), len(n), axis=1)
    if disc.residual is not None:
        scale = _flat(sigma * disc.noise_factor(sigma, values, ev.family.sd_per_scale))
    shift = np.broadcast_to(np.asarray(disc.shift(values).values, float), (size, len(n)))
    return scale, _flat(disc.scale(values).values), shift


def candidate_outcome(result, pre, n_params, tokens, candidate_se: float | None = None) -> Outcome:
    """The predictive outcome of runs (N parameters, D tokens) per draw of ``pre`` (a
    :class:`~bayes_scaling.queries.design_preposterior.Preposterior` of ``result``, whose ``index`` says which
    of the fit's flattened draws it kept). An ensemble: each member's terms on the draws the mixture took
    from it, as ``predict`` on an ensemble applies each member's discrepancy to its own draws. ``candidate_se``:
    a new run's evaluation SE as a fraction of its loss (SE/loss) for a fit with run noise and SEs, default the
    median of its recorded runs (:func:`~bayes_scaling.result.noise.new_run_relative_se`; refused for other fits)."""
    from bayes_scaling.result.noise import new_run_relative_se

    rel, source = new_run_relative_se(result, candidate_se)
    n, d = np.atleast_1d(np.asarray(n_params, float)), np.atleast_1d(np.asarray(tokens, float))
    if is_ensemble(result):
        picks = result.evaluator.picks
        parts = {k: _member_terms(m, n, d) for k, m in result.members.items()}
        scale, shift = (np.concatenate([p[i][picks[k]] for k, p in parts.items()]) for i in (0, 2))
        s = None if all(p[1] is None for p in parts.values()) else np.concatenate(
            [(np.zeros_like(p[0]) if p[1] is None else p[1])[picks[k]] for k, p in parts.items()])
    else:
        scale, s, shift = _member_terms(result, n, d)
    idx = pre.index
    scale = scale[idx]
    if rel:  # the SE in the response's units at the law's value, on the family's scale (delta method)
        value = np.exp(pre.log_mean(n, d))
        scale = np.sqrt(scale ** 2 + (rel * value * np.abs(pre.family.location_slope(value))) ** 2)
    return Outcome(np.ascontiguousarray(scale), None if s is None else np.ascontiguousarray(s[idx]),
                   np.ascontiguousarray(shift[idx]), rel, source)
