"""Posterior draws of a law of N and D as NumPy arrays, and the vectorised searches the planning
queries share (golden-section minimisation, bisection), with their input checks. Compute in FLOPs,
loss in nats/token."""

from __future__ import annotations

import copy

import numpy as np

from bayes_scaling.conventions import (COMPUTE_UNIT_NAMES, FLOPS_PER_PARAM_TOKEN, canonical_compute_unit,
                                       compute_to_flops, real_array, is_ensemble)
from bayes_scaling.cost import CostLaw, stored_cost
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.inputs import positive_number
from bayes_scaling.posterior.intervals import flat_draws

_GOLDEN = (np.sqrt(5.0) - 1) / 2


def require_allocation(law) -> None:
    if not law.has("allocation"):
        raise BayesScalingError(
            f"allocation needs a law of both parameters N and tokens D; {law.name!r} has {list(law.input_names)} "
            f"(fit chinchilla or kaplan_nd)"
        )


def check_budgets(compute, unit: str = "FLOPs") -> np.ndarray:
    """Compute budgets as a 1-D array of finite numbers > 0, in ``unit`` (named in the error)."""
    c = real_array(compute)
    if c is None:
        c = np.array([np.nan])
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise BayesScalingError(f"compute budgets must be finite numbers > 0 ({unit}), got {compute!r}"[:200],
                                quantity="compute")
    return c


def budgets_flops(compute, compute_unit: str) -> np.ndarray:
    """Compute budgets given in ``compute_unit`` ("flops" or "pf-days", either spelling), checked, in FLOPs."""
    unit = canonical_compute_unit(compute_unit)
    c = check_budgets(compute, COMPUTE_UNIT_NAMES.get(unit, "FLOPs"))
    if unit is None:
        raise BayesScalingError(f"compute_unit must be 'flops' or 'pf-days', got {compute_unit!r}")
    return compute_to_flops(c, unit)


def check_flops_per_token(flops_per_token: float) -> float:
    return positive_number(flops_per_token, "flops_per_token must be > 0 (6 for the usual 6ND)")


def resolve_cost(result, cost: CostLaw | None = None, flops_per_token: float = FLOPS_PER_PARAM_TOKEN) -> CostLaw:
    """The cost law a query uses: ``cost`` when given, else the one stored with the fit, else
    C = k N D with k = ``flops_per_token``."""
    if cost is not None:
        if not isinstance(cost, CostLaw):
            raise BayesScalingError(f"cost must be a CostLaw, got {cost!r}", quantity="cost")
        return cost
    k = check_flops_per_token(flops_per_token)
    stored = stored_cost(result)
    if stored is None:
        return CostLaw("6nd", k=k)
    if k != FLOPS_PER_PARAM_TOKEN:
        raise BayesScalingError(f"this fit stores its cost law ({stored.describe()}); give a cost law or FLOPs per "
                                f"token, not both", quantity="cost")
    return stored


def check_target_loss(target_loss, loss_unit: str = "nats/token") -> float:
    """A target loss: a finite number > 0, in ``loss_unit`` (the fit's, named in the error)."""
    return positive_number(target_loss, f"target loss must be a number > 0 ({loss_unit})")


def params_unit(result) -> str:
    """The unit of a parameter count N the fit's runs define: ``"<params_kind> parameters"`` (e.g. ``"total
    parameters"``); the one label of N, N* and N_opt in every query."""
    return f"{result.runs_metadata['params_kind']} parameters"


class LawDraws:
    """Posterior parameters of one law as NumPy arrays shaped (chain, draw, 1) for fast broadcasting.
    Budgets enter as x = log(C / k) with the cost law's k (``cost``, default 6ND)."""

    mixture = False  #: one law's draws (:class:`MixtureDraws`: an ensemble's)

    def __init__(self, result, group: str | None = None, *, law=None, params: dict | None = None,
                 cost: CostLaw | None = None, covariates: dict | None = None):
        self.law = result.law if law is None else law
        self.cost = CostLaw() if cost is None else cost
        require_allocation(self.law)
        if params is None:
            params = {k: np.asarray(v.transpose("chain", "draw").values)[..., None]
                      for k, v in result.law_params(group).items()}
        self.p = params
        self.shape = next(iter(params.values())).shape[:2]
        #: the covariates' effect on log-loss per draw (chain, draw, 1) at ``covariates`` (the rest at the runs'
        #: mean): a factor on the loss, so it moves the loss, not the optimal N or the wasted compute
        self.shift = 0.0 if not covariates else result.evaluator.covariate_log_shift(covariates)[..., None]

    def log_loss(self, log_n, log_d):
        return self.law.log_loss(np, {"N": log_n, "D": log_d}, self.p) + self.shift

    def log_tokens(self, log_ct, log_n):
        """log D that spends x = log(C/k) at log N under the cost law (x - log N for 6ND)."""
        return self.cost.log_tokens(log_ct, log_n)

    def log_n_opt(self, log_ct):
        """log N* per draw for x = log(C/k) (array broadcast against (chain, draw, 1))."""
        if self.cost.linear:
            closed = self.law.log_optimal_params(np, log_ct, self.p)
            if closed is not None:
                return np.broadcast_to(closed, np.broadcast_shapes(self.shape + (1,), np.shape(log_ct)))
        hi = np.asarray(log_ct, float) * max(1.0, 1.0 / self.cost.a)
        return golden_min(lambda u: self.log_loss(u, self.log_tokens(log_ct, u)), np.zeros_like(log_ct), hi,
                          self.shape)

    def log_loss_opt(self, log_ct):
        u = self.log_n_opt(log_ct)
        return self.log_loss(u, self.log_tokens(log_ct, u))


