"""The preposterior's posterior side for run design (:mod:`bayes_scaling.queries.design`): thinned
posterior draws, the decision grid at the target budget and the objectives scored on weighted draws.

``n_star_width`` is the width in decades (log10 hi/lo) of N*'s equal-tailed ``CI_PROB`` (0.9) interval, the
number a user reads off the posterior, taken as weighted quantiles of the reweighted draws. Unlike the
variance of log N* it is not dominated by the draws in the tails (a world whose posterior keeps a far
tail adds that tail squared to the variance, but only its quantile shift to the width)."""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import CI_PROB, seeded_rng, is_ensemble
from bayes_scaling.cost import CostLaw
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import interval_bounds, thin_indices, weighted_quantiles
from bayes_scaling.queries.draws import budgets_flops, decision_scores, law_draws, thin_draws, wasted_compute

ENSEMBLE_NOTE = "law-form weights held at the stacking weights: a run informs each form's parameters, not the choice of form"
OBJECTIVES = ("n_star", "n_star_width", "loss", "wasted_compute")
#: how each objective scales with the variance of the linearised quantity (Gaussian update): a width as its square root
VARIANCE_POWER = {"n_star": 1.0, "n_star_width": 0.5, "loss": 1.0, "wasted_compute": 1.0}


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise BayesScalingError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    return objective


def _flat(a) -> np.ndarray:
    return np.asarray(a, float).reshape(-1)


def draws_sigma_family(result, cost: CostLaw | None = None):
    """(law draws priced by ``cost``, noise scale per draw flattened, likelihood family) of a fit or an ensemble."""
    for name in ("hierarchy", "covariates"):
        if getattr(result, name) is not None:
            raise BayesScalingError(f"design supports fits without groups or covariates; this fit has {name}")
    draws = law_draws(result, cost=cost)
    fits = result.members.values() if is_ensemble(result) else [result]
    fams = {m.spec.likelihood.describe() for m in fits}
    if len(fams) > 1:
        raise BayesScalingError(f"ensemble members use different likelihood families {sorted(fams)}")
    sigma = _flat(result.evaluator.sigma.transpose("chain", "draw").values)  # an ensemble's: its mixture's draws
    return draws, sigma, next(iter(fits)).spec.likelihood.dist


