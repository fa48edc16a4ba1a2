"""Frequentist baselines: Huber/L-BFGS point fit (Hoffmann Approach 3) with a bootstrap that does
not collapse, the M4 estimator and a BNSL point fit. No MCMC; NumPy/SciPy only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import dataset

from bayes_scaling import BayesScalingError, get_law
from bayes_scaling.baselines import (
    bnsl_point_fit,
    huber_bootstrap,
    huber_fit,
    m4_fit,
    m4_predict,
    predict_interval,
)

#: Epoch AI's notebook point fit on their 240-row sample (Besiroglu et al. 2024, arXiv:2404.10102).
EPOCH_240 = {"E": 1.8172, "A": 477.84, "B": 2143.86, "alpha": 0.3473, "beta": 0.3672}
#: Epoch's published 95% bootstrap intervals (4000 resamples).
EPOCH_CI95 = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


@pytest.fixture(scope="module")
def epoch240():
    """Epoch's 240-row sample (5 highest losses dropped): log N, log D = log(C / 6N), log loss."""
    frame = pd.read_csv(dataset("chinchilla_epoch_besiroglu2024/svg_extracted_data.csv"))
    frame = frame.drop(frame["loss"].nlargest(5).index)
    n = frame["Model Size"].to_numpy(float)
    c = frame["Training FLOP"].to_numpy(float)
    return {"N": np.log(n), "D": np.log(c / (6.0 * n))}, np.log(frame["loss"].to_numpy(float))


@pytest.fixture(scope="module")
def epoch_point(epoch240):
    x, y = epoch240
    return huber_fit("chinchilla", x, y)


def test_huber_fit_reproduces_epoch_point_fit(epoch_point):
    fit = epoch_point
    assert fit.law == "chinchilla" and fit.n_obs == 240 and fit.delta == 1e-3
    for k, v in EPOCH_240.items():
        assert fit.params[k] == pytest.approx(v, rel=0.01), k
    # law convention: exponents as is, positives as log_<name>
    assert set(fit.p) == {"log_E", "log_A", "log_B", "alpha", "beta"}
    assert fit.p["log_E"] == pytest.approx(np.log(fit.params["E"]))
    # converged: independent starts agree on the minimum
    assert fit.n_agree >= fit.n_starts // 2


def test_huber_bootstrap_does_not_collapse(epoch240, epoch_point):
    x, y = epoch240
    boot = huber_bootstrap("chinchilla", x, y, n_boot=40, starts_per_resample=5, seed=1, point=epoch_point)
    assert boot.draws.shape == (40, 5) and boot.names == ("log_E", "log_A", "log_B", "alpha", "beta")
    ci = boot.interval(0.95)
    for k, (lo, hi) in EPOCH_CI95.items():
        ratio = (ci[k][1] - ci[k][0]) / (hi - lo)
        assert 0.4 < ratio < 2.5, (k, ci[k], ratio)  # the collapsed "trap" bootstrap is ~20x narrower
        assert ci[k][0] < epoch_point.params[k] < ci[k][1]
    # every resample's minimum was reached by several independent starts, and the full-data
    # optimum (an audit start only) rarely beat them
    assert np.median(boot.n_agree) >= 3
    assert boot.extra_better.sum() <= 4

    pred = predict_interval(boot, {"N": np.log([1e9, 7e10]), "D": np.log([2e10, 1.4e12])}, prob=0.9)
    assert np.all(pred["lower"] < pred["median"]) and np.all(pred["median"] < pred["upper"])
    assert np.all((pred["lower"] < pred["point"]) & (pred["point"] < pred["upper"]))
    assert np.all(pred["upper"] - pred["lower"] < 0.1)  # nats/token; sensible, not degenerate
    assert pred["upper"][1] - pred["lower"][1] > pred["upper"][0] - pred["lower"][0]  # wider when extrapolating


def _truth(law, natural):
    return {(k if k in law.direct_names else f"log_{k}"): (v if k in law.direct_names else np.log(v))
            for k, v in natural.items()}


@pytest.mark.parametrize("name, natural", [
    ("chinchilla", {"E": 1.7, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.28}),
    ("kaplan_nd", {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}),
    ("data_constrained", {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.35, "beta": 0.35,
                          "R_D_star": 15.4, "R_N_star": 5.3}),
    ("bnsl1_x", {"E": 0.3, "B": 5.0, "c0": 0.1, "c1": 1.5, "d1": 3e3, "f1": 0.3}),
    ("chinchilla_ptied", {"E": 1.7, "A": 400.0, "B": 1500.0, "alpha": 0.34, "delta": -0.15}),  # a signed offset
])
def test_huber_fit_recovers_any_law(name, natural):
    law = get_law(name)
    rng = np.random.default_rng(3)
    n = 60
    ln = rng.uniform(np.log(1e7), np.log(1e10), n)
    pool = {"N": ln, "D": ln + rng.uniform(np.log(2.0), np.log(200.0), n),
            "X": rng.uniform(np.log(1e2), np.log(1e6), n)}
    pool["U"] = pool["D"] - rng.uniform(0.0, np.log(40.0), n)
    x = {k: pool[k] for k in law.input_names}
    y = law.log_loss(np, x, _truth(law, natural))
    fit = huber_fit(name, x, y, starts=16, seed=2)
    assert fit.n_agree >= 3
    assert np.max(np.abs(fit.predict_log(x) - y)) < 1e-5
    for k, v in natural.items():
        assert fit.params[k] == pytest.approx(v, rel=0.02), k


