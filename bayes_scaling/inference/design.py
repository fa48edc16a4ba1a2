"""The sampling side of run design: real warm refits with simulated new runs (the fallback of the
importance reweighting in :mod:`bayes_scaling.queries.design` when its weights collapse) and draws
from a spec's priors (the prior predictive of a project with no runs yet)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Callable

import numpy as np
import pandas as pd

from bayes_scaling.conventions import MAX_MONTE_CARLO, check_count, check_seed, derived_seed, is_ensemble, seeded_rng
from bayes_scaling.cost import ladder_cost, stored_cost
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.inference.checks import check_sampler_counts
from bayes_scaling.result import require_fit
from bayes_scaling.specs.spec import LawSpec, load_spec


#: Offset of the stream that draws the refits' simulated worlds (:func:`refit_expected`; a prime, apart from
#: the refit fits' own ``101 * i``): design's reweighting draws its worlds from ``seed`` itself, so refits
#: with the same seed score worlds drawn apart from those that chose the batch.
REFIT_WORLD_OFFSET = 7919


def check_design_family(result) -> None:
    """Design adds a new run's discrepancy (and residual process) on the family's scale, ``predict`` on the log
    scale: the two agree for every family whose scale is the log (normal, Student-t, Laplace), not for
    ``logit_normal``. A logit-normal fit (a member of an ensemble too) with a discrepancy is refused in one line."""
    for m in getattr(result, "members", {"": result}).values():
        if m.evaluator.family.name == "logit_normal" and m.discrepancy is not None:
            raise BayesScalingError("design on a logit_normal fit with an extrapolation discrepancy is refused: it "
                                    "would add the discrepancy on the logit scale, predict adds it on the log scale; "
                                    "refit without --calibrate-extrapolation and --residual-process, or with another "
                                    "--likelihood", quantity="likelihood")


#: Why a design on a fit with an extrapolation discrepancy (or residual process) runs no refits (:func:`no_refit_reason`).
NO_REFIT_DISCREPANCY = ("no refits: refits would drop the extrapolation discrepancy the outcomes were simulated with "
                        "(a refit's likelihood has neither it nor the residual process), so the design reweights only")


def no_refit_reason(result) -> str | None:
    """Why real refits cannot score a design on the single fit ``result`` (None: they can; an ensemble, never refit,
    has its own reason: :func:`refit_expected`, ``collapse_note``). A fit carrying an extrapolation
    discrepancy (and residual process): its simulated outcomes carry them (:func:`with_simulated_runs`, as ``predict``
    draws a new run), while a refit's likelihood (:func:`~bayes_scaling.inference.refit.refit`) has neither, so it
    takes the discrepancy's scatter as evidence about the law (the review's repro: var log N* after one run a decade
    beyond the ladder 0.28 by refits against 0.17 before it); the importance reweighting weighs each outcome by
    the same predictive that drew it."""
    return NO_REFIT_DISCREPANCY if not is_ensemble(result) and result.discrepancy is not None else None


def with_simulated_runs(result, n_params, tokens, *, rng: np.random.Generator, draw: int | None = None,
                        candidate_se: float | None = None):
    """The fit's runs table plus runs at (N parameters, D tokens) whose losses (nats/token) are drawn
    from one posterior draw (``draw``, flattened index; random when None) as ``predict`` draws a new run:
    the family's noise and, where the fit carries one, the extrapolation discrepancy (and the residual
    process: its shift, its white noise and its conditional variance beyond the data; each run on its own,
    :mod:`bayes_scaling.queries.design_outcome`). A fit with run noise and SEs leaves evaluation noise out of its
    sigma: there each new run also carries an evaluation SE, ``candidate_se`` x its loss (SE/loss, default the
    median of the recorded runs: :func:`~bayes_scaling.result.noise.new_run_relative_se`), added to its noise in
    quadrature at the law's value as ``predict(se=)`` adds it, and recorded in its ``SE`` column, so a refit weighs it
    so. Other runs tables with an ``SE`` column get 0 (such fits ignore it). A group column the table declares takes
    its one label (so a new run at a recorded (N, D) is a replicate there), else the new runs' own label."""
    from bayes_scaling.result.noise import new_run_relative_se

    check_design_family(result)
    rel = new_run_relative_se(result, candidate_se)[0]
    ev = result.evaluator
    n, d = np.atleast_1d(np.asarray(n_params, float)), np.atleast_1d(np.asarray(tokens, float))
    mu = ev.log_mean_runs({"N": np.log(n), "D": np.log(d)}).values.reshape(-1, len(n))
    sigma = ev.sigma.transpose("chain", "draw").values.reshape(-1)
    s = int(rng.integers(len(sigma))) if draw is None else int(draw)
    noise = ev.family.draws(rng, len(n))
    disc = ev.discrepancy
    value = np.exp(mu[s])  # the SE in the response's units at the law's value, on the family's scale (delta method)
    se = (rel or 0.0) * value * np.abs(ev.family.location_slope(value))
    add_se = (lambda sc: np.sqrt(sc ** 2 + se ** 2)) if rel else (lambda sc: sc)
    if disc is None:
        y = ev.family.add_noise(np, mu[s], add_se(sigma[s]), noise)
    else:  # the draw's predictive at the new runs, on the family's scale
        from bayes_scaling.posterior.inputs import query_inputs

        values = query_inputs(ev.law, N=n, D=d, cost=ev.cost)["values"]
        scale = np.full(len(n), sigma[s])
        if disc.residual is not None:
            scale = (ev.sigma * disc.noise_factor(ev.sigma, values, ev.family.sd_per_scale)).values.reshape(-1, len(n))[s]
        sd = disc.scale(values).values.reshape(-1, len(n))[s]
        loc = ev.family.location(np, mu[s]) + disc.shift(values).values + add_se(scale) * noise + sd * rng.standard_normal(len(n))
        y = ev.family.from_location(np, loc)
    # a new run's C as the table's: the cost law's, or the nominal 6ND budget where the table's C was derived
    cost = ladder_cost(result.runs, stored_cost(result))
    new = pd.DataFrame({"N": n, "D": d, "C": cost.flops(n, d), "loss": np.exp(y)})
    if "SE" in result.runs.frame:
        new["SE"] = (rel or 0.0) * new["loss"]
    for g in result.runs.columns.groups:  # a declared group: the table's one label, else a label of the new runs' own
        labels = result.runs.frame[g].dropna().unique()
        new[g] = labels[0] if len(labels) == 1 else "simulated run"
    frame = pd.concat([result.runs.frame, new], ignore_index=True).rename_axis("run")
    return replace(result.runs, frame=frame)


