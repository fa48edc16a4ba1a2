"""Big tables sampled in whitened coordinates from a pilot mode (:mod:`bayes_scaling.inference.whiten`):
the same density, known parameters recovered, the same posterior as the plain route, ladders untouched."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayes_scaling.inference.whiten as wh
from bayes_scaling.data.runs import load_runs
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.simulate import simulate_runs

TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}


def curves(rows: int, runs: int = 60, seed: int = 0):
    """``rows`` rows of learning curves: N over 3 decades, D from 1/40 of 10-40 tokens per parameter."""
    steps = rows // runs
    rng = np.random.default_rng(seed)
    n = np.geomspace(1e7, 1e10, runs)
    d_max = n * rng.uniform(10, 40, runs)
    design = pd.DataFrame({"params": np.repeat(n, steps),
                           "tokens": (d_max[:, None] * np.linspace(1 / 40, 1, steps)[None, :]).ravel()})
    return load_runs(simulate_runs("chinchilla", TRUTH, design, sigma=0.01, nu=4.0, seed=seed), compute_col=None)


def test_only_tables_past_the_threshold_take_the_route(monkeypatch):
    monkeypatch.delenv(wh.BACKEND_ENV, raising=False)
    assert not wh.is_big(245) and not wh.is_big(wh.BIG_TABLE_ROWS - 1) and wh.is_big(wh.BIG_TABLE_ROWS)
    monkeypatch.setenv(wh.BACKEND_ENV, "off")
    assert not wh.is_big(10**6)
    monkeypatch.setenv(wh.BACKEND_ENV, "numba")
    assert wh.big_backend() == "numba"
    monkeypatch.setenv(wh.BACKEND_ENV, "cuda")
    with pytest.raises(BayesScalingError, match="auto, numba, jax or off"):
        wh.big_backend()


def test_the_whitened_density_is_the_models_at_the_mapped_point():
    """log p_white(z) = log p(m + L z) for any m, L (the affine map's constant Jacobian left out)."""
    from bayes_scaling.inference.fit import resolve_spec
    from bayes_scaling.inference.model import build_model, model_data

    spec = resolve_spec("chinchilla").synced()
    runs = curves(120, runs=12)
    model = build_model(spec, model_data(spec, runs))
    white, start = wh.whitened_model(model)
    rng = np.random.default_rng(1)
    n = len(start)
    mean = start + 0.1 * rng.standard_normal(n)
    chol = np.tril(0.3 * rng.standard_normal((n, n))) + np.eye(n)
    white.set_data(wh.WHITE_MEAN, mean)
    white.set_data(wh.WHITE_CHOL, chol)
    logp_white = white.compile_logp(mode="FAST_COMPILE")
    logp = model.compile_logp(mode="FAST_COMPILE")
    for _ in range(3):
        z = rng.standard_normal(n)
        x, point, i = mean + chol @ z, {}, 0
        for v in model.value_vars:
            size = int(np.prod(model.initial_point()[v.name].shape, dtype=int))
            point[v.name] = x[i:i + size].reshape(model.initial_point()[v.name].shape)
            i += size
        assert logp_white({wh.WHITE_Z: z}) == pytest.approx(logp(point), rel=1e-12, abs=1e-9)
    assert sorted(v.name for v in white.deterministics) == sorted(v.name for v in [*model.free_RVs,
                                                                                     *model.deterministics])


@pytest.mark.sampling
def test_a_big_table_recovers_the_truth_from_a_pilot_start(monkeypatch):
    """1.2e4 rows, numba backend: the pilot's mode, 200 tuning steps, shallow trees, the truth recovered."""
    from bayes_scaling.inference.fit import fit

    monkeypatch.setenv(wh.BACKEND_ENV, "numba")
    res = fit(curves(12_000), law="chinchilla", seed=3, draws=300, progress=False)
    cfg = json.loads(res.tree.attrs["sampler_config"])
    pilot = cfg["big_table_pilot"]
    assert pilot["ok"] and pilot["backend"] == "numba" and pilot["rows"] == 12_000 and cfg["tune"] == wh.BIG_TUNE
    assert pilot["max_whitened_gradient"] < 0.1  # the mode: under a tenth of a posterior sd from flat
    # Seeds 1-4 (host CPU, 2026-12-07): pilot gradient < 1e-4, R-hat 1.0025-1.0065, mean tree steps 3.7-3.9
    # (6.7 at seed 1, whose first attempt failed the gate: its retry), posterior means within 0.0011 of the
    # truth for E, alpha and beta and 0.0002 for sigma.
    d = res.diagnostics
    assert d.ok and d.r_hat_max < 1.01, d.problems
    assert float(res.sample_stats["n_steps"].mean()) < 8  # a shallow tree per draw: the metric fits
    post = res.posterior
    for name, tol in (("E", 0.05), ("alpha", 0.03), ("beta", 0.03), ("sigma", 0.001)):
        truth = 0.01 if name == "sigma" else TRUTH[name]
        assert abs(float(post[name].mean()) - truth) < tol, (name, float(post[name].mean()))


@pytest.mark.sampling
def test_the_whitened_route_samples_the_plain_routes_posterior(monkeypatch):
    """The same posterior (an exact reparameterisation): means within 5 Monte Carlo sds, sds within 15%,
    on a table small enough to sample the plain way too (the threshold lowered for it)."""
    from bayes_scaling.inference.fit import fit

    runs = curves(1_500, runs=30)
    monkeypatch.setenv(wh.BACKEND_ENV, "off")
    plain = fit(runs, law="chinchilla", seed=5, draws=500, tune=500, progress=False).posterior
    monkeypatch.setenv(wh.BACKEND_ENV, "numba")
    monkeypatch.setattr(wh, "BIG_TABLE_ROWS", 1_000)
    res = fit(runs, law="chinchilla", seed=5, draws=500, progress=False)
    assert json.loads(res.tree.attrs["sampler_config"])["big_table_pilot"]["ok"]
    white = res.posterior
    for name in ("E", "A", "B", "alpha", "beta", "sigma"):
        a, b = plain[name].values.ravel(), white[name].values.ravel()
        se = np.hypot(a.std(), b.std()) / np.sqrt(500)  # ~4 x 500 draws at ESS >= 500 per fit
        assert abs(a.mean() - b.mean()) < 5 * se, (name, a.mean(), b.mean())
        assert b.std() == pytest.approx(a.std(), rel=0.15), name


def test_summed_log_loss_is_the_laws_log_loss_for_every_law():
    """Laws that state their terms give the same log-loss summed (rtol 1e-13); others, and subclasses
    that redefine the law alone, fall back to their own log_loss."""
    from bayes_scaling.laws.base import summed_log_loss
    from bayes_scaling.laws.registry import get_law, list_laws

    rng = np.random.default_rng(0)
    stated = []  # laws compared
    for name in list_laws():
        law = get_law(name)
        x = {i.name: np.log(rng.uniform(1e6, 1e11, 50)) for i in law.inputs}
        p = {}
        for prm in law.params:
            p[prm.name if prm.kind in ("exponent", "shape", "offset") else f"log_{prm.name}"] = (
                rng.uniform(0.1, 0.6) if prm.kind in ("exponent", "shape", "offset") else np.log(rng.uniform(0.5, 500)))
        try:
            want = law.log_loss(np, x, p)
        except (KeyError, ValueError):
            continue
        got = summed_log_loss(law, np, x, p)
        np.testing.assert_allclose(got, want, rtol=1e-13, err_msg=name)
        stated.append(name)
    assert {"chinchilla", "chinchilla_tied", "data_constrained"} <= set(stated), stated


def test_a_failing_pilot_route_falls_back_to_the_plain_fit(monkeypatch):
    """Any error of the whitened route (compile, mode search) leaves the plain route to fit the table,
    and the record says why; the inner fit of a calibration then gets the fit's own default tuning."""
    import bayes_scaling.inference.fit as fm
    from bayes_scaling.inference.discrepancy import _inner_tune

    def broken(*a, **k):
        raise RuntimeError("no mode here")

    monkeypatch.setattr(fm, "_whitened", broken)
    monkeypatch.setattr(fm, "is_big", lambda n: True)
    runs = curves(600)
    res = fm.fit(runs, law="chinchilla", draws=100, tune=100, chains=2, seed=1, retries=0, progress=False)
    rec = res.sampler_config["big_table_pilot"]
    assert rec["ok"] is False and "no mode here" in rec["error"]
    assert res.posterior["alpha"].size == 200
    assert _inner_tune({"tune": 200, "big_table_pilot": {"ok": True}}) is None
    assert _inner_tune({"tune": 1500}) == 1000 and _inner_tune(res.sampler_config) == 100
