"""A rung of an IsoFLOP ladder under a cost law other than 6ND: the IsoFLOP figure's curve and Approach 2's
N* are along the curve the rung's runs lie on (:func:`bayes_scaling.cost.ladder_cost`). Fits built from known
draws (``fake_fit``), no sampling."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from bayes_scaling.cost import CostLaw, ladder_cost, store_cost, with_cost
from bayes_scaling.data.budgets import budget_levels
from bayes_scaling.data.runs import load_runs
from bayes_scaling.queries.allocate import compute_optimal
from bayes_scaling.testing import fake_fit, runs_frame

#: Kaplan et al. 2020 Table 1 at n_ctx = 2048 and d_model / n_layer = 64: 1.1-1.45x 6ND over the test ladder's N.
KAPLAN = CostLaw("kaplan", n_ctx=2048, aspect_ratio=64)


def _fit(columns, cost):
    """A fake chinchilla fit on the 4-rung test ladder given by ``columns`` of the runs file, storing ``cost``;
    its runs as ``fit`` would store them (a D derived from C derived again with the cost law)."""
    res = fake_fit(runs=with_cost(load_runs(runs_frame(seed=1)[list(columns)]), cost), seed=1, draws=50)
    store_cost(res, cost)
    return res


def _median_loss(res, n, d):
    return np.median(res.predict(N=n, D=d)["loss"].values.reshape(-1, len(n)), axis=0)


@pytest.mark.parametrize("columns, cost", [(("params", "tokens", "loss"), KAPLAN),
                                           (("params", "compute", "loss"), KAPLAN),
                                           (("params", "tokens", "loss"), None)])
def test_each_runs_lies_on_its_rungs_isoflop_curve(columns, cost):
    """At each run's N, the curve's median loss is the law's at the run's (N, D) to within what a 1% change of D
    moves it: the curve spends the rung's budget as its runs did (a C derived as 6ND: D = C / (6N), not the
    Kaplan cost's D, which is 5-30% smaller here; a recorded C: the cost law's D)."""
    from bayes_scaling.plots import plot_isoflops

    res = _fit(columns, cost)
    frame = res.runs.frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = plot_isoflops(res).axes[0]
    curves = [ln for ln in ax.get_lines() if ln.get_label().startswith("C = ")]
    levels = budget_levels(frame["C"].to_numpy(float))
    assert len(curves) == np.unique(levels).size == 4
    for line, level in zip(curves, np.unique(levels)):
        g = frame[levels == level]
        n, d = g["N"].to_numpy(float), g["D"].to_numpy(float)
        on_curve = CubicSpline(np.log(line.get_xdata()), line.get_ydata())(np.log(n))
        at_run = _median_loss(res, n, d)
        one_pct = np.abs(_median_loss(res, n, 1.01 * d) - at_run)
        assert np.all(np.abs(on_curve - at_run) < one_pct), (line.get_label(), on_curve - at_run, one_pct)


def test_approach2_asks_the_fit_along_the_curve_of_the_rungs_runs():
    """Approach 2 under the Kaplan cost: where C was derived as 6ND, N* is asked at each rung's nominal budget
    along D = C / (6N) (the curve the parabola is fitted along); where C was recorded, at the recorded C along
    the Kaplan curve, also for runs given as loaded (their D = C / (6N) derived again as the fit's)."""
    from bayes_scaling.queries.isoflop_check import approach2_check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a rung whose parabola opens downwards is left out, with a warning
        nominal = _fit(("params", "tokens", "loss"), KAPLAN)
        table = approach2_check(nominal, n_boot=20)
        np.testing.assert_allclose(table["compute"], table["budget"], rtol=1e-9)
        six = np.median(compute_optimal(nominal, table["compute"].to_numpy(), cost=CostLaw())["N_opt"].values
                        .reshape(-1, len(table)), axis=0)
        np.testing.assert_allclose(table["N_fit"], six, rtol=1e-9)
        from bayes_scaling.plots import plot_isoflops

        ax = plot_isoflops(nominal).axes[0]  # the figure's N* per rung: the same answer
        marked = np.array([float(c.lines[0].get_xdata()[0]) for c in ax.containers])
        budgets = [float(ln.get_label().split()[2]) for ln in ax.get_lines() if ln.get_label().startswith("C = ")]
        kept = [bool(np.any(np.isclose(b, table["budget"], rtol=1e-3))) for b in budgets]  # rungs with a parabola
        np.testing.assert_allclose(marked[kept], table["N_fit"], rtol=1e-9)
        recorded = _fit(("params", "compute", "loss"), KAPLAN)
        loaded = load_runs(runs_frame(seed=1)[["params", "compute", "loss"]])
        for runs in (None, loaded):
            t = approach2_check(recorded, runs, n_boot=20)
            np.testing.assert_allclose(t["compute"], t["budget"], rtol=1e-9)  # the runs' recorded C: one per rung


def test_ladder_cost_is_6nd_for_a_derived_c_else_the_fits():
    frame = runs_frame(seed=1)
    derived_c = load_runs(frame[["params", "tokens", "loss"]])
    for runs in (derived_c, with_cost(derived_c, KAPLAN)):
        assert ladder_cost(runs, KAPLAN) == CostLaw() and ladder_cost(runs, None) == CostLaw()
    for cols in (["params", "compute", "loss"], ["params", "tokens", "compute", "loss"]):
        assert ladder_cost(with_cost(load_runs(frame[cols]), KAPLAN), KAPLAN) == KAPLAN


def test_runs_sit_at_their_cost_law_c_beside_the_frontier():
    """Under the Kaplan cost, runs given as N and D are drawn at Kaplan's C(N, D) beside L*(C) and N*(C), D*(C),
    the currency of those curves, not at their nominal 6ND budget, 10-45% lower, where half the runs' fitted
    loss would lie below the compute-optimal loss L*(C), an allocation better than optimal."""
    from matplotlib.collections import PathCollection

    from bayes_scaling.plots import plot_fit, plot_frontier

    res = _fit(("params", "tokens", "loss"), KAPLAN)
    frame = res.runs.frame
    n, d = frame["N"].to_numpy(float), frame["D"].to_numpy(float)
    want = np.sort(KAPLAN.flops(n, d))
    ax = plot_fit(res).axes[0]
    xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if isinstance(c, PathCollection)])
    np.testing.assert_allclose(np.sort(xs), want, rtol=1e-9)
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("L*(C) posterior median")]
    l_star = CubicSpline(np.log(line.get_xdata()), line.get_ydata())(np.log(KAPLAN.flops(n, d)))
    assert np.all(_median_loss(res, n, d) > l_star - 1e-3)
    for ax in plot_frontier(res).axes[:2]:
        (runs,) = [c for c in ax.collections if c.get_label() == "observed runs"]
        np.testing.assert_allclose(np.sort(runs.get_offsets()[:, 0]), want, rtol=1e-9)


