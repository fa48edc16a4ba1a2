"""One home for calibrating the extrapolation discrepancy (:func:`~bayes_scaling.inference.discrepancy.
discrepancy_from_blocks`): a single fit's, an ensemble mixture's at one split and the cross-fitted one record the
same diagnostics; and one "largest quarter" fallback for the discrepancy's split and the ensemble's cut."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayes_scaling as bs
from bayes_scaling.inference.discrepancy import (INFO_KEYS, draws_from_grid, grid_median, grid_posterior, inner_split,
                                                 weighted_median)


def test_weighted_median_is_numpys_with_equal_weights_and_counts_each_weight():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 12):
        x = rng.normal(size=n)
        assert weighted_median(x) == np.median(x)
        assert weighted_median(x, np.full(n, 0.25)) == np.median(x)
    # a run held out twice at weight 1/2 counts as one: same as the run once
    assert weighted_median([1.0, 2.0, 2.0, 9.0], [1.0, 0.5, 0.5, 1.0]) == np.median([1.0, 2.0, 9.0])
    assert weighted_median([1.0, 5.0, 9.0], [0.0, 1.0, 1.0]) == 7.0  # weight 0: not held out


def test_grid_median_is_the_median_of_the_draws():
    """Residuals with a discrepancy of sd 0.02 (tau0) and none growing: the grid posterior's medians, computed
    from the grid, are those of 40,000 jittered draws from it (to a tenth of a grid step)."""
    rng = np.random.default_rng(0)
    d = np.linspace(0.0, 1.0, 30)
    y = rng.normal(0.0, np.sqrt(0.01 ** 2 + 0.02 ** 2), 30)
    tau, mass = grid_posterior(y[:, None] - np.zeros((30, 50)), np.full(50, 0.01), d, family="normal")
    post = xr.Dataset(coords={"chain": np.arange(4), "draw": np.arange(10_000)})
    t0, t1 = draws_from_grid(tau, mass, post, rng)
    med = grid_median(tau, mass)
    step = tau[1] - tau[0]
    assert abs(med[0] - float(t0.median())) < 0.1 * step and abs(med[1] - float(t1.median())) < 0.1 * step
    assert 0.01 < med[0] < 0.035, med


def _curve(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e2, 1e5, n)
    frame = pd.DataFrame({"X": x, "loss": (0.5 + 5 * x ** -0.4) * np.exp(rng.normal(0, 0.004, n))})
    return bs.load_runs(frame, extra_cols={"X": "X"})


@pytest.mark.sampling
def test_the_three_calibrations_record_the_same_diagnostics():
    """A single fit, an ensemble's mixture at the discrepancy's split (equal weights) and the cross-fitted
    ensemble calibration all record :data:`INFO_KEYS`, their extra keys only name how the procedure went, and
    every summary line renders (the mixture's lacked the coverage it prints)."""
    from bayes_scaling.commands.output import discrepancy_line
    from bayes_scaling.inference.ensemble import fit_ensemble

    runs = _curve(16)
    kw = {"draws": 200, "tune": 200, "seed": 2}
    single = bs.fit(runs, law="power_x", calibrate_extrapolation=True, chains=2, progress=False, **kw)
    crossed = fit_ensemble(runs, ["power_x"], cut_decades=(1.0,), calibrate_extrapolation=True, inner_draws=200,
                           **kw).members["power_x"]
    mixture = fit_ensemble(runs, ["power_x"], method="equal", calibrate_extrapolation=True, inner_draws=200,
                           **kw).members["power_x"]
    extras = {"single": {"inner_seed"}, "crossed": {"inner_fits_reused", "weights_source", "learning_runs"},
              "mixture": {"inner_fits_reused", "weights_source"}}
    for name, res in (("single", single), ("crossed", crossed), ("mixture", mixture)):
        info = res.discrepancy.info
        assert set(info) == INFO_KEYS | extras[name], (name, set(info) ^ (INFO_KEYS | extras[name]))
        assert 0.0 <= info["inner_coverage_90_raw"] <= 1.0 and 0.0 <= info["inner_coverage_90_calibrated"] <= 1.0
        assert len(info["tau_median"]) == 2 and info["inner_n_test"] == sum(c["n_test"] for c in info["cuts"].values())
        assert "held-out 90% coverage" in discrepancy_line(res, 0.9)
    assert mixture.discrepancy.info["cuts"]["1"]["weights"] == {"power_x": 1.0}
    # one member, one split at 1 decade: the mixture's calibration is the single fit's split, in the same place
    assert mixture.discrepancy.info["inner_threshold"] == single.discrepancy.info["inner_threshold"]


def test_inner_split_and_the_ensemble_fallback_share_one_largest_quarter_rule():
    """Twelve runs of one learning curve, two seeds at the ninth X: no cut a decade down leaves 8 runs to fit, so
    the largest quarter (3 runs) is held out, and the tied pair at the cut goes with it (4 held out, threshold at
    the eighth X). The old rule put the pair on the fitted side, held out 2 and refused."""
    from bayes_scaling.inference.ensemble import level_cut
    from bayes_scaling.laws.registry import get_law

    x = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 11], float) * 1e3
    loss = (0.5 + 5 * x ** -0.4) * np.r_[np.ones(9), 1.001, 1.0, 1.0]
    runs = bs.load_runs(pd.DataFrame({"X": x, "loss": loss}), extra_cols={"X": "X"})
    train, test, thr = inner_split(runs, get_law("power_x"))
    assert (len(train), len(test), thr) == (8, 4, 8e3)
    assert level_cut(x, lambda fitted: fitted.sum() >= 8) == thr


