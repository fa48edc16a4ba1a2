"""Compute budgets on a split axis, and thresholds that never cut one in two.

Runs of one budget (an IsoFLOP ladder's rung) share a compute up to rounding: N and D to 3 significant
figures are off by up to 0.5% each, C = 6ND by 1%. A held-out split through such a budget would fit
some of its runs and score the others, which is interpolation, not extrapolation. Every threshold of
a leave-future-out split (backtests, the ensemble's stacking cuts, the discrepancy's inner split) is
therefore moved to a gap between :func:`budget_levels` by :func:`snap_to_budgets`; :func:`decades_cut`,
:func:`level_cut` (the one "largest quarter" fallback) and :func:`sides_hold` are the cuts and the minimum sizes
those splits share. The grouping itself
(:func:`budget_levels`, one tolerance) lives in :mod:`bayes_scaling.data.budgets`, where the figures, the
report and Approach 2 find it too.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.data.budgets import BUDGET_DECADES, budget_levels  # noqa: F401 (re-exported: the one grouper)



def snap_to_budgets(values, threshold: float, *, min_below: int = 1, min_above: int = 1, hold_whole: bool = False) -> float:
    """``threshold`` on the split axis ``values`` (runs above it are held out), moved off any budget it cuts.

    Rule (fixed from principle, not tuned on data): a threshold inside a budget (runs of one
    :func:`budget_levels` level on both sides) moves to the nearer in log10 of the two gaps around that
    budget: up to the budget's largest value (the whole budget is fitted) when the threshold lies at or
    above the budget's log-midpoint, else down to the previous budget's largest value (the whole budget
    is held out). When that leaves fewer than ``min_below`` runs at or below it or ``min_above`` above,
    the other gap is tried; when neither does, the threshold is returned unchanged, and the caller's own
    checks (its fallback or its error) decide. A threshold already between budgets is returned unchanged.
    ``hold_whole``: the budget it cuts is held out whole first (down), so at least the runs asked for are held
    out (a fraction of the runs), whatever the midpoint."""
    v = np.asarray(values, float)
    thr = float(threshold)
    if v.size == 0:
        return thr
    level = budget_levels(v)
    cut = [u for u in np.unique(level) if (v[level == u] <= thr).any() and (v[level == u] > thr).any()]
    if not cut:
        return thr
    inside = v[level == cut[0]]
    up = float(inside.max())
    lower = v[level < cut[0]]
    down = float(lower.max()) if lower.size else None
    mid = 0.5 * (np.log10(inside.min()) + np.log10(inside.max()))
    order = (up, down) if np.log10(thr) >= mid and not hold_whole else (down, up)
    for t in order:
        if t is not None and (v <= t).sum() >= min_below and (v > t).sum() >= min_above:
            return t
    return thr


def decades_cut(values, decades: float, *, min_below: int, min_above: int) -> float | None:
    """The threshold ``decades`` below the largest of ``values`` (the split axis; runs above it are held out),
    moved off any budget it cuts (:func:`snap_to_budgets`), or None when that leaves fewer than ``min_below``
    runs at or below it or ``min_above`` above (the discrepancy's inner split, the ensemble's stacking cuts)."""
    v = np.asarray(values, float)
    thr = snap_to_budgets(v, float(v.max()) / 10 ** decades, min_below=min_below, min_above=min_above)
    return thr if sides_hold(v, thr, min_below=min_below, min_above=min_above) else None


def sides_hold(values, threshold: float, *, min_below: int, min_above: int) -> bool:
    """Whether ``min_below`` or more of ``values`` lie at or below ``threshold`` and ``min_above`` or more above."""
    test = np.asarray(values, float) > threshold
    return bool(test.sum() >= min_above and (~test).sum() >= min_below)


def level_cut(values, fits_ok, quarter: float = 0.25, *, min_above: int = 3):
    """The one "largest quarter" fallback (the ensemble's fallback cut, the discrepancy's inner split): the
    threshold on the split axis ``values``, or None, between two :func:`budget_levels` (a budget, ties included,
    is held out whole), holding out at least ``min_above`` runs and the largest ``quarter`` where the ladder
    allows, the fewest above that, else as many as ``fits_ok`` allows; ``fits_ok(mask)``: can the members be
    fitted to the runs in ``mask`` (at or below it)."""
    v = np.asarray(values, float)
    want = max(min_above, int(np.ceil(quarter * len(v))))
    level = budget_levels(v)
    tops = [float(v[level == u].max()) for u in range(int(level.max()) if len(v) else 0)]
    ok = [(int((v > t).sum()), t) for t in tops if (v > t).sum() >= min_above and fits_ok(v <= t)]
    if not ok:
        return None
    above = [c for c in ok if c[0] >= want]
    return min(above)[1] if above else max(ok)[1]