def test_defaults_from_the_runs_compute_are_in_the_fits_cost_law():
    """The report's design budget (as much again as the runs so far) and the group comparison's default budget (the
    largest run's) are priced in the cost law the candidates and the comparison use: Kaplan's C(N, D) of the runs,
    not their nominal 6ND budgets."""
    from types import SimpleNamespace

    from bayes_scaling.plots import plot_group_comparison
    from bayes_scaling.report._design import design_targets
    from bayes_scaling.testing import fake_hierarchical_fit

    res = _fit(("params", "tokens", "loss"), KAPLAN)
    frame = res.runs.frame
    kaplan_c = KAPLAN.flops(frame["N"].to_numpy(float), frame["D"].to_numpy(float))
    ctx = SimpleNamespace(result=res, cost=KAPLAN, budgets=np.array([1e22]), design_budget=None)
    assert design_targets(ctx)[1] == pytest.approx(float(kaplan_c.sum()), rel=1e-12)
    hier = fake_hierarchical_fit()
    store_cost(hier, KAPLAN)
    f = hier.runs.frame
    largest = float(KAPLAN.flops(f["N"].to_numpy(float), f["D"].to_numpy(float)).max())
    assert f"at C = {largest:.3g} FLOPs" in plot_group_comparison(hier).axes[0].get_title()


