"""IsoFLOP curves and the compute-optimal frontier N*(C), D*(C) for laws of N and D."""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import CI_PROB, FLOPS_PER_PARAM_TOKEN
from bayes_scaling.cost import ladder_cost
from bayes_scaling.data.budgets import budget_levels
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import format_interval, median_interval
from bayes_scaling.plots.common import (
    BAND_COLOR,
    loss_label,
    axis_label,
    budget_labels,
    check_ci,
    compute_at_runs,
    envelope_runs,
    finish_log_axes,
    largest_fitted,
    legend,
    mpl_text,
    new_figure,
    pct,
    require_nd,
    sci,
    target_ax,
)

#: Published frontier slopes drawn for reference: Kaplan et al. 2020 (Eq. 1.7 / Table 6: N ~ C^0.73,
#: so D ~ C^0.27) and Hoffmann et al. 2022 (Table 2, Approaches 1-3: N ~ C^0.5, D ~ C^0.5).
REFERENCE_SLOPES = {
    "N": (("Kaplan et al. 2020: N ∝ C^0.73", 0.73), ("Chinchilla (Hoffmann et al. 2022): N ∝ C^0.5", 0.5)),
    "D": (("Kaplan et al. 2020: D ∝ C^0.27", 0.27), ("Chinchilla (Hoffmann et al. 2022): D ∝ C^0.5", 0.5)),
}


