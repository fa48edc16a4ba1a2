"""A held-out run is an observation: where the scoring fit took per-run SEs apart from its noise (run noise and an SE
column), its predictive and log score carry the run's own SE (result/noise.heldout_predictive, heldout_lpd), in the
backtest's intervals and CRPS and the ensemble's stacking scores alike; every other fit scores a new run, unchanged."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from bayes_scaling.testing import fake_fit

SIGMA = 0.01  # the fake fit's noise scale (log-loss)
SE_LOG = 0.04  # each held-out run's SE / loss (log-loss): 4x sigma, so the scores must move


def _with_se(runs, se_log=SE_LOG):
    return replace(runs, frame=runs.frame.assign(SE=se_log * runs.frame["loss"]))


def _took_se(fit):
    fit.tree.attrs["run_noise"] = json.dumps({"cells": 8, "replicate_cells": 2, "cell_by": ["N", "D"], "se": True})
    return fit


def _iqr(log_draws):
    q = np.quantile(log_draws, [0.25, 0.75], axis=1)
    return q[1] - q[0]


def test_heldout_predictive_and_lpd_carry_the_runs_se_only_where_the_fit_took_ses():
    """Law exact (draws at the truth), Student-t(4) noise: a held-out run's log-loss predictive has an IQR of
    2 x 0.741 x scale (t4's quartile), scale sigma without SEs and sqrt(sigma^2 + se^2) with them; its log density
    at the observed loss is the same family's at that scale."""
    from scipy import stats

    from bayes_scaling.result.noise import held_out_se, heldout_lpd, heldout_predictive

    fit = fake_fit(draws=2000, rel_sd=1e-4, sigma=SIGMA)
    test = _with_se(fit.runs)
    plain = heldout_predictive(fit, test, seed=3)
    np.testing.assert_array_equal(plain, fit.evaluator.predictive_at_runs(test, seed=3))  # a new run's, unchanged
    lpd0 = heldout_lpd(fit, test)
    np.testing.assert_array_equal(lpd0, heldout_lpd(fit, fit.runs))  # the SE column ignored
    t4_iqr = 2 * stats.t.ppf(0.75, 4)
    assert np.median(_iqr(np.log(plain))) == pytest.approx(t4_iqr * SIGMA, rel=0.15)

    _took_se(fit)
    assert held_out_se([fit], fit.runs) is None  # no SE column: nothing to add
    np.testing.assert_allclose(held_out_se([fit], test), SE_LOG)  # SE / loss on log-loss
    wide = heldout_predictive(fit, test, seed=3)
    assert np.median(_iqr(np.log(wide))) == pytest.approx(t4_iqr * np.hypot(SIGMA, SE_LOG), rel=0.15)
    lpd = heldout_lpd(fit, test)
    ev = fit.evaluator
    r = np.log(test.frame["loss"].to_numpy()) - ev.log_mean_at_runs(test).values.reshape(-1, len(test))
    scale = np.hypot(ev.sigma.values.reshape(-1, 1), SE_LOG)
    expect = np.log(np.mean(stats.t.pdf(r / scale, 4) / scale, axis=0))
    np.testing.assert_allclose(lpd, expect, rtol=1e-9)
    assert lpd.mean() < lpd0.mean() - 0.5  # wider around near-hits: lower density


def test_the_ensemble_stacking_scores_use_the_held_out_runs_predictive():
    """The stacking's log score (``_lpd``) and CRPS draws (``_crps``) are the held-out run's: with SEs taken, a
    member's log score and CRPS at runs its law hits exactly get worse (lower density, wider draws around a hit)."""
    from bayes_scaling.inference.ensemble import _crps, _lpd

    fit = fake_fit(draws=400, rel_sd=1e-4, sigma=SIGMA)
    test = _with_se(fit.runs)
    lpd0, crps0 = _lpd(fit, test), _crps({"a": fit}, test, 0)
    _took_se(fit)
    lpd1, crps1 = _lpd(fit, test), _crps({"a": fit}, test, 0)
    assert lpd1.mean() < lpd0.mean() - 0.5  # log(0.0412 / 0.01) = 1.4 nats lower at a hit, in the Student-t's bulk
    assert crps1.mean() > 2 * crps0.mean()  # CRPS of a hit grows with the predictive's scale (x4.1 here)


def test_backtest_scores_held_out_runs_with_their_ses(monkeypatch):
    """A backtest with run noise and SEs: the held-out runs' intervals widen by their SEs (the fit the backtest
    makes stands in here, its run-noise record as a run-noise fit with an SE column writes it)."""
    import bayes_scaling.inference.fit as fit_mod
    from bayes_scaling.inference.backtest import backtest

    base = fake_fit(draws=400, rel_sd=1e-4, sigma=SIGMA)
    runs = _with_se(base.runs)
    seen = {}

    def fake(train, **kw):
        seen["run_noise"] = kw["run_noise"]
        f = fake_fit(draws=400, rel_sd=1e-4, sigma=SIGMA, runs=train)
        return _took_se(f) if kw["run_noise"] else f

    monkeypatch.setattr(fit_mod, "fit", fake)
    widths = {}
    for rn in (False, True):
        res = backtest(runs, "chinchilla", holdout_fraction=0.25, baselines=False, calibrate=False, run_noise=rn)
        assert seen["run_noise"] is rn
        p = res.runs
        widths[rn] = float(np.median(np.log(p["bayes_hi90"] / p["bayes_lo90"])))
    t4_90 = 2 * 2.132  # t4's 95% quantile
    assert widths[False] == pytest.approx(t4_90 * SIGMA, rel=0.15)
    assert widths[True] == pytest.approx(t4_90 * np.hypot(SIGMA, SE_LOG), rel=0.15)


def test_fit_cost_fitted_with_calibration_fits_the_inner_cost_law_on_the_inner_training_runs(tmp_path, monkeypatch):
    """``fit --cost fitted --calibrate-extrapolation``: the stored law is fitted to every run, the calibration's inner
    fit's to its own training runs only. The runs above 2e20 FLOPs record 1.3x the compute of the exact law
    C = 6 (N / 1e8)^0.05 N D, so whether they are included moves the fitted law. Sampling is stood in for by draws at
    the truth (the wiring is under test, not NUTS)."""
    import bayes_scaling as bs
    import bayes_scaling.inference.fit as fit_mod
    import xarray as xr
    from bayes_scaling.cli import main
    from bayes_scaling.cost import fit_cost
    from bayes_scaling.inference.discrepancy import inner_split
    from bayes_scaling.testing import runs_frame

    f = runs_frame()
    c = 6 * (f["params"] / 1e8) ** 0.05 * f["params"] * f["tokens"]
    path = tmp_path / "runs.csv"
    f.assign(compute=np.where(c > 2e20, 1.3 * c, c)).to_csv(path, index=False)
    runs = bs.load_runs(path, compute_col="compute")
    stored = []

    def fake_sample(compiled, *, draws, chains, **kw):
        ff = fake_fit(draws=draws, chains=chains)
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))},
                           coords=ff.posterior.coords)
        return xr.DataTree.from_dict({"posterior": ff.posterior, "sample_stats": stats}), 0, []

    real_store = fit_mod.store_cost
    monkeypatch.setattr(fit_mod, "compiled_model", lambda *a, **k: None)
    monkeypatch.setattr(fit_mod, "_sample", fake_sample)
    monkeypatch.setattr(fit_mod, "store_cost", lambda res, cost: (stored.append((len(res.runs), cost)),
                                                                  real_store(res, cost)))
    assert main(["fit", str(path), "--law", "chinchilla", "--compute-col", "compute", "--cost", "fitted",
                 "--calibrate-extrapolation", "--draws", "40", "--tune", "40", "--chains", "2", "--seed", "1",
                 "--out", str(tmp_path / "fit.nc")]) == 0
    train = inner_split(runs, bs.get_law("chinchilla"))[0]
    every, own = (fit_cost(r.frame["N"], r.frame["D"], r.frame["C"]) for r in (runs, train))
    assert abs(every.a - own.a) > 0.01  # the held-out runs' 1.3x moves the law fitted to every run
    (n_outer, outer), (n_inner, inner) = stored
    assert (n_outer, n_inner) == (len(runs), len(train))
    assert (outer.k, outer.a) == pytest.approx((every.k, every.a), rel=1e-12)
    assert (inner.k, inner.a) == pytest.approx((own.k, own.a), rel=1e-12)