def test_design_cli_starts_its_candidate_budgets_at_the_runs_cost_law_c(tmp_path, monkeypatch):
    """``design``'s grid starts at the smallest run's compute priced, like its candidates, with the cost law."""
    import bayes_scaling.queries.design as design_module
    from bayes_scaling.cli import main
    from bayes_scaling.errors import BayesScalingError

    res = _fit(("params", "tokens", "loss"), KAPLAN)
    res.save(tmp_path / "k.nc")
    seen = []

    def spy(runs_compute, *args, **kwargs):
        seen.append(np.asarray(runs_compute, float))
        raise BayesScalingError("stop before the design itself")

    monkeypatch.setattr(design_module, "candidate_grid", spy)
    assert main(["design", str(tmp_path / "k.nc"), "--target-compute", "1e23", "--ladder-budget", "3e21"]) == 2
    frame = res.runs.frame
    c = KAPLAN.flops(frame["N"].to_numpy(float), frame["D"].to_numpy(float))
    np.testing.assert_allclose(seen[0], [c.min(), c.max()], rtol=1e-12)  # the runs' range of C, priced like candidates
    assert not np.isclose(c.min(), frame["C"].min(), rtol=1e-3)  # the nominal 6ND budget would differ


def test_a_recorded_c_in_another_currency_draws_each_rung_at_approach_2s_compute(capsys, tmp_path):
    """N, D and C all recorded, C an authors'-style count (1.3 x 6ND) and the fit's cost law 6ND: the recorded C is
    not a point of the law, so each rung's curve, its N* marker and Approach 2's N_fit are all at the geometric mean
    of the rung's 6ND C (they were at the recorded C in the figure and at 6ND in the check), and ``isoflop-check``
    says where its N* was asked."""
    from bayes_scaling.cli import main
    from bayes_scaling.plots import plot_isoflops
    from bayes_scaling.queries.isoflop_check import approach2_check

    f = runs_frame(seed=1)[["params", "tokens", "compute", "loss"]].copy()
    f["compute"] = 1.3 * 6 * f["params"] * f["tokens"]
    res = fake_fit(runs=load_runs(f), seed=1, draws=50)
    table = approach2_check(res, n_boot=20)
    np.testing.assert_allclose(table["compute"], table["budget"] / 1.3, rtol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = plot_isoflops(res).axes[0]
    markers = np.array([float(c.lines[0].get_xdata()[0]) for c in ax.containers])
    rungs = np.isin(np.round(np.log10(np.asarray([float(ln.get_label().split()[2]) for ln in ax.get_lines()
                                                   if ln.get_label().startswith("C = ")])), 6),
                    np.round(np.log10(table["compute"].to_numpy()), 6))
    assert rungs.sum() == len(table)  # every checked budget is drawn at its compute
    np.testing.assert_allclose(np.sort(markers[rungs]), np.sort(table["N_fit"].to_numpy()), rtol=1e-6)
    res.save(tmp_path / "r.nc")
    assert main(["isoflop-check", str(tmp_path / "r.nc"), "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    assert "along each budget's curve in C = 6 N D FLOPs" in text and "the fit's N* at 1e+18 FLOPs in that law" in text


def test_the_reports_design_prices_candidates_with_the_fits_stored_law(monkeypatch):
    """With no cost law named for the report, its design section builds and prices the candidates in the fit's
    stored cost law, as ``design`` does (the grid was built in 6ND and priced in the stored law)."""
    from types import SimpleNamespace

    import bayes_scaling.queries.design as design_module
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.report._design import design_section

    res = _fit(("params", "tokens", "loss"), KAPLAN)
    seen = {}

    def spy(runs_compute, budget, **kwargs):
        seen["grid"] = kwargs.get("cost")
        raise BayesScalingError("stop before the design itself")

    monkeypatch.setattr(design_module, "candidate_grid", spy)
    ctx = SimpleNamespace(result=res, cost=None, budgets=np.array([1e22]), design_budget=None, seed=0)
    design_section(ctx)
    assert seen["grid"] == KAPLAN
