"""A new project's ladder: the IsoFLOP grid (budgets x sizes per budget) that minimises the expected
posterior uncertainty at the target budget before any run is trained.

Preposterior by the Laplace approximation over prior draws: for a prior draw theta (the truth of one
simulated project) and a design's runs, the posterior precision of the law's parameters (in the law
function's coordinates) is i_z J^T J / sigma^2 + the prior's precision, J the Jacobian of log-loss at
the runs and i_z the family's Fisher information per unit scale; the posterior variance of the
objective q is g^T (precision)^-1 g, g = dq/dtheta. Its mean over prior draws ranks the designs.
Objectives: ``n_star`` = log N*(C) (log parameters), ``loss`` = L*(C) (nats/token). No sampling:
the prior draws come from :func:`bayes_scaling.inference.design.prior_draws`.
"""

from __future__ import annotations

import itertools

import numpy as np

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, TRUSTED_TOKENS_PER_PARAM, seeded_rng
from bayes_scaling.cost import CostLaw
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.queries.draws import LawDraws, budgets_flops, check_flops_per_token

_H = 1e-4


def family_information(family, n: int = 20000, seed: int = 0) -> float:
    """Fisher information of the family's location per unit scale, E[(d log f / dz)^2] (Normal: 1;
    Student-t: (nu + 1) / (nu + 3)), by Monte Carlo."""
    z = family.draws(seeded_rng(seed), n)
    score = (family.logpdf(z + _H) - family.logpdf(z - _H)) / (2 * _H)
    return float(np.mean(score ** 2))


class PriorLadder:
    """Prior draws of a law (``params`` in the law function's convention, flat arrays) and the
    Laplace posterior variance of the objective at the target C (FLOPs) for any design; budgets
    priced by ``cost`` (default C = k N D, k = ``flops_per_token``)."""

    def __init__(self, law, params: dict, sigma, family, target_flops: float, *, objective: str = "n_star",
                 flops_per_token: float = FLOPS_PER_PARAM_TOKEN, cost: CostLaw | None = None):
        if objective not in ("n_star", "loss"):
            raise BayesScalingError(f"a new project's design takes objective n_star or loss, got {objective!r}")
        self.law, self.objective, self.keys = law, objective, list(params)
        self.cost = CostLaw("6nd", k=check_flops_per_token(flops_per_token)) if cost is None else cost
        self.k = self.cost.k
        (self.target,) = budgets_flops([target_flops], "flops")
        self.params = {k: np.asarray(v, float) for k, v in params.items()}
        self.sigma = np.asarray(sigma, float)
        self.info = family_information(family)
        self.prior_prec = np.linalg.inv(np.atleast_2d(np.cov(np.stack([self.params[k] for k in self.keys]))))
        self.grad = np.stack([self._diff(k, self._quantity) for k in self.keys], axis=-1)  # (draws, params)
        self.prior_var = self._var(self.prior_prec[None])

    def _draws(self, params) -> LawDraws:
        return LawDraws(None, law=self.law, params={k: v[None, :, None] for k, v in params.items()}, cost=self.cost)

    def _quantity(self, draws: LawDraws) -> np.ndarray:
        log_ct = np.array([np.log(self.target / self.k)])
        if self.objective == "n_star":
            return draws.log_n_opt(log_ct)[0, :, 0]
        return np.exp(draws.log_loss_opt(log_ct))[0, :, 0]

    def _diff(self, key: str, f) -> np.ndarray:
        up, down = dict(self.params), dict(self.params)
        up[key], down[key] = self.params[key] + _H, self.params[key] - _H
        return (f(self._draws(up)) - f(self._draws(down))) / (2 * _H)

    def median_log_n_opt(self, compute_flops) -> np.ndarray:
        """Prior median of log N* at each budget (FLOPs)."""
        log_ct = np.log(np.asarray(compute_flops, float) / self.k)
        return np.median(self._draws(self.params).log_n_opt(log_ct)[0], axis=0)

    def _var(self, precision: np.ndarray) -> np.ndarray:
        g = self.grad
        return np.einsum("sp,sp->s", g, np.linalg.solve(precision, g[..., None])[..., 0])

    def posterior_var(self, n_params, tokens) -> np.ndarray:
        """Laplace posterior variance of the objective per prior draw after runs (N, D)."""
        log_n, log_d = np.log(np.asarray(n_params, float)), np.log(np.asarray(tokens, float))
        f = lambda dr: dr.log_loss(log_n, log_d)[0]  # noqa: E731
        jac = np.stack([self._diff(k, f) for k in self.keys], axis=-1)  # (draws, runs, params)
        prec = self.info * np.einsum("srp,srq->spq", jac, jac) / self.sigma[:, None, None] ** 2 + self.prior_prec
        return self._var(prec)


def isoflop_grids(prior: PriorLadder, ladder_budget: float, *, n_budgets=(3, 4, 5, 6), per_budget=(3, 5, 7),
                  spacing=(2.0, 4.0, 10.0), widths=(3.0, 10.0), ratios=TRUSTED_TOKENS_PER_PARAM) -> list[dict]:
    """IsoFLOP grids that spend ``ladder_budget`` FLOPs: budgets C_max / spacing^i (i < n_budgets),
    ``per_budget`` sizes per budget spread log-evenly over [N*/width, N* x width] around the prior
    median N* at that budget, cut to the shapes ``ratios`` (LO, HI tokens/parameter; default the trusted shapes
    of Hoffmann et al. 2022's runs, the range of a fit's design grid: one rule for both). Where the window lies
    wholly outside them, its sizes sit at the nearer end."""
    out = []
    for nb, ns, r, w in itertools.product(n_budgets, per_budget, spacing, widths):
        c_max = ladder_budget / (ns * np.sum(float(r) ** -np.arange(nb)))
        budgets = c_max * float(r) ** -np.arange(nb)[::-1]
        centre = prior.median_log_n_opt(budgets)
        # the sizes at the shape range's ends (more tokens per parameter: a smaller model)
        small, large = (np.log(prior.cost.params_at_ratio(budgets, x)) for x in (ratios[1], ratios[0]))
        lo = np.clip(centre - np.log(w), small, large)
        hi = np.clip(centre + np.log(w), small, large)
        log_n = (lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, ns)[None, :]).ravel()
        c = np.repeat(budgets, ns)
        n = np.exp(log_n)
        out.append({"budgets": budgets.tolist(), "per_budget": ns, "spacing": float(r), "width": float(w),
                    "N": n, "D": prior.cost.tokens(c, n), "cost_flops": float(np.sum(c))})
    return out


def design_new_ladder(prior: PriorLadder, ladder_budget: float, **grid_kw) -> list[dict]:
    """Every IsoFLOP grid of :func:`isoflop_grids`, best first, with the expected (mean over prior
    draws) and median posterior variance of the objective."""
    (budget,) = budgets_flops([ladder_budget], "flops")
    rows = []
    for g in isoflop_grids(prior, budget, **grid_kw):
        v = prior.posterior_var(g["N"], g["D"])
        rows.append({**g, "expected_var": float(np.mean(v)), "median_var": float(np.median(v))})
    return sorted(rows, key=lambda r: r["expected_var"])