def normalise(logw: np.ndarray, member: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalised weights per row of log-weights ``logw`` (worlds x draws) and each row's effective sample size
    (sum w)^2 / sum w^2. ``member`` (an ensemble's member index per draw): each member's weights are normalised
    to its share of the draws, so the law-form weights stay fixed (:data:`ENSEMBLE_NOTE`)."""
    logw = np.asarray(logw, float)
    if member is None:
        w = np.exp(logw - logw.max(axis=-1, keepdims=True))
        w /= w.sum(axis=-1, keepdims=True)
    else:
        w = np.empty_like(logw)
        for k in np.unique(member):
            sel = member == k
            part = np.exp(logw[..., sel] - logw[..., sel].max(axis=-1, keepdims=True))
            w[..., sel] = part / part.sum(axis=-1, keepdims=True) * (np.count_nonzero(sel) / member.size)
    return w, 1.0 / np.sum(w * w, axis=-1)


def interval_width(values: np.ndarray, w: np.ndarray, ci_prob: float = CI_PROB) -> np.ndarray:
    """Width of the equal-tailed ``ci_prob`` interval of ``values`` (units kept) under each row of weights
    ``w`` (rows x values, in the same order): :func:`~bayes_scaling.posterior.intervals.weighted_quantiles`,
    which with equal weights are the posterior's own (linear) quantiles."""
    lo, hi = weighted_quantiles(values, w, interval_bounds(ci_prob))
    return np.maximum(hi - lo, 0.0)


class Preposterior:
    """Posterior draws (thinned to ``max_draws``) and the decision grid at the target budget C (FLOPs,
    priced by ``draws.cost``); :meth:`objective` scores rows of normalised draw weights.

    The decision grid: ``grid`` values of log N, even over the draws' 0.1-99.9% range of log N* widened by log 3
    each side. Its error, measured on bench_design's first 6 Chinchilla-like ladders (``benchmarks/
    bench_design_grid.py``, objective ``wasted_compute``, 2026-12-07), is below the Monte Carlo error of the
    simulated worlds: at 81 points against 321, the largest change of a candidate's gain is 0.17-0.65 of its Monte
    Carlo SE per ladder (the median 0.02-0.22), the least expected waste now moves by at most 1.0e-4 of C (against
    1281 points), and the batch and stop or go's verdict are the same on 5 of 6 ladders (on one, two picks and the
    go count differ, the batch's expected waste after it within about one gain SE). So 81 stays (the waste
    objective's cost grows in proportion to the points)."""

    def __init__(self, draws, sigma, family, target_flops: float, *, objective: str = "n_star",
                 max_draws: int = 800, grid: int = 81, seed: int = 0):
        self.objective_name = check_objective(objective)
        self.cost = draws.cost
        self.k = self.cost.k
        (self.target,) = budgets_flops([target_flops], "flops")
        self.family = family
        total = int(np.prod(draws.shape))
        rng = seeded_rng(seed)
        idx = np.sort(thin_indices(total, max_draws, rng))  # all of them, in order, when total <= max_draws
        self.index = idx  #: which of the flattened draws were kept
        self.draws = thin_draws(draws, idx)
        self.sigma = np.asarray(sigma, float)[idx]
        #: an ensemble's member (index into ``draws.parts``) per kept draw; None for one fit
        self.member = (np.repeat(np.arange(len(self.draws.parts)), [p.shape[1] for p in self.draws.parts])
                       if self.draws.mixture else None)
        self.log_ct = float(np.log(self.target / self.k))
        self.log_nstar = self._flat(self.draws.log_n_opt(np.array([self.log_ct])))[:, 0]
        lo, hi = np.quantile(self.log_nstar, [0.001, 0.999])
        self.u = np.linspace(lo - np.log(3.0), hi + np.log(3.0), grid)
        self.loss_grid = np.exp(self._flat(self.draws.log_loss(self.u, self.draws.log_tokens(self.log_ct, self.u))))
        self._waste = None
        self._order = np.argsort(self.log_nstar, kind="stable")
        self._sorted_log10 = self.log_nstar[self._order] / np.log(10.0)

    @property
    def size(self) -> int:
        return len(self.sigma)

    def draw_truth(self, rng: np.random.Generator, worlds: int) -> np.ndarray:
        """Each world's true draw (index into the kept draws): array (worlds,), uniform over the draws; an
        ensemble's (worlds, members), one uniform over each member's draws (its outcome reweights that member's
        draws alone, :func:`normalise`)."""
        if self.member is None:
            return rng.integers(0, self.size, worlds)
        start = np.searchsorted(self.member, np.arange(self.member.max() + 1))
        count = np.bincount(self.member)
        return start[None, :] + rng.integers(0, count[None, :], (worlds, len(count)))

    @staticmethod
    def _flat(a) -> np.ndarray:
        a = np.asarray(a, float)
        return a.reshape(-1, a.shape[-1])

    def log_mean(self, n_params, tokens) -> np.ndarray:
        """log L per draw at runs (N parameters, D tokens): array (draws, runs)."""
        n, d = np.atleast_1d(np.asarray(n_params, float)), np.atleast_1d(np.asarray(tokens, float))
        return self._flat(self.draws.log_loss(np.log(n), np.log(d)))

    @property
    def waste_grid(self) -> np.ndarray:
        """Wasted compute (fraction of C) of each grid plan per draw: 1 - C'/C, C' the budget at which
        the draw's optimal plan reaches the plan's loss (array draws x grid; :func:`~.draws.wasted_compute`)."""
        if self._waste is None:
            log_plan = self.draws.log_loss(self.u, self.draws.log_tokens(self.log_ct, self.u))
            self._waste = self._flat(wasted_compute(self.draws, self.log_ct, log_plan))
        return self._waste

    def objective(self, w: np.ndarray, name: str | None = None) -> np.ndarray:
        """The objective for each row of normalised weights ``w`` (worlds x draws)."""
        name = name or self.objective_name
        w = np.atleast_2d(w)
        if name == "n_star":
            m = w @ self.log_nstar
            return np.maximum(w @ self.log_nstar ** 2 - m * m, 0.0)
        if name == "n_star_width":
            return self.width(w)
        if name == "loss":
            pick = np.argmin(decision_scores(self.loss_grid, weights=w), axis=1)  # each world's decision on the grid
            at = self.loss_grid[:, pick].T
            m = np.sum(w * at, axis=1)
            return np.maximum(np.sum(w * at * at, axis=1) - m * m, 0.0)
        return np.min(w @ self.waste_grid, axis=1)

    def width(self, w: np.ndarray, ci_prob: float = CI_PROB) -> np.ndarray:
        """Width (decades, log10 hi/lo) of N*'s equal-tailed ``ci_prob`` interval for each row of normalised
        weights ``w`` (worlds x draws)."""
        return interval_width(self._sorted_log10, np.atleast_2d(w)[:, self._order], ci_prob)

    def current(self, name: str | None = None) -> float:
        """The objective under the current posterior (equal weights)."""
        return float(self.objective(np.full(self.size, 1.0 / self.size), name)[0])

    def least_waste(self) -> tuple[float, float]:
        """(N in parameters, expected wasted compute as a fraction of C) of the grid plan of least expected waste
        over these draws: the "now" of the value of information (:func:`decision_now`)."""
        mean = self.waste_grid.mean(axis=0)
        j = int(np.argmin(mean))
        return float(np.exp(self.u[j])), float(mean[j])


def decision_now(result, pre: Preposterior) -> dict:
    """What the posterior decides now at ``pre``'s target budget, in two senses.

    ``decision_N_now``, ``decision_D_now`` (parameters, tokens) and ``decision_wasted_now`` (its expected wasted
    compute, fraction of C): ``allocate``'s decision (:func:`~bayes_scaling.queries.allocate.decide`, least expected
    loss over all ``decision_draws`` of the fit, priced by ``pre.cost``), the plan a user trains and the extrapolation
    guard is asked about. ``least_waste_N_now`` and ``least_waste_now``: the plan of least expected waste on the
    design's grid over its ``pre.size`` thinned draws (:meth:`Preposterior.least_waste`), equal to stop or go's
    ``expected_wasted_now``. The value of information is EVSI = min_a E[waste(a)] - E_y[min_a E[waste(a) | y]]: both
    terms must be the same estimator (the same draws, reweighted after y, and the same grid of plans a), or their
    difference mixes estimators with information (it could even turn negative). So gains, savings and the verdict use
    the grid's least-waste value; the decision's waste over all draws is reported beside it, not mixed into them."""
    from bayes_scaling.queries.allocate import decide

    dec = decide(result, pre.target, cost=pre.cost)
    n_grid, waste_grid = pre.least_waste()
    return {"decision_N_now": dec.N, "decision_D_now": dec.D,
            "decision_wasted_now": float(dec.outcome["wasted_compute"].mean()),
            "decision_draws": int(dec.outcome["wasted_compute"].size),
            "least_waste_N_now": n_grid, "least_waste_now": waste_grid}
