"""Extrapolation discrepancy, calibrated by leave-future-out on the fit's own runs.

A law fitted to small runs misses large ones by more than the run-to-run noise it was fitted with:
the law is an approximation, and the gap (model discrepancy, Kennedy & O'Hagan 2001) grows as
predictions move beyond the data. The runs a law was fitted to cannot measure that gap, so it is
measured the way it is used (leave-future-out, Bürkner, Gabry & Vehtari 2020): the runs are split
one decade below their largest scale (at the nearest gap between compute budgets), the same spec is
fitted to the smaller ones, and the held-out larger runs show how far its predictions miss.

Model: a new run's log-loss = law + noise + delta, delta ~ Normal(0, s(d)),
s(d) = sqrt(tau0^2 + (tau1 * d)^2), d = decades beyond the fitted runs: the largest of log10(value /
largest fitted value) over N, D and C for laws of N and D (a model larger than any fitted one is an
extrapolation in N even at a compute inside the data), over the law's input otherwise; 0 inside the data.
The split itself is along C (or the law's input). tau0 (log-loss) and tau1
(log-loss per decade) have HalfNormal(0.05) priors; their posterior is computed on a grid from the
held-out runs' predictive densities: the noise convolved with Normal(0, s), exactly (a Normal's variance
adds; Laplace-Normal in closed form; Student-t-Normal by quadrature over the t's Normal scale mixture,
:func:`~bayes_scaling.specs.families.student_t_normal_logpdf`). Draws of (tau0, tau1) are stored with
the fit and widen ``loss_predictive`` only, never
the law's own ``loss``. The calibration also records how far the smaller runs' law missed the larger
ones (``inner_mare``: median |relative error| of the law's median; ``inner_median_signed_rel_error``).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.conventions import derived_seed, seeded_rng
from bayes_scaling.cost import stored_cost
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.inference.budgets import decades_cut, sides_hold, snap_to_budgets
from bayes_scaling.posterior.intervals import interval_bounds, quantiles, thin_indices
from bayes_scaling.posterior.discrepancy import (GROUP, Discrepancy, decades_outside, extrapolation_box, scale_values,
                                                 split_axis)
from bayes_scaling.specs.families import get_family, laplace_normal_logpdf

__all__ = ["GROUP", "Discrepancy", "split_axis", "decades_outside", "extrapolation_box", "scale_values", "laplace_normal_logpdf", "calibrate", "grid_posterior", "pooled_grid_posterior",
           "inner_split", "heldout_coverage"]

PRIOR_SCALE = 0.05
TAU_MAX = 0.3
GRID = 121
_S_GRID = 240
#: Posterior draws the calibration scores (:func:`~bayes_scaling.posterior.intervals.thin_indices`): the grid
#: posterior's cost is linear in them (12 held-out runs: 0.9 s at 400 draws, 3.5 s at 4000, 2026-12-07, 2-core
#: VM), and a run's predictive density, a mean over draws, has a Monte Carlo error of 1/20 of the draws' own
#: spread at 400. The ensembles' calibrations score their mixtures with the same number.
CALIBRATION_DRAWS = 400
#: The probability of the held-out predictive interval whose coverage the calibration reports (the
#: ``inner_coverage_90_*`` keys): 90% by definition of that check, not the user's ``ci_prob``.
COVERAGE_PROB = 0.9


def inner_split(runs, law, inner_decades: float = 1.0, min_test: int = 3):
    """(train, test, threshold): hold out the runs within ``inner_decades`` of the largest on the
    split axis, or the largest quarter when that leaves too few on either side; either threshold moves
    to the nearest gap between budgets (:func:`~bayes_scaling.inference.budgets.snap_to_budgets`)."""
    axis = split_axis(law)
    v = runs.frame[axis].to_numpy(float)
    n_min_train = max(6, 2 * (len(law.param_names) + 1))
    thr = decades_cut(v, inner_decades, min_below=n_min_train, min_above=min_test)
    if thr is None:
        k = max(min_test, int(np.ceil(0.25 * len(v))))
        thr = float(np.sort(v)[-k - 1]) if k < len(v) else float(v.min())
        thr = snap_to_budgets(v, thr, min_below=n_min_train, min_above=min_test)
    test = v > thr
    if not sides_hold(v, thr, min_below=n_min_train, min_above=min_test):
        raise BayesScalingError(
            f"too few runs to calibrate the extrapolation discrepancy: {len(v)} runs, but it needs {n_min_train} "
            f"to fit and {min_test} more to hold out; fit without the extrapolation calibration",
            quantity="calibrate_extrapolation")
    return runs.subset(~test), runs.subset(test), thr


def _mixture_logp(r: np.ndarray, sigma: np.ndarray, s_grid: np.ndarray, family) -> np.ndarray:
    """log predictive density of residuals ``r`` (run x draw) for each extra scale in ``s_grid``:
    (s, run) = log mean_draws f(r | noise, plus Normal(0, s)), the family's own convolution."""
    from scipy.special import logsumexp

    out = np.empty((len(s_grid), r.shape[0]))
    for i, s in enumerate(s_grid):
        lp = family.logpdf_plus_normal(r, sigma[None, :], float(s))
        out[i] = logsumexp(lp, axis=1) - np.log(r.shape[1])
    return out


