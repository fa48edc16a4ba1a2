"""Hoffmann et al. 2022 Approach 2 as a law-free check of a fit's frontier: at each IsoFLOP budget, a
parabola of loss in log N gives the loss-minimising N (with a bootstrap over the budget's runs); the
fit's compute-optimal N*(C) at the same compute is flagged where its interval misses the parabola's.

Runs are grouped into budgets by the one rule (:mod:`bayes_scaling.data.budgets`). The parabola's minimum is
along the curve the budget's runs lie on, so the fit's N* is asked along the same curve: in the cost law the
runs' C column is spent in (:func:`~bayes_scaling.cost.ladder_cost`: 6ND where C was derived as 6ND, the
ladder's nominal budget; else the fit's stored cost law, 6ND when none is stored), at the geometric mean over
the budget's runs of that law's C(N, D). The IsoFLOP figure draws the same curves. N in parameters, loss in
nats/token.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayes_scaling.conventions import MAX_MONTE_CARLO, check_ci_prob, check_count, seeded_rng
from bayes_scaling.cost import CostLaw, ladder_cost, with_cost
from bayes_scaling.data.budgets import budget_centres, budget_levels
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import median_interval
from bayes_scaling.queries.allocate import compute_optimal
from bayes_scaling.queries.draws import resolve_cost
from bayes_scaling.result import require_fit


def parabola_minimum(log_n: np.ndarray, loss: np.ndarray) -> float:
    """log N at the minimum of the least-squares parabola loss = a + b x + c x^2 in x = log N (NaN when the
    parabola opens downwards)."""
    c, b, _ = np.polyfit(log_n, loss, 2)
    return float(-b / (2 * c)) if c > 0 else float("nan")


def isoflop_minima(frame: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, ci_prob: float = 0.9,
                   cost: CostLaw | None = None) -> pd.DataFrame:
    """Per budget (runs grouped by the one rule, :func:`~bayes_scaling.data.budgets.budget_levels`; budgets with
    4+ runs at 3+ sizes): the budget's compute (geometric mean of its runs' C, FLOPs), the parabola's N_opt and
    its bootstrap ``ci_prob`` interval (runs resampled within the budget; resamples with fewer than 3 sizes or
    no minimum are dropped). ``frame``: columns N, D, C (FLOPs), loss. ``log_compute``: the mean over the budget's
runs of log ``cost.flops(N, D)`` (``cost``: a :class:`~bayes_scaling.cost.CostLaw`, None: 6ND), the compute a
fit's frontier is asked at."""
    if cost is not None and not isinstance(cost, CostLaw):
        raise BayesScalingError(f"cost must be a CostLaw (or None for 6ND), got {cost!r}"[:200], quantity="cost")
    cost = CostLaw() if cost is None else cost
    rng = seeded_rng(seed)
    check_ci_prob(ci_prob)
    n_boot = check_count("n_boot", n_boot, 1, MAX_MONTE_CARLO)
    rows, skipped = [], []
    c = frame["C"].to_numpy(float)
    levels = budget_levels(c)
    centres = budget_centres(c, levels)
    for key, g in frame.groupby(levels):
        x, y = np.log(g["N"].to_numpy(float)), g["loss"].to_numpy(float)
        if len(g) < 4 or len(np.unique(x)) < 3:
            continue
        boots = []
        for _ in range(n_boot):
            i = rng.integers(0, len(g), len(g))
            if len(np.unique(x[i])) >= 3:
                boots.append(parabola_minimum(x[i], y[i]))
        boots = np.asarray(boots)
        boots = boots[np.isfinite(boots)]
        point = parabola_minimum(x, y)
        if not np.isfinite(point) or boots.size == 0:  # no law-free minimum at this budget: nothing to compare
            skipped.append(float(centres[key]))
            continue
        _, b_lo, b_hi = median_interval(boots, ci_prob)
        rows.append({"budget": float(centres[key]), "n_runs": len(g), "N_parabola": np.exp(point),
                     "N_parabola_low": np.exp(b_lo), "N_parabola_high": np.exp(b_hi),
                     "inside_grid": bool(x.min() < point < x.max()),
                     "log_compute": float(np.mean(np.log(cost.flops(g["N"].to_numpy(float), g["D"].to_numpy(float)))))})
    if skipped:
        warnings.warn(f"IsoFLOP budgets {', '.join(f'{c:.3g}' for c in skipped)} FLOPs left out: their parabola "
                      f"has no minimum (it opens downwards)", stacklevel=2)
    if not rows:
        raise BayesScalingError("no IsoFLOP budget has 4 or more runs at 3 or more sizes and a parabola with a "
                                "minimum: Approach 2 needs IsoFLOP data", quantity="C")  # the runs' compute
    table = pd.DataFrame(rows)
    table.attrs["skipped_budgets"] = skipped
    return table


def approach2_check(result, runs=None, *, group: str | None = None, n_boot: int = 1000, seed: int = 0,
                    ci_prob: float = 0.9) -> pd.DataFrame:
    """Compare the fit's N*(C) with law-free IsoFLOP minima (Hoffmann et al. 2022, Approach 2) on ``runs``
    (default: the fit's own; ``group``: one group of a hierarchical fit, its runs only). Columns: budget
    (FLOPs, the geometric mean of its runs' C), compute (geometric mean over the budget's runs of C(N, D) in the
    cost law their C column is spent in, :func:`~bayes_scaling.cost.ladder_cost`: the compute N*(C) is asked at,
    with that law, so that the fit's N* lies on the curve the parabola is fitted along), n_runs, N_parabola (+ _low, _high), N_fit (median,
    _low, _high: the posterior's ``ci_prob`` interval), ``agree`` (the intervals overlap) and
    ``inside_grid`` (the parabola's minimum lies within the budget's sizes)."""
    require_fit(result)
    if not result.law.has("allocation"):
        raise BayesScalingError(f"law {result.law.name!r} has no compute-optimal allocation (a law of N and D)")
    cost = resolve_cost(result)
    runs = result.runs if runs is None else with_cost(runs, cost)  # a D derived from C as the fit's was
    cost = ladder_cost(runs, cost)
    frame = runs.frame
    if group is not None:
        col = (result.hierarchy or {}).get("group_col")
        if col is None or col not in frame:
            raise BayesScalingError(f"group {group!r} needs a hierarchical fit with its group column in the runs",
                                    quantity="group")
        if group not in frame[col].astype(str).to_numpy():
            groups = sorted(frame[col].astype(str).unique().tolist())
            raise BayesScalingError(f"unknown group {group!r}; the fit's groups are {groups}", quantity="group")
        frame = frame[frame[col].astype(str) == group]
    table = isoflop_minima(frame, n_boot=n_boot, seed=seed, ci_prob=ci_prob, cost=cost)
    compute = np.exp(table.pop("log_compute").to_numpy())
    n_opt = compute_optimal(result, compute, group=group, cost=cost)["N_opt"]
    q = median_interval(n_opt, ci_prob)
    table.insert(1, "compute", compute)
    table["N_fit"], table["N_fit_low"], table["N_fit_high"] = q[0], q[1], q[2]
    table["agree"] = (table["N_fit_low"] <= table["N_parabola_high"]) & (table["N_parabola_low"] <= table["N_fit_high"])
    table.attrs["cost_law"] = cost.describe()  # the law each budget's curve and compute are in
    return table
