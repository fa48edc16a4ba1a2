"""The residual process of the discrepancy: recovery of a known OU process, calibrated intervals beyond
the data, storage with a fit, and its use in the predictive (only beyond the data)."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.inference.residual_process import fit_residual_process, with_residual_process
from bayes_scaling.posterior.discrepancy import Discrepancy, ResidualProcess
from bayes_scaling.testing import fake_fit


def _ou_path(rng, t, s, ell, se):
    """An exact OU path of scale s and length ell at times t, plus white noise se."""
    x = np.empty(len(t))
    x[0] = rng.normal(0, s)
    for i in range(1, len(t)):
        a = np.exp(-(t[i] - t[i - 1]) / ell)
        x[i] = a * x[i - 1] + rng.normal(0, s * np.sqrt(1 - a * a))
    return x + rng.normal(0, se, len(t))


def test_known_process_is_recovered_and_its_intervals_beyond_the_data_cover():
    """25 simulated curves (s = 0.02, ell = 0.15 decades, se = 0.003; 60 runs over 2 decades): the median
    fitted ell and s lie near the truth, and the 90% intervals of the next 0.3 decades cover about 90%
    (plug-in estimates: 87% over 200 curves, 93% over these 25)."""
    rng = np.random.default_rng(0)
    t, tq = np.linspace(0, 2.0, 60), np.linspace(2.02, 2.3, 15)
    ells, ss, cov = [], [], []
    for _ in range(25):
        y = _ou_path(rng, np.concatenate([t, tq]), 0.02, 0.15, 0.003)
        p = fit_residual_process(t, y[:60])
        m, v = p.conditional(tq)
        cov.append(np.mean(np.abs(y[60:] - m) <= 1.645 * np.sqrt(v + p.se ** 2)))
        ells.append(p.ell)
        ss.append(p.s)
    assert 0.09 < np.median(ells) < 0.25, np.median(ells)
    assert 0.014 < np.median(ss) < 0.027, np.median(ss)
    assert 0.78 < np.mean(cov) < 0.98, np.mean(cov)


def test_conditional_mean_decays_and_variance_grows_beyond_the_data():
    p = ResidualProcess(np.linspace(0, 1, 20), np.full(20, 0.03), 0.02, 0.1, 0.001)
    m, v = p.conditional(np.array([1.01, 1.1, 1.5, 5.0]))
    assert np.all(np.diff(m) < 0) and m[0] > 0.02 and abs(m[-1]) < 1e-6
    assert np.all(np.diff(v) > 0) and v[-1] == pytest.approx(0.02 ** 2, rel=1e-6)


def test_too_few_residuals_are_refused_with_the_quantity():
    with pytest.raises(BayesScalingError) as e:
        fit_residual_process([0.0, 1.0, 2.0], [0.0, 0.1, 0.0])
    assert e.value.quantity == "residual_process"


def test_fit_stores_the_process_and_widens_and_shifts_only_beyond_the_data(tmp_path):
    """On a fit of N and D (split axis C): the process travels through save/load, the predictive
    inside the data is unchanged, and far beyond it the spread is at least the process scale."""
    from bayes_scaling.result import load_fit

    fit = fake_fit(seed=3)
    out = with_residual_process(fit)
    d = out.discrepancy
    assert isinstance(d.residual, ResidualProcess) and len(d.residual.resid) == len(fit.runs)
    assert d.info["residual_process"]["ell_decades"] == pytest.approx(d.residual.ell)
    path = tmp_path / "f.nc"
    out.save(path)
    back = load_fit(path).discrepancy
    np.testing.assert_allclose(back.residual.resid, d.residual.resid)
    assert back.residual.s == pytest.approx(d.residual.s)
    top = 10 ** d.log10_axis_max
    assert float(np.abs(d.shift([top / 10, top]).values).max()) == 0.0
    far = float(d.scale([top * 1e4]).values.min())
    assert far == pytest.approx(d.residual.s, rel=1e-6)  # tau0 = tau1 = 0: the process alone
    assert isinstance(Discrepancy.from_dataset(d.to_dataset()).residual, ResidualProcess)


def test_an_ensemble_gets_one_process_from_its_mixture_and_keeps_its_weights():
    from bayes_scaling.result import EnsembleResult

    a = fake_fit(seed=1)
    b = fake_fit(truth={**EXAMPLE["truth"], "beta": 0.30}, runs_truth=EXAMPLE["truth"], seed=1)  # same runs
    ens = with_residual_process(EnsembleResult({"a": a, "b": b}, {"a": 3.0, "b": 1.0}, {"method": "test"}))
    procs = [m.discrepancy.residual for m in ens.members.values()]
    np.testing.assert_array_equal(procs[0].resid, procs[1].resid)
    assert ens.weights == {"a": 0.75, "b": 0.25} and ens.info["residual_process"]["n_runs"] == len(a.runs)


def test_fit_ensembles_attaches_the_process_to_every_ensemble():
    """Through fit_ensembles(residual_process=True): a learning curve whose noise wanders (an OU path
    of s = 0.02, ell = 0.3 decades) gets a process of about that scale on every member."""
    import pandas as pd

    import bayes_scaling as bs
    from bayes_scaling.inference.batch import fit_ensembles

    rng = np.random.default_rng(4)
    x = np.geomspace(1e2, 1e5, 40)
    wander = _ou_path(rng, np.log10(x), 0.02, 0.3, 0.002)
    frame = pd.DataFrame({"X": x, "loss": (0.5 + 5 * x ** -0.4) * np.exp(wander)})
    runs = bs.load_runs(frame, extra_cols={"X": "X"})
    out = fit_ensembles({"c": runs}, ["power_x"], workers=1, cut_decades=(1.0,), calibrate_extrapolation="auto",
                        draws=200, tune=200, inner_draws=200, seed=2, inner_fit_kw={"retries": 0},
                        residual_process=True)
    ens = out.fits["c"]
    proc = ens.members["power_x"].discrepancy.residual
    assert isinstance(proc, ResidualProcess) and ens.info["residual_process"]["n_runs"] == 40
    assert 0.005 < proc.s < 0.06, proc.s
