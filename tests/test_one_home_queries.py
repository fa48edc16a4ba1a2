"""Ideas that were written twice, now with one home each: every test fails where the two paths disagreed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from bayes_scaling.testing import fake_fit


def _two_groups(e_b):
    """A fit (2 draws, no spread) with groups a (the population's E) and b (E = ``e_b`` in every draw)."""
    res = fake_fit(rel_sd=0.0, chains=1, draws=2)
    post = res.tree["posterior"].to_dataset()
    e = float(post["E"].values.ravel()[0])
    post["E_group"] = xr.DataArray(np.array([[[e, e_b], [e, e_b]]]), dims=("chain", "draw", "group"),
                                   coords={"group": ["a", "b"]})
    res.tree["posterior"] = xr.DataTree(post)
    res.tree.attrs["hierarchy"] = ('{"vary": ["E"], "tau": {"dist": "HalfNormal", "sigma": 0.1}, "group_col": "g", '
                                   '"groups": ["a", "b"]}')
    vars(res).pop("evaluator", None)
    return res, e


def test_compute_multiplier_searches_compute_as_target_does():
    """Group b's floor just below a's optimal loss at C: b needs ~1e21 x C, found by the compute-to-reach
    search (1e6 .. 1e60 budgets), not reported as never (the old +-40 nats window around C)."""
    from bayes_scaling.queries.allocate import compute_for_loss, compute_optimal
    from bayes_scaling.queries.compare_groups import compute_multiplier

    c = 1e21
    res, e = _two_groups(2.0)
    la = float(compute_optimal(res, [c], group="a")["loss_opt"].values.ravel()[0])
    res, e = _two_groups(la - (la - e) / 5000)
    m = compute_multiplier(res, "a", "b", c)
    need = compute_for_loss(res, la, group="b")["compute"].values.ravel()
    assert np.all(np.isfinite(m.values)) and np.all(m.values > np.exp(40))
    np.testing.assert_allclose(m.values.ravel(), need / c, rtol=1e-6)
    assert m.attrs["p_unreachable"] == 0 and m.attrs["p_met_at_any_budget"] == 0


def test_every_refit_keeps_the_stored_cost_law(monkeypatch):
    """Sensitivity refits, counterpart fits, design's refits and the report's break test on the fit's runs
    all refit as :func:`refit` says: with the fit's stored cost law (not 6ND), which allocation then prices with."""
    import bayes_scaling.inference.fit as fit_module
    from bayes_scaling.cost import CostLaw, store_cost, stored_cost
    from bayes_scaling.inference.counterpart import fit_counterpart
    from bayes_scaling.inference.design import refit_expected
    from bayes_scaling.report._refits import RefitConfig, RefitRunner, plan_refits

    cost = CostLaw("6nd", k=8.0)
    seen = []

    def stand_in(runs, law=None, spec=None, **kw):
        seen.append(kw.get("cost"))
        out = fake_fit(draws=20)
        fit_module.store_cost(out, kw.get("cost"))
        return out

    monkeypatch.setattr(fit_module, "fit", stand_in)
    nd = fake_fit(draws=20)
    store_cost(nd, cost)
    plan = plan_refits(nd, RefitConfig(), 0)
    runner = RefitRunner(plan.jobs)
    for key in ("likelihood", "params_kind"):
        refitted, err = runner.get(key)
        assert err is None and stored_cost(refitted) == cost
    refit_expected(nd, [1e8], [2e9], lambda f: 0.0, sims=1)
    power = fake_fit("power_x", {"E": 1.5, "B": 10.0, "c0": 0.3}, draws=20)
    store_cost(power, cost)
    fit_counterpart(power)
    assert seen and all(c == cost for c in seen)


def test_an_unseen_group_is_the_same_in_predict_and_allocation():
    """``predict --group new`` and allocation's draws (law_params) draw the same unseen group for one fit, and a
    predict noise seed does not move it."""
    from bayes_scaling.queries.draws import law_draws
    from bayes_scaling.testing import fake_hierarchical_fit

    r = fake_hierarchical_fit(seed=1)
    n, d = 1e9, 2e10
    law = np.exp(law_draws(r, "new").log_loss(np.log(n), np.log(d))).ravel()
    for seed in (None, 5):
        p = r.predict(N=n, D=d, group="new", seed=seed)["loss"].isel(query=0).values.ravel()
        np.testing.assert_allclose(p, law, rtol=1e-12)


def _span_starts(ax) -> list[float]:
    from matplotlib.patches import Polygon, Rectangle

    out = []
    for p in ax.patches:
        if isinstance(p, Rectangle):
            out.append(float(p.get_x()))
        elif isinstance(p, Polygon):
            out.append(float(np.min(p.get_xy()[:, 0])))
    return out


def test_figures_shade_beyond_the_runs_where_the_guard_counts():
    """With a stored 8ND cost law the guard's largest C is 8/6 of the nominal 6ND one; the figures' "beyond the
    largest run" shading starts there too."""
    from bayes_scaling.cost import CostLaw, store_cost
    from bayes_scaling.plots.allocation import plot_frontier
    from bayes_scaling.plots.fit import plot_fit
    from bayes_scaling.queries.extrapolation import fitted_maxima

    r = fake_fit(draws=20)
    store_cost(r, CostLaw("6nd", k=8.0))
    edge = 10 ** fitted_maxima(r)["C"]
    assert edge == pytest.approx(r.runs.frame["C"].max() * 8 / 6, rel=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = plot_fit(r)
        frontier = plot_frontier(r)
    for ax in (fig.axes[0], frontier.axes[0], frontier.axes[1]):
        starts = _span_starts(ax)
        assert starts and any(s == pytest.approx(edge, rel=1e-9) for s in starts)


def test_design_decides_and_wastes_as_allocate_does():
    """Design's decision now is allocate's over all the fit's draws (4 x 1000, more than the 800 the preposterior
    keeps), its wasted compute plan_outcome's; the least-waste plan is stop or go's "now", on the thinned draws."""
    from bayes_scaling.queries.allocate import decide, plan_outcome
    from bayes_scaling.queries.design_preposterior import Preposterior, decision_now
    from bayes_scaling.queries.draws import law_draws

    r = fake_fit(rel_sd=0.05, chains=4, draws=1000)
    c = 1e23
    pre = Preposterior(law_draws(r), r.evaluator.sigma.values.ravel(), r.spec.likelihood.dist, c)
    assert pre.size == 800
    now, dec = decision_now(r, pre), decide(r, c)
    assert now["decision_N_now"] == pytest.approx(dec.N, rel=1e-9) and now["decision_draws"] == 4000
    assert now["decision_wasted_now"] == pytest.approx(float(dec.outcome["wasted_compute"].mean()), rel=1e-9)
    assert now["least_waste_now"] == pytest.approx(pre.current("wasted_compute"), rel=1e-12)
    j = 17
    waste = plan_outcome(r, c, float(np.exp(pre.u[j])))["wasted_compute"].values.ravel()[pre.index]
    np.testing.assert_allclose(pre.waste_grid[:, j], waste, rtol=1e-9, atol=1e-12)


def test_designs_decision_and_guard_are_allocates(tmp_path, capsys):
    """``design --json``'s decision now, its waste and the extrapolation guard at it are ``allocate --json``'s at the
    target, on a fit of more draws than design thins to."""
    import json

    from bayes_scaling.cli import main

    path = str(fake_fit(rel_sd=0.05, chains=4, draws=1000).save(tmp_path / "fit.nc"))
    assert main(["allocate", path, "--compute", "1e23", "--json"]) == 0
    alloc = json.loads(capsys.readouterr().out)
    assert main(["design", path, "--target-compute", "1e23", "--ladder-budget", "3e21", "--batch", "1",
                 "--worlds", "8", "--max-refits", "0", "--exchange", "0", "--json"]) == 0
    des = json.loads(capsys.readouterr().out)
    assert des["decision_N_now"] == pytest.approx(alloc["decision"]["N"], rel=1e-9)
    assert des["decision_wasted_now"] == pytest.approx(alloc["wasted_compute"]["mean"], rel=1e-9)
    assert des["least_waste_now"] == pytest.approx(des["stop_or_go"]["expected_wasted_now"], rel=1e-12)
    guard, at = des["extrapolation"], alloc["extrapolation"]  # D = C/(kN): equal to the last bits
    assert guard["flag"] == at["flag"] and guard["notes"] == at["notes"]
    for key in ("decades_beyond", "decades_below"):
        assert guard[key] == pytest.approx(at[key], rel=1e-12)
    argv = ["design", path, "--target-compute", "1e23", "--ladder-budget", "3e21", "--batch", "1", "--worlds", "8",
            "--max-refits", "0", "--exchange", "0"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert (f"allocate's decision at C (N = {des['decision_N_now']:.3g}) wastes {des['decision_wasted_now']:.2%}" in text
            and f"wastes {des['stop_or_go']['expected_wasted_now']:.2%}, the value the savings" in text)


def test_p_reach_of_the_decision_is_one_function():
    from bayes_scaling.queries.allocate import decide, prob_reach

    r = fake_fit(draws=50)
    c = 1e22
    d = decide(r, c)
    target = float(np.median(d.outcome["loss"]))
    assert prob_reach(r, target, c, plan="decision") == d.p_reach(target) == pytest.approx(0.5, abs=0.02)


def test_ensemble_or_single_is_asked_in_one_place():
    """Every module asks ``conventions.is_ensemble`` (or the draws' ``mixture``), none its own hasattr test."""
    import re
    from pathlib import Path

    import bayes_scaling
    from bayes_scaling.conventions import is_ensemble

    root = Path(bayes_scaling.__file__).parent
    own = re.compile(r'hasattr\([^)]*"(members|parts)"\)')
    found = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
             if own.search(line) and p.name != "conventions.py"]
    assert found == []
    assert not is_ensemble(fake_fit(draws=5))


def test_n_star_units_and_target_loss_unit_are_the_fits():
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.queries.allocate import compute_for_loss, compute_optimal
    from bayes_scaling.testing import runs_frame

    fit = fake_fit(draws=20, runs=load_runs(runs_frame(), loss_unit="bits/token"))
    want = compute_optimal(fit, [1e21])["N_opt"].attrs["units"]
    assert want.endswith(" parameters") and want != "parameters"
    assert compute_for_loss(fit, 3.0)["N_opt"].attrs["units"] == want
    with pytest.raises(BayesScalingError, match=r"\(bits/token\)"):
        compute_for_loss(fit, -1.0)


def test_design_and_isoflop_check_carry_units_diagnostics_and_the_guard(tmp_path, capsys):
    import json

    from bayes_scaling.cli import main

    path = str(fake_fit(draws=50).save(tmp_path / "f.nc"))
    assert main(["design", path, "--target-compute", "1e23", "--ladder-budget", "3e21", "--worlds", "16",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["units"]["N"].endswith("parameters") and "r_hat_max" in json.dumps(out["diagnostics"])
    assert out["extrapolation"]["decades_beyond_data"] > 0  # the decision at 1e23 FLOPs lies beyond the runs
    assert main(["isoflop-check", path, "--bootstrap", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"units", "diagnostics"} <= set(out)


def test_an_ensembles_noise_draws_come_from_its_mixture():
    """Design's noise scale per draw of an ensemble is the mixture evaluator's own (each member's sigma on the
    draws the mixture took from it), in the order of the mixture's law draws."""
    from bayes_scaling.queries.design_preposterior import draws_sigma_family
    from bayes_scaling.result import EnsembleResult

    a, b = fake_fit(draws=30, seed=1), fake_fit(draws=30, seed=1)
    for i, f in enumerate((a, b)):
        post = f.tree["posterior"].to_dataset()
        post["sigma"] = post["sigma"] * 0 + (0.01 if i == 0 else 0.05)
        f.tree["posterior"] = xr.DataTree(post)
        vars(f).pop("evaluator", None)
    ens = EnsembleResult({"a": a, "b": b}, {"a": 0.7, "b": 0.3})
    draws, sigma, _ = draws_sigma_family(ens)
    picks = ens.evaluator.picks
    assert sigma.shape == (draws.shape[1],)
    np.testing.assert_allclose(sigma, np.r_[np.full(len(picks["a"]), 0.01), np.full(len(picks["b"]), 0.05)])


def test_backtest_takes_the_cost_law_a_fit_stores():
    """``backtest`` and ``bayes-scaling backtest --cost`` fit with a cost law as ``fit`` does; a wrong one is refused
    before any sampling."""
    from bayes_scaling.cli import build_parser
    from bayes_scaling.data.runs import load_runs
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.inference.backtest import backtest
    from bayes_scaling.testing import runs_frame

    with pytest.raises(BayesScalingError, match="CostLaw") as e:
        backtest(load_runs(runs_frame()), "chinchilla", holdout_fraction=0.25, cost="8nd")
    assert e.value.quantity == "cost"
    args = build_parser().parse_args(["backtest", "runs.csv", "--law", "chinchilla", "--cost", "kaplan", "--n-ctx", "2048"])
    assert args.cost == "kaplan" and args.n_ctx == 2048
