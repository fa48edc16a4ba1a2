"""Queries refuse inputs they cannot answer with one BayesScalingError line, instead of a NumPy error
or a silently wrong number (no sampling: posteriors from ``fake_fit``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling import BayesScalingError, get_law
from bayes_scaling.queries.allocate import compute_for_loss, prob_reach
from bayes_scaling.inference.backtest import split_runs
from bayes_scaling.queries.breakdown import contradiction_point
from bayes_scaling.queries.compare_groups import compute_multiplier, group_losses
from bayes_scaling.queries.data_requirement import data_requirement
from bayes_scaling.queries.kaplan_frontier import converged_plan_loss
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit, runs_frame


@pytest.fixture(scope="module")
def chin():
    return fake_fit("chinchilla", draws=50)


@pytest.mark.parametrize("kwargs, match", [
    ({"N": [1e9, 2e9, 3e9], "D": [1e9, 2e9]}, "same number of values"),
    ({"N": [[1e9], [2e9]], "D": 1e10}, "flat list"),
    ({"N": 1e9, "D": 1e9, "C": 1.0}, "disagree"),
    ({"N": "big", "D": 1e9}, "list of numbers"),
])
def test_predict_rejects_inputs_it_cannot_answer(chin, kwargs, match):
    with pytest.raises(BayesScalingError, match=match):
        chin.predict(**kwargs)


def test_predict_accepts_n_d_and_a_consistent_c(chin):
    a = chin.predict(N=[1e9, 2e9], D=[2e10, 4e10], seed=0)
    b = chin.predict(N=[1e9, 2e9], D=[2e10, 4e10], C=[1.2e20, 4.8e20], seed=0)
    np.testing.assert_array_equal(a["loss"].values, b["loss"].values)


@pytest.mark.parametrize("target", [float("nan"), -1.0, 0.0, "low"])
def test_targets_must_be_positive_losses(chin, target):
    with pytest.raises(BayesScalingError, match="target loss"):
        prob_reach(chin, target, 1e23)
    with pytest.raises(BayesScalingError, match="target loss"):
        compute_for_loss(chin, target)


def test_group_queries_check_their_inputs():
    h = fake_hierarchical_fit(draws=50)
    with pytest.raises(BayesScalingError, match="one N and one D"):
        group_losses(h, N=[1e9, 1e11], D=[2e10, 2e12])
    assert group_losses(h, N=1e9, D=2e10).sizes["group"] == 2
    for bad in (0.0, -1e22, float("nan")):
        with pytest.raises(BayesScalingError, match="compute budgets"):
            compute_multiplier(h, "x", "y", bad)


def test_converged_plan_needs_a_positive_budget():
    fit = fake_fit("kaplan_ns", {"alpha_N": 0.076, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3}, draws=20)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(BayesScalingError, match="PF-days"):
            converged_plan_loss(fit, bad)


def test_data_requirement_needs_two_sizes():
    fit = fake_fit("kaplan_nd", {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}, draws=20)
    with pytest.raises(BayesScalingError, match="points"):
        data_requirement(fit, 1e8, 1e10, points=1)


def test_contradiction_point_broadcasts_one_n_e_over_several_exponents():
    fit_c = fake_fit("kaplan_c", {"alpha_C": 0.050, "C_c": 3.1e8}, rel_sd=0.0, draws=20)
    fit_d = fake_fit("kaplan_d", {"alpha_D": 0.095, "D_c": 5.4e13}, rel_sd=0.0, draws=20)
    point = contradiction_point(fit_c, fit_d, n_e=1.3e9, p_n=[0.72, 0.73])
    assert np.all(np.isfinite(point["C_star"].values))
    with pytest.raises(BayesScalingError, match="same length"):
        contradiction_point(fit_c, fit_d, n_e=[1.3e9, 1.4e9, 1.5e9], p_n=[0.72, 0.73])


def test_holdout_fraction_keeps_tied_runs_together():
    # an IsoFLOP ladder: 4 runs share each compute budget
    runs = bs.load_runs(runs_frame())
    law = get_law("chinchilla")
    c = runs.frame["C"].to_numpy()
    assert pd.Series(c).round(-15).value_counts().max() > 1
    for fraction in (0.1, 0.3, 0.5):
        train, test, info = split_runs(runs, law, holdout_fraction=fraction)
        assert info["n_test"] >= round(fraction * len(runs))
        assert train.frame["C"].max() < test.frame["C"].min()
    with pytest.raises(BayesScalingError, match="every run has the same C"):
        split_runs(bs.load_runs(runs_frame().assign(compute=1e20, tokens=lambda f: 1e20 / (6 * f["params"]))),
                   law, holdout_fraction=0.9)



def test_holdout_fraction_near_one_keeps_one_run_to_fit():
    runs = bs.load_runs(runs_frame())
    train, test, info = split_runs(runs, get_law("chinchilla"), holdout_fraction=0.99)
    assert len(train) >= 1 and info["n_test"] >= len(runs) - 4  # the smallest budget's tied runs stay


def test_simulating_an_unknown_noise_family_is_refused():
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import simulate_runs

    design = runs_frame()[["params", "tokens", "compute"]]
    with pytest.raises(BayesScalingError, match="likelihood family"):
        simulate_runs("chinchilla", EXAMPLE["truth"], design, family="Laplace")


def test_scalar_inputs_that_are_not_numbers_fail_with_one_clear_line(chin):
    from bayes_scaling.queries.allocate import compute_optimal, plan_outcome
    from bayes_scaling.queries.compare_groups import compare_groups

    kaplan = fake_fit("kaplan_ns", {"alpha_N": 0.076, "alpha_S": 0.76, "N_c": 6.5e13, "S_c": 2.1e3}, draws=20)
    cases = [
        (lambda: compute_optimal(chin, "lots"), "compute budgets must be finite numbers > 0 \\(FLOPs\\)"),
        (lambda: compute_optimal(chin, [1e21], compute_unit="pf-days", flops_per_token="six"), "flops_per_token"),
        (lambda: plan_outcome(chin, 1e21, "big"), "planned parameters must be > 0"),
        (lambda: converged_plan_loss(kaplan, 1.0, f="small"), "distance from convergence"),
        (lambda: converged_plan_loss(kaplan, "lots"), "PF-days"),
        (lambda: compare_groups(fake_hierarchical_fit(draws=20), N=1e9, D=2e10, rope=None), "rope"),
    ]
    for call, match in cases:
        with pytest.raises(BayesScalingError, match=match):
            call()


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "x", None, [1.0]])
def test_one_positive_check_keeps_each_callers_message_and_quantity(value):
    from bayes_scaling.conventions import check_positive
    from bayes_scaling.cost import CostLaw
    from bayes_scaling.posterior.inputs import fraction, positive_number

    for call, message, quantity in (
            (lambda: check_positive("width must be > 0", value, "w"), "width must be > 0", "w"),
            (lambda: positive_number(value, "scale must be > 0", quantity="X"), "scale must be > 0", "X"),
            (lambda: fraction(value, "f must be in (0, 1)", quantity="f"), "f must be in (0, 1)", "f"),
            (lambda: CostLaw(a=value), "cost exponent a must be a number > 0", "cost")):
        with pytest.raises(BayesScalingError) as ei:
            call()
        tail = " (one number, not an array or list)" if isinstance(value, list) else ""
        assert str(ei.value) == f"{message}, got {value!r}{tail}" and ei.value.quantity == quantity
    assert check_positive("r", "2.5") == 2.5 and fraction(0.25, "f") == 0.25
    with pytest.raises(BayesScalingError):
        fraction(1.0, "f")
