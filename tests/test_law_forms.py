"""The law forms practitioners extrapolate with, beyond tests/test_laws.py's conformance checks:
M4's implicit solve (convergence, its limits alpha = 0 and 1, exact gradients), Chinchilla with
partially tied exponents (its derived beta and Eq. 4), Kaplan's Eq. 1.5 with a floor, and broken
power laws on compute reading the compute column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from conftest import graph_check_mode

import bayes_scaling as bs
from bayes_scaling import get_law
from bayes_scaling.inference.model import model_data
from bayes_scaling.laws import m4
from bayes_scaling.specs.spec import default_spec


def _p(law, natural):
    return law.to_law_params(natural)


@pytest.mark.parametrize("alpha", [1e-3, 2e-3, 0.05, 0.3, 1.0, 3.0, 100.0])
def test_m4_solve_reaches_machine_precision_in_5_halley_steps(alpha, monkeypatch):
    assert m4.HALLEY_STEPS >= 5  # what the law runs
    monkeypatch.setattr(m4, "HALLEY_STEPS", 5)
    log_g = np.concatenate([np.linspace(-800.0, 800.0, 40001), np.linspace(-2.0, 2.0, 20001)])
    t = m4.solve_logit(np, log_g, np.full_like(log_g, alpha))
    f, _ = m4.phi(np, t, alpha)
    assert np.max(np.abs(f - log_g) / np.maximum(1.0, np.abs(log_g))) < 1e-14


def test_m4_phi_parts_are_the_softplus_forms_and_their_derivatives():
    """phi from one exp (phi_parts) equals alpha softplus(t) - softplus(-t); phi' and phi'' match central
    differences; far in both tails nothing overflows."""
    t = np.concatenate([np.linspace(-30.0, 30.0, 601), [-700.0, 700.0]])
    for alpha in (1e-3, 0.4, 1.0, 7.0):
        f, df, d2f = m4.phi_parts(np, t, alpha)
        np.testing.assert_allclose(f, alpha * np.logaddexp(0.0, t) - np.logaddexp(0.0, -t), rtol=1e-14, atol=1e-15)
        h = 1e-5
        up, dn = m4.phi_parts(np, t + h, alpha), m4.phi_parts(np, t - h, alpha)
        np.testing.assert_allclose(df, (up[0] - dn[0]) / (2 * h), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(d2f, (up[1] - dn[1]) / (2 * h), rtol=1e-6, atol=1e-9)
        assert np.all(np.isfinite(f)) and np.all(df >= min(1.0, alpha) * (1 - 1e-15))


def test_m4_phi_gradient_in_t_is_phi_prime():
    """The sampled coordinate t_ref enters phi (from_internal, the Jacobian, the slope map, the final Newton
    step): PyTensor's gradients of phi and phi' in t are phi' and phi'' on both sides of t = 0 and at t = 0
    itself, where t_ref starts (a one-sided kink there gave dphi/dt = 1 + alpha, not (1 + alpha) / 2)."""
    tt, aa = pt.dvector("t"), pt.dscalar("a")
    f, df = m4.phi(pt, tt, aa)
    grads = pytensor.function([tt, aa], [pt.grad(f.sum(), tt), pt.grad(df.sum(), tt)], mode=graph_check_mode())
    t = np.array([-40.0, -3.0, -0.2, -1e-12, -1e-300, 0.0, 1e-300, 1e-12, 0.3, 2.5, 40.0])
    for alpha in (0.02, 0.7, 5.0):
        g_f, g_df = grads(t, alpha)
        _, want_df, want_d2f = m4.phi_parts(np, t, alpha)
        np.testing.assert_allclose(want_df[5], (1 + alpha) / 2, rtol=1e-15)
        np.testing.assert_allclose(want_d2f[5], (alpha - 1) / 4, rtol=1e-15)
        np.testing.assert_allclose(g_f, want_df, rtol=1e-13)
        np.testing.assert_allclose(g_df, want_d2f, rtol=1e-10, atol=1e-300)


def test_m4_model_gradient_matches_finite_differences_at_the_initial_point():
    """The sampler's start: every value variable's dlogp of an M4 fit's model (t_ref = 0 there) matches
    central differences of its logp, at the initial point and with t_ref moved to +-1e-9 and 0.5."""
    from bayes_scaling.inference import fit as fit_mod
    from bayes_scaling.inference.model import build_model

    law = get_law("m4")
    x = np.geomspace(1e2, 1e4, 20)
    truth = {"E": 0.15, "G": 0.8, "beta": 10.0, "c": 0.5, "alpha": 0.6}
    y = law.loss(np, {"X": np.log(x)}, _p(law, truth)) * np.exp(np.random.default_rng(3).normal(0, 0.01, x.size))
    runs = bs.load_runs(pd.DataFrame({"X": x, "loss": y}), extra_cols={"X": "X"})
    spec = fit_mod.resolve_spec(spec="m4_error_rate").synced()
    model = build_model(spec, model_data(spec, runs))
    ip = model.initial_point()
    assert float(ip["t_ref"]) == 0.0
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    names = [v.name for v in model.value_vars]
    assert all(np.ndim(ip[n]) == 0 for n in names)
    h = 1e-6
    for t0 in (0.0, -1e-9, 1e-9, 0.5):
        p = {**ip, "t_ref": np.asarray(t0)}
        g = dlogp(p)
        for i, n in enumerate(names):
            up, dn = {**p, n: np.asarray(p[n] + h)}, {**p, n: np.asarray(p[n] - h)}
            fd = (logp(up) - logp(dn)) / (2 * h)
            assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-5), (t0, n, g[i], fd)


def test_m4_limits_are_the_power_law_and_the_logistic():
    law, x = get_law("m4"), {"X": np.log(np.geomspace(10, 1e6, 7))}
    p = {"E": 0.4, "G": 2.0, "beta": 3.0, "c": 0.5}
    # alpha -> 0: M2, E + beta X^-c (power_x with B = beta, c0 = c)
    m2 = get_law("power_x").log_loss(np, x, _p(get_law("power_x"), {"E": 0.4, "B": 3.0, "c0": 0.5}))
    np.testing.assert_allclose(law.log_loss(np, x, _p(law, {**p, "alpha": 1e-12})), m2, rtol=1e-10)
    # alpha = 1: u / (1 - u) = beta X^-c, so L = E + G g / (1 + g)
    g = 3.0 * np.exp(x["X"]) ** -0.5
    np.testing.assert_allclose(law.loss(np, x, _p(law, {**p, "alpha": 1.0})), 0.4 + 2.0 * g / (1 + g), rtol=1e-13)


def test_m4_satisfies_its_equation_and_falls_from_eps0_to_eps_inf():
    law = get_law("m4")
    nat = {"E": 0.4, "G": 2.0, "beta": 3.0, "c": 0.5, "alpha": 0.7}
    xs = np.geomspace(1e-6, 1e12, 50)
    loss = law.loss(np, {"X": np.log(xs)}, _p(law, nat))
    lhs = (loss - 0.4) / (2.4 - loss) ** 0.7
    np.testing.assert_allclose(lhs, 3.0 * xs ** -0.5, rtol=1e-10)
    assert np.all(np.diff(loss) < 0) and 0.4 < loss[-1] < loss[0] < 2.4


def test_m4_pytensor_gradient_is_the_implicit_one():
    """The gradient of log L in every parameter (PyTensor) matches central differences of the NumPy law."""
    law = get_law("m4")
    x = np.log(np.geomspace(10, 1e5, 6))
    nat = {"E": 0.4, "G": 2.0, "beta": 3.0, "c": 0.5, "alpha": 0.7}
    p0 = _p(law, nat)
    keys = sorted(p0)
    sym = {k: pt.dscalar(k) for k in keys}
    out = law.log_loss(pt, {"X": pt.as_tensor(x)}, sym).sum()
    grad = pytensor.function(list(sym.values()), pt.grad(out, list(sym.values())), mode=graph_check_mode())(
        *[p0[k] for k in keys])
    for k, g in zip(keys, grad):
        h = 1e-5
        up, dn = law.log_loss(np, {"X": x}, {**p0, k: p0[k] + h}), law.log_loss(np, {"X": x}, {**p0, k: p0[k] - h})
        assert float(g) == pytest.approx(float((up - dn).sum() / (2 * h)), rel=1e-7, abs=1e-9), k


def test_ptied_beta_is_derived_and_allocates_by_chinchilla_eq4():
    ptied, chin = get_law("chinchilla_ptied"), get_law("chinchilla")
    nat = {"E": 1.8, "A": 450.0, "B": 2000.0, "alpha": 0.34}
    p = _p(ptied, {**nat, "delta": 0.07})
    beta = 0.34 * np.exp(0.07)
    assert ptied.derived(p)["beta"] == pytest.approx(beta, rel=1e-15)
    q = _p(chin, {**nat, "beta": beta})
    x = {"N": np.log([1e8, 7e10]), "D": np.log([2e9, 1.4e12])}
    np.testing.assert_allclose(ptied.log_loss(np, x, p), chin.log_loss(np, x, q), rtol=1e-14)
    log_ct = np.log(1e24 / 6)
    want = float(chin.log_optimal_params(np, log_ct, q))
    assert float(ptied.log_optimal_params(np, log_ct, p)) == pytest.approx(want, rel=1e-14)
    # delta = 0 is the tied law
    tied = get_law("chinchilla_tied")
    np.testing.assert_allclose(ptied.log_loss(np, x, _p(ptied, {**nat, "delta": 0.0})),
                               tied.log_loss(np, x, _p(tied, nat)), rtol=1e-14)
    assert ptied.param("delta").kind == "offset" and "delta" in ptied.direct_names


def test_ptied_delta_varies_additively_by_group():
    from bayes_scaling.posterior.evaluator import group_params
    from bayes_scaling.specs.spec import HierarchySpec

    law = get_law("chinchilla_ptied")
    p = {"alpha": 0.34, "delta": -0.1}
    logc = {"log_E": 0.5, "log_A": 6.0, "log_B": 7.0}
    eps = np.array([-1.0, 0.0, 2.0])
    p_g, _ = group_params(np, law, HierarchySpec(("delta",)), p, logc, {"N": 20.0, "D": 23.0},
                          {"delta": 0.2}, {"delta": eps})
    np.testing.assert_allclose(p_g["delta"], -0.1 + 0.2 * eps)


def test_kaplan_nd_floor_is_kaplan_plus_the_floor():
    floor, kaplan = get_law("kaplan_nd_floor"), get_law("kaplan_nd")
    table2 = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}  # Kaplan et al. 2020 Table 2
    x = {"N": np.log([1e8, 1e9]), "D": np.log([1e9, 2.29e10])}
    got = floor.loss(np, x, _p(floor, {**table2, "E": 1.2}))
    np.testing.assert_allclose(got, 1.2 + np.array([2.9567, 2.3675]), atol=1.1e-4)  # test_laws' oracles + E
    np.testing.assert_allclose(got, 1.2 + kaplan.loss(np, x, _p(kaplan, table2)), rtol=1e-14)
    log_ct = np.log(1e22 / 6)  # the floor does not move N*(C)
    assert float(floor.log_optimal_params(np, log_ct, _p(floor, {**table2, "E": 1.2}))) == pytest.approx(
        float(kaplan.log_optimal_params(np, log_ct, _p(kaplan, table2))), rel=1e-14)


def test_compute_axis_laws_read_the_compute_column():
    assert {"power_c", "bnsl1_c", "bnsl2_c"} <= set(bs.list_laws())
    law = get_law("bnsl1_c")
    assert law.input_names == ("C",) and law.compute_unit == "FLOPs" and law.counterpart() == "power_c"
    n, d = np.geomspace(1e8, 1e10, 9), np.geomspace(2e9, 2e11, 9)
    # the compute column (here 1.5 x 6ND, as for a model with attention FLOPs counted) is what the law sees
    frame = pd.DataFrame({"params": n, "tokens": d, "compute": 9.0 * n * d, "loss": np.linspace(3.0, 2.2, 9)})
    runs = bs.load_runs(frame)
    data = model_data(default_spec("bnsl1_c"), runs)
    np.testing.assert_allclose(data.log_inputs["C"], np.log(frame["compute"]), rtol=1e-14)


@pytest.mark.sampling
@pytest.mark.filterwarnings("ignore:sampler diagnostics failed")  # one attempt (retries=0): values are asserted
def test_m4_fit_recovers_a_bent_error_curve_and_extrapolates_it():
    """An M4 error-rate curve with a visible bend (eps_inf 0.15, eps_0 0.95, alpha 0.6, c 0.5), 20 runs over
    2 decades with 1% noise, fitted with the error-rate spec: the floor and the exponent come back within
    comfortable margins and the 90% interval half a decade beyond the runs holds the true curve."""
    import pandas as pd

    import bayes_scaling as bs
    from bayes_scaling.inference.fit import fit

    law = get_law("m4")
    truth = {"E": 0.15, "G": 0.8, "beta": 10.0, "c": 0.5, "alpha": 0.6}
    rng = np.random.default_rng(3)
    x = np.geomspace(1e2, 1e4, 20)
    y = law.loss(np, {"X": np.log(x)}, _p(law, truth)) * np.exp(rng.normal(0, 0.01, x.size))
    runs = bs.load_runs(pd.DataFrame({"X": x, "loss": y}), extra_cols={"X": "X"})
    res = fit(runs, spec="m4_error_rate", draws=400, tune=300, seed=1, progress=False, retries=0)
    post = res.posterior
    # Seeds 1-5 (host CPU, 2026-12-07): E median 0.135-0.138, c 0.426-0.437, the truth at quantile 0.63-0.67 of
    # the prediction, |median / truth - 1| 0.008-0.011.
    assert 0.08 < float(post["E"].median()) < 0.22
    assert 0.3 < float(post["c"].median()) < 0.8
    x_new = np.array([10 ** 4.5])
    want = float(law.loss(np, {"X": np.log(x_new)}, _p(law, truth))[0])
    s = res.predict(X=x_new, seed=0)["loss"].values.ravel()
    lo, med, hi = np.quantile(s, [0.05, 0.5, 0.95])
    assert lo <= want <= hi and abs(med / want - 1) < 0.05, (lo, med, hi, want)