def test_the_mixtures_calibration_refuses_two_noise_families_before_any_inner_fit(monkeypatch):
    """Members with Student-t and Normal noise cannot share one calibration: refused before fitting below the split."""
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.inference import ensemble as ens_mod
    from bayes_scaling.inference.fit import resolve_spec
    from bayes_scaling.result import EnsembleResult
    from bayes_scaling.testing import fake_fit

    spec = resolve_spec("chinchilla", None)
    a, b = fake_fit(spec=spec, seed=1), fake_fit(spec=spec.with_family("normal"), seed=1)
    monkeypatch.setattr(ens_mod, "fit", lambda *a, **k: pytest.fail("an inner fit ran"))
    with pytest.raises(BayesScalingError, match="families differ"):
        ens_mod.with_mixture_discrepancy(EnsembleResult({"t": a, "n": b}, {"t": 0.5, "n": 0.5}, {"method": "equal"}))


def test_the_single_fits_inner_fit_keeps_the_cost_law_run_noise_and_hierarchy():
    """The calibration's inner fit is a refit (:func:`~bayes_scaling.result.refit.refit_settings`): it keeps the
    fit's stored cost law and run noise, as every other refit does (it fell back to 6ND and dropped run noise)."""
    from bayes_scaling.cost import CostLaw, store_cost
    from bayes_scaling.inference.discrepancy import calibrate

    runs = _curve(16)
    res = bs.fit(runs, law="power_x", draws=100, tune=100, chains=2, seed=3, progress=False)
    store_cost(res, CostLaw(kind="6nd", k=8.0))
    res.tree.attrs["run_noise"] = json.dumps({"sd": "sigma_run"})
    seen = {}

    def spy(train, **kw):
        seen.update(kw)
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        calibrate(res, spy)
    assert seen["cost"] == CostLaw(kind="6nd", k=8.0) and seen["run_noise"] is True
    assert seen["group_col"] is None and seen["vary"] is None


def test_an_ensemble_saved_before_the_mixture_recorded_coverage_still_prints(tmp_path, capsys):
    """A mixture's calibration saved by an older version has no held-out coverage: ``summary`` says it was not
    recorded (it raised KeyError)."""
    from bayes_scaling.cli import main
    from bayes_scaling.posterior.discrepancy import Discrepancy
    from bayes_scaling.result import EnsembleResult
    from bayes_scaling.testing import fake_fit

    old = {"method": "leave-future-out grid posterior on the ensemble's mixture", "inner_threshold": 1e20,
           "inner_n_train": 12, "inner_n_test": 4, "inner_fits_reused": False, "inner_diagnostics_ok": True}
    members = {}
    for k in ("a", "b"):
        r = fake_fit(seed=1, draws=50)
        t = xr.DataArray(np.full((r.posterior.sizes["chain"], r.posterior.sizes["draw"]), 0.01), dims=("chain", "draw"))
        members[k] = r.with_discrepancy(Discrepancy(t, t, "C", 20.0, old))
    EnsembleResult(members, {"a": 0.5, "b": 0.5}, {"method": "equal"}, seed=0).save(tmp_path / "old.nc")
    assert main(["summary", str(tmp_path / "old.nc")]) == 0
    assert "held-out coverage not recorded" in capsys.readouterr().out