def test_with_cost_derives_again_a_d_another_cost_law_derived():
    """A table of N and C (no D): loading derives D = C / (6N); a fit's law derives it as C / f(N); a second law
    (an inner fit's own) derives it again from the recorded C, not from the first law's D; the same law twice is a
    no-op in value."""
    import pandas as pd

    import bayes_scaling as bs
    from bayes_scaling.cost import CostLaw, with_cost

    n = np.array([1e8, 2e8, 4e8, 8e8])
    c = np.array([1e18, 4e18, 1.6e19, 6.4e19])
    runs = bs.load_runs(pd.DataFrame({"params": n, "compute": c, "loss": [3.0, 2.9, 2.8, 2.7]}), compute_col="compute")
    a, b = CostLaw("kaplan", n_ctx=2048, aspect_ratio=64.0), CostLaw("kaplan", n_ctx=2048, aspect_ratio=128.0)
    ra = with_cost(runs, a)
    rb = with_cost(ra, b)
    np.testing.assert_allclose(ra.frame["D"], a.tokens(c, n), rtol=1e-14)
    np.testing.assert_allclose(rb.frame["D"], b.tokens(c, n), rtol=1e-14)
    assert not np.allclose(ra.frame["D"], rb.frame["D"], rtol=1e-3)
    np.testing.assert_array_equal(with_cost(ra, a).frame["D"], ra.frame["D"])
    assert any(note.endswith(f"({b.describe()})") for note in rb.derived)
    assert with_cost(runs, CostLaw()) is runs  # 6ND on loading's 6ND D: unchanged