class MixtureDraws:
    """The draws of an ensemble as one (chain = 1, draw) array: each member's law on the draws the
    mixture picked from it, concatenated in the mixture's order; same calls as :class:`LawDraws`."""

    mixture = True

    def __init__(self, ensemble, group: str | None = None, cost: CostLaw | None = None):
        picks = ensemble.evaluator.picks
        self.parts = []
        for name, fit in ensemble.members.items():
            if not fit.law.has("allocation"):
                raise BayesScalingError(f"allocation needs every ensemble member to be a law of both N and D; member "
                                        f"{name!r} has {list(fit.law.input_names)}: build the ensemble from laws of N "
                                        f"and D (e.g. `ensemble --laws chinchilla,chinchilla_tied,kaplan_nd_floor`)")
            flat = {k: flat_draws(v)[picks[name]][None, :, None]
                    for k, v in fit.law_params(group).items()}
            self.parts.append(LawDraws(fit, law=fit.law, params=flat, cost=cost))
        self.law = self.parts[0].law
        self.cost = self.parts[0].cost
        self.shape = (1, sum(p.shape[1] for p in self.parts))

    def _each(self, method, *args):
        out, lo = [], 0
        for part in self.parts:
            hi = lo + part.shape[1]
            sliced = [a[:, lo:hi] if np.ndim(a) >= 2 and np.shape(a)[:2] == self.shape else a for a in args]
            out.append(getattr(part, method)(*sliced))
            lo = hi
        return np.concatenate([np.broadcast_to(o, (1, p.shape[1], *np.shape(o)[2:])) for o, p in zip(out, self.parts)],
                              axis=1)

    def log_loss(self, log_n, log_d):
        return self._each("log_loss", log_n, log_d)

    def log_n_opt(self, log_ct):
        return self._each("log_n_opt", log_ct)

    def log_tokens(self, log_ct, log_n):
        return self.cost.log_tokens(log_ct, log_n)

    def log_loss_opt(self, log_ct):
        return self._each("log_loss_opt", log_ct)


def law_draws(result, group: str | None = None, cost: CostLaw | None = None, covariates: dict | None = None):
    """:class:`LawDraws` of a fit, or :class:`MixtureDraws` of an ensemble (budgets priced by ``cost``,
    default 6ND; ``covariates``: values by name, the rest at the runs' mean)."""
    if is_ensemble(result):
        if covariates:
            raise BayesScalingError("ensembles take no covariates: their effects are per member", quantity="covariates")
        if group is not None and result.hierarchy is None:
            raise BayesScalingError(f"group {group!r}: this ensemble's members share no groups")
        return MixtureDraws(result, group, cost)
    if covariates is not None:
        result.evaluator.covariate_settings(covariates)  # a name the fit lacks fails here, in one line
    return LawDraws(result, group, cost=cost, covariates=covariates)


def golden_min(f, lo, hi, shape, iters: int = 90):
    """Vectorised golden-section minimisation of a unimodal f on [lo, hi] (elementwise)."""
    full = np.broadcast_shapes(shape + (1,), np.shape(lo))
    a = np.broadcast_to(lo, full).astype(float).copy()
    b = np.broadcast_to(hi, full).astype(float).copy()
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        left = fc < fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        c_new = b - _GOLDEN * (b - a)
        d_new = a + _GOLDEN * (b - a)
        c, d = c_new, d_new
        fc, fd = f(c), f(d)
    return (a + b) / 2


def bisect_decreasing(g, target, lo, hi, iters: int = 100):
    """Per element, x in [lo, hi] with g(x) = target for g decreasing in x. Where the target is not
    bracketed the result is the nearer end of the range: callers that can meet that case check it."""
    lo = np.array(lo, dtype=float, copy=True)
    hi = np.array(hi, dtype=float, copy=True)
    lo, hi, target = np.broadcast_arrays(lo, hi, target)
    lo, hi = lo.copy(), hi.copy()
    for _ in range(iters):
        mid = (lo + hi) / 2
        above = g(mid) > target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return (lo + hi) / 2


def decision_scores(loss, q: float | None = None, weights=None) -> np.ndarray:
    """The decision's objective of each plan: ``loss`` (draws x plans, the fit's loss unit) averaged over the
    draws (``q`` None) or its ``q``-quantile; with ``weights`` (worlds x draws, rows summing to 1, mean only),
    one row of scores per world (worlds x plans)."""
    if weights is not None:
        if q is not None:
            raise BayesScalingError("a weighted decision minimises the expected loss only (no quantile utility)")
        return np.asarray(weights, float) @ loss
    return loss.mean(axis=0) if q is None else np.quantile(loss, q, axis=0)


