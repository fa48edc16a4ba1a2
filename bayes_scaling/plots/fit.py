"""The fitted law against the observed runs, and the posterior predictive check per run."""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import CI_PROB, PF_DAY_FLOPS
from bayes_scaling.posterior.intervals import median_interval
from bayes_scaling.plots.common import (
    BAND_COLOR,
    FLAG_COLOR,
    loss_label,
    OBS_COLOR,
    PRED_COLOR,
    axis_label,
    budget_labels,
    check_ci,
    check_groups,
    compute_at_runs,
    finish_log_axes,
    group_colors,
    is_nd,
    largest_fitted,
    legend,
    mpl_text,
    pct,
    run_draws,
    scale_axis,
    sci,
    spread_x,
    target_ax,
)


def plot_fit(result, *, groups=None, ci_prob: float = CI_PROB, ax=None):
    """Observed runs and the fitted law on log-log axes, with the posterior median and its
    equal-tailed ``ci_prob`` band.

    - Laws of one input: loss against that input (band of the law, and a lighter band for a new
      run's loss with the fitted run-to-run noise), extended one decade past the largest run.
    - Laws of N and D: loss against compute C (FLOPs) with the compute-optimal envelope L*(C)
      (each posterior draw at its own optimal allocation), two decades past the largest run; runs
      at their C(N, D) in the fit's cost law (the currency of L*(C)), coloured by IsoFLOP budget (grouped by
      the table's C) or by tokens per parameter when they are not on budgets.
    - Other laws (several inputs, e.g. data-constrained): each run's fitted loss with its interval.

    Hierarchical fits get one band per group (``groups``: all by default). Returns the Figure.
    """
    ci_prob, _, _ = check_ci(ci_prob)
    groups = check_groups(result, groups)
    fig, ax = target_ax(ax)
    law = result.law
    if is_nd(law):
        _fit_nd(result, groups, ci_prob, ax, fig)
    elif len(law.input_names) == 1:
        _fit_single(result, groups, ci_prob, ax)
    else:
        _fit_per_run(result, ci_prob, ax)
    return fig


def _runs_of(result, group):
    frame = result.runs.frame
    h = result.hierarchy
    if group is None or h is None:
        return frame
    return frame[frame[h["group_col"]].astype(str) == group]


def _fit_nd(result, groups, ci_prob, ax, fig):
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    from bayes_scaling.queries.allocate import compute_optimal

    frame = result.runs.frame
    c = compute_at_runs(result)  # beside L*(C), each run at its cost in the fit's cost law
    edge = largest_fitted(result, "C")  # the guard's largest run, C in the cost law's currency
    grid = np.geomspace(c.min() / 2, edge * 100, 80)
    colors = group_colors(groups, result)
    for g in groups:
        med, lo, hi = median_interval(compute_optimal(result, grid, group=g)["loss_opt"], ci_prob)
        name = "" if g is None else f" ({mpl_text(g)})"
        ax.fill_between(grid, lo, hi, color=colors[g], alpha=0.22, lw=0, label=f"{pct(ci_prob)} band of L*(C){name}")
        ax.plot(grid, med, color=colors[g], lw=1.8, label=f"L*(C) posterior median{name}")
    if result.hierarchy is not None:
        for g in groups:
            sub = _runs_of(result, g)
            ax.scatter(compute_at_runs(result, sub), sub["loss"], s=18, color=colors[g], edgecolor="white", lw=0.4, zorder=3,
                       label=f"runs ({mpl_text(g)})")
    else:
        labels, centres, isoflop = budget_labels(frame["C"].to_numpy(float), frame["N"] if "N" in frame else None)
        if isoflop:
            cmap = colormaps["viridis"]
            shades = cmap(np.linspace(0.0, 0.9, len(centres)))
            for i, b in enumerate(centres):
                m = labels == i
                ax.scatter(c[m], frame["loss"].to_numpy()[m], s=18, color=shades[i], edgecolor="white", lw=0.4,
                           zorder=3, label=f"runs at C ≈ {sci(b)} FLOPs" if len(centres) <= 10 else None)
            if len(centres) > 10:
                _colorbar(fig, ax, LogNorm(centres.min(), centres.max()), "viridis", "IsoFLOP budget C (FLOPs)")
        else:
            ratio = (frame["D"] / frame["N"]).to_numpy(float)
            norm = LogNorm(ratio.min(), ratio.max())
            ax.scatter(c, frame["loss"], c=ratio, cmap="viridis", norm=norm, s=16, edgecolor="white", lw=0.3,
                       zorder=3, label="runs (colour: tokens per parameter)")
            _colorbar(fig, ax, norm, "viridis", "tokens per parameter D/N")
    ax.axvspan(edge, grid[-1], color="0.5", alpha=0.08, lw=0, label="beyond the largest run")
    finish_log_axes(ax, axis_label(result, "C"), loss_label(result))
    ax.set_xlim(grid[0], grid[-1])
    ax.set_title(f"{result.law.name} fit: compute-optimal loss L*(C) with its {pct(ci_prob)} band", fontsize="medium")
    legend(ax, loc="upper right")


