"""Real NUTS sampling, seeded and small, checked against known truth (simulated ladders) and
against Epoch's published intervals on the real Chinchilla extraction."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.cli import main
from bayes_scaling.conventions import ESS_MIN_PER_CHAIN
from bayes_scaling.examples import EXAMPLE, example_path
from bayes_scaling.posterior.intervals import summary_record
from bayes_scaling.simulate import simulate_runs, true_loss

pytestmark = pytest.mark.sampling



@pytest.fixture(scope="module")
def example_fit():
    runs = bs.load_runs(example_path())
    return bs.fit(runs, law="chinchilla", draws=500, tune=500, chains=4, seed=11, progress=False)


def test_example_recovers_truth(example_fit):
    s = example_fit.summary(ci_prob=0.99)
    for name, value in EXAMPLE["truth"].items():
        assert s.loc[name, "ci_low"] <= value <= s.loc[name, "ci_high"], (name, s.loc[name].to_dict())
    assert abs(s.loc["alpha", "median"] - 0.34) < 0.05 and abs(s.loc["beta", "median"] - 0.36) < 0.05
    d = example_fit.diagnostics
    assert d.ok, d.problems


def test_example_extrapolation_covers_truth(example_fit):
    n = 10 * example_fit.runs.frame["N"].max()
    pred = example_fit.predict(N=n, D=20 * n)
    s = summary_record(pred["loss"].isel(query=0), 0.9)
    truth = float(true_loss("chinchilla", EXAMPLE["truth"], N=n, D=20 * n))
    assert s["ci_low"] <= truth <= s["ci_high"]
    assert pred["loss"].dims == ("chain", "draw", "query")


def test_save_load_round_trip_identical(example_fit, tmp_path):
    path = example_fit.save(tmp_path / "fit.nc")
    loaded = bs.FitResult.load(path)
    a = example_fit.predict(N=[1e9, 3e10], D=[2e10, 6e11])
    b = loaded.predict(N=[1e9, 3e10], D=[2e10, 6e11])
    np.testing.assert_array_equal(a["loss"].values, b["loss"].values)
    np.testing.assert_array_equal(a["loss_predictive"].values, b["loss_predictive"].values)
    assert loaded.summary().equals(example_fit.summary())
    assert loaded.diagnostics == example_fit.diagnostics
    assert loaded.runs.frame.equals(example_fit.runs.frame)


def test_numpy_loglik_matches_pymc(example_fit):
    """The NumPy pointwise log-likelihood equals PyMC's on the same draws."""
    import pymc as pm

    from bayes_scaling.inference.model import build_model, model_data

    data = model_data(example_fit.spec, example_fit.runs)
    model = build_model(example_fit.spec, data)
    sub = example_fit.tree["posterior"].to_dataset().isel(draw=slice(0, 5))
    import xarray as xr

    tree = xr.DataTree.from_dict({"posterior": sub})
    ll = pm.compute_log_likelihood(tree, model=model, progressbar=False)["log_likelihood"]["obs"].values
    mine = example_fit.tree["log_likelihood"]["obs"].isel(draw=slice(0, 5)).values
    np.testing.assert_allclose(mine, ll, rtol=1e-8, atol=1e-8)


def test_warm_refit_reuses_compiled_model(example_fit, monkeypatch):
    """A second fit of the same spec (other runs) compiles nothing: the process cache holds the
    example fit's model and hands the same compiled object to the refit."""
    from bayes_scaling.inference import fit as fit_mod
    from bayes_scaling.inference.model import model_data

    key = fit_mod.model_key(example_fit.spec, model_data(example_fit.spec, example_fit.runs))
    held = fit_mod._COMPILED.get(key)
    assert held is not None, "the example fit's compiled model is not in the cache"
    compiles = []
    real = fit_mod.compile_nutpie_model
    monkeypatch.setattr(fit_mod, "compile_nutpie_model", lambda *a, **k: compiles.append(1) or real(*a, **k))
    frame = simulate_runs("chinchilla", EXAMPLE["truth"], example_fit.runs.frame[["N", "D", "C"]].rename(
        columns={"N": "params", "D": "tokens", "C": "compute"}).iloc[::2], seed=5)
    refit = bs.fit(bs.load_runs(frame), law="chinchilla", draws=300, tune=300, seed=3, progress=False)
    assert compiles == [] and fit_mod._COMPILED.get(key) is held
    assert len(refit.runs) == len(frame)
    assert refit.posterior.sizes["draw"] == 300


def test_epoch_chinchilla_inside_published_intervals(epoch_fit):
    res = epoch_fit
    assert len(res.runs) == 245
    d = res.diagnostics
    assert d.r_hat_max <= 1.01 and d.divergences == 0
    s = res.summary()
    epoch_95 = {"A": (285, 744), "B": (1042, 5810), "E": (1.769, 1.871), "alpha": (0.317, 0.373),
                "beta": (0.331, 0.415)}
    for name, (lo, hi) in epoch_95.items():
        assert lo <= s.loc[name, "median"] <= hi, (name, s.loc[name, "median"])
    pred = summary_record(res.predict(N=70e9, D=1.4e12)["loss"].isel(query=0), 0.9)
    assert 1.90 <= pred["median"] <= 2.05
    assert pred["ci_low"] < pred["median"] < pred["ci_high"]


