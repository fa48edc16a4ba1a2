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
