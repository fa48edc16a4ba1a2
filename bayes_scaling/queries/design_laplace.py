"""Run design's Gaussian (Laplace) fallback of its importance reweighting.

When a simulated outcome is far more precise than the posterior in some direction (a run at an
extreme shape pins one term of the law), the importance weights of the posterior draws collapse onto
a few draws and the reweighted variance is too small. In those worlds the design uses a Gaussian
update instead, in the law function's coordinates theta (log constants, exponents), statistically
linearised over the posterior draws (regression, not the slope at one point: log-loss at a run is
far from linear across a wide posterior, so a local slope overstates what a run tells): with P the
draws' covariance of theta, J_j = Cov(y_j, theta) P^-1 and r_j the variance of the residual of the
log-loss y_j at candidate j about that line, g = Cov(q, theta) P^-1, the family's Fisher information
i_z per unit scale, the world's true noise scale sigma_s and its discrepancy sd s_s(d_j) at the run
(:mod:`bayes_scaling.queries.design_outcome`: the same predictive the reweighting simulates),

    P' = (P^-1 + sum_j J_j^T J_j / (sigma_s^2 / i_z + s_s(d_j)^2 + r_j))^-1,

and the objective is scaled by g^T P' g / g^T P g (q = log N*(C) for ``n_star`` and, to second order
in the error of log N*, for ``wasted_compute``; the loss at the current decision for ``loss``); ``n_star_width``
is scaled by its square root (a Gaussian's interval width goes as its standard deviation). The
residual r_j counts as noise (statistical linearisation, e.g. Sarkka 2013, Bayesian Filtering and
Smoothing, sec. 5.3). Exact for a law linear in theta with Gaussian posterior and noise.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.queries.design_prior import family_information


class LaplaceUpdate:
    """Statistically linearised Gaussian preposterior of ``pre`` (a
    :class:`~bayes_scaling.queries.design.Preposterior` on one law's draws) for candidate runs
    (N parameters, D tokens)."""

    def __init__(self, pre, n_params, tokens, outcome=None):
        self.pre = pre
        p = {k: np.asarray(v, float).reshape(-1) for k, v in pre.draws.p.items()}
        self.keys = [k for k in p if np.ptp(p[k]) > 0]  # fixed (not sampled) parameters carry no uncertainty
        theta = np.stack([p[k] for k in self.keys], axis=1)
        self._centred = theta - theta.mean(axis=0)
        cov = np.atleast_2d(np.cov(theta.T))
        self.cov = cov
        self.prec = np.linalg.inv(cov + 1e-12 * np.trace(cov) * np.eye(len(cov)))
        y = pre.log_mean(n_params, tokens)  # (draws, candidates)
        self.jac, resid = self._regress(y)  # (candidates, params), (candidates,)
        info_z = family_information(pre.family)
        # the outcome's variance per draw and candidate (family scale^2): the noise's, plus the discrepancy's s(d)^2
        noise = (pre.sigma ** 2 / info_z)[:, None] if outcome is None else outcome.variance(info_z)
        self.info = 1.0 / (noise + resid[None, :])  # (draws, candidates)
        self._grads: dict[str, np.ndarray] = {}

    def _regress(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Slopes Cov(y, theta) P^-1 of each column of ``y`` (draws x k) on theta, and the residual variances."""
        yc = y - y.mean(axis=0)
        slope = (yc.T @ self._centred / (len(yc) - 1)) @ self.prec
        resid = yc - self._centred @ slope.T
        return slope, np.var(resid, axis=0, ddof=1)

    def grad(self, name: str) -> np.ndarray:
        """Statistical-linearisation gradient dq/dtheta (params,) for objective ``name``."""
        key = "loss" if name == "loss" else "n_star"
        if key not in self._grads:
            if key == "n_star":
                q = self.pre.log_nstar
            else:
                q = self.pre.loss_grid[:, int(np.argmin(self.pre.loss_grid.mean(axis=0)))]
            self._grads[key] = self._regress(q[:, None])[0][0]
        return self._grads[key]

    def fisher(self, j: int, truth: np.ndarray) -> np.ndarray:
        """Information about theta from candidate ``j``'s outcome in each world (worlds, params, params)."""
        jac = self.jac[j]
        return self.info[truth, j][:, None, None] * np.outer(jac, jac)[None]

    def ratio(self, extra: np.ndarray, truth: np.ndarray, name: str) -> np.ndarray:
        """Posterior over prior variance of q per world, given information ``extra`` (worlds, params, params)."""
        g = np.broadcast_to(self.grad(name), (len(truth), len(self.keys)))
        return gaussian_ratio(self.cov, self.prec, extra, g)


def gaussian_ratio(cov: np.ndarray, prec: np.ndarray, extra: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g^T (prec + extra)^-1 g / g^T cov g per row: the share of the variance of a linear quantity
    (gradient ``g``, rows x params) left after information ``extra`` (rows x params x params) about
    Gaussian parameters of covariance ``cov`` (precision ``prec``); clipped to [0, 1]."""
    post = np.linalg.solve(prec[None] + extra, g[..., None])[..., 0]
    prior = np.einsum("wp,pq,wq->w", g, cov, g)
    return np.clip(np.einsum("wp,wp->w", g, post) / np.maximum(prior, 1e-300), 0.0, 1.0)


def laplace_for(pre, n_params, tokens, outcome=None) -> LaplaceUpdate | None:
    """The Laplace fallback for ``pre``'s draws (``outcome``: the candidates' predictive,
    :class:`~bayes_scaling.queries.design_outcome.Outcome`; None: the family's noise alone), or None for an
    ensemble's mixture of laws."""
    if pre.draws.mixture:
        return None
    return LaplaceUpdate(pre, n_params, tokens, outcome)