def _colorbar(fig, ax, norm, cmap, label):
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=label, pad=0.01)


def _fit_single(result, groups, ci_prob, ax):
    axis = result.law.input_names[0]
    frame = result.runs.frame
    x = frame[axis].to_numpy(float)
    grid = np.geomspace(x.min() / 2, x.max() * 10, 80)
    colors = group_colors(groups, result)
    for g in groups:
        pred = result.predict(**{axis: grid}, group=g)
        med, lo, hi = median_interval(pred["loss"], ci_prob)
        _, plo, phi = median_interval(pred["loss_predictive"], ci_prob)
        name = "" if g is None else f" ({mpl_text(g)})"
        if len(groups) == 1:
            ax.fill_between(grid, plo, phi, color=PRED_COLOR, alpha=0.18, lw=0,
                            label=f"{pct(ci_prob)} predictive band (new run){name}")
        ax.fill_between(grid, lo, hi, color=colors[g], alpha=0.3, lw=0, label=f"{pct(ci_prob)} band of the law{name}")
        ax.plot(grid, med, color=colors[g], lw=1.8, label=f"posterior median{name}")
        sub = _runs_of(result, g)
        ax.scatter(sub[axis], sub["loss"], s=18, color=OBS_COLOR if g is None else colors[g], edgecolor="white",
                   lw=0.4, zorder=3, label="observed runs" + name)
    ax.axvspan(x.max(), grid[-1], color="0.5", alpha=0.08, lw=0, label="beyond the largest run")
    finish_log_axes(ax, axis_label(result, axis), loss_label(result))
    ax.set_xlim(grid[0], grid[-1])
    formula = result.law.formula
    what = f"{result.law.name} fit: {formula}" if len(formula) <= 40 else f"{result.law.name} fit"
    title = f"{what}, {pct(ci_prob)} band"
    if axis == "C" and result.law.compute_unit == "PF-days":  # the law's C and C_c are in PF-days, the axis in FLOPs
        title += f"\n(C_c in PF-days; the axis shows C in FLOPs, 1 PF-day = {sci(PF_DAY_FLOPS)} FLOPs)"
    ax.set_title(title, fontsize="medium")
    legend(ax, loc="upper right")


def _fit_per_run(result, ci_prob, ax):
    axis = scale_axis(result)
    frame = result.runs.frame
    law_draws, _ = run_draws(result)
    med, lo, hi = median_interval(law_draws, ci_prob)
    x = frame[axis].to_numpy(float)
    ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", ms=3, color=BAND_COLOR, alpha=0.8, lw=1,
                label=f"fitted loss per run, {pct(ci_prob)} interval")
    ax.scatter(x, frame["loss"], s=14, marker="x", color=OBS_COLOR, zorder=3, label="observed runs")
    finish_log_axes(ax, axis_label(result, axis), loss_label(result))
    ax.set_title(f"{result.law.name} fit: fitted vs observed loss per run", fontsize="medium")
    legend(ax, loc="upper right")


def plot_residuals(result, *, ci_prob: float = CI_PROB, ax=None):
    """Posterior predictive check per run: observed loss relative to the run's predictive median
    (observed / median - 1), with the ``ci_prob`` predictive interval on the same scale, against the
    runs' scale (compute C, or the law's input), log x. Runs outside their interval are flagged."""
    ci_prob, _, _ = check_ci(ci_prob)
    fig, ax = target_ax(ax)
    frame = result.runs.frame
    axis = scale_axis(result)
    x, spread = spread_x(result, axis)
    y = frame["loss"].to_numpy(float)
    _, pred = run_draws(result)
    med, lo, hi = median_interval(pred, ci_prob)
    rel, rlo, rhi = y / med - 1, lo / med - 1, hi / med - 1
    outside = (y < lo) | (y > hi)
    ax.errorbar(x, np.zeros_like(x), yerr=[-rlo, rhi], fmt="none", ecolor=PRED_COLOR, elinewidth=2.5, alpha=0.6,
                label=f"{pct(ci_prob)} predictive interval (relative to its median)")
    ax.scatter(x[~outside], rel[~outside], s=16, color=OBS_COLOR, zorder=3, label="observed run")
    if outside.any():
        ax.scatter(x[outside], rel[outside], s=26, color=FLAG_COLOR, marker="D", zorder=4,
                   label=f"outside its interval ({int(outside.sum())} of {len(x)})")
    ax.axhline(0.0, color="0.4", lw=0.8)
    finish_log_axes(ax, axis_label(result, axis) + (" (runs of a budget spread by N)" if spread else ""),
                    "observed / predictive median − 1", logy=False)
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    expected = (1 - ci_prob) * len(x)
    ax.set_title(f"Posterior predictive check: {int(outside.sum())} of {len(x)} runs outside their "
                 f"{pct(ci_prob)} interval (≈ {expected:.0f} expected)", fontsize="medium")
    legend(ax, loc="best")
    return fig
