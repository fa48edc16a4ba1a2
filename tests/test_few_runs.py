"""Fits from few runs: allowed with proper priors (a one-line warning that the posterior is
dominated by the prior), degenerate designs refused in one line, and the prior-to-posterior
contraction of each parameter in the summary, the CLI's JSON and (test_report) the HTML report."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling import BayesScalingError
from bayes_scaling.cli import main
from bayes_scaling.inference.model import model_data
from bayes_scaling.simulate import simulate_runs
from bayes_scaling.specs.moments import contraction_scale, prior_variance
from bayes_scaling.specs.spec import PriorSpec, default_spec, list_specs, load_spec
from bayes_scaling.testing import fake_fit

TRUTH = {"E": 1.80, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}


def _five_frame() -> pd.DataFrame:
    """5 Chinchilla runs from 30M to 1B parameters at 20 tokens per parameter, +-2x."""
    n = np.geomspace(3e7, 1e9, 5)
    grid = pd.DataFrame({"params": n, "tokens": n * np.array([10.0, 40.0, 20.0, 10.0, 40.0])})
    return simulate_runs("chinchilla", TRUTH, grid, sigma=0.01, seed=4)


def _five_runs(**kw) -> bs.RunTable:
    return bs.load_runs(_five_frame().assign(**kw), compute_col=None)


def test_every_shipped_spec_has_proper_priors():
    assert all(load_spec(name).priors_proper for name in list_specs())


def test_few_runs_are_fitted_with_one_warning_line():
    runs = _five_runs()
    with pytest.warns(UserWarning, match="dominated by the prior") as rec:
        model_data(default_spec("chinchilla"), runs)
    assert all("\n" not in str(r.message) for r in rec)


@pytest.mark.parametrize(("law", "column"), [("chinchilla", "params"), ("chinchilla_ptied", "tokens")])
def test_degenerate_design_is_refused_in_one_line(law, column):
    runs = _five_runs(**{column: 1e9})
    symbol = {"params": "N", "tokens": "D"}[column]
    with pytest.raises(BayesScalingError) as ei, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_data(default_spec(law), runs)
    msg = str(ei.value)
    assert "\n" not in msg and f"2 or more distinct values of {symbol}" in msg


def test_a_constant_unique_pool_is_not_degenerate():
    runs = bs.load_runs(_five_frame().assign(unique=3e9), compute_col=None, extra_cols={"U": "unique"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_data(default_spec("data_constrained"), runs)


@pytest.mark.parametrize("prior", [
    PriorSpec("LogNormal", {"mu": 6.0, "sigma": 2.5}), PriorSpec("LogNormal", {"mu": 0.5, "sigma": 0.5}),
    PriorSpec("Beta", {"alpha": 2.0, "beta": 4.0}), PriorSpec("HalfNormal", {"sigma": 0.05}),
    PriorSpec("Normal", {"mu": 0.0, "sigma": 0.2}), PriorSpec("Gamma", {"alpha": 0.5, "beta": 1.0}),
    PriorSpec("HalfStudentT", {"nu": 3.0, "sigma": 1.0}), PriorSpec("InverseGamma", {"alpha": 1.5, "beta": 1.0}),
    PriorSpec("TruncatedNormal", {"mu": 0.3, "sigma": 0.1, "lower": 0.0, "upper": 1.0}),
], ids=lambda p: p.describe())
def test_prior_variance_matches_draws(prior):
    import pymc as pm

    scale = contraction_scale(prior)
    heavy = prior.dist in ("Gamma", "HalfStudentT", "InverseGamma") or prior.kwargs.get("sigma") == 2.5
    assert scale == ("log" if heavy else "linear")
    draws = pm.draw(prior.pymc_dist(), draws=40_000, random_seed=1, mode="FAST_COMPILE")
    want = np.var(np.log(draws) if scale == "log" else draws)
    assert prior_variance(prior, scale) == pytest.approx(want, rel=0.05)
    # a data-relative prior: the value is reference x draw
    if scale == "linear":
        assert prior_variance(prior, scale, log_ref=2.0) == pytest.approx(prior_variance(prior, scale) * math.e ** 4)


def test_contraction_in_summary_and_cli_json(tmp_path, capsys):
    fit = fake_fit(seed=2)  # draws within 1% of the truth: every parameter contracts to ~1
    s = fit.summary()
    assert {"contraction", "contraction_scale"} <= set(s.columns)
    assert s.loc["A", "contraction_scale"] == "log" and s.loc["alpha", "contraction_scale"] == "linear"
    assert (s.loc[["E", "A", "B", "alpha", "beta"], "contraction"] > 0.99).all()
    path = fit.save(tmp_path / "fit.nc")
    assert main(["summary", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for name in ("E", "A", "B", "alpha", "beta", "sigma"):
        assert out[name]["contraction"] == pytest.approx(s.loc[name, "contraction"])
        assert out[name]["contraction_scale"] in ("linear", "log")
    assert main(["summary", str(path)]) == 0
    assert "contraction" in capsys.readouterr().out


def test_derived_beta_is_summarised():
    fit = fake_fit("chinchilla_ptied", {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34, "delta": 0.05}, seed=1)
    s = fit.summary()
    assert s.loc["beta", "median"] == pytest.approx(0.34 * math.exp(0.05), rel=0.02)
    assert math.isnan(s.loc["beta", "contraction"]) and s.loc["delta", "contraction_scale"] == "linear"


@pytest.mark.sampling
def test_five_runs_informative_and_default_specs():
    """5 runs for Chinchilla's 5 parameters: both fits succeed with the warning; Epoch's informative
    spec gives intervals several times narrower than the weakly informative default."""
    runs = _five_runs()
    fits = {}
    for spec in ("chinchilla_epoch2024", "chinchilla"):
        with pytest.warns(UserWarning, match="dominated by the prior"):
            fits[spec] = bs.fit(runs, spec=spec, draws=400, tune=400, chains=2, seed=5, progress=False)
    inf, dflt = (fits[k].summary(ci_prob=0.9) for k in ("chinchilla_epoch2024", "chinchilla"))
    for s in (inf, dflt):
        assert s["contraction"].loc[["E", "A", "B", "alpha", "beta", "sigma"]].notna().all()
        assert (s["contraction"].loc[["E", "A", "B", "alpha", "beta"]] <= 1.0).all()
    width = {k: s["ci_high"] - s["ci_low"] for k, s in (("inf", inf), ("dflt", dflt))}
    for name in ("alpha", "beta"):  # Epoch: sd 0.015-0.02; default Beta(2, 4): sd 0.18, barely contracted
        assert width["dflt"][name] > 3.0 * width["inf"][name], (name, width["dflt"][name], width["inf"][name])
    n = 1e11
    pred = {k: f.predict(N=n, D=20 * n)["loss"].isel(query=0).quantile([0.05, 0.95]).values for k, f in fits.items()}
    assert np.ptp(pred["chinchilla"]) > 2.0 * np.ptp(pred["chinchilla_epoch2024"])
