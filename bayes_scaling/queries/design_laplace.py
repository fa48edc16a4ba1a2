"""Run design's candidates (an IsoFLOP grid within a range of trusted shapes) and the Gaussian
(Laplace) fallback of its importance reweighting.

When a simulated outcome is far more precise than the posterior in some direction (a run at an
extreme shape pins one term of the law), the importance weights of the posterior draws collapse onto
a few draws and the reweighted variance is too small. In those worlds the design uses a linearised
Gaussian update instead, in the law function's coordinates theta (log constants, exponents): the
posterior covariance P of the draws, the Jacobian J_s of log-loss at the new runs at the world's true
draw s, the family's Fisher information i_z per unit scale and the true draw's noise scale sigma_s,

    P' = (P^-1 + i_z J_s^T J_s / sigma_s^2)^-1,

and the objective is scaled by g_s^T P' g_s / g_s^T P g_s, g_s = dq/dtheta at s (q = log N*(C) for
``n_star`` and, to second order in the error of log N*, for ``wasted_compute``; the loss at the
current decision for ``loss``). Exact for a law linear in theta with Gaussian posterior and noise.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, TRUSTED_TOKENS_PER_PARAM
from bayes_scaling.cost import CostLaw
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.queries.design_prior import family_information
from bayes_scaling.queries.draws import LawDraws

_H = 1e-4


class LaplaceUpdate:
    """Linearised Gaussian preposterior of ``pre`` (a :class:`~bayes_scaling.queries.design.Preposterior`
    on one law's draws) for candidate runs (N parameters, D tokens)."""

    def __init__(self, pre, n_params, tokens):
        self.pre = pre
        p = {k: np.asarray(v, float).reshape(-1) for k, v in pre.draws.p.items()}
        self.fixed = {k: v for k, v in p.items() if np.ptp(v) == 0}  # not sampled: no uncertainty
        self.keys = [k for k in p if k not in self.fixed]
        self.theta = {k: p[k] for k in self.keys}
        cov = np.atleast_2d(np.cov(np.stack([self.theta[k] for k in self.keys])))
        self.cov = cov
        self.prec = np.linalg.inv(cov + 1e-12 * np.trace(cov) * np.eye(len(cov)))
        self.info = family_information(pre.family) / pre.sigma ** 2  # per draw
        log_n, log_d = np.log(np.asarray(n_params, float)), np.log(np.asarray(tokens, float))
        self.jac = self._diff(lambda dr: dr.log_loss(log_n, log_d))  # (draws, candidates, params)
        self._grads: dict[str, np.ndarray] = {}

    def _draws(self, theta: dict) -> LawDraws:
        params = {k: np.asarray(v, float)[None, :, None] for k, v in {**self.fixed, **theta}.items()}
        return LawDraws(None, law=self.pre.draws.law, params=params, cost=self.pre.cost)

    def _diff(self, f) -> np.ndarray:
        out = []
        for k in self.keys:
            up, down = dict(self.theta), dict(self.theta)
            up[k], down[k] = self.theta[k] + _H, self.theta[k] - _H
            diff = np.asarray(f(self._draws(up)) - f(self._draws(down)), float)
            out.append(diff.reshape(-1, diff.shape[-1]) / (2 * _H))
        return np.stack(out, axis=-1)

    def grad(self, name: str) -> np.ndarray:
        """dq/dtheta per draw (draws, params) for objective ``name``."""
        key = "loss" if name == "loss" else "n_star"
        if key not in self._grads:
            x = np.array([self.pre.log_ct])
            if key == "n_star":
                f = lambda dr: dr.log_n_opt(x)  # noqa: E731
            else:
                u = np.array([np.log(self.pre.decision())])
                f = lambda dr: np.exp(dr.log_loss(u, dr.log_tokens(self.pre.log_ct, u)))  # noqa: E731
            self._grads[key] = self._diff(f)[:, 0, :]
        return self._grads[key]

    def fisher(self, j: int, truth: np.ndarray) -> np.ndarray:
        """Information about theta from candidate ``j``'s outcome in each world (worlds, params, params)."""
        jac = self.jac[truth, j, :]
        return self.info[truth][:, None, None] * jac[:, :, None] * jac[:, None, :]

    def ratio(self, extra: np.ndarray, truth: np.ndarray, name: str) -> np.ndarray:
        """Posterior over prior variance of q per world, given information ``extra`` (worlds, params, params)."""
        return gaussian_ratio(self.cov, self.prec, extra, self.grad(name)[truth])


def gaussian_ratio(cov: np.ndarray, prec: np.ndarray, extra: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g^T (prec + extra)^-1 g / g^T cov g per row: the share of the variance of a linear quantity
    (gradient ``g``, rows x params) left after information ``extra`` (rows x params x params) about
    Gaussian parameters of covariance ``cov`` (precision ``prec``); clipped to [0, 1]."""
    post = np.linalg.solve(prec[None] + extra, g[..., None])[..., 0]
    prior = np.einsum("wp,pq,wq->w", g, cov, g)
    return np.clip(np.einsum("wp,wp->w", g, post) / np.maximum(prior, 1e-300), 0.0, 1.0)


def laplace_for(pre, n_params, tokens) -> LaplaceUpdate | None:
    """The Laplace fallback for ``pre``'s draws, or None for an ensemble's mixture of laws."""
    if hasattr(pre.draws, "parts"):
        return None
    return LaplaceUpdate(pre, n_params, tokens)


def candidate_grid(runs_compute, budget: float, *, budgets: int = 10, ratios=TRUSTED_TOKENS_PER_PARAM,
                   per_budget: int = 10, flops_per_token: float = FLOPS_PER_PARAM_TOKEN, cost: CostLaw | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """IsoFLOP candidates (N parameters, D tokens): ``budgets`` budgets from the ladder's smallest
    run (or budget / 100 if smaller) to the ladder budget (FLOPs), ``per_budget`` tokens/parameter
    ratios log-evenly over ``ratios`` (the trusted shapes, default :data:`TRUSTED_TOKENS_PER_PARAM`)
    each, priced by ``cost`` (default C = k N D, k = ``flops_per_token``)."""
    if not 0 < ratios[0] <= ratios[1] < np.inf:
        raise BayesScalingError(f"candidate tokens/parameter range must be 0 < LO <= HI, got {tuple(ratios)}")
    cost = CostLaw("6nd", k=flops_per_token) if cost is None else cost
    c_runs = np.asarray(runs_compute, float)
    lo = min(float(np.min(c_runs)), budget / 100)
    c = np.repeat(np.geomspace(lo, budget, budgets), per_budget)
    r = np.tile(np.geomspace(*ratios, per_budget), budgets)
    n = cost.params_at_ratio(c, r)
    return n, r * n