def test_kaplan_n_recovers_kaplan_exponent():
    truth = {"alpha_N": 0.076, "N_c": 8.8e13}
    import pandas as pd

    design = pd.DataFrame({"params": np.geomspace(1e6, 1e9, 12)})
    frame = simulate_runs("kaplan_n", truth, design, sigma=0.01, seed=7)
    res = bs.fit(bs.load_runs(frame, params_kind="non-embedding"), law="kaplan_n", draws=500, tune=500, seed=7,
                 progress=False)
    s = res.summary(ci_prob=0.99)
    assert s.loc["alpha_N", "ci_low"] <= 0.076 <= s.loc["alpha_N", "ci_high"]
    assert abs(s.loc["alpha_N", "median"] - 0.076) < 0.01
    pred = summary_record(res.predict(N=1e10)["loss"].isel(query=0), 0.9)
    assert pred["ci_low"] <= float(true_loss("kaplan_n", truth, N=1e10)) <= pred["ci_high"]


def test_cli_fit_then_strict_failure(tmp_path, capsys, monkeypatch):
    csv = tmp_path / "runs.csv"
    import shutil

    shutil.copy(example_path(), csv)
    out = tmp_path / "fit.nc"
    code = main(["fit", str(csv), "--law", "chinchilla", "--out", str(out), "--seed", "4", "--draws", "300",
                 "--tune", "300", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    assert payload["out"] == str(out) and out.exists()
    assert payload["runs"]["n_runs"] == 63
    assert {"median", "mean", "ci_low", "ci_high", "ci_prob", "unit", "contraction", "contraction_scale"} == set(payload["alpha"])
    assert 0.5 < payload["alpha"]["contraction"] <= 1  # 63 runs pin alpha far more than its Beta(2, 4) prior
    # 4 chains x 20 draws cannot reach the ESS threshold: --strict exits 1 and writes nothing (no retry: one
    # would start at a default fit's 1000 + 1000 draws and pass)
    from bayes_scaling.inference import fit as fit_mod

    monkeypatch.setattr(fit_mod, "may_retry", lambda *a, **k: False)
    strict_out = tmp_path / "strict.nc"
    code = main(["fit", str(csv), "--law", "chinchilla", "--out", str(strict_out), "--seed", "4", "--draws", "20",
                 "--tune", "20", "--strict"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip().startswith("error: sampler diagnostics failed")
    assert not strict_out.exists()


def test_laplace_likelihood_recovers_truth_and_its_loglik_matches_pymc(example_fit):
    """Runs on the example's design with Laplace noise (scale b = 0.01 in log-loss), fitted with the
    Laplace likelihood (the Bayesian counterpart of a Huber fit with small delta): the truth and b
    are recovered, predictive noise has the Laplace scale, and the NumPy log-likelihood is PyMC's."""

    import pymc as pm
    import xarray as xr

    from bayes_scaling.inference.model import build_model, model_data
    from bayes_scaling.specs.spec import default_spec

    design = example_fit.runs.frame[["N", "D", "C"]].rename(columns={"N": "params", "D": "tokens", "C": "compute"})
    frame = simulate_runs("chinchilla", EXAMPLE["truth"], design, sigma=0.01, seed=21, family="laplace")
    base = default_spec("chinchilla")
    spec = base.with_family("laplace")
    res = bs.fit(bs.load_runs(frame), spec=spec, draws=600, tune=600, chains=4, seed=5, progress=False, retries=0)
    assert res.spec.likelihood.family == "laplace"
    # One attempt (retries=0), so the figures do not depend on a retry. Its max R-hat over seeds 1-24
    # (host CPU, 2026-12-07) was 1.0015-1.0107 (at 400/400 draws: 1.0016-1.0134), a spread that reaches
    # the fit's own 1.01 gate, so this asserts 1.02; bulk and tail ESS were >= 986, divergences 0.
    d = res.diagnostics
    assert d.r_hat_max <= 1.02 and d.divergences == 0, d.problems
    assert min(d.ess_bulk_min, d.ess_tail_min) >= 4 * ESS_MIN_PER_CHAIN, d.problems
    s = res.summary(ci_prob=0.99)
    for name, value in {**EXAMPLE["truth"], "sigma": 0.01}.items():
        assert s.loc[name, "ci_low"] <= value <= s.loc[name, "ci_high"], (name, s.loc[name].to_dict())
    model = build_model(res.spec, model_data(res.spec, res.runs))
    sub = res.tree["posterior"].to_dataset().isel(draw=slice(0, 5))
    ll = pm.compute_log_likelihood(xr.DataTree.from_dict({"posterior": sub}), model=model,
                                   progressbar=False)["log_likelihood"]["obs"].values
    np.testing.assert_allclose(res.tree["log_likelihood"]["obs"].isel(draw=slice(0, 5)).values, ll, rtol=1e-8,
                               atol=1e-8)
