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

This module is the one home of that calibration: :func:`misses_block` turns a predictive at held-out runs into
misses (a configuration's k held-out replicates, which share its offset from the law, weigh 1/k each), and :func:`discrepancy_from_blocks` turns one or more such blocks into the grid posterior, the draws and
the diagnostics every calibration records (:data:`INFO_KEYS`, per cut under ``"cuts"``). A single fit's
(:func:`calibrate`), an ensemble mixture's at one split and the cross-fitted ensemble calibration
(:mod:`~bayes_scaling.inference.ensemble_calibration`) all call them, so their records read the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from bayes_scaling.conventions import derived_seed, seeded_rng
from bayes_scaling.cost import stored_cost, training_cost, with_cost
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.inference.budgets import decades_cut, level_cut
from bayes_scaling.inference.model import replicate_shares
from bayes_scaling.posterior.intervals import interval_bounds, quantiles, thin_indices
from bayes_scaling.posterior.discrepancy import (GROUP, Discrepancy, decades_outside, extrapolation_box, scale_values,
                                                 split_axis)
from bayes_scaling.posterior.evaluator import noise_with_se as run_noise_scale
from bayes_scaling.result.noise import held_out_se
from bayes_scaling.result.refit import refit_settings
from bayes_scaling.specs.families import get_family, laplace_normal_logpdf

__all__ = ["GROUP", "Discrepancy", "split_axis", "decades_outside", "extrapolation_box", "scale_values", "laplace_normal_logpdf", "calibrate", "grid_posterior", "pooled_grid_posterior",
           "inner_split", "heldout_coverage", "heldout_covered", "Misses", "misses_block", "held_out_se", "noise_with_se", "discrepancy_from_blocks",
           "grid_median", "weighted_median", "INFO_KEYS"]

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
#: The info keys every calibration records (:func:`discrepancy_from_blocks`), whatever made it: a single fit's,
#: an ensemble's mixture at one split, or cross-fitted over several cuts.
INFO_KEYS = frozenset({"method", "prior", "inner_threshold", "inner_n_train", "inner_n_test", "inner_decades_beyond",
                       "inner_diagnostics_ok", "inner_r_hat_max", "inner_coverage_90_raw",
                       "inner_coverage_90_calibrated", "posterior_mass_at_grid_edge", "tau_median", "inner_mare",
                       "inner_median_signed_rel_error", "cuts"})


def inner_split(runs, law, inner_decades: float = 1.0, min_test: int = 3):
    """(train, test, threshold): hold out the runs within ``inner_decades`` of the largest on the
    split axis, moved to the nearest gap between budgets (:func:`~bayes_scaling.inference.budgets.decades_cut`),
    or, when that leaves too few on either side, the fallback the ensemble's cuts share
    (:func:`~bayes_scaling.inference.budgets.level_cut`): whole budgets, at least the largest quarter held out."""
    axis = split_axis(law)
    v = runs.frame[axis].to_numpy(float)
    n_min_train = max(6, 2 * (len(law.param_names) + 1))
    thr = decades_cut(v, inner_decades, min_below=n_min_train, min_above=min_test)
    if thr is None:
        thr = level_cut(v, lambda fitted: fitted.sum() >= n_min_train, 0.25, min_above=min_test)
    if thr is None:  # level_cut's threshold leaves n_min_train runs to fit and min_test to score
        raise BayesScalingError(
            f"too few runs to calibrate the extrapolation discrepancy: {len(v)} runs, but it needs {n_min_train} "
            f"to fit and {min_test} more to hold out; fit without the extrapolation calibration",
            quantity="calibrate_extrapolation")
    test = v > thr
    return runs.subset(~test), runs.subset(test), thr


def noise_with_se(sigma, se) -> np.ndarray:
    """The held-out runs' noise scale (run x draw, or 1 x draw without SEs): the fit's ``sigma`` (draw) and each
    run's own evaluation standard error ``se`` (run, on the family's scale, or None) added in quadrature
    (:func:`~bayes_scaling.posterior.evaluator.noise_with_se`, the one rule)."""
    return run_noise_scale(np.asarray(sigma, float)[None, :], None if se is None else np.asarray(se, float)[:, None])


def _mixture_logp(r: np.ndarray, sigma: np.ndarray, s_grid: np.ndarray, family) -> np.ndarray:
    """log predictive density of residuals ``r`` (run x draw) for each extra scale in ``s_grid``:
    (s, run) = log mean_draws f(r | noise, plus Normal(0, s)), the family's own convolution; ``sigma``
    (1 x draw or run x draw: :func:`noise_with_se`)."""
    from scipy.special import logsumexp

    out = np.empty((len(s_grid), r.shape[0]))
    for i, s in enumerate(s_grid):
        lp = family.logpdf_plus_normal(r, sigma, float(s))
        out[i] = logsumexp(lp, axis=1) - np.log(r.shape[1])
    return out


def grid_posterior(r, sigma, d, *, family: str = "student_t", nu: float = 4.0, prior_scale: float = PRIOR_SCALE,
                   tau_max: float = TAU_MAX, n_grid: int = GRID, weights=None, se=None):
    """Posterior of (tau0, tau1) on a uniform grid from held-out residuals ``r`` (run x draw, log-loss),
    the noise draws ``sigma`` (draw) and the runs' decades beyond the fitted data ``d`` (run);
    ``weights`` (run, default 1) temper each run's log-likelihood; ``se`` (run, family's scale, default none): each
    run's own evaluation standard error, added to ``sigma`` in quadrature (:func:`noise_with_se`).

    Returns (tau grid, posterior mass over (tau0, tau1))."""
    return pooled_grid_posterior([(r, sigma, d, weights, se)], family=family, nu=nu, prior_scale=prior_scale,
                                 tau_max=tau_max, n_grid=n_grid)


def pooled_grid_posterior(blocks, *, family: str = "student_t", nu: float = 4.0, prior_scale: float = PRIOR_SCALE,
                          tau_max: float = TAU_MAX, n_grid: int = GRID):
    """:func:`grid_posterior` from several held-out blocks (e.g. the cuts of a cross-fitted calibration),
    each ``(r, sigma, d, weights[, se])`` as there, its own fits' residuals and noise draws; the blocks'
    weighted log-likelihoods add (a power likelihood when a run is held out by several blocks and
    weighted 1 / their number). Returns (tau grid, posterior mass over (tau0, tau1))."""
    fam = get_family(family, nu)
    tau = np.linspace(0.0, tau_max, n_grid)
    s_max = np.sqrt(2.0) * tau_max * max(1.0, max(float(np.max(b[2])) for b in blocks))
    s_grid = np.linspace(0.0, s_max, _S_GRID)
    t0, t1 = np.meshgrid(tau, tau, indexing="ij")
    loglik = np.zeros_like(t0)
    for r, sigma, d, w, *se in blocks:
        d = np.asarray(d, float)
        w = np.ones(len(d)) if w is None else np.asarray(w, float)
        table = _mixture_logp(np.asarray(r, float), noise_with_se(sigma, se[0] if se else None), s_grid, fam)
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
              seed: int | None = None, cost_rule=None) -> Discrepancy:
    """Fit ``result``'s spec to its runs below the calibration split with ``fitter`` (the package's
    :func:`~bayes_scaling.inference.fit.fit`), score the predictions of the runs above it, and return
    the posterior draws of (tau0, tau1) aligned with ``result``'s draws (:func:`discrepancy_from_blocks`).
    ``cost_rule``: the data-made rule ``result``'s stored cost law came from (a function of runs, e.g. a backtest's
    cost fitted to recorded compute), applied to the inner training runs alone
    (:func:`~bayes_scaling.cost.training_cost`) so the held-out runs do not shape the inner fit's cost law, and a D
    that loading derived from recorded compute (a table of N and C) derived again with that law on both sides of the
    split (:func:`~bayes_scaling.cost.with_cost`); default None: the stored law (the held-out runs' C and d are measured with it either way)."""

    spec, runs, law = result.spec, result.runs, result.law
    cfg = result.sampler_config
    seed = derived_seed(cfg.get("seed", 0), 1) if seed is None else int(seed)
    train, test, thr = inner_split(runs, law, inner_decades)
    settings = refit_settings(result)  # its cost law, run noise, hierarchy
    if cost_rule is not None:  # a D derived from recorded compute, derived again with it on both sides (as a backtest's)
        settings["cost"] = training_cost(cost_rule, train)
        train, test = with_cost(train, settings["cost"]), with_cost(test, settings["cost"])
    inner = fitter(train, spec=spec, draws=draws or min(int(cfg.get("draws", 1000)), 1000),
                tune=tune or _inner_tune(cfg), chains=int(cfg.get("chains", 4)), seed=seed, progress=False,
                target_accept=cfg.get("target_accept"), **settings)
    mu = inner.evaluator.log_mean_at_runs(test, seed=seed)  # chain, draw, run; unseen groups as a new group
    rng = seeded_rng(seed)
    cost = stored_cost(result)  # C of held-out and fitted runs in a query's currency (scale_values)
    block = misses_block(mu.values.reshape(-1, mu.shape[-1]).T, inner.posterior["sigma"].stack(s=("chain", "draw")).values,
                         train, test, law, cost, rng, threshold=thr, fits=[inner])
    info = {"method": "leave-future-out grid posterior", "inner_seed": seed}
    box = extrapolation_box(law, runs.frame, cost)  # the split axis's end too: C in a query's currency
    return discrepancy_from_blocks([block], spec.likelihood, [result.posterior], rng, info, law=law, box=box)[0]


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