def refit_expected(result, n_params, tokens, score: Callable, *, sims: int = 6, seed: int = 0, draws: int = 300,
                   tune: int = 300, chains: int = 2, candidate_se: float | None = None) -> dict:
    """Expected ``score(fit)`` after adding runs (N, D) by real warm refits: per simulated world a
    posterior draw is the truth, the new runs' losses are drawn from its predictive (:func:`with_simulated_runs`)
    and the fit is redone as every refit is (:func:`~bayes_scaling.inference.refit.refit`: its spec, cost law, run
    noise; ``candidate_se``: the new runs' evaluation SE/loss, :func:`with_simulated_runs`). A fit with an
    extrapolation discrepancy is refused (:func:`no_refit_reason`: a refit's likelihood would lack what simulated its
    data); a refit's score (the objective at the target,
    :func:`~bayes_scaling.queries.design.posterior_objective`) reads the law's draws alone. The worlds
    come from the stream ``derived_seed(seed, REFIT_WORLD_OFFSET)``, apart from those design's reweighting
    drew from ``seed``. The compiled model is reused: a 2 x (300 + 300) refit that passes at its first
    attempt took 0.1 s, one whose diagnostics failed and that :func:`~bayes_scaling.inference.fit.fit`
    retried at 1000 + 1000 (then 2000 + 2000) up to 0.5 s (2026-12-07, 2-core VM, chinchilla law, the
    bundled ladder and 5 of its runs). Returns the mean, the per-world scores and the seconds."""
    import time

    from bayes_scaling.inference.refit import refit

    if is_ensemble(result):
        raise BayesScalingError("refits need a single fit, not an ensemble (reweighting only)", quantity="result")
    require_fit(result, ensemble=False)
    if no_refit_reason(result):
        raise BayesScalingError(f"refits need a fit without an extrapolation discrepancy: {no_refit_reason(result)}",
                                quantity="result")
    sims = check_count("sims", sims, 1, MAX_MONTE_CARLO)
    check_sampler_counts(draws, tune, chains)
    rng = seeded_rng(derived_seed(seed, REFIT_WORLD_OFFSET))
    scores, t0 = [], time.perf_counter()
    for i in range(sims):
        runs = with_simulated_runs(result, n_params, tokens, rng=rng, candidate_se=candidate_se)
        new = refit(result, runs, draws=draws, tune=tune, chains=chains, seed=derived_seed(seed, 101 * i))
        scores.append(float(score(new)))
    return {"mean": float(np.mean(scores)), "scores": scores, "seconds": time.perf_counter() - t0}


def prior_draws(spec, n: int = 400, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draws of the law's parameters (in the law function's convention: ``log_<name>`` for positive
    constants, exponents as they are) and of the noise scale sigma from a spec's priors (PyMC)."""
    import pymc as pm

    n = check_count("n", n, 1, MAX_MONTE_CARLO)
    check_seed(seed)
    if not isinstance(spec, LawSpec):  # a shipped name or a path
        spec = load_spec(spec)
    law = spec.law
    rel = [k for k, p in spec.priors.items() if p.relative_to]
    if rel:
        raise BayesScalingError(f"priors of {rel} are relative to the data; a new project has no runs yet")
    with warnings.catch_warnings():  # numba runs a truncated Normal's draws in object mode: slower, not wrong
        warnings.filterwarnings("ignore", message=".*object mode.*", category=UserWarning)
        values = {k: np.asarray(pm.draw(p.pymc_dist(), draws=n, random_seed=derived_seed(seed, i)), float)
                  for i, (k, p) in enumerate(spec.priors.items())}
        sigma = np.asarray(pm.draw(spec.likelihood.sigma.pymc_dist(), draws=n, random_seed=derived_seed(seed, 97)), float)
    return {k: np.asarray(v, float) for k, v in law.to_law_params(values).items()}, sigma