def _budgets(result, budgets) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(budgets in FLOPs, run labels, label budgets, isoflop) with defaults from the runs."""
    frame = result.runs.frame
    c = frame["C"].to_numpy(float)
    labels, centres, isoflop = budget_labels(c, frame["N"])
    if budgets is None:
        if isoflop:
            budgets = centres
        else:
            q = np.quantile(np.log10(c), [0.1, 0.4, 0.7, 0.95])
            budgets = np.array([float(f"{v:.1g}") for v in 10 ** q])
            budgets = np.unique(budgets)
    b = np.atleast_1d(np.asarray(budgets, dtype=float))
    if b.ndim != 1 or b.size == 0 or not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise BayesScalingError(f"IsoFLOP budgets must be compute values in FLOPs > 0, e.g. [1e19, 1e20], got {budgets!r}")
    return np.sort(b), labels, centres, isoflop


def _runs_at(result, budget, labels, centres, isoflop) -> np.ndarray:
    """Indices of the observed runs at ``budget``: on an IsoFLOP ladder, the runs of the budget the one grouper
    (:func:`~bayes_scaling.data.budgets.budget_levels`) puts ``budget`` in; else (no budgets: compute varies
    from run to run) the runs within 0.1 decade, drawn as runs near the curve."""
    c = result.runs.frame["C"].to_numpy(float)
    if isoflop:
        level = budget_levels(np.r_[c, float(budget)])
        return np.flatnonzero(level[:-1] == level[-1])
    return np.flatnonzero(np.abs(np.log10(c) - np.log10(budget)) <= 0.1)


def plot_isoflops(result, budgets=None, *, ci_prob: float = CI_PROB, ax=None, group: str | None = None,
                  flops_per_token: float = FLOPS_PER_PARAM_TOKEN):
    """Loss against N at fixed compute (IsoFLOP curves) with the posterior median and ``ci_prob`` band, the
    observed runs of each budget, and each budget's N* (the curve's minimum) with its interval. ``budgets`` in
    FLOPs of the runs' C column (default: the runs' IsoFLOP budgets, or four budgets spread over their compute);
    one that matches no rung is drawn as it is, in the fit's cost law.
    A curve spends its budget as the runs' C column was spent (:func:`~bayes_scaling.cost.ladder_cost`), so a
    rung's curve passes through its runs: D = C / (6N) where C was derived as 6ND (the ladder's nominal budget;
    under another cost law its runs would cost different amounts and lie off any one curve of that law), else as
    the fit's cost law spends C (none stored: C = k N D, k = ``flops_per_token``). A rung with runs is drawn at
    Approach 2's compute (:func:`~bayes_scaling.queries.isoflop_check.approach2_check`): the geometric mean of its
    runs' C(N, D) in that law, which is the nominal budget where C was derived; a C recorded in another currency
    (e.g. the authors' FLOPs against a 6ND cost law) is not, and its runs sit off the curve by the difference:
    ``--cost fitted`` makes the law price them. Laws of N and D only.
    ``group``: a group of a hierarchical fit (default: the population)."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    from bayes_scaling.queries.allocate import compute_optimal
    from bayes_scaling.queries.draws import resolve_cost

    require_nd(result, "IsoFLOP curves")
    fitted = resolve_cost(result, None, flops_per_token)
    cost = ladder_cost(result.runs, fitted)
    ci_prob, _, _ = check_ci(ci_prob)
    budgets, labels, centres, isoflop = _budgets(result, budgets)
    fig, ax = target_ax(ax, figsize=(7.5, 4.8))
    frame = result.runs.frame
    n_obs = frame["N"].to_numpy(float)
    loss_obs = frame["loss"].to_numpy(float)
    ats = [_runs_at(result, b, labels, centres, isoflop) for b in budgets]
    if group is not None and group != "new" and result.hierarchy is not None:  # a group's rungs: its own runs, as
        mine = frame[result.hierarchy["group_col"]].astype(str).to_numpy() == str(group)  # Approach 2 checks them
        ats = [at[mine[at]] for at in ats]
    d_obs = frame["D"].to_numpy(float)
    # each rung's curve at Approach 2's compute: the geometric mean of its runs' C(N, D) in that law (the
    # nominal budget itself where C was derived as 6ND; a recorded C in another currency is not a point of it)
    budgets = np.array([np.exp(np.mean(np.log(cost.flops(n_obs[at], d_obs[at])))) if isoflop and at.size else b
                        for b, at in zip(budgets, ats)])
    opt = compute_optimal(result, budgets, group=group, cost=cost)
    shades = colormaps["viridis"](np.linspace(0.0, 0.88, len(budgets)))
    ymin, ymax = np.inf, -np.inf
    for i, b in enumerate(budgets):
        n_med, n_lo, n_hi = median_interval(opt["N_opt"].isel(budget=i), ci_prob)
        at = ats[i]
        lo_n = min(float(n_lo), n_obs[at].min() if at.size else np.inf) / 2
        hi_n = max(float(n_hi), n_obs[at].max() if at.size else 0.0) * 2
        grid = np.geomspace(lo_n, hi_n, 60)
        pred = result.predict(N=grid, D=cost.tokens(b, grid), group=group)
        med, lo, hi = median_interval(pred["loss"], ci_prob)
        ax.fill_between(grid, lo, hi, color=shades[i], alpha=0.22, lw=0)
        ax.plot(grid, med, color=shades[i], lw=1.7, label=f"C = {sci(b)} FLOPs")
        if at.size:
            ax.scatter(n_obs[at], loss_obs[at], s=20, color=shades[i], edgecolor="black", lw=0.4, zorder=3)
            ymax = max(ymax, loss_obs[at].max())
            ymin = min(ymin, loss_obs[at].min())
        l_min = float(np.min(med))
        ax.errorbar([n_med], [l_min], xerr=[[n_med - n_lo], [n_hi - n_med]], fmt="o", ms=6, mfc="white",
                    color=shades[i], lw=1.5, capsize=3, zorder=4)
        ymin = min(ymin, float(np.min(lo)))
        ymax = max(ymax, l_min + 3 * (float(np.max(hi[np.argmin(med)])) - l_min + 0.02))
    handles, names = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="", marker="o", mfc="0.6", mec="black", ms=5),
                Line2D([], [], ls="-", marker="o", mfc="white", color="0.3", ms=6),
                Line2D([], [], color="0.6", lw=6, alpha=0.4)]
    names += ["observed runs at that budget", f"N* median and {pct(ci_prob)} interval", f"{pct(ci_prob)} band"]
    finish_log_axes(ax, axis_label(result, "N"), loss_label(result), logy=False)
    if np.isfinite(ymin) and np.isfinite(ymax) and ymax > ymin:
        pad = 0.05 * (ymax - ymin)
        ax.set_ylim(ymin - pad, ymax + pad)
    who = "" if group is None else f" (group {mpl_text(group)})"
    spent = f"D = C/({cost.k:g} N)" if cost.kind == "6nd" else f"{cost.kind} cost"
    if cost != fitted:
        spent += f", the runs' nominal C; the fit's {fitted.kind} cost prices runs elsewhere"
    ax.set_title(f"IsoFLOP curves{who}: loss vs N at fixed compute ({spent})", fontsize="medium")
    ax.legend(handles, names, fontsize="small", framealpha=0.85, loc="upper right")
    return fig


