"""Planning queries without sampling: compute-optimal allocation, decisions under uncertainty,
compute for a target loss, data requirement, Kaplan's contradiction point, the extrapolation
guard and the planning CLI. Posteriors are built from known draws (``fake_fit``); every oracle
is a published number (facts.md §1.4, §1.8, §2.3, §3.2, §9) or an independent computation
(scipy root finding / minimisation on the closed-form laws).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr
from scipy.optimize import brentq, minimize_scalar

from bayes_scaling.cli import main
from bayes_scaling.conventions import PF_DAY_FLOPS
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.registry import get_law
from bayes_scaling.queries.draws import golden_min
from bayes_scaling.queries.allocate import (
    compute_for_loss,
    compute_optimal,
    decide,
    frontier_exponents,
    parse_utility,
    plan_outcome,
    prob_reach,
)
from bayes_scaling.queries.breakdown import contradiction_point, prob_before
from bayes_scaling.queries.data_requirement import (
    data_requirement,
    tokens_for_loss,
    tokens_to_limit_overfitting,
)
from bayes_scaling.queries.extrapolation import (
    decades_beyond,
    extrapolation_report,
    largest_runs_check,
)
from bayes_scaling.testing import fake_fit

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

GOPHER = 5.76e23  # FLOPs (Hoffmann et al. 2022, Fig. 2 caption)

# Hoffmann et al. 2022 Approach 3 (facts §2.3): unrounded (TeX source / Epoch notebook) and as printed.
HOFF_UNROUNDED = {"E": 1.6934, "A": math.exp(6.0073404), "B": math.exp(6.0179186),
                  "alpha": 0.33917084, "beta": 0.2849083}
HOFF_ROUNDED = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
# Besiroglu et al. 2024 refit (facts §3.2).
BESIROGLU = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
# Kaplan et al. 2020 Table 2 (joint L(N, D)), Eq. 1.3 (L(C_min), PF-days), Eq. 1.2 (L(D)).
KAPLAN_ND = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}
KAPLAN_C = {"alpha_C": 0.050, "C_c": 3.1e8}
KAPLAN_D = {"alpha_D": 0.095, "D_c": 5.4e13}
KAPLAN_N = {"alpha_N": 0.076, "N_c": 8.8e13}


# -- independent closed forms ------------------------------------------------------------------

def chin_loss(t, n, d):
    return t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]


def chin_frontier(t, c, k=6.0):
    """Hoffmann Eq. 4: N* = G (C/6)^a, D* = (C/6)/N*, and L* there."""
    s = t["alpha"] + t["beta"]
    g = (t["alpha"] * t["A"] / (t["beta"] * t["B"])) ** (1 / s)
    n = g * (c / k) ** (t["beta"] / s)
    d = (c / k) / n
    return n, d, chin_loss(t, n, d)


def kaplan_nd_loss(t, n, d):
    return ((t["N_c"] / n) ** (t["alpha_N"] / t["alpha_D"]) + t["D_c"] / d) ** t["alpha_D"]


def _degenerate(law, truth, **kw):
    return fake_fit(law, truth, rel_sd=0.0, **kw)


def _fit_with_runs_from(law: str, post_truth: dict, runs_truth: dict, **kw):
    """Like fake_fit, but the runs come from ``runs_truth`` and the draws from ``post_truth``."""
    return fake_fit(law, post_truth, runs_truth=runs_truth, **kw)


def _only(da):
    """The single value of a degenerate posterior quantity (all draws equal)."""
    v = np.asarray(da.values, dtype=float).ravel()
    assert np.all(v == v[0]) or np.allclose(v, v[0], rtol=1e-12, atol=0), "draws of a degenerate posterior differ"
    return float(v[0])


@pytest.fixture(scope="module")
def hoff0():
    return _degenerate("chinchilla", HOFF_UNROUNDED)


@pytest.fixture(scope="module")
def besi0():
    return _degenerate("chinchilla", BESIROGLU)


@pytest.fixture(scope="module")
def kaplan_nd0():
    return _degenerate("kaplan_nd", KAPLAN_ND)


# -- 1. closed-form optimum vs numeric minimisation ----------------------------------------------

def _random_params(law_name, rng):
    if law_name == "chinchilla":
        return {"log_E": np.log(rng.uniform(1.0, 2.5)), "log_A": rng.uniform(3.0, 9.0), "log_B": rng.uniform(3.0, 9.0),
                "alpha": rng.uniform(0.15, 0.7), "beta": rng.uniform(0.15, 0.7)}
    return {"alpha_N": rng.uniform(0.04, 0.2), "alpha_D": rng.uniform(0.04, 0.2),
            "log_N_c": rng.uniform(25.0, 35.0), "log_D_c": rng.uniform(25.0, 35.0)}


@pytest.mark.parametrize("law_name", ["chinchilla", "kaplan_nd"])
def test_closed_form_optimum_matches_numeric_minimum(law_name):
    law = get_law(law_name)
    rng = np.random.default_rng(20240601 + len(law_name))
    checked = 0
    for _ in range(40):
        p = _random_params(law_name, rng)
        log_ct = np.log(rng.uniform(1e18, 1e27) / 6)
        closed = float(law.log_optimal_params(np, log_ct, p))
        if not 0.5 < closed < log_ct - 0.5:  # the brute-force search runs over N, D >= 1
            continue
        f = lambda u, p=p, t=log_ct: law.log_loss(np, {"N": u, "D": t - u}, p)
        if law_name == "chinchilla" and f(closed) - p["log_E"] < 1e-3:
            continue  # the reducible terms vanish against E: log L is flat to machine precision
        golden = float(golden_min(f, np.array([0.0]), np.array([log_ct]), ())[0])
        scipy_u = minimize_scalar(f, bounds=(0.0, log_ct), method="bounded", options={"xatol": 1e-11}).x
        assert golden == pytest.approx(closed, abs=1e-5), (p, log_ct)
        assert scipy_u == pytest.approx(closed, abs=1e-5), (p, log_ct)
        # and it is a minimum: nudging either way raises the loss
        assert f(closed) <= min(f(closed - 1e-3), f(closed + 1e-3))
        checked += 1
    assert checked >= 20


def test_closed_form_vectorised_over_draws_and_budgets():
    law = get_law("chinchilla")
    rng = np.random.default_rng(7)
    p = {k: np.asarray(v)[..., None] for k, v in
         {"log_E": np.log(rng.uniform(1.5, 2.0, (2, 3))), "log_A": rng.uniform(5, 7, (2, 3)),
          "log_B": rng.uniform(5, 8, (2, 3)), "alpha": rng.uniform(0.3, 0.4, (2, 3)),
          "beta": rng.uniform(0.25, 0.4, (2, 3))}.items()}
    log_ct = np.log(np.array([1e20, 1e22, 1e24]) / 6)
    closed = law.log_optimal_params(np, log_ct, p)
    assert closed.shape == (2, 3, 3)
    golden = golden_min(lambda u: law.log_loss(np, {"N": u, "D": log_ct - u}, p), np.zeros_like(log_ct), log_ct,
                         (2, 3))
    np.testing.assert_allclose(golden, closed, atol=1e-5)


# -- 2. published frontier oracles ---------------------------------------------------------------

@pytest.mark.parametrize("truth, n_opt, tpp, a", [
    (HOFF_UNROUNDED, 4.036e10, 58.9, 0.4565),   # facts §9 / §2.3 table "Frontier quantities"
    (HOFF_ROUNDED, 3.219e10, 92.7, 0.4516),
    (BESIROGLU, 7.225e10, 18.4, 0.5126),
], ids=["hoffmann-unrounded", "hoffmann-rounded", "besiroglu"])
def test_compute_optimal_published_oracles(truth, n_opt, tpp, a):
    fit = _degenerate("chinchilla", truth)
    opt = compute_optimal(fit, [GOPHER])
    assert _only(opt["N_opt"]) == pytest.approx(n_opt, rel=1e-3)
    assert _only(opt["tokens_per_param"]) == pytest.approx(tpp, rel=2e-3)
    assert _only(opt["D_opt"]) * _only(opt["N_opt"]) * 6 == pytest.approx(GOPHER, rel=1e-12)
    n, _d, loss = chin_frontier(truth, GOPHER)
    assert _only(opt["N_opt"]) == pytest.approx(n, rel=1e-10)
    assert _only(opt["loss_opt"]) == pytest.approx(loss, rel=1e-12)
    fe = frontier_exponents(fit, 1e20, 1e24)
    assert _only(fe["a"]) == pytest.approx(a, abs=1e-4)
    assert _only(fe["a"]) == pytest.approx(truth["beta"] / (truth["alpha"] + truth["beta"]), rel=1e-9)
    assert _only(fe["b"]) == pytest.approx(1 - _only(fe["a"]), abs=1e-12)


def test_besiroglu_d_opt_and_hoffmann_fig4_40b(besi0, hoff0):
    assert _only(compute_optimal(besi0, [GOPHER])["D_opt"]) == pytest.approx(1.329e12, rel=1e-3)
    # Hoffmann Fig. 4: "40B parameters at the Gopher budget" (only the unrounded constants give it)
    assert _only(compute_optimal(hoff0, [GOPHER])["N_opt"]) == pytest.approx(40e9, rel=0.02)
    assert _only(compute_optimal(_degenerate("chinchilla", HOFF_ROUNDED), [GOPHER])["N_opt"]) < 0.85 * 40e9


def test_compute_unit_pf_days_and_flops_per_token(hoff0):
    a = compute_optimal(hoff0, [GOPHER])
    b = compute_optimal(hoff0, [GOPHER / PF_DAY_FLOPS], compute_unit="pf-days")
    np.testing.assert_allclose(b["N_opt"].values, a["N_opt"].values, rtol=1e-12)
    assert float(b["budget"][0]) == pytest.approx(GOPHER, rel=1e-12)
    c = compute_optimal(hoff0, [GOPHER], flops_per_token=8.0)
    n, _, _ = chin_frontier(HOFF_UNROUNDED, GOPHER, k=8.0)
    assert _only(c["N_opt"]) == pytest.approx(n, rel=1e-10)
    for bad in ([-1.0], [0.0], [np.inf], []):
        with pytest.raises(BayesScalingError):
            compute_optimal(hoff0, bad)
    with pytest.raises(BayesScalingError):
        compute_optimal(hoff0, [GOPHER], compute_unit="joules")
    with pytest.raises(BayesScalingError):
        frontier_exponents(hoff0, 1e24, 1e20)


# -- 3. decisions --------------------------------------------------------------------------------

def test_decision_degenerate_equals_closed_form(hoff0):
    d = decide(hoff0, GOPHER)
    n, _dd, loss = chin_frontier(HOFF_UNROUNDED, GOPHER)
    assert d.N == pytest.approx(n, rel=1e-4)
    assert d.D == pytest.approx(GOPHER / 6 / d.N, rel=1e-12)
    assert d.objective == pytest.approx(loss, rel=1e-9)
    assert float(np.max(np.abs(d.outcome["wasted_compute"].values))) < 1e-6
    assert float(np.max(np.abs(d.outcome["loss_penalty"].values))) < 1e-9
    assert d.utility == "mean" and d.constraints == {}


def test_alternative_20_tokens_per_param_costs_by_hand(hoff0):
    t = HOFF_UNROUNDED
    d = decide(hoff0, GOPHER, alt_tokens_per_param=20)
    (name, alt), = d.alternatives.items()
    assert name == "20 tokens/parameter"
    n_alt = math.sqrt(GOPHER / (6 * 20))
    assert alt.attrs["N"] == pytest.approx(n_alt, rel=1e-12)
    assert alt.attrs["D"] == pytest.approx(20 * n_alt, rel=1e-12)
    l_alt = chin_loss(t, n_alt, 20 * n_alt)
    _, _, l_star = chin_frontier(t, GOPHER)
    assert _only(alt["loss"]) == pytest.approx(l_alt, rel=1e-12)
    assert _only(alt["loss_penalty"]) > 0
    assert _only(alt["loss_penalty"]) == pytest.approx(l_alt - l_star, rel=1e-7)
    # C' with L*(C') = L(alt), by brentq on the closed-form frontier loss
    log_c = brentq(lambda x: chin_frontier(t, math.exp(x))[2] - l_alt, math.log(GOPHER) - 30, math.log(GOPHER),
                   xtol=1e-14, rtol=1e-15)
    wasted = 1 - math.exp(log_c) / GOPHER
    assert 0 < wasted < 1
    assert _only(alt["wasted_compute"]) == pytest.approx(wasted, rel=1e-6)


def test_plan_outcome_matches_decision_alternative(hoff0):
    out = plan_outcome(hoff0, GOPHER, 1e10)
    d = decide(hoff0, GOPHER, alternatives={"small": 1e10})
    xr.testing.assert_allclose(out, d.alternatives["small"])
    assert _only(out["loss"]) == pytest.approx(chin_loss(HOFF_UNROUNDED, 1e10, GOPHER / 6e10), rel=1e-12)
    with pytest.raises(BayesScalingError):
        plan_outcome(hoff0, GOPHER, -5.0)


def test_max_params_binding(hoff0):
    d = decide(hoff0, GOPHER, max_params=1e10)  # N* = 4.04e10
    assert d.N == pytest.approx(1e10, rel=1e-6)
    assert d.D == pytest.approx(GOPHER / 6e10, rel=1e-6)
    assert d.constraints == {"max_params": 1e10}
    assert _only(d.outcome["loss_penalty"]) > 0


def test_max_tokens_binding(hoff0):
    d = decide(hoff0, GOPHER, max_tokens=1e12)  # D* = 2.38e12
    assert d.D == pytest.approx(1e12, rel=1e-6)
    assert d.constraints == {"max_tokens": 1e12}


def test_both_limits_feasible_binds_the_tighter(hoff0):
    # N <= 1e10 and D <= 1e13: feasible N in [9.6e9, 1e10]; the optimum wants more N, so N = 1e10
    d = decide(hoff0, GOPHER, max_params=1e10, max_tokens=1e13)
    assert d.N == pytest.approx(1e10, rel=1e-6)


@pytest.mark.parametrize("kw", [{"max_params": 1e10, "max_tokens": 1e12}, {"max_params": 1e9, "max_tokens": 1e9}])
def test_infeasible_constraints_raise(hoff0, kw):
    # N D must equal C/6 = 9.6e22 > max_params * max_tokens
    with pytest.raises(BayesScalingError, match="feasible"):
        decide(hoff0, GOPHER, **kw)


@pytest.mark.parametrize("kw, key, value", [({"max_params": 1e8}, "N", 1e8), ({"max_tokens": 1e10}, "D", 1e10)],
                         ids=["max_params", "max_tokens"])
def test_single_limit_far_below_optimum_is_feasible(hoff0, kw, key, value):
    d = decide(hoff0, GOPHER, **kw)
    assert getattr(d, key) == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize("kw", [{"max_params": 0.0}, {"max_tokens": -1.0}, {"alt_tokens_per_param": 0.0},
                                {"flops_per_token": 0.0}])
def test_bad_decision_arguments_raise(hoff0, kw):
    with pytest.raises(BayesScalingError):
        decide(hoff0, GOPHER, **kw)


@pytest.mark.parametrize("bad", ["median", "quantile:", "quantile:1", "quantile:0", "quantile:x", "quantile:-0.5",
                                 "Mean", ""])
def test_bad_utility_strings_raise(hoff0, bad):
    with pytest.raises(BayesScalingError, match="utility"):
        parse_utility(bad)
    with pytest.raises(BayesScalingError, match="utility"):
        decide(hoff0, GOPHER, utility=bad)


def test_parse_utility():
    assert parse_utility("mean") is None
    assert parse_utility("quantile:0.9") == 0.9


def test_quantile_utility_is_risk_averse():
    fit = fake_fit("chinchilla", HOFF_UNROUNDED, rel_sd=0.05, seed=11)
    post = {k: fit.posterior[k].values.ravel() for k in HOFF_UNROUNDED}

    def losses(n):
        return chin_loss(post, n, GOPHER / 6 / n)

    dm = decide(fit, GOPHER)
    dq = decide(fit, GOPHER, utility="quantile:0.9")
    q90 = lambda n: float(np.quantile(losses(n), 0.9))
    mean = lambda n: float(np.mean(losses(n)))
    assert q90(dq.N) <= q90(dm.N) + 1e-12
    assert mean(dm.N) <= mean(dq.N) + 1e-12
    assert dq.objective == pytest.approx(q90(dq.N), rel=1e-12)
    assert dm.objective == pytest.approx(mean(dm.N), rel=1e-12)
    assert float(np.quantile(dq.outcome["loss"].values, 0.9)) == pytest.approx(dq.objective, rel=1e-12)
    # each is the optimum of its own objective on a fine independent grid
    grid = np.exp(np.linspace(np.log(dm.N) - 2.0, np.log(dm.N) + 2.0, 4001))
    assert dq.objective <= min(q90(n) for n in grid) + 1e-12
    assert dm.objective <= min(mean(n) for n in grid) + 1e-12
    assert dq.utility == "quantile:0.9"


# -- 4. compute for a target loss ----------------------------------------------------------------

def test_compute_for_loss_inverts_the_frontier(besi0):
    ds = compute_for_loss(besi0, 2.0)
    c = _only(ds["compute"])
    assert _only(compute_optimal(besi0, [c])["loss_opt"]) == pytest.approx(2.0, rel=1e-8)
    # independently: brentq on the closed-form frontier loss
    log_c = brentq(lambda x: chin_frontier(BESIROGLU, math.exp(x))[2] - 2.0, 30, 150, xtol=1e-14, rtol=1e-15)
    assert c == pytest.approx(math.exp(log_c), rel=1e-7)
    n, d, _ = chin_frontier(BESIROGLU, c)
    assert _only(ds["N_opt"]) == pytest.approx(n, rel=1e-8)
    assert _only(ds["D_opt"]) == pytest.approx(d, rel=1e-8)
    assert ds.attrs["p_unreachable"] == 0.0
    assert prob_reach(besi0, 2.0, c * 1.01) == 1.0
    assert prob_reach(besi0, 2.0, c * 0.99) == 0.0
    assert ds["compute"].dims == ("chain", "draw")


def test_compute_for_loss_below_irreducible_is_unreachable(besi0):
    ds = compute_for_loss(besi0, BESIROGLU["E"] - 0.01)
    assert np.all(np.isinf(ds["compute"].values))
    assert ds.attrs["p_unreachable"] == 1.0
    assert prob_reach(besi0, BESIROGLU["E"] - 0.01, 1e30) == 0.0
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(BayesScalingError):
            compute_for_loss(besi0, bad)


# -- 5. data requirement -------------------------------------------------------------------------

def test_kaplan_data_requirement_table2(kaplan_nd0):
    req = data_requirement(kaplan_nd0, 1e6, 1e10, delta=0.02)
    r = KAPLAN_ND["alpha_N"] / KAPLAN_ND["alpha_D"]
    assert _only(req["k"]) == pytest.approx(5.5e3, rel=0.01)  # facts §1.4 / §9
    assert _only(req["gamma"]) == pytest.approx(0.076 / 0.103, rel=1e-6)
    # exact: D = (N/N_c)^r D_c / ((1 + delta)^(1/alpha_D) - 1)
    k_exact = KAPLAN_ND["N_c"] ** -r * KAPLAN_ND["D_c"] / (1.02 ** (1 / KAPLAN_ND["alpha_D"]) - 1)
    assert _only(req["k"]) == pytest.approx(k_exact, rel=1e-6)
    assert req["tokens_needed"].dims == ("chain", "draw", "N")
    with pytest.raises(BayesScalingError):
        data_requirement(kaplan_nd0, 1e10, 1e6)


@pytest.mark.parametrize("delta", [0.02, 0.1])
def test_tokens_to_limit_overfitting_gives_penalty_delta(kaplan_nd0, delta):
    n = np.array([1e7, 1e9, 1e11])
    d = tokens_to_limit_overfitting(kaplan_nd0, n, delta).values[0, 0]
    l_inf = (KAPLAN_ND["N_c"] / n) ** KAPLAN_ND["alpha_N"]
    np.testing.assert_allclose(kaplan_nd_loss(KAPLAN_ND, n, d) / l_inf - 1, delta, rtol=1e-8)


def test_tokens_for_loss(kaplan_nd0):
    n = 1e9
    l_inf = (KAPLAN_ND["N_c"] / n) ** KAPLAN_ND["alpha_N"]  # 2.319
    d = tokens_for_loss(kaplan_nd0, [n], 2.5)
    assert d.dims == ("chain", "draw", "N")
    assert kaplan_nd_loss(KAPLAN_ND, n, _only(d)) == pytest.approx(2.5, rel=1e-9)
    assert np.all(np.isinf(tokens_for_loss(kaplan_nd0, [n], l_inf - 0.01).values))
    with pytest.raises(BayesScalingError):
        tokens_for_loss(kaplan_nd0, [n], -1.0)
    with pytest.raises(BayesScalingError):
        tokens_for_loss(kaplan_nd0, [-1.0], 2.5)


# -- 6. Kaplan's contradiction point -------------------------------------------------------------

@pytest.fixture(scope="module")
def kaplan_cd0():
    return _degenerate("kaplan_c", KAPLAN_C), _degenerate("kaplan_d", KAPLAN_D)


def _d_of_c(c_pf):
    """Kaplan Eq. 6.7 with Table 6: D = 2 C_min / (6 N(C_min)), N = 1.3e9 C_min^0.73, C_min in PF-days."""
    return 2 * c_pf * PF_DAY_FLOPS / (6 * 1.3e9 * c_pf ** 0.73)


def test_contradiction_point_closed_form(kaplan_cd0):
    fit_c, fit_d = kaplan_cd0
    point = contradiction_point(fit_c, fit_d)
    g = lambda x: (KAPLAN_C["alpha_C"] * (math.log(KAPLAN_C["C_c"]) - x)
                   - KAPLAN_D["alpha_D"] * (math.log(KAPLAN_D["D_c"]) - math.log(_d_of_c(math.exp(x)))))
    c_star = math.exp(brentq(g, 0.0, 50.0, xtol=1e-14, rtol=1e-15))
    assert c_star == pytest.approx(1.67e4, rel=0.01)
    assert _only(point["C_star"]) == pytest.approx(c_star, rel=1e-9)
    assert 1e3 < c_star < 1e5  # Kaplan §6.3: ~1e4 PF-days, "an order of magnitude either way"
    l_c = (KAPLAN_C["C_c"] / c_star) ** KAPLAN_C["alpha_C"]
    l_d = (KAPLAN_D["D_c"] / _d_of_c(c_star)) ** KAPLAN_D["alpha_D"]
    assert l_c == pytest.approx(l_d, rel=1e-10)  # they meet
    assert _only(point["L_star"]) == pytest.approx(l_c, rel=1e-9)
    assert 1.63 < _only(point["L_star"]) < 1.64
    assert _only(point["L_star"]) == pytest.approx(1.7, abs=0.1)  # Kaplan: ~1.7 nats
    assert _only(point["N_star"]) == pytest.approx(1.3e9 * c_star ** 0.73, rel=1e-9)
    assert _only(point["D_star"]) == pytest.approx(_d_of_c(c_star), rel=1e-9)
    assert point.attrs["p_never_meet"] == 0.0
    assert point["C_star"].dims == ("chain", "draw")
    # the laws as fitted agree: evaluate both fits at C* (FLOPs) and D*
    pc = fit_c.predict(C=c_star * PF_DAY_FLOPS)["loss"]
    pd_ = fit_d.predict(D=_d_of_c(c_star))["loss"]
    assert float(pc.mean()) == pytest.approx(l_c, rel=1e-9)
    assert float(pd_.mean()) == pytest.approx(l_c, rel=1e-9)


def test_prob_before(kaplan_cd0):
    point = contradiction_point(*kaplan_cd0)
    assert prob_before(point, 1e4) == 0.0
    assert prob_before(point, 1e5) == 1.0
    # non-degenerate posteriors: monotone in the budget, between 0 and 1 near C*
    fc = fake_fit("kaplan_c", KAPLAN_C, rel_sd=0.01, seed=1)
    fd = fake_fit("kaplan_d", KAPLAN_D, rel_sd=0.01, seed=2)
    pt = contradiction_point(fc, fd)
    ps = [prob_before(pt, b) for b in (1e2, 1e3, 1e4, 3.34e4, 1e5, 1e6, 1e7)]
    assert ps == sorted(ps)
    # C* ~ 1.67e4 PF-days of C_min; a training budget buys budget / compute_factor (2) of C_min
    assert 0.0 < prob_before(pt, 2 * 1.67e4) < 1.0
    assert prob_before(pt, 2 * 1.67e4) == pytest.approx(float((pt["C_star"] < 1.67e4).mean()), abs=1e-12)
    assert prob_before(pt, 1.67e4) < prob_before(pt, 2 * 1.67e4)


def test_contradiction_point_needs_kaplan_c_and_d(kaplan_cd0, hoff0):
    fit_c, fit_d = kaplan_cd0
    with pytest.raises(BayesScalingError):
        contradiction_point(fit_d, fit_c)
    with pytest.raises(BayesScalingError):
        contradiction_point(hoff0, fit_d)
    with pytest.raises(BayesScalingError):
        contradiction_point(fit_c, fit_c)
    with pytest.raises(BayesScalingError):
        contradiction_point(fit_c, fit_d, p_n=1.5)


def test_contradiction_point_never_meets():
    # alpha_C <= alpha_D (1 - p_N): the compute trend never catches up with the data trend
    fit_c = _degenerate("kaplan_c", {"alpha_C": 0.02, "C_c": 3.1e8})
    fit_d = _degenerate("kaplan_d", KAPLAN_D)
    point = contradiction_point(fit_c, fit_d)
    assert np.all(np.isinf(point["C_star"].values))
    assert point.attrs["p_never_meet"] == 1.0
    assert prob_before(point, 1e30) == 0.0


# -- 7. extrapolation guard ----------------------------------------------------------------------

def test_decades_beyond():
    fit = fake_fit("chinchilla", HOFF_UNROUNDED, rel_sd=0.01)
    frame = fit.runs.frame
    q = {"N": np.array([1e9, 4e10]), "D": np.array([2e12]), "C": np.array([GOPHER])}
    out = decades_beyond(fit, q)
    assert set(out) == {"N", "D", "C"}
    assert out["N"] == pytest.approx(math.log10(4e10 / frame["N"].max()), rel=1e-12)
    assert out["D"] == pytest.approx(math.log10(2e12 / frame["D"].max()), rel=1e-12)
    assert out["C"] == pytest.approx(math.log10(GOPHER / frame["C"].max()), rel=1e-12)
    assert out["C"] == pytest.approx(math.log10(GOPHER / 1e21), rel=1e-6)  # runs_frame's largest budget is 1e21
    inside = decades_beyond(fit, {"N": np.array([frame["N"].min()])})
    assert set(inside) == {"N"} and inside["N"] < 0


def test_largest_runs_check_truth_vs_wrong_truth():
    good = fake_fit("chinchilla", HOFF_UNROUNDED, rel_sd=0.01, seed=4)
    check = largest_runs_check(good)
    assert check["poor_fit"] is False
    assert check["n_runs"] == 5 and check["ranked_by"] == "C"
    shifted = {**HOFF_UNROUNDED, "E": HOFF_UNROUNDED["E"] + 0.3}
    bad = _fit_with_runs_from("chinchilla", shifted, HOFF_UNROUNDED, rel_sd=0.01, seed=4)
    check_bad = largest_runs_check(bad)
    assert check_bad["poor_fit"] is True
    assert check_bad["outside_interval"] == 5
    assert max(check_bad["pit"]) < 0.005
    rep = extrapolation_report(bad, {"N": np.array([1e9])})
    assert rep["flag"] is True and rep["notes"]


# -- 8. chain and draw are kept ------------------------------------------------------------------

def test_outputs_keep_chain_and_draw():
    fit = fake_fit("chinchilla", HOFF_UNROUNDED, rel_sd=0.02, chains=3, draws=7, seed=5)
    opt = compute_optimal(fit, [1e22, GOPHER])
    for v in opt.data_vars.values():
        assert v.dims == ("chain", "draw", "budget") and v.shape == (3, 7, 2)
    # per draw (not permuted): N* at (chain, draw) from that draw's parameters
    post = {k: fit.posterior[k].transpose("chain", "draw").values for k in HOFF_UNROUNDED}
    np.testing.assert_allclose(opt["N_opt"].values[..., 1], chin_frontier(post, GOPHER)[0], rtol=1e-10)
    d = decide(fit, GOPHER, alt_tokens_per_param=20, alternatives={"mine": 1e10})
    for ds in (d.outcome, d.optimum, *d.alternatives.values()):
        for v in ds.data_vars.values():
            assert v.dims == ("chain", "draw") and v.shape == (3, 7)
    for v in plan_outcome(fit, GOPHER, 1e10).data_vars.values():
        assert v.dims == ("chain", "draw")
    for v in compute_for_loss(fit, 2.0).data_vars.values():
        assert v.dims == ("chain", "draw")
    fe = frontier_exponents(fit, 1e20, 1e24)
    assert fe["a"].dims == ("chain", "draw")


# -- 9. CLI --------------------------------------------------------------------------------------

def _no_nonfinite(text):
    def bad(name):
        raise AssertionError(f"non-finite JSON constant {name}")
    return json.loads(text, parse_constant=bad)


RECORD_KEYS = {"median", "mean", "ci_low", "ci_high", "ci_prob"}


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("planning")
    files = {}
    for name, law, truth in [("chin", "chinchilla", None), ("kn", "kaplan_n", KAPLAN_N), ("kc", "kaplan_c", KAPLAN_C),
                             ("kd", "kaplan_d", KAPLAN_D)]:
        files[name] = base / f"{name}.nc"
        fake_fit(law, truth, rel_sd=0.01, seed=3).save(files[name])
    return files


def _run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_allocate_json(cli_files, capsys):
    code, out, _ = _run(capsys, ["allocate", cli_files["chin"], "--compute", "5.76e23", "--alt-tokens-per-param",
                                 "20", "--json"])
    assert code == 0
    js = _no_nonfinite(out)
    for key in ("decision", "N_opt", "D_opt", "tokens_per_param", "loss_opt", "a", "b", "alternatives",
                "extrapolation", "diagnostics"):
        assert key in js, key
    for key in ("N_opt", "D_opt", "tokens_per_param", "loss_opt", "a", "b", "loss", "loss_penalty", "wasted_compute"):
        assert set(js[key]) >= RECORD_KEYS, key
        assert js[key]["ci_low"] <= js[key]["median"] <= js[key]["ci_high"]
        assert js[key]["ci_prob"] == 0.9
    alt = js["alternatives"]["20 tokens/parameter"]
    assert alt["N"] == pytest.approx(math.sqrt(GOPHER / 120), rel=1e-12)
    for key in ("loss", "loss_penalty", "wasted_compute"):
        assert set(alt[key]) >= RECORD_KEYS
    assert js["compute"]["flops"] == GOPHER
    assert js["decision"]["D"] * js["decision"]["N"] * 6 == pytest.approx(GOPHER, rel=1e-9)
    assert js["a"]["median"] + js["b"]["median"] == pytest.approx(1.0, abs=1e-9)
    # the CLI reports what the API computes
    from bayes_scaling.result import FitResult

    fit = FitResult.load(cli_files["chin"])
    assert js["N_opt"]["median"] == pytest.approx(float(compute_optimal(fit, [GOPHER])["N_opt"].median()), rel=1e-9)
    assert js["decision"]["N"] == pytest.approx(decide(fit, GOPHER).N, rel=1e-9)
    assert "decades_beyond" in js["extrapolation"] and "largest_runs_check" in js["extrapolation"]


def test_cli_allocate_pf_days(cli_files, capsys):
    _, out_f, _ = _run(capsys, ["allocate", cli_files["chin"], "--compute", "5.76e23", "--json"])
    code, out_p, _ = _run(capsys, ["allocate", cli_files["chin"], "--compute", repr(GOPHER / PF_DAY_FLOPS),
                                   "--compute-unit", "pf-days", "--json"])
    assert code == 0
    a, b = _no_nonfinite(out_f), _no_nonfinite(out_p)
    assert b["compute"]["flops"] == pytest.approx(GOPHER, rel=1e-12)
    assert a["compute"]["pf_days"] == pytest.approx(GOPHER / 8.64e19, rel=1e-12)
    assert b["decision"]["N"] == pytest.approx(a["decision"]["N"], rel=1e-9)
    assert b["N_opt"]["median"] == pytest.approx(a["N_opt"]["median"], rel=1e-9)


def test_cli_allocate_text(cli_files, capsys):
    code, out, _ = _run(capsys, ["allocate", cli_files["chin"], "--compute", "5.76e23", "--alt-params", "1e10"])
    assert code == 0
    assert "90% interval" in out and "diagnostics:" in out and "alternative" in out


def test_cli_target_json(cli_files, capsys):
    code, out, _ = _run(capsys, ["target", cli_files["chin"], "--loss", "2.0", "--compute", "1e24", "--json"])
    assert code == 0
    js = _no_nonfinite(out)
    assert {"compute", "p_unreachable", "p_reach"} <= set(js)
    assert set(js["compute"]) >= RECORD_KEYS
    assert js["p_unreachable"] == 0.0
    r = js["p_reach"]
    assert 0.0 <= r["with_the_decisions_plan"] <= r["if_the_optimal_N_were_known"] <= 1.0  # per draw, optimum <= plan
    assert js["compute_pf_days"]["median"] == pytest.approx(js["compute"]["median"] / PF_DAY_FLOPS, rel=1e-9)


def test_cli_target_unreachable_gives_null(cli_files, capsys):
    code, out, _ = _run(capsys, ["target", cli_files["chin"], "--loss", "1.0", "--json"])  # truth E = 1.8
    assert code == 0
    js = _no_nonfinite(out)
    assert js["p_unreachable"] == 1.0
    assert js["compute"]["median"] is None and js["N_opt"]["median"] is None


def test_cli_frontier_json(cli_files, capsys):
    code, out, _ = _run(capsys, ["frontier", cli_files["chin"], "--compute-min", "1e20", "--compute-max", "1e24",
                                 "--json"])
    assert code == 0
    js = _no_nonfinite(out)
    assert set(js["a"]) >= RECORD_KEYS and set(js["b"]) >= RECORD_KEYS
    assert len(js["budgets"]) == 6
    assert js["budgets"][0]["compute_flops"] == pytest.approx(1e20)
    assert js["budgets"][-1]["compute_flops"] == pytest.approx(1e24)
    t = {"E": 1.80, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}  # fake_fit's default truth
    assert js["a"]["median"] == pytest.approx(t["beta"] / (t["alpha"] + t["beta"]), rel=0.02)


@pytest.mark.parametrize("points", ["1", "-1", "two"])
def test_cli_frontier_needs_two_points_or_more(cli_files, capsys, points):
    code, out, err = _run(capsys, ["frontier", cli_files["chin"], "--compute-min", "1e20", "--compute-max", "1e24",
                                   "--points", points])
    assert code == 2 and out == ""
    assert "--points" in err and "in [2, 1000]" in err and len(err.strip().splitlines()) == 1


def test_cli_breakdown_chinchilla_json(cli_files, capsys):
    code, out, _ = _run(capsys, ["breakdown", cli_files["chin"], "--budget", "1e24", "--json"])
    assert code == 0
    js = _no_nonfinite(out)
    assert js["law"] == "chinchilla"
    # Chinchilla's B/D^beta is under-training, not Kaplan's overfitting penalty: no data requirement, said why
    assert set(js["data_requirement"]) == {"skipped"} and "overfitting penalty" in js["data_requirement"]["skipped"]
    assert "extrapolation_at_budget" in js and "largest_runs_check" in js


def test_cli_breakdown_contradiction_point(cli_files, capsys):
    code, out, _ = _run(capsys, ["breakdown", cli_files["kc"], "--kaplan-d", cli_files["kd"], "--budget", "1e5",
                                 "--compute-unit", "pf-days", "--json"])
    assert code == 0
    cp = _no_nonfinite(out)["contradiction_point"]
    assert cp["C_star"]["median"] == pytest.approx(1.67e4, rel=0.3)
    assert cp["L_star"]["median"] == pytest.approx(1.635, rel=0.01)
    assert cp["p_before_budget"] == 1.0


@pytest.mark.parametrize("case", ["kaplan_n", "utility", "negative_compute", "infeasible", "kaplan_c_without_d",
                                  "missing_fit", "zero_loss"])
def test_cli_bad_inputs_exit_2_one_line(cli_files, tmp_path, capsys, case):
    chin = cli_files["chin"]
    argv = {
        "kaplan_n": ["allocate", cli_files["kn"], "--compute", "1e21"],
        "utility": ["allocate", chin, "--compute", "1e21", "--utility", "nonsense"],
        "negative_compute": ["allocate", chin, "--compute", "-1"],
        "infeasible": ["allocate", chin, "--compute", "5.76e23", "--max-params", "1e9", "--max-tokens", "1e9"],
        "kaplan_c_without_d": ["breakdown", cli_files["kc"]],
        "missing_fit": ["allocate", tmp_path / "none.nc", "--compute", "1e21"],
        "zero_loss": ["target", chin, "--loss", "0"],
    }[case]
    code, out, err = _run(capsys, argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err


def test_breakdown_says_why_a_break_test_was_skipped(tmp_path, capsys, monkeypatch):
    """A single-axis fit whose counterpart cannot be fitted (e.g. too few runs for two breaks) gets a
    line saying so, instead of silently no break test."""
    from bayes_scaling.inference import counterpart as bd

    path = fake_fit("power_x", {"E": 1.5, "B": 10.0, "c0": 0.3}, draws=50).save(tmp_path / "p.nc")

    def refuse(result, **kw):
        raise BayesScalingError("law 'bnsl2_x' has 9 parameters plus noise and needs at least 11 runs; got 10")

    monkeypatch.setattr(bd, "fit_counterpart", refuse)
    assert main(["breakdown", str(path), "--breaks", "2"]) == 0
    assert "break test skipped: law 'bnsl2_x' has 9 parameters" in capsys.readouterr().out
    assert main(["breakdown", str(path), "--breaks", "2", "--json"]) == 0
    assert "needs at least 11 runs" in json.loads(capsys.readouterr().out)["break_test"]["skipped"]


def test_allocate_on_a_hierarchical_fit_says_for_which_group(tmp_path, capsys):
    from bayes_scaling.testing import fake_hierarchical_fit

    path = fake_hierarchical_fit(draws=50).save(tmp_path / "h.nc")
    for group, words in ((None, "for the population"), ("x", "for group 'x'"), ("new", "for an unseen group")):
        assert main(["allocate", str(path), "--compute", "1e21", *(["--group", group] if group else [])]) == 0
        assert words in capsys.readouterr().out
    assert main(["allocate", str(path), "--compute", "1e21", "--group", "x", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["group"] == "x"


def test_far_extrapolation_says_the_interval_assumes_the_form_unless_the_fit_carries_its_error():
    """Beyond a decade, a fit with neither a calibrated discrepancy nor several forms says its interval is
    conditional on the law's form; a fit that carries the discrepancy does not."""
    from bayes_scaling.inference.discrepancy import Discrepancy, extrapolation_box

    fit = fake_fit("chinchilla", HOFF_UNROUNDED, rel_sd=0.01, seed=4)
    far = {"N": np.array([1e13]), "D": np.array([2e14])}
    note = extrapolation_report(fit, far)["notes"][0]
    assert "assumes the law's form" in note and "--calibrate-extrapolation" in note
    zero = fit.posterior["sigma"] * 0.0
    box = extrapolation_box(fit.law, fit.runs.frame)
    cal = fit.with_discrepancy(Discrepancy(zero, zero, "C", box["C"], {}, box=box))
    assert "assumes" not in extrapolation_report(cal, far)["notes"][0]
    near = {"N": np.array([float(fit.runs.frame["N"].max())]), "D": np.array([float(fit.runs.frame["D"].max())])}
    assert not any("assumes" in n for n in extrapolation_report(fit, near)["notes"])