def heldout_covered(r, sigma, d, t0, t1, likelihood, rng, *, log_y, se=None) -> np.ndarray:
    """Per held-out run, whether it lies inside the :data:`COVERAGE_PROB` (90%) predictive interval: a new run's
    log-loss drawn around the law mu = ``log_y`` - ``r`` (``r``: residuals, run x draw; ``log_y``: the runs'
    observed log-loss) with the family's noise (:meth:`~bayes_scaling.specs.families.Family.add_noise`, on its
    own scale, its scale ``sigma`` with the run's evaluation SE ``se`` added: :func:`noise_with_se`) and the
    discrepancy Normal(0, s(d)) added on log-loss, as the evaluator draws it; y lies inside iff 0 lies inside the
    interval of that draw minus y."""
    shape = r.shape
    log_y = np.asarray(log_y, float)[:, None]
    noise = likelihood.dist.draws(rng, shape)
    s = np.sqrt(t0 ** 2 + (t1 * np.asarray(d, float)) ** 2)[:, None]
    sim = likelihood.dist.add_noise(np, log_y - r, noise_with_se(sigma, se), noise) + s * rng.standard_normal(shape) - log_y
    lo, hi = quantiles(sim, interval_bounds(COVERAGE_PROB))
    return (lo <= 0) & (0 <= hi)


