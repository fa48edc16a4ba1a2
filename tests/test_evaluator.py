"""The posterior evaluator and its mixture: one code path for the law at queries, at runs (with
groups) and for a new run's loss; a mixture of fits answers the same calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit


def test_public_api_is_reachable_lazily():
    for name in ("fit", "predict_loss", "decide", "compare_groups", "summary_record", "MixtureEvaluator", "plots",
                 "datasets", "report", "backtest", "efficient_frontier"):
        assert getattr(bs, name) is not None
        assert name in bs.__all__
    with pytest.raises(AttributeError):
        bs.no_such_name  # noqa: B018


def test_predict_equals_the_law_at_the_posterior_draws():
    f = fake_fit(seed=3)
    pred = f.predict(N=[1e9, 1e10], D=[2e10, 2e11])
    p = f.law_params()
    want = np.exp(f.law.log_loss(np, {"N": np.log(1e10), "D": np.log(2e11)}, p))
    np.testing.assert_allclose(pred["loss"].isel(query=1).values, want.values, rtol=1e-12)
    assert pred["loss"].dims == ("chain", "draw", "query") and pred["D"].attrs["units"] == "tokens"


def test_runs_view_uses_each_runs_group_and_new_groups():
    h = fake_hierarchical_fit(seed=1)
    ev = h.evaluator
    runs = h.runs
    mu = ev.log_mean_at_runs(runs)
    first_y = int(np.flatnonzero(runs.frame["arch"].astype(str).to_numpy() == "y")[0])
    direct = ev.log_mean({"N": runs.frame["N"].iloc[first_y], "D": runs.frame["D"].iloc[first_y]}, group="y")
    np.testing.assert_allclose(mu.isel(run=first_y).values, direct.isel(query=0).values, rtol=1e-12)
    renamed = runs.frame.assign(arch=runs.frame["arch"].astype(str).replace({"y": "unseen"}))
    from bayes_scaling.data.runs import load_runs

    unseen = ev.log_mean_at_runs(load_runs(renamed.drop(columns=["N", "D", "C"], errors="ignore").assign(
        params=runs.frame["N"], tokens=runs.frame["D"]), group_cols=["arch"]), seed=7)
    new = ev.log_mean({"N": runs.frame["N"].iloc[first_y], "D": runs.frame["D"].iloc[first_y]}, group="new", seed=7)
    np.testing.assert_allclose(unseen.isel(run=first_y).values, new.isel(query=0).values, rtol=1e-12)


def test_mixture_of_one_fit_is_that_fit_and_weights_set_the_shares():
    a, b = fake_fit(seed=1), fake_fit(seed=2, truth={**bs.EXAMPLE["truth"], "E": 2.2})
    one = bs.MixtureEvaluator({"a": a.evaluator}, {"a": 1.0})
    q = {"N": 1e9, "D": 2e10}
    pooled = one.predict(q)["loss"].values.ravel()
    np.testing.assert_allclose(np.sort(pooled), np.sort(a.predict(**q)["loss"].values.ravel()))
    mix = bs.MixtureEvaluator({"a": a.evaluator, "b": b.evaluator}, {"a": 3.0, "b": 1.0}, seed=0)
    pred = mix.predict(q)
    members = pred["member"].values
    assert pred["loss"].dims == ("chain", "draw", "query") and pred["loss"].shape[1] == mix.n_draws
    assert np.mean(members == "a") == pytest.approx(0.75, abs=1 / mix.n_draws)
    # b's floor is higher: the mixture's upper tail comes from b, its lower tail from a
    loss = pred["loss"].values[0, :, 0]
    assert loss[members == "b"].min() > loss[members == "a"].max()
    assert mix.predictive_at_runs(a.runs).shape == (len(a.runs), mix.n_draws)
    with pytest.raises(bs.BayesScalingError, match="weights"):
        bs.MixtureEvaluator({"a": a.evaluator}, {"a": -1.0})


def test_mixture_and_ensemble_weights_are_normalised_and_checked_alike():
    from bayes_scaling.posterior.mixture import normalised_weights
    from bayes_scaling.result.ensemble import EnsembleResult

    assert normalised_weights({"b": 1.0, "a": 3}, ["a", "b"], "w") == {"a": 0.75, "b": 0.25}
    fit = fake_fit(draws=20)
    for w in ({"a": 3.0, "b": 1.0}, {"a": 0.2, "b": 0.1}):
        assert EnsembleResult({"a": fit, "b": fit}, w).weights == \
            pytest.approx(bs.MixtureEvaluator({"a": fit.evaluator, "b": fit.evaluator}, w).weights, rel=1e-15)
    for bad in ({"a": 0.0, "b": 0.0}, {"a": -1.0, "b": 2.0}, {"a": float("nan"), "b": 1.0}, {"a": "1", "b": 1.0}):
        with pytest.raises(bs.BayesScalingError, match=r"^ensemble weights must be finite numbers >= 0"):
            EnsembleResult({"a": fit, "b": fit}, bad)
        with pytest.raises(bs.BayesScalingError, match=r"^mixture weights must be >= 0"):
            bs.MixtureEvaluator({"a": fit.evaluator, "b": fit.evaluator}, bad)


def test_fit_accepts_a_dataframe_with_a_column_mapping():
    frame = pd.read_csv(bs.example_path()).rename(columns={"params": "n"})
    with pytest.raises(bs.BayesScalingError, match="columns takes"):
        bs.fit(frame, law="chinchilla", columns={"no_such_option": 1})
    with pytest.raises(bs.BayesScalingError):
        bs.fit(frame, law="chinchilla", draws=5)  # the mapping is needed: 'params' is absent, and draws < 10


@pytest.mark.parametrize("law_name", bs.list_laws())
def test_law_on_plain_arrays_gives_the_same_numbers_as_on_dataarrays(law_name):
    """The evaluator runs the law on NumPy arrays (draws x 1 against the points) instead of DataArrays:
    the same elementwise operations, so bit for bit the same log-loss, dims and draw coordinates."""
    import xarray as xr

    from bayes_scaling.posterior.evaluator import law_log_loss
    from test_laws import _random_inputs, _random_params

    law = bs.get_law(law_name)
    rng = np.random.default_rng(11)
    x = _random_inputs(law, rng, 9)
    coords = {"chain": np.arange(3), "draw": np.arange(5)}
    p = {k: xr.DataArray(v, dims=("chain", "draw"), coords=coords) for k, v in _random_params(law, rng, (3, 5)).items()}
    want = law.log_loss(np, {k: xr.DataArray(v, dims="run") for k, v in x.items()}, p).transpose("chain", "draw", "run")
    got = law_log_loss(law, x, p, "run")
    assert got.dims == ("chain", "draw", "run")
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got["draw"].values, coords["draw"])
    one = {k: v.isel(chain=[0]) for k, v in p.items()}  # a single chain keeps its shape
    assert law_log_loss(law, x, one, "run").shape == (1, 5, 9)


def test_law_log_loss_refuses_inputs_of_unequal_length_and_keeps_extra_draw_dims_last():
    """One value per point for every input (either order refused, not broadcast); draws with a further dim
    (e.g. per group) take the DataArray route, that dim after (chain, draw, point)."""
    import xarray as xr

    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.posterior.evaluator import law_log_loss

    law = bs.get_law("chinchilla")
    p = {k: xr.DataArray(np.full((2, 4), v), dims=("chain", "draw"))
         for k, v in {"log_E": 0.6, "log_A": 6.0, "log_B": 7.3, "alpha": 0.34, "beta": 0.28}.items()}
    for x in ({"N": np.log([1e9, 2e9, 4e9]), "D": np.log([2e10])}, {"N": np.log([1e9]), "D": np.log([2e10, 4e10])}):
        with pytest.raises(BayesScalingError, match="one value per point"):
            law_log_loss(law, x, p, "run")
    x = {"N": np.log([1e9, 2e9]), "D": np.log([2e10, 4e10])}
    grouped = dict(p, log_E=xr.DataArray(np.full((2, 4, 3), 0.6) + np.arange(3) * 0.1, dims=("chain", "draw", "group")))
    got = law_log_loss(law, x, grouped, "run")
    assert got.dims == ("chain", "draw", "run", "group")
    flat = law_log_loss(law, x, dict(p, log_E=grouped["log_E"].isel(group=2)), "run")
    np.testing.assert_allclose(got.isel(group=2).values, flat.values)