def test_huber_fit_explicit_starts_and_errors():
    law = get_law("power_x")
    lx = np.log(np.geomspace(10, 1e5, 20))
    y = law.log_loss(np, {"X": lx}, {"log_E": np.log(0.5), "log_B": np.log(20.0), "c0": 0.4})
    fit = huber_fit("power_x", {"X": lx}, y, starts=[{"log_E": 0.0, "log_B": 1.0, "c0": 1.0},
                                                      {"log_E": -2.0, "log_B": 0.0, "c0": 0.1}])
    assert fit.n_starts == 2
    assert fit.params["c0"] == pytest.approx(0.4, rel=1e-4)
    with pytest.raises(BayesScalingError, match="needs log-inputs"):
        huber_fit("chinchilla", {"N": lx}, y)
    with pytest.raises(BayesScalingError, match="finite"):
        huber_fit("power_x", {"X": lx}, np.where(lx > 5, np.nan, y))


def _m4_curve(x, beta, c, alpha, e_inf, e_0):
    """y solving (y - e_inf) / (e_0 - y)^alpha = beta x^c, by brute-force bisection (independent)."""
    lo, hi = np.full(len(x), e_inf), np.full(len(x), e_0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        up = (mid - e_inf) / (e_0 - mid) ** alpha > beta * x ** c
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("eps0", [None, 3.0])
def test_m4_recovers_its_own_curve(eps0):
    truth = {"beta": 30.0, "c": -0.4, "alpha": 0.7, "e_inf": 0.4, "e_0": 3.0}
    x = np.geomspace(1e3, 1e7, 24)
    y = _m4_curve(x, *truth.values())
    fit = m4_fit(x[:16], y[:16], eps0=eps0)
    assert fit.rmse_log < 1e-8 and fit.n_agree >= 2
    assert fit.beta == pytest.approx(30.0, rel=1e-3) and fit.c == pytest.approx(-0.4, rel=1e-3)
    assert fit.alpha == pytest.approx(0.7, rel=1e-3) and fit.eps_inf == pytest.approx(0.4, rel=1e-3)
    assert fit.eps_0 == pytest.approx(3.0, rel=1e-3)
    np.testing.assert_allclose(m4_predict(fit, x[16:]), y[16:], rtol=1e-6)  # extrapolation
    # noisy curve: still a close extrapolation, and predictions fall monotonically in x
    yn = y * np.exp(np.random.default_rng(0).normal(0.0, 0.005, y.size))
    fitn = m4_fit(x[:16], yn[:16], eps0=eps0)
    np.testing.assert_allclose(m4_predict(fitn, x[16:]), y[16:], rtol=0.1)
    grid = m4_predict(fitn, np.geomspace(1.0, 1e12, 400))
    assert np.all(np.diff(grid) < 0)
    assert np.all((grid > fitn.eps_inf) & (grid < fitn.eps_0))


def test_m4_input_checks():
    with pytest.raises(BayesScalingError, match="eps0"):
        m4_fit([1, 2, 3, 4], [0.9, 0.8, 0.7, 0.6], eps0=0.5)
    with pytest.raises(BayesScalingError, match="at least 4"):
        m4_fit([1, 2, 3], [0.9, 0.8, 0.7])


def test_bnsl_point_fit_extrapolates_4digit_addition():
    frame = pd.read_csv(dataset("bnsl_4digit_addition_caballero2022/bnsl_4digit_addition.csv"))
    fit_rows, held = frame[frame["split"] == "fit"], frame[frame["split"] == "extrapolate"]
    assert len(fit_rows) == 14 and len(held) == 3
    x_held = held["train_dataset_size"].to_numpy(float)
    y_held = held["test_loss"].to_numpy(float)

    bnsl = bnsl_point_fit(fit_rows["train_dataset_size"], fit_rows["test_loss"], starts=64)
    assert bnsl.law == "bnsl1_x" and bnsl.n_agree >= 3
    err_bnsl = np.abs(bnsl.predict({"X": np.log(x_held)}) / y_held - 1)
    assert np.all(err_bnsl < 0.05), err_bnsl
    assert 544 < bnsl.params["d1"] < 736  # the break sits where the loss drops

    power = huber_fit("power_x", {"X": np.log(fit_rows["train_dataset_size"].to_numpy(float))},
                      np.log(fit_rows["test_loss"].to_numpy(float)), starts=24)
    err_power = np.abs(power.predict({"X": np.log(x_held)}) / y_held - 1)
    assert np.all(err_power > 0.5) and err_power.mean() > 10 * err_bnsl.mean()