def test_lfo_inner_split_derives_d_with_the_inner_cost_law():
    """A table of N and C whose cost rule depends on the runs (here Kaplan's with an aspect ratio set by them): the
    calibration's inner fit reads D = C / f(N) of the law of its own training runs, not the outer fit's D."""
    import pandas as pd

    import bayes_scaling as bs
    from bayes_scaling.cost import CostLaw, store_cost, with_cost
    from bayes_scaling.inference.discrepancy import calibrate, inner_split
    from bayes_scaling.testing import runs_frame

    f = runs_frame()
    f = pd.DataFrame({"params": f["params"], "compute": 6 * f["params"] * f["tokens"], "loss": f["loss"]})
    runs = bs.load_runs(f, compute_col="compute")
    rule = lambda r: CostLaw("kaplan", n_ctx=2048, aspect_ratio=float(np.median(r.frame["N"])) ** 0.25)  # noqa: E731
    outer = rule(runs)
    res = fake_fit(draws=40, runs=with_cost(runs, outer))
    store_cost(res, outer)
    seen = {}

    def fitter(tr, **kw):
        seen["D"], seen["cost"] = tr.frame[["N", "C", "D"]].to_numpy(), kw["cost"]
        return fake_fit(draws=40, runs=tr)

    calibrate(res, fitter, cost_rule=rule)
    inner = rule(inner_split(runs, res.law)[0])
    assert abs(inner.aspect_ratio / outer.aspect_ratio - 1) > 0.1 and seen["cost"] == inner
    n, c, d = seen["D"].T
    np.testing.assert_allclose(d, inner.tokens(c, n), rtol=1e-12)
    assert not np.allclose(d, outer.tokens(c, n), rtol=1e-3)


def test_cli_backtest_run_noise_scores_with_the_se_column(tmp_path, monkeypatch, capsys):
    """``backtest --run-noise --col SE=se`` asks the fit for run noise (its scores then take the SEs: above)."""
    import bayes_scaling.inference.fit as fit_mod
    from bayes_scaling.cli import main
    from bayes_scaling.testing import runs_frame

    path = tmp_path / "runs.csv"
    f = runs_frame(sigma=SIGMA)
    f.assign(se=SE_LOG * f["loss"]).to_csv(path, index=False)
    seen = []

    def fake(train, **kw):
        seen.append(kw["run_noise"])
        return _took_se(fake_fit(draws=400, rel_sd=1e-4, sigma=SIGMA, runs=train))

    monkeypatch.setattr(fit_mod, "fit", fake)
    assert main(["backtest", str(path), "--law", "chinchilla", "--col", "SE=se", "--run-noise", "--holdout-fraction",
                 "0.25", "--no-calibrate", "--n-boot", "2", "--json"]) == 0
    capsys.readouterr()
    assert seen == [True]