def heldout_coverage(r, sigma, d, t0, t1, likelihood, rng, *, log_y, se=None) -> float:
    """Share of held-out runs inside the 90% predictive interval (:func:`heldout_covered`)."""
    return float(np.mean(heldout_covered(r, sigma, d, t0, t1, likelihood, rng, log_y=log_y, se=se)))


@dataclass
class Misses:
    """One calibration split's held-out misses (:func:`misses_block`): ``r`` (run x draw, log-loss: observed
    minus the law's draws, thinned to :data:`CALIBRATION_DRAWS`), ``sigma`` (draw: the noise scale), ``d`` (run:
    decades beyond the fitted runs), ``weights`` (run: its share of the pooled likelihood), ``log_y`` (run:
    observed log-loss), ``rel`` (run: relative error of the law's median over every draw); the split's
    ``threshold`` (split axis) and ``n_train``; its inner fits' ``fits_ok`` and ``r_hat_max``; ``label`` (decades
    below the largest run) and ``extra`` (recorded with the cut); ``se`` (run: each run's evaluation standard error
    on the family's scale where the fits fitted their noise apart from it, else None: :func:`held_out_se`);
    ``shares`` (run: 1/k for one of k replicates, :func:`~bayes_scaling.inference.model.replicate_shares`; their sum
    is the number of configurations held out), by which the cut's own diagnostics weigh its runs."""

    r: np.ndarray
    sigma: np.ndarray
    d: np.ndarray
    weights: np.ndarray
    log_y: np.ndarray
    rel: np.ndarray
    threshold: float
    n_train: int
    fits_ok: bool
    r_hat_max: float
    label: str
    extra: dict = field(default_factory=dict)
    se: np.ndarray | None = None
    shares: np.ndarray | None = None

    @property
    def block(self) -> tuple:
        """``(r, sigma, d, weights, se)``, as :func:`pooled_grid_posterior` reads a block."""
        return self.r, self.sigma, self.d, self.weights, self.se