def test_the_distance_beyond_the_data_is_one_number_in_the_report_and_the_guard():
    """A decision at the largest fitted compute whose N is 0.81 decades above the largest fitted N: the report's
    frontier table and the extrapolation guard say 0.81 (the report said 0.00 from C alone)."""
    import pandas as pd

    import bayes_scaling as bs
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.queries.extrapolation import decades_beyond_data, extrapolation_report
    from bayes_scaling.report import ReportConfig, build_report

    n, d = np.repeat(np.geomspace(2e7, 2e8, 4), 3), np.tile([2e10, 6e10, 2e11], 4)
    runs = bs.load_runs(bs.simulate_runs("chinchilla", EXAMPLE["truth"], pd.DataFrame({"params": n, "tokens": d}),
                                         sigma=0.005, seed=1))
    fit = fake_fit("chinchilla", runs=runs)
    c_max = float(runs.frame["C"].max())
    dec = bs.decide(fit, c_max)
    far = math.log10(dec.N / 2e8)
    assert far > 0.3
    assert decades_beyond_data(fit, {"N": np.array([dec.N]), "D": np.array([dec.D])}) == pytest.approx(far, rel=1e-9)
    rep = extrapolation_report(fit, {"N": np.array([dec.N]), "D": np.array([dec.D])})
    assert rep["decades_beyond_data"] == pytest.approx(far, rel=1e-9) and rep["decades_beyond"]["C"] <= 1e-9
    report = build_report(fit, ReportConfig(refits=False, budgets=(c_max,)))
    table = next(i for s in report.sections if s.id == "frontier" for i in s.items if hasattr(i, "rows"))
    assert table.rows[0][-1] == f"{far:.2f}"


