"""Stacking on the continuous ranked probability score (CRPS) instead of the log score (an option of
:func:`~bayes_scaling.inference.ensemble.fit_ensemble`, ``score="crps"``).

Yao et al. (2018, Bayesian Analysis 13(3), sec. 2.2) define stacking for any proper scoring rule. The
log score punishes a member whose interval is too narrow without bound, even where its median is
the best; the CRPS, in the units of the predicted quantity (here log-loss, so nats/token as a
relative error), grows only linearly with a miss. For a mixture sum_k w_k F_k the CRPS of an observed
y is  sum_k w_k E|X_k - y| - 1/2 sum_k sum_l w_k w_l E|X_k - X_l|  (Gneiting & Raftery 2007, eq. 21),
a convex quadratic in the weights over the simplex when the expectations are those of the empirical
draws (every pair of draws, a draw with itself included: :func:`crps_block`), minimised there. Unlike
the log-score weights, no Dirichlet prior is added: the CRPS is not a log-likelihood, so a log prior
has no common scale with it. The plain argmin puts weights at 0 or 1 from a handful of runs when the
members are near-identical (the objective is then nearly flat); :func:`crps_stacking_weights` averages
it over Bayesian-bootstrap reweightings of the runs instead, and the few-run fallback cut always stacks
on the log score.

A block of scores is one row per held-out run: the k terms E|X_k - y| then the k x k terms
E|X_k - X_l| (row-major), so blocks stack and subset by run like the log scores.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import seeded_rng
from bayes_scaling.posterior.intervals import thin_indices

#: Predictive draws per member the expectations use (:func:`~bayes_scaling.posterior.intervals.thin_indices`):
#: the pairwise terms sort them per run and member pair, and each expectation's Monte Carlo error is 1/30 of
#: the draws' spread at 1000.
CRPS_DRAWS = 1000


def crps_block(draws: list[np.ndarray], y, *, seed: int = 0) -> np.ndarray:
    """Per run (rows): E|X_k - y| for each member k, then E|X_k - X_l| for every pair (k, l), from
    ``draws`` (one array run x draws per member, of log-loss) and the observed log-losses ``y``."""
    rng = seeded_rng(seed)
    y = np.asarray(y, float)
    xs = []
    for d in draws:
        d = np.asarray(d, float)
        xs.append(d[:, thin_indices(d.shape[1], CRPS_DRAWS, rng)])
    k, n = len(xs), len(y)
    a = np.column_stack([np.abs(x - y[:, None]).mean(axis=1) for x in xs])
    b = np.empty((n, k, k))
    for i, xi in enumerate(xs):
        b[:, i, i] = _mean_abs_within(xi)
        for j in range(i + 1, k):
            b[:, i, j] = b[:, j, i] = _mean_abs_between(xi, xs[j])
    return np.hstack([a, b.reshape(n, k * k)])


def _mean_abs_within(x: np.ndarray) -> np.ndarray:
    """E|X - X'| per row over all n^2 pairs of draws, a draw with itself included (the plug-in value, so
    that the block's k x k terms are those of the empirical mixture: convex weights; O(n log n))."""
    s = np.sort(x, axis=1)
    n = s.shape[1]
    coef = 2.0 * np.arange(1, n + 1) - n - 1
    return 2.0 * (s @ coef) / (n * n)


def _mean_abs_between(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """E|X - Z| per row over all pairs of a draw of ``x`` and one of ``z`` (sorted ``z``, cumulative sums)."""
    zs = np.sort(z, axis=1)
    m = zs.shape[1]
    out = np.empty(len(x))
    for r, (xr, zr) in enumerate(zip(x, zs)):
        cs = np.r_[0.0, np.cumsum(zr)]
        idx = np.searchsorted(zr, xr)
        out[r] = np.sum(xr * idx - cs[idx] + (cs[-1] - cs[idx]) - xr * (m - idx)) / (len(xr) * m)
    return out


def member_crps(block: np.ndarray) -> np.ndarray:
    """Each member's own CRPS per run (run x members) from a :func:`crps_block`."""
    k = _members(block)
    b = block[:, k:].reshape(-1, k, k)
    return block[:, :k] - 0.5 * np.einsum("rkk->rk", b)


#: Bayesian-bootstrap replicates averaged by :func:`crps_stacking_weights` (0: the plain argmin).
CRPS_BOOT = 100


def crps_stacking_weights(block: np.ndarray, *, point_weights=None, n_boot: int = CRPS_BOOT,
                          seed: int = 0) -> np.ndarray:
    """Weights on the simplex minimising sum_i v_i CRPS_i(mixture) (v = ``point_weights``, default 1),
    averaged over ``n_boot`` Bayesian-bootstrap reweightings of the runs (Rubin 1981: v_i g_i, g ~ n
    Dirichlet(1, ..., 1)); equal weights when there are no runs. The CRPS has no prior to keep weights
    off 0 and 1 (module docstring): averaging over the runs' resampling does, by as much as the runs
    disagree, while many runs that agree still give the same corner in every replicate."""
    block = np.asarray(block, float)
    k = _members(block)
    if k == 1:
        return np.ones(1)
    n = len(block)
    if n == 0:
        return np.full(k, 1.0 / k)
    v = np.ones(n) if point_weights is None else np.asarray(point_weights, float)
    if n_boot <= 0:
        return _crps_argmin(block, v, k)
    g = seeded_rng(seed).dirichlet(np.ones(n), size=n_boot) * n
    return np.mean([_crps_argmin(block, v * gi, k) for gi in g], axis=0)


def _crps_argmin(block: np.ndarray, v: np.ndarray, k: int) -> np.ndarray:
    """The simplex weights minimising sum_i v_i CRPS_i(mixture): a convex quadratic (module docstring)."""
    from scipy.optimize import minimize

    a = v @ block[:, :k]
    b = (v @ block[:, k:]).reshape(k, k)
    scale = max(float(np.abs(a).max()), 1e-300)
    a, b = a / scale, b / scale

    def objective(w):
        return float(w @ a - 0.5 * w @ b @ w), a - b @ w

    best = min((minimize(objective, w0, jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                         constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},),
                         options={"ftol": 1e-12, "maxiter": 500})
                for w0 in (np.full(k, 1.0 / k), *np.eye(k) * 0.9 + 0.1 / k)), key=lambda r: r.fun)
    w = np.clip(best.x, 0.0, None)
    return w / w.sum()


def _members(block: np.ndarray) -> int:
    """The number of members k of a block with k + k^2 columns."""
    c = block.shape[1]
    k = int(round((-1 + np.sqrt(1 + 4 * c)) / 2))
    if k + k * k != c:
        raise ValueError(f"a CRPS block has k + k^2 columns; got {c}")
    return k
