"""Test helpers shipped with the package: fits with known draws, built without sampling.

``fake_fit`` returns a real :class:`FitResult` whose posterior draws scatter narrowly around a
given truth, so queries, save/load and the CLI can be exercised in milliseconds. It is never
used to answer a user's question.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_scaling.conventions import derived_seed, seeded_rng
from bayes_scaling.data.runs import load_runs
from bayes_scaling.inference.fit import resolve_spec
from bayes_scaling.inference.model import model_data
from bayes_scaling.simulate import isoflop_design, simulate_runs


def fake_fit(law: str = "chinchilla", truth: dict[str, float] | None = None, *, chains: int = 2, draws: int = 200,
             rel_sd: float = 0.01, sigma: float = 0.01, seed: int = 0, spec=None,
             runs_truth: dict[str, float] | None = None, runs=None, covariate_effect: dict[str, float] | None = None,
             run_noise: bool = False):
    """A FitResult with draws ~ truth x (1 + rel_sd * z) on runs simulated from ``runs_truth``
    (default: the same truth; a different one gives a deliberately wrong posterior), or on ``runs``
    (a ``RunTable``, e.g. the runs a stand-in for ``fit`` is given). ``covariate_effect``: where ``runs`` carry
    covariates, each one's effect on log-loss per unit (``gamma``; its draws scattered the same way; default 0).
    ``run_noise``: record the fit as one with run noise (the runs need replicates, a Normal family and, for SEs, an
    ``SE`` column); ``sigma`` stays a new run's."""
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.result import FitResult

    spec = resolve_spec(law, spec)
    law_obj = spec.law
    if truth is None:
        if law_obj.name != "chinchilla":
            raise ValueError("give a truth for laws other than chinchilla")
        truth = EXAMPLE["truth"]
    if runs is None:
        frame = runs_frame(law_obj.name, runs_truth or truth, sigma=sigma, seed=seed)
        runs = load_runs(frame, extra_cols={k: k for k in ("U", "X", "S", "L") if k in frame})
    data = model_data(spec, runs, run_noise=run_noise)
    rng = seeded_rng(seed)
    post = {n: (("chain", "draw"), truth[n] * (1 + rel_sd * rng.standard_normal((chains, draws))))
            for n in law_obj.param_names}
    post["sigma"] = (("chain", "draw"), np.abs(sigma * (1 + 0.1 * rng.standard_normal((chains, draws)))))
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    if data.covariates is not None:
        g = np.array([(covariate_effect or {}).get(c, 0.0) for c in data.covariate_names])
        post["gamma"] = (("chain", "draw", "covariate"), g * (1 + rel_sd * rng.standard_normal((chains, draws, len(g)))))
        coords["covariate"] = list(data.covariate_names)
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))}, coords=coords)
    trace = xr.DataTree.from_dict({"posterior": xr.Dataset(post, coords=coords), "sample_stats": stats})
    config = {"sampler": "fake (testing)", "draws": draws, "tune": 0, "chains": chains, "seed": seed}
    return FitResult.from_trace(trace, spec=spec, runs=runs, data=data, sampler_config=config)


def runs_frame(law: str = "chinchilla", truth: dict[str, float] | None = None, *, sigma: float = 0.01,
               seed: int = 0) -> pd.DataFrame:
    """16 simulated runs: an IsoFLOP grid of 4 budgets (1e18-1e21 FLOPs) x 4 tokens/param ratios,
    with U = D/2 unique tokens, X = N/1e6, S = D/2^19 steps and L = a predictor loss from 1.6 down to 0.6
    (metric laws) for laws that need them."""
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.laws.registry import get_law

    design = isoflop_design(np.geomspace(1e18, 1e21, 4), np.geomspace(2, 200, 4))
    extra = {"U": design["tokens"] / 2, "X": design["params"] / 1e6, "S": design["tokens"] / 2**19,
             "L": np.geomspace(1.6, 0.6, len(design))}
    for k in get_law(law).input_names:
        if k in extra:
            design[k] = extra[k]
    return simulate_runs(law, truth or EXAMPLE["truth"], design, sigma=sigma, seed=seed)


def fake_hierarchical_fit(seed: int = 0, chains: int = 2, draws: int = 200):
    """A hierarchical chinchilla FitResult (A and B vary by ``arch``; group y is ~6% worse), with
    draws scattered narrowly around the truth that simulated its 32 runs."""
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.result import FitResult

    truth = EXAMPLE["truth"]
    scale = {"x": 1.0, "y": 1.06}
    frames = [runs_frame(truth={**truth, "A": truth["A"] * k, "B": truth["B"] * k}, seed=derived_seed(seed, i)).assign(arch=g)
              for i, (g, k) in enumerate(scale.items())]
    runs = load_runs(pd.concat(frames, ignore_index=True), group_cols=["arch"])
    spec = resolve_spec("chinchilla").with_vary(["A", "B"])
    data = model_data(spec, runs)
    rng = seeded_rng(seed)
    shape = (chains, draws)
    dims = ("chain", "draw")
    post = {n: (dims, truth[n] * (1 + 0.01 * rng.standard_normal(shape))) for n in spec.law.param_names}
    post["sigma"] = (dims, np.abs(0.01 * (1 + 0.1 * rng.standard_normal(shape))))
    for p in ("A", "B"):
        post[f"{p}_group"] = ((*dims, "group"), np.stack(
            [post[p][1] * k * (1 + 0.01 * rng.standard_normal(shape)) for k in scale.values()], axis=-1))
        post[f"tau_{p}"] = (dims, np.abs(0.05 * (1 + 0.1 * rng.standard_normal(shape))))
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    stats = xr.Dataset({"diverging": (dims, np.zeros(shape, bool))}, coords=coords)
    trace = xr.DataTree.from_dict({"posterior": xr.Dataset(post, coords={**coords, "group": list(scale)}),
                                   "sample_stats": stats})
    config = {"sampler": "fake (testing)", "draws": draws, "tune": 0, "chains": chains, "seed": seed}
    return FitResult.from_trace(trace, spec=spec, runs=runs, data=data, sampler_config=config)