def plot_frontier(result, compute_min=None, compute_max=None, *, ci_prob: float = CI_PROB, axes=None,
                  group: str | None = None, flops_per_token: float = FLOPS_PER_PARAM_TOKEN):
    """Compute-optimal N*(C) and D*(C) in two panels (log-log) with the posterior median and
    ``ci_prob`` band, the fitted exponents with intervals, the lowest-loss run per budget, and the
    published slopes (Kaplan N ∝ C^0.73, Chinchilla N ∝ C^0.5), drawn lightly through the median at
    ``compute_min`` for comparison. Budgets in FLOPs (default: the smallest run's compute to 1000x
    the largest's). Runs are drawn at their C(N, D) in the frontier's cost law (the fit's, else C = k N D with k =
    ``flops_per_token``), the currency of its C axis. ``axes``: two Axes (default: a new figure)."""
    from bayes_scaling.queries.allocate import compute_optimal, frontier_exponents
    from bayes_scaling.posterior.intervals import summary_record

    require_nd(result, "the compute-optimal frontier")
    ci_prob, _, _ = check_ci(ci_prob)
    from bayes_scaling.queries.draws import resolve_cost

    cost = resolve_cost(result, None, flops_per_token)
    frame = result.runs.frame
    c = compute_at_runs(result, cost=cost)  # beside N*(C) and D*(C), each run at its cost in the frontier's cost law
    lo_c = float(c.min()) if compute_min is None else float(compute_min)
    edge = largest_fitted(result, "C")  # the guard's largest run, C in the cost law's currency
    hi_c = edge * 1000 if compute_max is None else float(compute_max)
    if not (np.isfinite(lo_c) and np.isfinite(hi_c) and 0 < lo_c < hi_c):
        raise BayesScalingError(f"the frontier needs 0 < compute_min < compute_max (FLOPs), got {compute_min!r} and "
                                f"{compute_max!r}")
    if axes is None:
        fig, axes = new_figure((11.5, 4.6), 1, 2)
    else:
        axes = list(np.ravel(axes))
        if len(axes) != 2:
            raise BayesScalingError(f"plot_frontier draws two panels (N* and D*): pass axes=[ax_N, ax_D], got "
                                    f"{len(axes)} axes")
        fig = axes[0].figure
    grid = np.geomspace(lo_c, hi_c, 60)
    opt = compute_optimal(result, grid, group=group, cost=cost)
    expo = frontier_exponents(result, lo_c, hi_c, group=group, cost=cost)
    best, _ = envelope_runs(result)
    for ax, key, q, exp_name in ((axes[0], "N_opt", "N", "a"), (axes[1], "D_opt", "D", "b")):
        med, lo, hi = median_interval(opt[key], ci_prob)
        e = summary_record(expo[exp_name], ci_prob)
        ax.scatter(c, frame[q], s=8, color="0.7", lw=0, zorder=1, label="observed runs")
        if best.size:
            ax.scatter(c[best], frame[q].to_numpy()[best], s=22, color="black", marker="s", zorder=3,
                       label="lowest-loss run per budget")
        ax.fill_between(grid, lo, hi, color=BAND_COLOR, alpha=0.22, lw=0, label=f"{pct(ci_prob)} band")
        ax.plot(grid, med, color=BAND_COLOR, lw=1.8,
                label=f"{q}*(C) median: {q}* ∝ C^{exp_name}, {exp_name} = "
                      f"{format_interval(e, '.3f')}")
        for (name, slope), style in zip(REFERENCE_SLOPES[q], ("--", ":")):
            ax.plot(grid, med[0] * (grid / grid[0]) ** slope, ls=style, color="0.45", lw=1.0, alpha=0.8,
                    label=f"{name} (slope only)")
        ax.axvspan(edge, grid[-1], color="0.5", alpha=0.07, lw=0)
        ylabel = f"compute-optimal {axis_label(result, 'N')}" if q == "N" else "compute-optimal tokens D*"
        finish_log_axes(ax, axis_label(result, "C"), ylabel, logy=True, loss_ticks=False)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_title(f"compute-optimal {'parameters N*' if q == 'N' else 'tokens D*'}(C), "
                     + (f"C = {cost.k:g} N D" if cost.kind == "6nd" else f"{cost.kind} cost"), fontsize="medium")
        legend(ax, loc="upper left")
    return fig
