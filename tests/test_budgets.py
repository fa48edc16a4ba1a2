"""Split thresholds never cut one compute budget in two (backtests, stacking cuts, the discrepancy's
inner split), moving to the nearest gap between budgets in log10 of the split axis."""

from __future__ import annotations

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.inference.budgets import budget_levels, snap_to_budgets


def _ladder(budgets_flops, per_budget=8, spread=0.008):
    """IsoFLOP runs: each budget's C spread over ``spread`` decades (rounded N and D), loss falling with C."""
    rows = []
    for c in budgets_flops:
        for i, n in enumerate(np.geomspace(1e8, 3e9, per_budget)):
            ci = c * 10 ** (spread * i / (per_budget - 1))
            rows.append({"params": n, "tokens": ci / (6 * n), "loss": 2.0 + 3.0 * (1e18 / ci) ** 0.1})
    return bs.load_runs(pd.DataFrame(rows))


def _split_budgets(v, thr):
    lev = budget_levels(v)
    return [u for u in np.unique(lev) if (v[lev == u] > thr).any() and (v[lev == u] <= thr).any()]


def test_snap_moves_to_the_nearest_gap_and_respects_each_side_minimum():
    v = np.r_[np.full(3, 1e18), 1e19 * 10 ** np.linspace(0, 0.008, 5), np.full(4, 1e20)]
    assert snap_to_budgets(v, 1.005e19) == 1e18  # below the budget's log-midpoint: the budget is held out
    assert snap_to_budgets(v, 1.015e19) == float(v[7])  # above it: the whole budget is fitted
    assert snap_to_budgets(v, 5e19) == 5e19  # already between budgets: unchanged
    assert snap_to_budgets(v, 1.005e19, min_below=4) == float(v[7])  # the other gap when a side runs short
    assert snap_to_budgets(v, 1.005e19, min_below=9) == 1.005e19  # neither gap: unchanged, the caller decides


def test_backtest_stacking_and_inner_splits_never_cut_a_budget():
    from bayes_scaling.inference.backtest import split_runs
    from bayes_scaling.inference.discrepancy import inner_split
    from bayes_scaling.inference.ensemble import CUT_DECADES, _cuts
    from bayes_scaling.inference.fit import resolve_spec

    law = resolve_spec(law="chinchilla").law
    runs = _ladder(np.geomspace(1e18, 1e21, 7))  # budgets 0.5 decades apart: each default cut lands in one
    v = runs.frame["C"].to_numpy(float)
    for frac in (0.1, 0.2, 0.3, 0.5):
        _, test, info = split_runs(runs, law, holdout_fraction=frac)
        assert not _split_budgets(v, info["holdout_above"]) and len(test) % 8 == 0
    for above, n_test in ((1.003e20, 24), (1.015e20, 16)):  # the 1e20 budget's log-midpoint is at 1.009e20
        _, test, info = split_runs(runs, law, holdout_above=above)
        assert not _split_budgets(v, info["holdout_above"]) and len(test) == n_test
        assert info["holdout_above_asked"] == above != info["holdout_above"]  # the threshold asked is kept
    _, cuts = _cuts(runs, law, CUT_DECADES, 6)
    assert cuts and all(not _split_budgets(v, thr) for _, thr, _, _ in cuts)
    assert len({thr for _, thr, _, _ in cuts}) == len(cuts)
    _, test, thr = inner_split(runs, law)
    assert not _split_budgets(v, thr) and len(test) % 8 == 0


def _rounded_ladder(budgets=(1e19, 10 ** 19.25, 1e20), per_budget=8):
    """IsoFLOP runs with N and D recorded to 3 significant figures (C = 6ND off by up to 1%)."""
    rows = []
    for c0 in budgets:
        for n in np.geomspace(c0 ** 0.5 / 60, c0 ** 0.5 / 6, per_budget):
            n3, d3 = float(f"{n:.3g}"), float(f"{c0 / (6 * n):.3g}")
            rows.append({"N": n3, "D": d3, "C": 6 * n3 * d3, "loss": 1.7 + 400 / n3 ** 0.34 + 410 / d3 ** 0.28})
    return pd.DataFrame(rows)


