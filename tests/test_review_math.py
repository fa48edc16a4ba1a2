"""Numbers of the public queries checked against independent NumPy computations (fake fits, no sampling)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayes_scaling.cost import CostLaw, store_cost
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit

FITTED = CostLaw("fitted", k=92.4, a=0.883, rms_log_error=0.008, n_runs=25, n_max=3.2e9)


def _grid_loss_opt(E, A, B, al, be, compute, cost):
    """Optimal loss at ``compute`` FLOPs per draw by brute force over a fine log N grid."""
    n = np.exp(np.linspace(np.log(1e6), np.log(1e14), 8001))[None, :]
    d = np.reshape(compute, (-1, 1)) / cost.flops_per_token(n)
    return (E[:, None] + A[:, None] / n ** al[:, None] + B[:, None] / d ** be[:, None]).min(axis=1)


def test_compute_multiplier_prices_with_the_stored_cost_law():
    from bayes_scaling.queries.compare_groups import compare_groups

    f = fake_hierarchical_fit(draws=40)
    store_cost(f, FITTED)
    p = f.posterior
    E, al, be = (p[k].values.reshape(-1) for k in ("E", "alpha", "beta"))
    Ag, Bg = p["A_group"].values.reshape(-1, 2), p["B_group"].values.reshape(-1, 2)
    c = 1e22
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = compare_groups(f, ["x", "y"], compute=c)
    m = out["compute_multiplier"].values.reshape(-1)
    assert np.all(np.isfinite(m)) and np.all(m > 1)  # y is ~6% worse: it needs more compute
    # y's optimal loss at m C (same cost law) equals x's optimal loss at C
    la = _grid_loss_opt(E, Ag[:, 0], Bg[:, 0], al, be, c, FITTED)
    lb = _grid_loss_opt(E, Ag[:, 1], Bg[:, 1], al, be, c * m, FITTED)
    np.testing.assert_allclose(lb, la, rtol=1e-4)


def test_predict_completes_d_through_the_stored_cost_law():
    f = fake_fit(draws=20)
    store_cost(f, FITTED)
    n, c = 1e9, 1e21
    pr = f.predict(N=n, C=c)
    d = float(pr["D"].values[0])
    assert d == pytest.approx(c / (FITTED.k * n ** FITTED.a), rel=1e-9)  # not C / (6N)
    np.testing.assert_allclose(pr["loss"].values, f.predict(N=n, D=d)["loss"].values, rtol=1e-12)
    pr2 = f.predict(D=d, C=c)  # N from D and C inverts the same law
    assert float(pr2["N"].values[0]) == pytest.approx(n, rel=1e-9)
    from bayes_scaling.queries.allocate import decide

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dec = decide(f, c)
    # the plan allocate picks, asked back through predict with (N, C), is the same (N, D)
    assert float(f.predict(N=dec.N, C=c)["D"].values[0]) == pytest.approx(dec.D, rel=1e-9)


def test_predict_without_a_stored_cost_keeps_6nd():
    f = fake_fit(draws=10)
    assert float(f.predict(N=1e9, C=6e20)["D"].values[0]) == pytest.approx(1e11, rel=1e-12)


def test_kaplan_cost_params_inverts_flops():
    cost = CostLaw("kaplan", n_ctx=1024, aspect_ratio=64)
    n = np.array([1e6, 3e8, 1e11])
    d = np.array([1e9, 1e10, 1e12])
    np.testing.assert_allclose(cost.params(cost.flops(n, d), d), n, rtol=1e-9)


def test_quantiles_of_draws_with_inf_are_inf_not_nan():
    import xarray as xr

    from bayes_scaling.posterior.intervals import median_interval, summary_record

    v = np.r_[np.arange(1.0, 81.0), np.full(20, np.inf)]  # 20% of draws unreachable
    da = xr.DataArray(v.reshape(2, 50), dims=("chain", "draw"))
    r = summary_record(da, 0.9)
    assert r["ci_high"] == np.inf and r["mean"] == np.inf and r["median"] == 50.5
    assert r["p_infinite"] == pytest.approx(0.2) and r["mean_finite"] == pytest.approx(40.5)
    m, lo, hi = median_interval(da, 0.9)
    assert hi == np.inf and np.isfinite(lo) and m == r["median"]
    assert "p_infinite" not in summary_record(da.where(np.isfinite(da), 1.0))


def test_cli_target_says_unreachable(tmp_path, capsys):
    import json

    from bayes_scaling.cli import main

    f = fake_fit(rel_sd=0.08, sigma=0.02, draws=200, seed=3)
    e = np.sort(f.posterior["E"].values.reshape(-1))
    target = float(e[int(0.85 * e.size)])  # above the floor of 85% of the draws: the interval's top is unreachable
    path = tmp_path / "f.nc"
    f.save(path)
    assert main(["target", str(path), "--loss", repr(target), "--compute", "1e24"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "unreachable]" in out and "with the decision's plan" in out
    assert main(["target", str(path), "--loss", repr(target), "--compute", "1e24", "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    c = js["compute"]
    assert c["ci_high"] is None and c["mean"] is None and "infinity" in c["null_means"]
    assert c["p_infinite"] == pytest.approx(js["p_unreachable"]) and c["p_infinite"] > 0.1
    assert np.isfinite(c["median"]) and np.isfinite(c["mean_finite"])
    r = js["p_reach"]
    assert r["with_the_decisions_plan"] <= r["if_the_optimal_N_were_known"]


def test_prob_reach_of_the_decisions_plan():
    from bayes_scaling.queries.allocate import decide, prob_reach

    f = fake_fit(rel_sd=0.08, sigma=0.02, draws=200, seed=3)
    d = decide(f, 1e24)
    p = f.posterior
    E, A, B, al, be = (p[k].values.reshape(-1) for k in ("E", "A", "B", "alpha", "beta"))
    loss_plan = E + A / d.N ** al + B / d.D ** be  # independent: the law at the decision's (N, D)
    assert d.D == pytest.approx(1e24 / (6 * d.N), rel=1e-9)
    target = float(np.median(loss_plan))
    assert prob_reach(f, target, 1e24, plan="decision") == pytest.approx((loss_plan <= target).mean(), abs=1e-12)
    assert prob_reach(f, target, 1e24) > prob_reach(f, target, 1e24, plan="decision")


def test_contradiction_budget_is_training_compute_against_c_min():
    from bayes_scaling.queries.breakdown import contradiction_point, prob_before

    fc = fake_fit("kaplan_c", {"alpha_C": 0.050, "C_c": 3.1e8}, rel_sd=0.02, draws=100, seed=1)
    fd = fake_fit("kaplan_d", {"alpha_D": 0.095, "D_c": 5.4e13}, rel_sd=0.02, draws=100, seed=2)
    pt = contradiction_point(fc, fd, compute_factor=2.0)
    c = pt["C_star"].values.reshape(-1)
    budget = float(np.median(c)) * 2.0  # training compute whose C_min (budget / 2) is the median C*
    assert prob_before(pt, budget) == pytest.approx((c < budget / 2.0).mean(), abs=1e-12)
    assert 0.3 < prob_before(pt, budget) < 0.7  # not ~1, as comparing budget itself with C* gives


@pytest.mark.parametrize("dist,kwargs", [("HalfNormal", {"sigma": 0.05}), ("Exponential", {"lam": 20.0}),
                                         ("HalfStudentT", {"nu": 3.0, "sigma": 0.05})])
def test_run_noise_sigma_prior_variance_matches_monte_carlo(dist, kwargs):
    from bayes_scaling.specs.moments import contraction_scale, quadrature_sum_variance, scipy_dist
    from bayes_scaling.specs.spec import PriorSpec

    prior = PriorSpec(dist, kwargs)
    rng = np.random.default_rng(0)
    d = scipy_dist(prior)
    x, y = (np.abs(d.rvs(size=2_000_000, random_state=rng)) for _ in range(2))
    h = np.hypot(x, y)
    for scale in ("linear", "log"):
        if scale == "linear" and contraction_scale(prior) == "log":
            continue  # heavy tails: no usable linear variance
        mc = np.var(np.log(h) if scale == "log" else h)
        assert quadrature_sum_variance(prior, scale) == pytest.approx(mc, rel=0.02)
    # deterministic
    assert quadrature_sum_variance(prior, "log") == quadrature_sum_variance(prior, "log")


def test_run_noise_sigma_contraction_uses_the_derived_prior():
    import json

    from bayes_scaling.inference.fit import resolve_spec
    from bayes_scaling.specs import moments

    spec = resolve_spec("chinchilla", None)
    m = moments.prior_moments(spec, ["sigma", "sigma_law", "sigma_run"], {})
    s = 0.05  # the default HalfNormal(0.05) on each component
    assert m["sigma_run"][1] == pytest.approx(s ** 2 * (1 - 2 / np.pi))
    rng = np.random.default_rng(1)
    h = np.hypot(np.abs(rng.normal(0, s, 10 ** 6)), np.abs(rng.normal(0, s, 10 ** 6)))
    assert m["sigma"][1] == pytest.approx(np.var(h), rel=0.01)
    # a posterior of the derived sigma with half the prior variance contracts by 0.5, also from an older
    # file's stored moments that gave sigma HalfNormal's variance
    draws = np.sqrt(0.5) * (h[:200_000] - h.mean()) + h.mean()
    old = json.dumps({**m, "sigma": ["linear", s ** 2 * (1 - 2 / np.pi)]})
    for stored in (json.dumps(m), old):
        c = moments.contraction(spec, "sigma", draws, stored, {})["contraction"]
        assert c == pytest.approx(0.5, abs=0.02)


def test_planning_and_compare_json_carry_the_units_block(tmp_path, capsys):
    import json

    from bayes_scaling.cli import main

    f, h = fake_fit(draws=50), fake_hierarchical_fit(draws=50)
    pf, ph = tmp_path / "f.nc", tmp_path / "h.nc"
    f.save(pf)
    h.save(ph)
    want = {"loss": f.loss_unit, "N": f"{f.runs_metadata['params_kind']} parameters", "D": "tokens", "C": "FLOPs"}
    for argv in (["predict", pf, "--params", "1e9", "--tokens", "2e10"], ["allocate", pf, "--compute", "1e22"],
                 ["target", pf, "--loss", "2.5"], ["frontier", pf, "--compute-min", "1e20", "--compute-max", "1e22"],
                 ["compare", ph, "--compute", "1e22"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main([str(a) for a in argv] + ["--json"]) == 0
        assert json.loads(capsys.readouterr().out)["units"] == want, argv[0]
