"""Backtests: the split, the CRPS, and one real run against the Huber baseline."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import BayesScalingError, get_law
from bayes_scaling.examples import example_path
from bayes_scaling.inference.backtest import backtest, crps_samples, split_runs


def test_crps_matches_the_double_sum():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(3, 40))
    y = np.array([0.0, 1.0, -2.0])
    brute = np.abs(draws - y[:, None]).mean(1) - 0.5 * np.abs(draws[:, :, None] - draws[:, None, :]).mean((1, 2))
    np.testing.assert_allclose(crps_samples(draws, y), brute, rtol=1e-12)
    # a point forecast's CRPS is its absolute error
    np.testing.assert_allclose(crps_samples(np.full((1, 5), 2.0), np.array([3.5])), [1.5])


def test_split_by_compute_and_by_fraction():
    runs = bs.load_runs(example_path())
    law = get_law("chinchilla")
    train, test, info = split_runs(runs, law, holdout_above=1e21)
    assert info["axis"] == "C" and len(train) + len(test) == len(runs)
    assert train.frame["C"].max() <= 1e21 < test.frame["C"].min()
    train, test, info = split_runs(runs, law, holdout_fraction=0.2)
    # the bundled example's budgets share one exact C each: at least the fraction is held out, whole budgets,
    # and the held-out runs are the largest C
    assert len(test) >= round(0.2 * len(runs)) and info["n_test"] == len(test)
    assert train.frame["C"].max() < test.frame["C"].min()
    # the budget just below is kept whole in training: holding it out too would overshoot the fraction
    assert len(test) - round(0.2 * len(runs)) < (runs.frame["C"] == train.frame["C"].max()).sum()
    for bad in ({"holdout_above": 1e30}, {"holdout_fraction": 1.5}, {}):
        with pytest.raises(BayesScalingError):
            split_runs(runs, law, **bad)


def test_a_fraction_is_a_floor_when_a_budgets_runs_differ_in_compute_by_rounding():
    """A budget whose runs' recorded C differ by rounding (within 2%, one budget by the grouper): the fraction's
    threshold cuts it above its log-midpoint, and it is held out whole (it moved up to the nearer gap and held out
    5 runs where 7 were asked)."""
    import pandas as pd

    c = np.r_[np.full(5, 1e19), 1e20 * np.array([1.0, 1.0001, 1.019, 1.0195, 1.02]), np.full(5, 1e21)]
    n = np.tile(np.geomspace(1e8, 1e9, 5), 3)
    runs = bs.load_runs(pd.DataFrame({"params": n, "tokens": c / (6 * n), "compute": c, "loss": 2 + 1e9 / c ** 0.5}))
    train, test, _ = split_runs(runs, get_law("chinchilla"), holdout_fraction=7 / 15)
    assert len(test) == 10 and train.frame["C"].max() < test.frame["C"].min()  # the cut budget held out whole


@pytest.mark.sampling
def test_backtest_on_the_bundled_example():
    runs = bs.load_runs(example_path())
    res = backtest(runs, law="chinchilla", holdout_above=1e21, seed=1, draws=300, tune=300, n_boot=10)
    assert res.split["n_test"] == 14 and res.split["decades_beyond"] > 0.4
    bayes = res.table.loc["bayes (chinchilla)"]
    assert 0 <= bayes["coverage_90"] <= 1 and bayes["coverage_90"] >= bayes["coverage_50"]
    assert bayes["mare"] < 0.02 and bayes["crps"] > 0
    assert "huber + bootstrap (chinchilla)" in res.table.index
    assert list(res.runs["loss"]) == list(runs.frame.loc[runs.frame["C"] > 1e21, "loss"])


def test_only_too_few_runs_drops_the_discrepancy_row_other_failures_are_raised(monkeypatch):
    """The LFO discrepancy row is left out (and said why) only when the training runs are too few to split
    again; any other failure of that step reaches the user instead of silently dropping the row."""
    import bayes_scaling.inference.discrepancy as disc_mod
    import bayes_scaling.inference.fit as fit_mod
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.testing import fake_fit

    runs = load_runs(example_path())
    monkeypatch.setattr(fit_mod, "fit", lambda train, **kw: fake_fit(draws=30, runs=train))

    def too_few(*a, **k):
        raise BayesScalingError("too few runs to calibrate the extrapolation discrepancy",
                                quantity="calibrate_extrapolation")

    monkeypatch.setattr(disc_mod, "calibrate", too_few)
    res = backtest(runs, "chinchilla", holdout_fraction=0.25, baselines=False, n_boot=2)
    assert "too few runs" in res.split["discrepancy_error"]
    assert list(res.table.index) == ["bayes (chinchilla)"]  # the discrepancy row is left out

    def broken(*a, **k):
        raise BayesScalingError("seed must be a whole number", quantity="seed")

    monkeypatch.setattr(disc_mod, "calibrate", broken)
    with pytest.raises(BayesScalingError, match="seed must be"):
        backtest(runs, "chinchilla", holdout_fraction=0.25, baselines=False, n_boot=2)


def test_split_distance_is_the_discrepancys_d_over_n_d_and_c():
    """A held-out run with a model 10x larger than any fitted one at a compute only 2x larger is 1 decade beyond
    the training runs (the split axis alone said 0.30)."""
    import pandas as pd

    n = np.array([1e8, 2e8, 4e8, 1e8, 2e8, 4e8, 4e9])
    d = np.array([2e9, 4e9, 8e9, 4e9, 8e9, 1.6e10, 3.2e9])
    runs = bs.load_runs(pd.DataFrame({"params": n, "tokens": d, "loss": 2.0 + 1e3 / n ** 0.3 + 1e3 / d ** 0.3}))
    train, test, info = split_runs(runs, get_law("chinchilla"), holdout_above=6.0 * 4e8 * 1.6e10)
    assert len(test) == 1 and test.frame["N"].iloc[0] == 4e9
    assert info["decades_beyond"] == pytest.approx(1.0, abs=1e-12)
    assert info["decades_beyond_split_axis"] < info["decades_beyond"]


def test_backtest_cost_law_is_learned_from_the_training_runs_only(tmp_path, monkeypatch, capsys):
    """``backtest --cost fitted`` fits its cost law to the training runs: the held-out runs' recorded compute (here
    1.3x the training runs' exact law C = 6 (N / 1e8)^0.05 N D, as a different stack would record it) must not move
    it, and the distance beyond the data prices C with it (reviewer's olmo: 93.47 N^0.8826 D from all 34 runs,
    102.6 N^0.8779 D from the 27 training runs)."""
    import json

    import bayes_scaling.inference.fit as fit_mod
    from bayes_scaling.cli import main
    from bayes_scaling.cost import cost_from_options, fit_cost
    from bayes_scaling.inference.backtest import split_with_cost
    from bayes_scaling.testing import fake_fit, runs_frame

    f = runs_frame()
    c = 6 * (f["params"] / 1e8) ** 0.05 * f["params"] * f["tokens"]
    big = c > 2e20
    path = tmp_path / "runs.csv"
    f.assign(compute=np.where(big, 1.3 * c, c)).to_csv(path, index=False)
    runs = bs.load_runs(path, compute_col="compute")
    rule = lambda r: cost_from_options("fitted", runs=r)  # noqa: E731
    train, test, info, cost = split_with_cost(runs, "chinchilla", holdout_fraction=0.25, cost=rule)
    assert len(test) == int(big.sum()) == 4
    assert cost.a == pytest.approx(1.05, abs=1e-9)  # the training runs' law, exactly
    every = fit_cost(f["params"], f["tokens"], runs.frame["C"])
    assert abs(every.a - 1.05) > 1e-3  # what the held-out runs would have moved it to
    assert info["cost"] == cost.describe() != every.describe()
    tr, te = (np.log10(cost.flops(r.frame["N"].to_numpy(float), r.frame["D"].to_numpy(float))) for r in (train, test))
    assert info["decades_beyond"] == pytest.approx(max(te.max() - tr.max(), np.log10(test.frame["N"].max() / train.frame["N"].max()),
                                                       np.log10(test.frame["D"].max() / train.frame["D"].max())), abs=1e-12)
    seen = {}

    def fake(train_runs, **kw):  # the backtest's fit: record its cost law, answer without sampling
        seen["cost"] = kw["cost"]
        return fake_fit(draws=30, runs=train_runs)

    monkeypatch.setattr(fit_mod, "fit", fake)
    assert main(["backtest", str(path), "--law", "chinchilla", "--compute-col", "compute", "--cost", "fitted",
                 "--holdout-fraction", "0.25", "--no-calibrate", "--n-boot", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert seen["cost"].describe() == cost.describe() == out["split"]["cost"]
