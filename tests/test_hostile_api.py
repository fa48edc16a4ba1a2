"""Hostile inputs through the Python API (not the CLI): one BayesScalingError naming the argument, never an
obscure exception, a silently wrong answer or a hang; legal inputs in unusual types work. One test per
class of fix found by ``benchmarks/hostile_api.py`` (no sampling: posteriors from ``fake_fit``, and a
sentinel in place of the compiled model where an input could reach sampling)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling import BayesScalingError
from bayes_scaling.examples import EXAMPLE
from bayes_scaling.result import EnsembleResult
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit, runs_frame

T = EXAMPLE["truth"]


@pytest.fixture(scope="module")
def chin():
    return fake_fit(draws=50, seed=1)


@pytest.fixture(scope="module")
def kaplan():
    return (fake_fit("kaplan_c", {"alpha_C": 0.050, "C_c": 3.1e8}, draws=20),
            fake_fit("kaplan_d", {"alpha_D": 0.095, "D_c": 5.4e13}, draws=20))


def refused(call, *names):
    """The call raises one BayesScalingError whose message (or quantity) names one of ``names``."""
    with pytest.raises(BayesScalingError) as ei:
        call()
    text = str(ei.value)
    assert "\n" not in text and any(n in text or ei.value.quantity == n for n in names), (text, ei.value.quantity)
    return ei.value


class NoSampling(Exception):
    pass


@pytest.fixture
def no_sampling(monkeypatch):
    """Compiling a model (the step before sampling) raises NoSampling: a check that runs later fails the test."""
    import bayes_scaling.inference.batch as batch
    import bayes_scaling.inference.fit as fitmod

    def stop(*a, **k):
        raise NoSampling()

    monkeypatch.setattr(fitmod, "compiled_model", stop)
    monkeypatch.setattr(batch, "_pool_run", stop)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "0", True, float("nan")])
def test_every_seed_is_checked_where_it_enters(chin, kaplan, seed):
    refused(lambda: chin.predict(N=1e9, D=2e10, seed=seed), "seed")
    refused(lambda: chin.law_params(seed=seed), "seed")
    refused(lambda: bs.contradiction_point(*kaplan, seed=seed), "seed")
    refused(lambda: bs.simulate_runs("chinchilla", T, bs.isoflop_design([1e19], [20.0]), seed=seed), "seed")
    refused(lambda: bs.compare_groups(fake_hierarchical_fit(draws=20), compute=1e21, seed=seed), "seed")
    refused(lambda: bs.prior_draws(bs.load_spec("chinchilla"), n=10, seed=seed), "seed")


def test_numpy_integer_seeds_are_legal(chin):
    a = chin.predict(N=1e9, D=2e10, seed=np.uint64(3))["loss_predictive"].values
    b = chin.predict(N=1e9, D=2e10, seed=3)["loss_predictive"].values
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("wrong", [None, "fit.nc", 3.0])
def test_queries_name_a_fit_argument_that_is_not_a_fit(chin, kaplan, wrong):
    refused(lambda: bs.compute_optimal(wrong, 1e22), "result")
    refused(lambda: bs.predict_loss(wrong, N=1e9, D=2e10), "result")
    refused(lambda: bs.data_requirement(wrong, 1e8, 1e10), "result")
    refused(lambda: bs.contradiction_point(kaplan[0], wrong), "fit_d")
    refused(lambda: bs.predict_metric(chin, wrong, N=1e9, D=2e10), "metric_fit")
    refused(lambda: EnsembleResult({"a": chin, "b": wrong}, {"a": 1.0, "b": 1.0}), "members")


def test_single_fit_queries_refuse_an_ensemble_and_break_tests_need_a_broken_law(chin, kaplan):
    ens = EnsembleResult({"a": chin, "b": fake_fit(truth={**T, "beta": 0.3}, runs_truth=T, draws=50, seed=1)},
                         {"a": 1.0, "b": 1.0}, {"method": "test"})
    refused(lambda: bs.contradiction_point(ens, kaplan[1]), "fit_c")
    refused(lambda: bs.break_test(chin, chin), "broken")
    refused(lambda: bs.compare_fits([chin, chin]), "fits")
    refused(lambda: bs.compare_fits({"a": chin, "b": ens}), "fits['b']")
    refused(lambda: bs.compare_fits({"a": chin, "b": chin}, method="best"), "method")


def test_bools_complex_numbers_and_words_are_not_numbers(chin):
    refused(lambda: bs.compute_for_loss(chin, True), "target loss")
    refused(lambda: bs.prob_reach(chin, 2.3, 1e22 + 1j), "compute")
    refused(lambda: bs.decide(chin, 1e22, max_params="big"), "max_params")
    refused(lambda: bs.decide(chin, 1e22, alt_tokens_per_param=float("inf")), "alt_tokens_per_param")
    refused(lambda: bs.decide(chin, 1e22, alternatives=["x"]), "alternatives")
    refused(lambda: chin.predict(N=1e9, D=2e10, se=True), "se")
    refused(lambda: chin.summary(ci_prob=True), "ci_prob")
    refused(lambda: bs.stacking_weights(np.zeros((3, 2)), prior_alpha=float("inf")), "prior_alpha")
    # a number spelled as text (read from a file) is still read as that number
    assert bs.summarize(chin.posterior["alpha"], ci_prob="0.8").attrs == bs.summarize(chin.posterior["alpha"], 0.8).attrs


def test_kaplan_frontier_and_contradiction_constants_are_checked(kaplan):
    kns = fake_fit("kaplan_ns", {"alpha_N": 0.076, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3}, draws=20)
    for bad in (0.0, -1.0, float("nan"), float("inf"), "x", None):
        refused(lambda: bs.efficient_frontier(kns, 1.0, b_star=bad), "b_star")
        refused(lambda: bs.efficient_frontier(kns, 1.0, alpha_b=bad), "alpha_b")
        refused(lambda: bs.contradiction_point(*kaplan, compute_factor=bad), "compute_factor")
        refused(lambda: bs.prob_before(bs.contradiction_point(*kaplan), bad), "budget_pf_days")
    refused(lambda: bs.contradiction_point(*kaplan, n_e=float("inf")), "n_e")
    refused(lambda: bs.contradiction_point(*kaplan, p_n={"x": 0.7}), "p_n")
    refused(lambda: bs.prob_before({}, 1e4), "point")


def test_zero_d_arrays_numpy_scalars_and_series_are_legal(chin):
    ref = bs.compute_optimal(chin, 1e22)["N_opt"].values
    for c in (np.array(1e22), np.float32(1e22), [np.array(1e22)], pd.Series([1e22], index=[5]), int(1e22)):
        np.testing.assert_allclose(bs.compute_optimal(chin, c)["N_opt"].values, ref, rtol=1e-6)
    assert np.isfinite(bs.plan_outcome(chin, np.array(1e22), "1e10")["loss"].values).all()
    f = chin.runs.frame
    law = bs.fit_cost(f.N.tolist(), pd.Series(f.D.to_numpy()), tuple(6.1 * f.N * f.D))
    assert law.k == pytest.approx(6.1, rel=1e-6)


def test_counts_have_limits_and_huge_ones_are_refused_at_once(chin):
    refused(lambda: bs.decide(chin, 1e22, grid=10**30), "grid")
    refused(lambda: bs.decide(chin, 1e22, grid=2.5), "grid")
    refused(lambda: bs.approach2_check(chin, n_boot=10**9), "n_boot")  # not a bootstrap that never ends
    refused(lambda: bs.isoflop_minima(chin.runs.frame, cost="6nd"), "cost")  # a CostLaw, not its name
    refused(lambda: bs.prior_draws("chinchilla", n=2.5), "n")
    refused(lambda: bs.posterior_objective(chin, 1e23, "n_star", max_draws=0), "max_draws")
    refused(lambda: bs.candidate_grid([1e18, 1e19], 1e21, per_budget=10**9), "per_budget")
    kns = fake_fit("kaplan_nd", {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}, draws=20)
    refused(lambda: bs.data_requirement(kns, 1e8, 1e10, points=10**9), "points")
    refused(lambda: bs.data_requirement(kns, "small", 1e10), "n_min")


def test_arrays_must_hold_finite_positive_numbers():
    cost = bs.CostLaw()
    refused(lambda: cost.flops([1e9, float("nan")], 2e10), "N")
    refused(lambda: cost.tokens(1e21, ["a"]), "N")
    refused(lambda: cost.params_at_ratio([], 20.0), "C")
    refused(lambda: bs.isoflop_design([], [20.0]), "C")
    refused(lambda: bs.isoflop_design([[1e19], [1e20]], [20.0]), "C")
    refused(lambda: bs.true_loss("chinchilla", T, N=["x"], D=2e10), "N")
    refused(lambda: bs.candidate_grid([1e18, -1.0], 1e21), "runs_compute")
    refused(lambda: bs.fit_cost([1e9, 2e9], [1e10], [6e19, 1.2e20]), "cost")
    refused(lambda: bs.flops_to_pf_days("x"), "flops")
    assert np.isnan(bs.flops_to_pf_days(float("nan")))  # a unit conversion stays elementwise
    assert cost.flops(np.full((2, 3), 1e9), 2e10).shape == (2, 3)


def test_isoflop_budgets_without_a_minimum_are_left_out_not_nan():
    n = np.geomspace(1e8, 1e10, 6)
    good = pd.DataFrame({"N": n, "D": 1e21 / (6 * n), "C": 1e21, "loss": 2.0 + (np.log(n) - np.log(1e9)) ** 2 / 50})
    concave = pd.DataFrame({"N": n, "D": 1e20 / (6 * n), "C": 1e20, "loss": 3.0 - (np.log(n) - np.log(1e9)) ** 2 / 50})
    with pytest.warns(UserWarning, match="no minimum"):
        table = bs.isoflop_minima(pd.concat([good, concave]), n_boot=50)
    assert list(table["budget"]) == [pytest.approx(1e21)] and table.attrs["skipped_budgets"] == [pytest.approx(1e20)]
    assert np.isfinite(table.select_dtypes("number").to_numpy(float)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused(lambda: bs.isoflop_minima(concave, n_boot=50), "C")


def test_inference_options_are_refused_before_compiling(no_sampling):
    runs = bs.load_runs(runs_frame())
    base = {"law": "chinchilla", "draws": 10, "tune": 10, "chains": 2}
    refused(lambda: bs.fit(runs, **base, target_accept=1.5), "target_accept")
    refused(lambda: bs.fit(runs, **base, target_accept="high"), "target_accept")
    refused(lambda: bs.fit(runs, **base, group_col="arch"), "group_col")
    refused(lambda: bs.fit(runs, **base, vary=3), "vary")
    ens = {"laws": ["chinchilla", "chinchilla_tied"], "draws": 10, "tune": 10, "chains": 2}
    refused(lambda: bs.fit_ensemble(runs, **ens, cut_decades=(-0.5, 1.0)), "cut_decades")
    refused(lambda: bs.fit_ensemble(runs, **ens, prior_alpha=0.5), "prior_alpha")
    refused(lambda: bs.fit_ensemble(runs, **ens, inner_draws=5), "inner_draws")
    refused(lambda: bs.fit_ensemble(runs, **{**ens, "laws": 3}), "laws")
    refused(lambda: bs.fit_ensemble(runs, draws=10, tune=10, chains=2, laws=["chinchilla", "chinchilla"]), "laws")
    refused(lambda: bs.backtest(runs, "chinchilla", holdout_fraction=0.25, n_boot=0, **{k: base[k] for k in ("draws", "tune", "chains")}), "n_boot")
    refused(lambda: bs.backtest(runs_frame(), "chinchilla", holdout_fraction=0.25), "runs")
    refused(lambda: bs.fit_many([runs], **base), "tables")
    refused(lambda: bs.fit_many({"a": runs_frame()}, **base), "tables['a']")
    refused(lambda: bs.fit_many({"a": runs}, workers=0, **base), "workers")
    refused(lambda: bs.fit_many({"a": runs}, out={"a": "nofolder/a.nc"}, **base), "out")
    refused(lambda: bs.refit_expected(fake_fit(draws=20), 1e9, 2e10, lambda r: 0.0, sims=0), "sims")
    with pytest.raises(NoSampling):  # legal: a DataFrame is read with load_runs, one law is an ensemble of one
        bs.fit(runs_frame(), **base)
    with pytest.raises(NoSampling):
        bs.fit_ensemble(runs, **{**ens, "laws": ["chinchilla"]}, method="equal")


def test_split_runs_takes_a_law_name_and_checks_its_thresholds():
    runs = bs.load_runs(runs_frame())
    train, test, info = bs.split_runs(runs, "chinchilla", holdout_fraction=0.25)
    assert len(train) + len(test) == len(runs) and info["n_test"] >= 1
    refused(lambda: bs.split_runs(runs, 3, holdout_fraction=0.25), "law")
    refused(lambda: bs.split_runs(runs, "chinchilla", holdout_above="x"), "holdout_above")
    refused(lambda: bs.split_runs(runs, "chinchilla", holdout_fraction=True), "holdout_fraction")


@pytest.mark.parametrize("path", [None, 3, ["a.nc"]])
def test_paths_of_the_wrong_type_are_one_line(chin, path):
    refused(lambda: bs.load_fit(path), "FIT")
    refused(lambda: chin.save(path), "fit file")
    refused(lambda: bs.load_runs(path), "source")
    refused(lambda: bs.load_spec(path), "spec")


def test_names_and_containers_of_the_wrong_type(chin):
    h = fake_hierarchical_fit(draws=20)
    refused(lambda: bs.compare_groups(h, "xy", compute=1e21), "groups")  # a string is not a list of groups
    refused(lambda: bs.group_losses(h, 3, compute=1e21), "groups")
    refused(lambda: chin.predict(N=1e9, D=2e10, covariates=""), "covariates")
    refused(lambda: bs.laws_with("nosuch"), "capability")
    refused(lambda: bs.get_law(3), "law")
    refused(lambda: bs.get_family(["normal"]), "family")
    refused(lambda: bs.get_family("student_t", nu=0.0), "nu")
    refused(lambda: bs.simulate_runs("chinchilla", T, bs.isoflop_design([1e19], [20.0]), sigma=-0.01), "sigma")
    refused(lambda: bs.with_chance(bs.load_spec("sigmoid_metric"), chance=True), "chance")
    refused(lambda: bs.extrapolation_report(chin, {"L": np.array([1.0])}), "query")
    refused(lambda: bs.load_runs(runs_frame().set_axis(pd.MultiIndex.from_product([["a"], list("wxyz")]), axis=1)),
            "source")


# -- review of the session's merges ------------------------------------------------------------------

def test_review_legal_values_kept_and_ensembles_refused_where_a_query_needs_one_fit():
    """CostLaw stores numbers given as text as floats; decide's +inf limit means no limit; a metric
    ensemble and a Kaplan ensemble are refused where the query needs one law's fit (they crashed)."""
    import numpy as np
    import pytest

    from bayes_scaling import BayesScalingError
    from bayes_scaling.cost import CostLaw
    from bayes_scaling.queries.allocate import decide
    from bayes_scaling.queries.kaplan_frontier import converged_plan_loss
    from bayes_scaling.queries.metric_chain import predict_metric
    from bayes_scaling.result import EnsembleResult
    from bayes_scaling.testing import fake_fit

    c = CostLaw(k="6")
    assert isinstance(c.k, float) and c.flops(1e9, 1e10) == pytest.approx(6e19)
    f = fake_fit()
    assert float(decide(f, 1e24, max_params=np.inf).N) == pytest.approx(float(decide(f, 1e24).N))
    ens = EnsembleResult({"a": f, "b": f}, {"a": 0.5, "b": 0.5})
    with pytest.raises(BayesScalingError, match="metric_fit must be one law's fit.*from fit or load_fit"):
        predict_metric(f, ens, N=1e9, D=2e10)
    with pytest.raises(BayesScalingError, match="one law's fit"):
        converged_plan_loss(ens, 1e3)


def test_a_spec_declaring_a_parameter_kind_accepts_runs_without_n():
    """Compute-only runs carry no parameter count, so a spec's declared kind has nothing to refuse."""
    import pandas as pd
    import pytest

    from bayes_scaling import BayesScalingError
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.inference.fit import check_units
    from bayes_scaling.specs.spec import load_spec

    spec = load_spec("kaplan_c_kaplan2020")
    conly = load_runs(pd.DataFrame({"C": [1e18, 1e19, 1e20, 1e21], "loss": [3.0, 2.8, 2.6, 2.5]}), params_col=None,
                      compute_col="C", tokens_col=None)
    check_units(spec, conly)  # accepted at the default --params-kind total
    nd = load_runs(pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "loss": [3.0, 2.7]}), params_col="N", tokens_col="D")
    with pytest.raises(BayesScalingError, match="--params-kind total does not match"):
        check_units(load_spec("kaplan_nd_kaplan2020"), nd)