def grid_posterior(r, sigma, d, *, family: str = "student_t", nu: float = 4.0, prior_scale: float = PRIOR_SCALE,
                   tau_max: float = TAU_MAX, n_grid: int = GRID, weights=None):
    """Posterior of (tau0, tau1) on a uniform grid from held-out residuals ``r`` (run x draw, log-loss),
    the noise draws ``sigma`` (draw) and the runs' decades beyond the fitted data ``d`` (run);
    ``weights`` (run, default 1) temper each run's log-likelihood.

    Returns (tau grid, posterior mass over (tau0, tau1))."""
    return pooled_grid_posterior([(r, sigma, d, weights)], family=family, nu=nu, prior_scale=prior_scale,
                                 tau_max=tau_max, n_grid=n_grid)


def pooled_grid_posterior(blocks, *, family: str = "student_t", nu: float = 4.0, prior_scale: float = PRIOR_SCALE,
                          tau_max: float = TAU_MAX, n_grid: int = GRID):
    """:func:`grid_posterior` from several held-out blocks (e.g. the cuts of a cross-fitted calibration),
    each ``(r, sigma, d, weights)`` as there, its own fits' residuals and noise draws; the blocks'
    weighted log-likelihoods add (a power likelihood when a run is held out by several blocks and
    weighted 1 / their number). Returns (tau grid, posterior mass over (tau0, tau1))."""
    fam = get_family(family, nu)
    tau = np.linspace(0.0, tau_max, n_grid)
    s_max = np.sqrt(2.0) * tau_max * max(1.0, max(float(np.max(b[2])) for b in blocks))
    s_grid = np.linspace(0.0, s_max, _S_GRID)
    t0, t1 = np.meshgrid(tau, tau, indexing="ij")
    loglik = np.zeros_like(t0)
    for r, sigma, d, w in blocks:
        d = np.asarray(d, float)
        w = np.ones(len(d)) if w is None else np.asarray(w, float)
        table = _mixture_logp(np.asarray(r, float), np.asarray(sigma, float), s_grid, fam)  # (s, run)
        s = np.sqrt(t0[..., None] ** 2 + (t1[..., None] * d) ** 2)  # (tau0, tau1, run)
        pos = s / s_grid[-1] * (len(s_grid) - 1)
        lo = np.clip(np.floor(pos).astype(int), 0, len(s_grid) - 2)
        frac = pos - lo
        runs_idx = np.arange(len(d))
        loglik += (((1 - frac) * table[lo, runs_idx] + frac * table[lo + 1, runs_idx]) * w).sum(axis=-1)
    logprior = -0.5 * (t0 ** 2 + t1 ** 2) / prior_scale ** 2
    lp = loglik + logprior
    mass = np.exp(lp - lp.max())
    return tau, mass / mass.sum()


def _inner_tune(cfg: dict) -> int | None:
    """Tuning steps of the inner fit: the outer fit's (at most 1000), or None (the fit's own default)
    when the outer fit was a big table's whitened one, whose short warmup need not suit the split."""
    pilot = cfg.get("big_table_pilot")
    if isinstance(pilot, dict) and pilot.get("ok"):
        return None
    return min(int(cfg.get("tune", 1000)), 1000)


