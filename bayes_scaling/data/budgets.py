"""Compute budgets: the one rule that groups runs into budgets (an IsoFLOP ladder's rungs), used by
Approach 2's minima, the figures, the report and every held-out split.

Runs of one budget share a compute up to rounding: N and D recorded to 3 significant figures are off
by up to 0.5% each, so C = 6ND by up to 1%, and two runs of one budget by up to 2% (0.0086 decades).
Sorted by log10 C, a new budget therefore starts only where the gap to the previous run exceeds
:data:`BUDGET_DECADES` = 0.01 decades (2.3%). Fixed from that rounding argument, not fitted to data.
"""

from __future__ import annotations

import numpy as np

#: One budget: values within 0.01 decades (2.3%) of the next smaller (see the module docstring).
BUDGET_DECADES = 0.01


def budget_levels(values, tol_decades: float = BUDGET_DECADES) -> np.ndarray:
    """An integer budget level per value (0 = smallest): sorted by log10, a new level starts only where the gap
    to the previous value exceeds ``tol_decades`` (values of one budget are never split; near ones chain)."""
    x = np.log10(np.asarray(values, float))
    order = np.argsort(x, kind="stable")
    level = np.empty(len(x), int)
    level[order] = np.cumsum(np.r_[0, np.diff(x[order]) > tol_decades])
    return level


def budget_centres(values, levels) -> np.ndarray:
    """Per level (0, 1, ...): the geometric mean of its values (a budget's compute, in the values' unit)."""
    lx = np.log10(np.asarray(values, float))
    lev = np.asarray(levels, int)
    return np.array([10 ** lx[lev == u].mean() for u in range(int(lev.max()) + 1 if lev.size else 0)])