def test_every_site_groups_budgets_by_the_one_rule():
    """A budget at 10^19.25 whose rounded runs straddle a rounding edge of log10 C stays one budget of 8 runs in
    Approach 2's minima, the figures' labels and the splits' levels (it came out as '2.0e19, 5 runs' before)."""
    from bayes_scaling.plots.common import budget_labels
    from bayes_scaling.queries.isoflop_check import isoflop_minima

    f = _rounded_ladder()
    levels = budget_levels(f["C"])
    labels, centres, isoflop = budget_labels(f["C"], f["N"])
    assert levels.tolist() == labels.tolist() == [0] * 8 + [1] * 8 + [2] * 8 and isoflop
    t = isoflop_minima(f, n_boot=20)
    assert t["n_runs"].tolist() == [8, 8, 8]
    np.testing.assert_allclose(np.log10(t["budget"]), [19, 19.25, 20], atol=0.005)
    np.testing.assert_allclose(t["budget"], centres)


def test_replicates_at_one_size_are_not_an_isoflop_ladder():
    """Budgets of seeds at one N (3 replicates per configuration) are budgets but no IsoFLOP ladder: a parabola
    needs 3 sizes."""
    from bayes_scaling.plots.common import budget_labels

    n = np.repeat([1e8, 2e8, 4e8, 8e8], 3)
    c = 6 * n * 20 * n
    assert not budget_labels(c, n)[2]
    assert budget_labels(c)[2]  # compute alone cannot tell


def test_approach2_asks_the_fit_at_its_stored_cost_law():
    """With a stored cost of 8ND the frontier is asked at 8ND of the same runs, so N* is that of the same runs (the
    compute stayed at 6ND before, and N* was asked at a budget 25% short of the runs')."""
    from bayes_scaling.cost import CostLaw, store_cost
    from bayes_scaling.testing import fake_fit

    from bayes_scaling.examples import EXAMPLE

    truth = EXAMPLE["truth"]
    runs = bs.load_runs(bs.simulate_runs("chinchilla", truth, bs.isoflop_design(np.geomspace(1e18, 1e20, 3),
                                                                                 np.geomspace(2, 400, 7)),
                                         sigma=0.003, seed=1))
    fit = fake_fit("chinchilla", runs=runs)
    t6 = bs.approach2_check(fit, n_boot=20)
    store_cost(fit, CostLaw("6nd", k=8.0))
    t8 = bs.approach2_check(fit, n_boot=20)
    np.testing.assert_allclose(t8["compute"], t6["compute"] * 8 / 6, rtol=1e-12)
    np.testing.assert_allclose(t8["budget"], t6["budget"])
    np.testing.assert_allclose(t8["N_fit"], t6["N_fit"], rtol=1e-9)


def test_the_shared_cut_keeps_budgets_whole_and_both_sides_filled():
    """decades_cut: a decade below the top, snapped off the budget it cuts; None when a side runs short."""
    from bayes_scaling.inference.budgets import decades_cut, sides_hold

    v = np.r_[np.full(4, 1e18), 1e19 * 10 ** np.linspace(0, 0.008, 5), np.full(3, 1e20)]
    assert decades_cut(v, 1.0, min_below=4, min_above=3) == 1e18  # 1e19 cuts the budget low: it is held out whole
    assert decades_cut(v, 1.0, min_below=5, min_above=3) == float(v[8])  # too few to fit: fitted whole instead
    assert decades_cut(v, 1.0, min_below=10, min_above=3) is None
    assert sides_hold(v, 1e19 * 1.02, min_below=9, min_above=3) and not sides_hold(v, 1e20, min_below=1, min_above=1)