def misses_block(mu, sigma, train, test, law, cost, rng, *, threshold: float, fits, weights=None,
                 label: str | None = None, extra: dict | None = None) -> Misses:
    """The :class:`Misses` of one split: ``mu`` (run x draw: the law's log-mean at the held-out runs ``test``,
    from fits to ``train``), ``sigma`` (draw, aligned with ``mu``'s), ``cost`` the fit's stored cost law (C in a
    query's currency, :func:`scale_values`); ``rng`` thins the draws; ``fits``: the inner fits (diagnostics);
    ``weights`` (run, default 1), times 1/k for a run of a configuration with k replicates among ``test`` (same N,
    D and group: :func:`~bayes_scaling.inference.model.configurations`), so a configuration's replicates, which
    share its offset from the law, count as one miss; ``label``: the cut's name in ``info["cuts"]`` (default: its
    decades below the largest run, to 2 decimals)."""
    h = getattr(fits[0], "hierarchy", None) if fits else None
    shares = replicate_shares([f.law for f in fits] if fits else law, test, None if h is None else h["group_col"])
    weights = (1.0 if weights is None else np.asarray(weights, float)) * shares
    mu, sigma = np.asarray(mu, float), np.asarray(sigma, float)
    keep = thin_indices(mu.shape[1], CALIBRATION_DRAWS, rng)
    y = np.log(test.frame["loss"].to_numpy(float))
    d = decades_outside(scale_values(law, test.frame, cost), extrapolation_box(law, train.frame, cost))
    v = test.frame[split_axis(law)].to_numpy(float)
    diags = [f.diagnostics for f in fits]
    return Misses(y[:, None] - mu[:, keep], sigma[keep], d, weights, y, np.expm1(np.median(mu, axis=1) - y), float(threshold), len(train),
                  all(bool(g.ok) for g in diags), max(float(g.r_hat_max) for g in diags),
                  label or f"{round(float(np.log10(v.max() / threshold)), 2):g}", dict(extra or {}),
                  held_out_se(fits, test), shares)


def weighted_median(x, w=None) -> float:
    """Median of ``x`` with weights ``w`` (default equal: ``np.median``'s value, the two middle values averaged
    when half the weight lies at or below one)."""
    x = np.asarray(x, float)
    w = np.ones(len(x)) if w is None else np.asarray(w, float)
    order = np.argsort(x, kind="stable")
    x, w = x[order][w[order] > 0], w[order][w[order] > 0]
    cw = np.cumsum(w) / w.sum()
    i = int(np.searchsorted(cw, 0.5 - 1e-12))
    return float(0.5 * (x[i] + x[i + 1])) if np.isclose(cw[i], 0.5) and i + 1 < len(x) else float(x[i])