def calibrate(result, fitter, *, inner_decades: float = 1.0, draws: int | None = None, tune: int | None = None,
              seed: int | None = None) -> Discrepancy:
    """Fit ``result``'s spec to its runs below the calibration split with ``fitter`` (the package's
    :func:`~bayes_scaling.inference.fit.fit`), score the predictions of the runs above it, and return
    the posterior draws of (tau0, tau1) aligned with ``result``'s draws."""

    spec, runs, law = result.spec, result.runs, result.law
    cfg = result.sampler_config
    seed = derived_seed(cfg.get("seed", 0), 1) if seed is None else int(seed)
    train, test, thr = inner_split(runs, law, inner_decades)
    h = result.hierarchy
    inner = fitter(train, spec=spec, draws=draws or min(int(cfg.get("draws", 1000)), 1000),
                tune=tune or _inner_tune(cfg), chains=int(cfg.get("chains", 4)), seed=seed,
                progress=False, group_col=None if h is None else h["group_col"],
                target_accept=cfg.get("target_accept"), vary=None if h is None else tuple(h["vary"]))
    mu = inner.evaluator.log_mean_at_runs(test, seed=seed)  # chain, draw, run; unseen groups as a new group
    rng = seeded_rng(seed)
    flat_mu = mu.values.reshape(-1, mu.shape[-1]).T
    flat_sigma = inner.posterior["sigma"].stack(s=("chain", "draw")).values
    keep = thin_indices(flat_mu.shape[1], CALIBRATION_DRAWS, rng)
    y = np.log(test.frame["loss"].to_numpy(float))
    r = y[:, None] - flat_mu[:, keep]
    axis = split_axis(law)
    cost = stored_cost(result)  # C of held-out and fitted runs in a query's currency (scale_values)
    d = decades_outside(scale_values(law, test.frame, cost), extrapolation_box(law, train.frame, cost))
    rel = np.expm1(np.median(flat_mu, axis=1) - y)  # law median vs loss, relative
    lik = spec.likelihood
    tau, mass = grid_posterior(r, flat_sigma[keep], d, family=lik.family, nu=float(lik.nu))
    t0, t1 = draws_from_grid(tau, mass, result.posterior, rng)
    m0, m1 = (mass.sum(axis=1), mass.sum(axis=0))
    edge = float(m0[-5:].sum() + m1[-5:].sum())
    info = {
        "method": "leave-future-out grid posterior",
        "inner_threshold": thr, "inner_n_train": len(train), "inner_n_test": len(test),
        "inner_decades_beyond": float(d.max()), "prior": f"HalfNormal({PRIOR_SCALE}) on tau0 and tau1",
        "inner_diagnostics_ok": bool(inner.diagnostics.ok), "inner_r_hat_max": float(inner.diagnostics.r_hat_max),
        "inner_seed": seed,
        "inner_coverage_90_raw": heldout_coverage(r, flat_sigma[keep], np.zeros_like(d), 0.0, 0.0, lik, rng,
                                                  log_y=y),
        "inner_coverage_90_calibrated": heldout_coverage(r, flat_sigma[keep], d, float(t0.median()), float(t1.median()),
                                                  lik, rng, log_y=y),
        "posterior_mass_at_grid_edge": edge,
        # How far the smaller runs' law missed the larger ones (median of |relative error| and its sign).
        "inner_mare": float(np.median(np.abs(rel))), "inner_median_signed_rel_error": float(np.median(rel)),
    }
    box = extrapolation_box(law, runs.frame, cost)  # the split axis's end too: C in a query's currency
    return Discrepancy(t0, t1, axis, box[axis], info, box=box)


def draws_from_grid(tau: np.ndarray, mass: np.ndarray, posterior: xr.Dataset, rng: np.random.Generator):
    """(tau0, tau1) draws aligned with ``posterior``'s (chain, draw): grid cells picked by their
    posterior ``mass`` (from :func:`grid_posterior`), jittered uniformly within the cell."""
    dims = ("chain", "draw")
    shape = (posterior.sizes["chain"], posterior.sizes["draw"])
    pick = rng.choice(mass.size, size=int(np.prod(shape)), p=mass.ravel())
    i0, i1 = np.unravel_index(pick, mass.shape)
    step = tau[1] - tau[0]
    jitter = rng.uniform(-0.5, 0.5, size=(2, pick.size)) * step
    coords = {k: posterior[k].values for k in dims}
    return tuple(xr.DataArray(np.abs(tau[i] + j).reshape(shape), dims=dims, coords=coords)
                 for i, j in ((i0, jitter[0]), (i1, jitter[1])))


def heldout_coverage(r, sigma, d, t0, t1, likelihood, rng, *, log_y) -> float:
    """Share of held-out runs inside the :data:`COVERAGE_PROB` (90%) predictive interval: a new run's
    log-loss drawn around the law mu = ``log_y`` - ``r`` (``r``: residuals, run x draw; ``log_y``: the runs'
    observed log-loss) with the family's noise (:meth:`~bayes_scaling.specs.families.Family.add_noise`, on its
    own scale) and the discrepancy Normal(0, s(d)) added on log-loss, as the evaluator draws it; y lies
    inside iff 0 lies inside the interval of that draw minus y."""
    shape = r.shape
    log_y = np.asarray(log_y, float)[:, None]
    noise = likelihood.dist.draws(rng, shape)
    s = np.sqrt(t0 ** 2 + (t1 * d) ** 2)[:, None]
    sim = likelihood.dist.add_noise(np, log_y - r, sigma[None, :], noise) + s * rng.standard_normal(shape) - log_y
    lo, hi = quantiles(sim, interval_bounds(COVERAGE_PROB))
    return float(np.mean((lo <= 0) & (0 <= hi)))
