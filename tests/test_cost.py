"""Training cost laws other than 6ND (``bayes_scaling.cost``): Kaplan et al. 2020 Table 1 with the
attention term, a power law fitted to recorded compute, storage with a fit, and their effect on the
allocation, the frontier and run design (posteriors from known draws: no sampling)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from bayes_scaling.accounting import six_nd_ratio
from bayes_scaling.cli import main
from bayes_scaling.cost import CostLaw, cost_from_options, fit_cost, store_cost, stored_cost
from bayes_scaling.data.runs import load_runs
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.queries.allocate import compute_optimal, frontier_exponents
from bayes_scaling.queries.design import candidate_grid, design_runs
from bayes_scaling.testing import fake_fit

KAPLAN = CostLaw("kaplan", n_ctx=2048, aspect_ratio=128)


def test_kaplan_cost_is_table_1_with_the_implied_shape():
    """f(N) / 6N = 1 + n_ctx / (12 d_model) at the shape N = 12 n_layer d_model^2, d_model = 128 n_layer;
    the same ratio as accounting.six_nd_ratio for that shape."""
    n_layer = np.array([4.0, 12.0, 48.0])
    d_model = 128 * n_layer
    n = 12 * n_layer * d_model ** 2
    ratio = KAPLAN.flops_per_token(n) / (6 * n)
    np.testing.assert_allclose(ratio, 1 + 2048 / (12 * d_model), rtol=1e-12)
    np.testing.assert_allclose(ratio, six_nd_ratio(n_layer, d_model, n_ctx=2048), rtol=1e-12)
    assert ratio[0] > 1.3 and ratio[-1] < 1.03  # small models pay most for attention
    c, r = np.array([1e18, 1e22]), np.array([2.0, 200.0])
    n_at = KAPLAN.params_at_ratio(c, r)
    np.testing.assert_allclose(KAPLAN.flops(n_at, r * n_at), c, rtol=1e-9)
    np.testing.assert_allclose(np.exp(KAPLAN.log_tokens(np.log(c / 6), np.log(n_at))), r * n_at, rtol=1e-9)


def test_attention_flops_make_runs_dearer_and_favour_larger_models():
    """With the attention term every run costs more, small models most (g(N) = f(N) / 6N falls with N).
    At a fixed budget: D* falls and the optimal loss rises against 6ND. Against 6ND at the budget
    C / g(N*) (the same N* D* product), the Kaplan N* is larger per draw, because growing N lowers the
    overhead; and N* grows faster with C (a larger exponent) as the overhead fades. N* of one draw is
    checked against an independent scalar search."""
    from bayes_scaling.queries.draws import law_draws

    res = fake_fit(seed=3, draws=50)
    budgets = [1e20, 1e26]
    six = compute_optimal(res, budgets)
    kap = compute_optimal(res, budgets, cost=KAPLAN)
    assert np.all((kap["D_opt"] < six["D_opt"]).values) and np.all((kap["loss_opt"] > six["loss_opt"]).values)
    n_k = kap["N_opt"].values[..., 0]
    g = KAPLAN.flops_per_token(n_k) / (6 * n_k)
    assert np.all(g > 1.05)
    n_six_same_product = np.exp(law_draws(res).log_n_opt(np.log(1e20 / (6 * g))[..., None])[..., 0])
    assert np.all(n_k > n_six_same_product)
    ratio = (kap["N_opt"] / six["N_opt"]).values
    assert np.all(ratio[..., 1] > ratio[..., 0])  # the gap closes as the overhead fades (d_model >> n_ctx / 12)
    fe6, fek = frontier_exponents(res, 1e19, 1e21), frontier_exponents(res, 1e19, 1e21, cost=KAPLAN)
    assert np.all((fek["a"] > fe6["a"]).values)
    # one draw by an independent scalar minimisation of L(N, C / f(N))
    p = {k: float(v.values[0, 0]) for k, v in res.law_params().items()}
    loss = lambda u: float(res.law.loss(np, {"N": u, "D": np.log(KAPLAN.tokens(1e20, np.exp(u)))}, p))  # noqa: E731
    best = minimize_scalar(loss, bounds=(np.log(1e6), np.log(1e13)), method="bounded", options={"xatol": 1e-10}).x
    assert abs(np.log(n_k[0, 0]) - best) < 1e-4


def test_fitted_cost_recovers_k_and_a_from_recorded_compute():
    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 40))
    d = n * np.exp(rng.uniform(np.log(2), np.log(200), 40))
    c = 4.5 * n ** 1.03 * d * np.exp(0.01 * rng.standard_normal(40))
    law = fit_cost(n, d, c)
    assert law.kind == "fitted" and law.n_runs == 40 and law.rms_log_error < 0.02
    assert abs(law.a - 1.03) < 0.005 and abs(np.log(law.k / 4.5)) < 0.1
    # from a runs table with a recorded compute column, and it round-trips through JSON
    runs = load_runs(pd.DataFrame({"params": n, "tokens": d, "compute": c, "loss": 3.0 - 0.1 * np.log10(n)}))
    again = cost_from_options("fitted", runs=runs)
    assert again.a == pytest.approx(law.a) and CostLaw.from_json(again.to_json()) == again


@pytest.mark.parametrize("make, quantity, words", [
    (lambda: CostLaw("kaplan", aspect_ratio=100), "n_ctx", "context length"),
    (lambda: CostLaw("kaplan", n_ctx=2048), "aspect_ratio", "aspect ratio"),
    (lambda: CostLaw("quadratic"), "cost", "one of 6nd, kaplan, fitted"),
    (lambda: fit_cost([1e8, 1e8], [1e9, 2e9], [6e17, 1.2e18]), "cost", "distinct N"),
    (lambda: fit_cost([1e8, 1e9, 1e10], [1e9] * 3, [6e17, 1e17, 6e19]), "cost", "not of the form"),
    (lambda: cost_from_options("fitted", runs=load_runs(pd.DataFrame({"params": [1e8, 1e9], "tokens": [1e9, 1e10],
                                                                       "loss": [3.0, 2.8]}))), "cost", "derived"),
    (lambda: cost_from_options(None, n_ctx=2048), "cost", "kaplan cost"),
    (lambda: CostLaw.from_json('{"kind": "kaplan", "colour": 3}'), "cost", "unreadable"),
    (lambda: CostLaw.from_json("[1, 2"), "cost", "unreadable"),
])
def test_bad_cost_input_is_one_error_naming_what_to_fix(make, quantity, words):
    with pytest.raises(BayesScalingError) as e:
        make()
    assert e.value.quantity == quantity and words in str(e.value)


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cost") / "fit.nc"
    fake_fit(seed=3, draws=50).save(path)
    return path


def _allocate(capsys, *args) -> dict:
    assert main(["allocate", *args, "--compute", "1e20", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cost_is_stored_with_the_fit_and_the_flag_overrides_it(fit_file, tmp_path, capsys):
    six = _allocate(capsys, str(fit_file))
    kap = _allocate(capsys, str(fit_file), "--cost", "kaplan", "--n-ctx", "2048", "--aspect-ratio", "128")
    assert "6 N D" in six["compute"]["cost"] and "n_ctx = 2048" in kap["compute"]["cost"]
    # the decision spends the budget under the cost law: D = C / f(N)
    assert kap["decision"]["D"] == pytest.approx(float(KAPLAN.tokens(1e20, kap["decision"]["N"])), rel=1e-9)
    assert kap["decision"]["D"] < six["decision"]["D"] and kap["loss"]["median"] > six["loss"]["median"]
    res = fake_fit(seed=3, draws=50)
    store_cost(res, KAPLAN)
    stored = tmp_path / "kaplan.nc"
    res.save(stored)
    from bayes_scaling.result import load_fit

    assert stored_cost(load_fit(stored)) == KAPLAN
    assert _allocate(capsys, str(stored))["decision"]["N"] == pytest.approx(kap["decision"]["N"], rel=1e-9)
    assert _allocate(capsys, str(stored), "--cost", "6nd")["decision"]["N"] == pytest.approx(six["decision"]["N"],
                                                                                             rel=1e-9)
    assert main(["frontier", str(stored), "--compute-min", "1e19", "--compute-max", "1e21", "--json"]) == 0
    assert "Kaplan" in json.loads(capsys.readouterr().out)["cost"]


@pytest.mark.parametrize("args, option", [
    (["--cost", "kaplan", "--aspect-ratio", "128"], "[--n-ctx]"),
    (["--n-ctx", "2048"], "[--cost]"),
    (["--cost", "kaplan", "--n-ctx", "2048", "--aspect-ratio", "128", "--flops-per-token", "8"], "--flops-per-token"),
])
def test_cli_bad_cost_is_one_line_exit_2(fit_file, capsys, args, option):
    assert main(["allocate", str(fit_file), "--compute", "1e20", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and option in err, err


def test_fit_with_a_fitted_cost_needs_recorded_compute(tmp_path, capsys):
    """Refused before sampling, in one line naming --cost, and nothing written."""
    runs = tmp_path / "runs.csv"
    pd.DataFrame({"params": [1e8, 3e8, 1e9], "tokens": [2e9, 6e9, 2e10], "loss": [3.1, 2.9, 2.7]}).to_csv(runs, index=False)
    out = tmp_path / "fit.nc"
    assert main(["fit", str(runs), "--law", "chinchilla", "--out", str(out), "--cost", "fitted"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "recorded" in err and "--cost" in err and not out.exists(), err


def test_design_prices_candidates_and_the_target_with_the_cost_law():
    res = fake_fit(seed=3, draws=50)
    n, d = candidate_grid(res.runs.frame["C"], 3e21, cost=KAPLAN)
    np.testing.assert_allclose(KAPLAN.flops(n, d)[:: 10], np.geomspace(min(res.runs.frame["C"].min(), 3e19), 3e21, 10),
                               rtol=1e-9)
    des = design_runs(res, 1e23, 3e21, n, d, batch=2, worlds=16, max_draws=60, cost=KAPLAN)
    np.testing.assert_allclose(des.cost, KAPLAN.flops(des.n_params, des.tokens))
    assert np.all(des.cost > 6 * des.n_params * des.tokens)  # the same runs cost more with the attention term
    assert "Kaplan" in des.cost_name and sum(b["cost_flops"] for b in des.batch_records()) <= 3e21
    # the target's decision grid spends C = 1e23 FLOPs under the same law
    pre = des.pre
    np.testing.assert_allclose(KAPLAN.flops(np.exp(pre.u), np.exp(pre.draws.log_tokens(pre.log_ct, pre.u))), 1e23,
                               rtol=1e-9)


@pytest.mark.sampling
def test_fit_stores_the_cost_fitted_to_recorded_compute(tmp_path, capsys):
    """``fit --cost fitted`` fits k and a to the compute column, stores them, and allocate uses them."""
    rng = np.random.default_rng(1)
    n = np.repeat(np.geomspace(3e7, 1e9, 5), 4)
    d = n * np.tile(np.geomspace(5, 100, 4), 5)
    loss = (1.8 + 400 / n ** 0.34 + 2000 / d ** 0.36) * np.exp(0.01 * rng.standard_normal(n.size))
    runs = tmp_path / "runs.csv"
    pd.DataFrame({"params": n, "tokens": d, "compute": 4.5 * n ** 1.03 * d, "loss": loss}).to_csv(runs, index=False)
    out = tmp_path / "fit.nc"
    assert main(["fit", str(runs), "--law", "chinchilla", "--out", str(out), "--cost", "fitted", "--draws", "100",
                 "--tune", "100", "--chains", "2", "--seed", "1", "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)["cost"]
    assert cost["kind"] == "fitted" and cost["a"] == pytest.approx(1.03, abs=1e-6)
    assert cost["k"] == pytest.approx(4.5, rel=1e-4)
    from bayes_scaling.result import load_fit

    assert stored_cost(load_fit(out)) == CostLaw(**cost)
    alloc = _allocate(capsys, str(out))
    assert "N^1.0300" in alloc["compute"]["cost"]
    assert alloc["decision"]["D"] == pytest.approx(1e20 / (4.5 * alloc["decision"]["N"] ** 1.03), rel=1e-6)


def test_kaplan_aspect_ratio_defaults_to_the_runs_shape_columns():
    frame = pd.DataFrame({"params": [1e8, 3e8, 1e9], "tokens": [2e9, 6e9, 2e10], "loss": [3.1, 2.9, 2.7],
                          "d_model": [512, 1024, 2048], "n_layer": [8, 8, 16]})
    runs = load_runs(frame, shape_cols=("d_model", "n_layer"))
    assert cost_from_options("kaplan", n_ctx=2048, runs=runs).aspect_ratio == pytest.approx(128.0)
    assert cost_from_options("kaplan", n_ctx=2048, aspect_ratio=64, runs=runs).aspect_ratio == 64


def test_design_cli_prices_candidates_with_the_cost_flag(fit_file, capsys):
    assert main(["design", str(fit_file), "--target-compute", "1e23", "--ladder-budget", "3e21", "--cost", "kaplan",
                 "--n-ctx", "2048", "--aspect-ratio", "128", "--worlds", "16", "--max-refits", "0", "--batch", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "Kaplan" in out["cost"]
    for c in out["candidates"][:5]:
        assert c["cost_flops"] == pytest.approx(float(KAPLAN.flops(c["N"], c["D"])), rel=1e-9)
    assert out["batch_cost_flops"] <= 3e21


def test_a_fitted_cost_law_warns_when_the_allocation_extrapolates_it():
    res = fake_fit(seed=3, draws=50)
    n = np.geomspace(1e7, 1e8, 6)
    law = fit_cost(n, 20 * n, 5.0 * n ** 1.02 * 20 * n)
    assert law.n_max == pytest.approx(1e8) and "N <= 1e+08" in law.describe()
    with pytest.warns(UserWarning, match="fitted cost law saw"):
        compute_optimal(res, [1e22], cost=law)  # N* ~ 1e10
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_optimal(res, [1e16], cost=law)  # N* ~ 1e7: inside the runs


def test_a_derived_d_is_derived_again_with_the_fits_cost_law_and_a_derived_c_stays_nominal():
    """A D derived from recorded compute as C / (6N) is read by the law, so it is derived again as C / f(N) with
    the fit's cost law; a C derived as 6ND is the ladder's nominal budget and stays (recorded columns stay too)."""
    from bayes_scaling.cost import with_cost

    n, d = np.array([1e8, 4e8, 1.6e9]), np.array([2e9, 8e9, 3.2e10])
    runs = load_runs(pd.DataFrame({"params": n, "tokens": d, "loss": [3.0, 2.7, 2.5]}))
    assert "C = 6 N D" in runs.derived
    assert with_cost(runs, KAPLAN) is runs and with_cost(runs, None) is runs and with_cost(runs, CostLaw()) is runs
    from_c = load_runs(pd.DataFrame({"params": n, "compute": 6 * n * d, "loss": [3.0, 2.7, 2.5]}))
    again = with_cost(from_c, KAPLAN)
    np.testing.assert_allclose(again.frame["D"], KAPLAN.tokens(6 * n * d, n), rtol=1e-12)
    np.testing.assert_allclose(KAPLAN.flops(n, again.frame["D"]), 6 * n * d, rtol=1e-12)  # spends the recorded C
    assert np.all(again.frame["D"] < d) and again.frame["C"].equals(from_c.frame["C"])
    assert with_cost(again, KAPLAN) is again
    np.testing.assert_allclose(with_cost(from_c, CostLaw("6nd", k=8.0)).frame["D"], 6 * d / 8, rtol=1e-12)
    recorded = load_runs(pd.DataFrame({"params": n, "tokens": d, "compute": 6.3 * n * d, "loss": [3.0, 2.7, 2.5]}))
    assert with_cost(recorded, KAPLAN) is recorded


def test_a_kaplan_fit_of_a_6nd_ladder_keeps_its_budgets():
    """with_cost (as fit(cost=kaplan) calls it) on an IsoFLOP ladder given as N and D: Kaplan's C varies within a
    rung (1.1-1.45x 6ND), but the runs keep the nominal 6ND budgets, so the grouper finds the planned 4 rungs."""
    from bayes_scaling.cost import with_cost
    from bayes_scaling.data.budgets import budget_levels
    from bayes_scaling.simulate import isoflop_design

    des = isoflop_design(np.geomspace(1e17, 1e20, 4), np.geomspace(2, 200, 5))
    frame = pd.DataFrame({"params": des["params"], "tokens": des["tokens"], "loss": 3.0})
    runs = with_cost(load_runs(frame), CostLaw("kaplan", n_ctx=2048, aspect_ratio=64))
    assert np.unique(budget_levels(runs.frame["C"])).size == 4
    np.testing.assert_allclose(runs.frame["C"], 6 * frame["params"] * frame["tokens"], rtol=1e-12)


def test_a_fitted_cost_refuses_any_derived_c_or_d():
    """The refusal is structural: a C or D derived by any law (6ND at loading, the cost law after with_cost) is
    not recorded compute."""
    from bayes_scaling.cost import cost_from_options, derived_columns, with_cost

    n, d = np.array([1e8, 4e8, 1.6e9]), np.array([2e9, 8e9, 3.2e10])
    from_c = load_runs(pd.DataFrame({"params": n, "compute": 6.2 * n * d, "loss": [3.0, 2.7, 2.5]}))
    for runs in (load_runs(pd.DataFrame({"params": n, "tokens": d, "loss": [3.0, 2.7, 2.5]})), from_c,
                 with_cost(from_c, KAPLAN)):
        assert derived_columns(runs)
        with pytest.raises(BayesScalingError, match="derived, not recorded"):
            cost_from_options("fitted", runs=runs)
    recorded = load_runs(pd.DataFrame({"params": n, "tokens": d, "compute": 6.3 * n * d, "loss": [3.0, 2.7, 2.5]}))
    assert not derived_columns(recorded) and cost_from_options("fitted", runs=recorded).kind == "fitted"


@pytest.mark.parametrize("cost", [None, CostLaw("6nd", k=8.0), KAPLAN])
def test_a_fitted_run_asked_about_by_its_n_and_d_is_inside_the_data(cost):
    """The box's C limit is in a query's currency (the cost law's C of the runs' N, D), also where the runs'
    C was recorded 5% above 6ND: every fitted run is at d = 0, a model twice the largest N is 0.3 decades out."""
    from bayes_scaling import get_law
    from bayes_scaling.posterior.discrepancy import decades_outside, extrapolation_box
    from bayes_scaling.posterior.inputs import query_inputs

    law = get_law("chinchilla")
    n, d = np.geomspace(1e8, 3e9, 6), np.geomspace(3e9, 6e10, 6)[::-1] * 1.0
    frame = pd.DataFrame({"N": n, "D": d, "C": 6.3 * n * d})
    box = extrapolation_box(law, frame, cost)
    inside = decades_outside(query_inputs(law, N=n, D=d, cost=cost)["values"], box)
    assert np.all(inside == 0.0)
    out = decades_outside(query_inputs(law, N=2 * n[-1], D=d[-1], cost=cost)["values"], box)
    assert out[0] == pytest.approx(np.log10(2), abs=1e-9)


def test_fit_keeps_a_derived_c_nominal_and_calibrates_d_in_its_costs_currency():
    """fit(cost=kaplan) on runs whose C was derived as 6ND: the stored runs' C stays the nominal 6ND budget, and
    the stored discrepancy's box and split-axis end are in the kaplan currency, so the largest fitted run, asked
    about by its N and D, is at d = 0 and not beyond the split axis's end."""
    import warnings

    import bayes_scaling as bs

    rng = np.random.default_rng(1)
    n = np.repeat(np.geomspace(3e7, 1e9, 5), 4)
    d = n * np.tile(np.geomspace(5, 100, 4), 5)
    loss = (1.8 + 400 / n ** 0.34 + 2000 / d ** 0.36) * np.exp(0.01 * rng.standard_normal(n.size))
    runs = load_runs(pd.DataFrame({"params": n, "tokens": d, "loss": loss}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(runs, law="chinchilla", cost=KAPLAN, draws=100, tune=100, chains=2, seed=1, progress=False,
                     calibrate_extrapolation=True)
    np.testing.assert_allclose(fit.runs.frame["C"], 6 * n * d, rtol=1e-12)
    big = int(np.argmax(KAPLAN.flops(n, d)))
    q = fit.predict(N=n[big], D=d[big])
    assert float(q["C"][0]) == pytest.approx(float(KAPLAN.flops(n, d).max()), rel=1e-12)
    assert fit.discrepancy.distance({k: q[k].values for k in ("N", "D", "C")})[0] == 0.0
    assert fit.discrepancy.log10_axis_max == pytest.approx(np.log10(float(q["C"][0])), abs=1e-12)


def test_design_adds_runs_in_the_tables_currency_of_c():
    """Refits' simulated runs join the table with its C: the nominal 6ND where the table's C was derived (so
    they group into budgets with it), the stored cost law's where C was recorded."""
    from bayes_scaling.inference.design import with_simulated_runs
    from bayes_scaling.testing import runs_frame

    n, d = np.array([2e9]), np.array([4e10])
    for frame, want in ((runs_frame().drop(columns="compute"), 6 * n * d), (runs_frame(), KAPLAN.flops(n, d))):
        res = fake_fit(runs=load_runs(frame), draws=20)
        store_cost(res, KAPLAN)
        new = with_simulated_runs(res, n, d, rng=np.random.default_rng(0), draw=0).frame.iloc[-1]
        assert new["C"] == pytest.approx(float(want[0]), rel=1e-12)