def grid_median(tau, mass) -> list[float]:
    """[tau0, tau1] posterior medians of the grid posterior (:func:`pooled_grid_posterior`): each marginal's,
    with the mass spread uniformly over its cell as :func:`draws_from_grid` jitters it (the first cell, at 0,
    folded onto [0, step / 2])."""
    step, out = tau[1] - tau[0], []
    for m in (mass.sum(axis=1), mass.sum(axis=0)):
        cum = np.cumsum(m)
        i = min(int(np.searchsorted(cum, 0.5)), len(m) - 1)
        lo, hi = max(tau[i] - step / 2, 0.0), tau[i] + step / 2
        out.append(float(lo + (0.5 - (cum[i] - m[i])) / m[i] * (hi - lo)))
    return out


def discrepancy_from_blocks(blocks: list[Misses], likelihood, posteriors, rng, info: dict, *, law, box: dict
                            ) -> list[Discrepancy]:
    """The one calibration of the extrapolation discrepancy from held-out ``blocks`` (:func:`misses_block`; one
    for a single split, one per cut when cross-fitted): the grid posterior of (tau0, tau1) from every block's
    weighted misses (:func:`pooled_grid_posterior`), a :class:`Discrepancy` per posterior in ``posteriors`` with
    draws aligned to its (chain, draw) (``rng``, then the diagnostics), and ``info`` (the caller's method) with
    the diagnostics every calibration records (:data:`INFO_KEYS`; pooled ones weight each run by its block
    weight, so a run held out by several nested cuts counts once; a cut's own weigh a replicate 1/k and record
    ``n_test_configurations`` beside the rows ``n_test``); ``box``: the full fit's extrapolation box."""
    tau, mass = pooled_grid_posterior([b.block for b in blocks], family=likelihood.family, nu=float(likelihood.nu))
    taus = [draws_from_grid(tau, mass, p, rng) for p in posteriors]
    med = grid_median(tau, mass)
    covered = {label: [heldout_covered(b.r, b.sigma, b.d, *t, likelihood, rng, log_y=b.log_y, se=b.se) for b in blocks]
               for label, t in (("raw", (0.0, 0.0)), ("calibrated", med))}
    w = np.concatenate([b.weights for b in blocks])
    sh = [np.ones(len(b.d)) if b.shares is None else b.shares for b in blocks]  # a cut's own: 1/k per replicate
    rel = np.concatenate([b.rel for b in blocks])
    pooled = {k: float(w @ np.concatenate(c) / w.sum()) for k, c in covered.items()}
    m0, m1 = mass.sum(axis=1), mass.sum(axis=0)
    deepest = min(blocks, key=lambda b: b.n_train)  # nested cuts: its held-out runs include every other cut's
    info = {**info, "prior": f"HalfNormal({PRIOR_SCALE}) on tau0 and tau1", "inner_threshold": deepest.threshold,
            "inner_n_train": deepest.n_train, "inner_n_test": len(deepest.d),
            "inner_decades_beyond": max(float(b.d.max()) for b in blocks),
            "inner_diagnostics_ok": all(b.fits_ok for b in blocks),
            "inner_r_hat_max": max(b.r_hat_max for b in blocks),
            "inner_coverage_90_raw": pooled["raw"], "inner_coverage_90_calibrated": pooled["calibrated"],
            "posterior_mass_at_grid_edge": float(m0[-5:].sum() + m1[-5:].sum()), "tau_median": med,
            # How far the smaller runs' law missed the larger ones (median of |relative error| and its sign).
            "inner_mare": weighted_median(np.abs(rel), w), "inner_median_signed_rel_error": weighted_median(rel, w),
            "cuts": {b.label: {"threshold": b.threshold, "n_train": b.n_train, "n_test": len(b.d),
                               "n_test_configurations": int(round(float(sh[j].sum()))),
                               "decades_beyond_max": float(b.d.max()),
                               "coverage_90_raw": float(sh[j] @ covered["raw"][j] / sh[j].sum()),
                               "coverage_90_calibrated": float(sh[j] @ covered["calibrated"][j] / sh[j].sum()),
                               "mare": weighted_median(np.abs(b.rel), sh[j]), **b.extra} for j, b in enumerate(blocks)}}
    axis = split_axis(law)
    return [Discrepancy(t0, t1, axis, box[axis], info, box=box) for t0, t1 in taus]