def decision_search(draws, log_ct: float, lo: float, hi: float, *, q: float | None = None, grid: int = 801) -> float:
    """log N of the one plan (N, D at x = log(C/k) = ``log_ct`` under ``draws.cost``) that minimises the expected
    loss over ``draws`` (``q`` None) or its ``q``-quantile (:func:`decision_scores`), within log N in [``lo``,
    ``hi``]: the best of ``grid`` evenly spaced points, refined by golden section between its neighbours (60 steps,
    to float precision). The one search of ``allocate``'s decision and of design's decision now (design's
    simulated worlds pick theirs on its grid, :func:`decision_scores` with weights)."""

    def score(v):
        v = np.atleast_1d(np.asarray(v, float))
        return decision_scores(np.exp(draws.log_loss(v, draws.log_tokens(log_ct, v))).reshape(-1, v.size), q)

    u = np.linspace(lo, hi, grid)
    i = int(np.argmin(score(u)))
    a, b = u[max(i - 1, 0)], u[min(i + 1, grid - 1)]
    for _ in range(60):
        m1, m2 = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        a, b = (a, m2) if score(m1)[0] < score(m2)[0] else (m1, b)
    return float((a + b) / 2)


def wasted_compute(draws, log_ct, log_loss_plan, iters: int = 100) -> np.ndarray:
    """1 - C'/C per draw (fraction of the budget, in [0, 1]): C' the budget at which the draw's optimal plan reaches
    the plan's loss (``log_loss_plan``, log of the fit's loss unit, shaped like ``draws`` plus any trailing plan
    axes), C at x = log(C/k) = ``log_ct``; by bisection of log(C'/k) over [log_ct - 60, log_ct] (0 for an optimal
    plan). The one wasted compute of ``allocate`` and of design."""
    shape = np.shape(log_loss_plan)
    x = bisect_decreasing(lambda v: draws.log_loss_opt(v.reshape(shape[:2] + (-1,))).reshape(shape), log_loss_plan,
                          np.full(shape, log_ct - 60.0), np.full(shape, log_ct), iters=iters)
    return np.clip(1 - np.exp(x - log_ct), 0.0, 1.0)


#: The bracket of :func:`log_compute_to_reach` in x = log(C / k): 1e6 to 1e60 budgets in units of the cost law's
#: k (e.g. 6e6 to 6e60 FLOPs for 6ND). Far beyond any training run at both ends, so the bisection, not the
#: bracket, sets the answer; at its top a law's reducible terms are negligible (its loss is at its floor).
LOG_COMPUTE_BRACKET = (float(np.log(1e6)), float(np.log(1e60)))


def log_compute_to_reach(g, target, shape) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, (x, reachable): x = log(C / k) at which ``g`` (per-draw values at x, array (chain, draw),
    decreasing in x, e.g. the log loss along the compute-optimal frontier) falls to ``target``, by bisection on
    x over :data:`LOG_COMPUTE_BRACKET` (100 halvings: exact to ~1e-28 in log C). A draw is unreachable, x = +inf,
    only where g at the bracket's top (compute -> infinity, the loss at its floor) is still above the target;
    a draw already at the target at the bracket's bottom (the smallest budget searched) meets it at any budget,
    x = -inf (compute 0; :func:`met_at_any_budget`), not the bracket's end. The one search of ``target`` and
    ``target-metric``."""
    lo_x, hi_x = LOG_COMPUTE_BRACKET
    reachable = g(np.full(shape, hi_x)) <= target
    already = g(np.full(shape, lo_x)) <= target
    x = bisect_decreasing(g, target, np.full(shape, lo_x), np.full(shape, hi_x))
    x = np.where(reachable, np.where(already, -np.inf, x), np.inf)
    return x, reachable


def met_at_any_budget(x) -> float:
    """The share of draws whose x from :func:`log_compute_to_reach` is -inf: the target is at or above what the
    smallest budget searched already reaches, so any budget meets it (compute 0 FLOPs)."""
    return float(np.isneginf(np.asarray(x, float)).mean())


def thin_draws(draws, idx):
    """Law draws (:class:`LawDraws` or an ensemble's :class:`MixtureDraws`) at flat draw indices
    ``idx`` (sorted), shaped (1, len(idx))."""
    if draws.mixture:
        out, parts, lo = copy.copy(draws), [], 0
        for part in draws.parts:
            size = int(np.prod(part.shape))
            sel = idx[(idx >= lo) & (idx < lo + size)] - lo
            if sel.size:
                parts.append(thin_draws(part, sel))
            lo += size
        out.parts, out.shape = parts, (1, len(idx))
        return out
    return LawDraws(None, law=draws.law, cost=draws.cost, params={k: np.asarray(v).reshape(-1)[idx][None, :, None]
                                                                  for k, v in draws.p.items()})