def test_target_met_in_every_or_some_draws_keeps_the_budget_answer_and_plans_over_the_draws_that_need_one(tmp_path,
                                                                                                          capsys):
    """A target every draw meets at any budget still prints P(reach within --compute) (its early return dropped it);
    where some draws meet it at any budget, N* and D* (0 in those draws) are also summarised over the draws that
    need a budget, in text and JSON, each with a 90% interval above 0."""
    import json

    from bayes_scaling.cli import main
    from bayes_scaling.queries.allocate import compute_optimal
    from bayes_scaling.queries.draws import LOG_COMPUTE_BRACKET
    from bayes_scaling.testing import fake_fit

    fit = fake_fit(draws=200)
    path = str(fit.save(tmp_path / "t0.nc"))
    assert main(["target", path, "--loss", "1000", "--compute", "1e20"]) == 0
    text = capsys.readouterr().out
    assert "reached at any budget" in text and "P(reach 1000 within 1e+20 FLOPs) = 1.000" in text
    l0 = compute_optimal(fit, [6.0 * np.exp(LOG_COMPUTE_BRACKET[0])])["loss_opt"].values.reshape(-1)
    target = repr(float(np.nanquantile(l0, 0.7)))
    assert main(["target", path, "--loss", target, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.5 < out["p_met_at_any_budget"] < 0.9 and out["N_opt"]["median"] == 0.0
    for key in ("N_opt", "D_opt"):
        rec = out[f"{key}_where_a_budget_is_needed"]
        assert rec["ci_low"] > 0 and rec["ci_prob"] == 0.9
    assert main(["target", path, "--loss", target]) == 0
    text = capsys.readouterr().out
    assert "N* over the draws that need a budget and reach it (parameters)" in text
    assert "D* over the draws that need a budget and reach it (tokens)" in text
