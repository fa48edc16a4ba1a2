"""Paired comparison of the groups (architectures, datasets) of a hierarchical fit."""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import CI_PROB, FLOPS_PER_PARAM_TOKEN, loss_unit_of
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import median_interval
from bayes_scaling.plots.common import (
    BAND_COLOR,
    loss_label,
    check_ci,
    compute_at_runs,
    group_colors,
    is_nd,
    mpl_text,
    new_figure,
    pct,
)


def plot_group_comparison(result, groups=None, *, compute=None, N=None, D=None, ci_prob: float = CI_PROB, ax=None,
                          flops_per_token: float = FLOPS_PER_PARAM_TOKEN):
    """Loss per group with its ``ci_prob`` interval (left) and the paired difference of each group
    from the first, with P(first group better) (right), from the same posterior draw for every
    group. At a budget ``compute`` (FLOPs; each group at its own optimal allocation; default: the
    largest run's C(N, D) in the cost law the comparison uses) or at a model (``N``, ``D``). ``ax``: None
    (new figure), two Axes, or one Axes (the loss panel only, differences in its title)."""
    from bayes_scaling.queries.compare_groups import compare_groups
    from bayes_scaling.queries.draws import resolve_cost

    ci_prob, _, _ = check_ci(ci_prob)
    if compute is None and (N is None or D is None):
        if not is_nd(result.law):
            raise BayesScalingError(f"compare groups of a {result.law.name!r} fit at a model: give N= and D=")
        compute = float(compute_at_runs(result, cost=resolve_cost(result, None, flops_per_token)).max())
    c = compare_groups(result, groups, compute=compute, N=None if compute is not None else N,
                       D=None if compute is not None else D, flops_per_token=flops_per_token)
    names = c["groups"]
    ref = names[0]
    shown = {g: mpl_text(g) for g in names}
    if ax is None:
        fig, (ax_l, ax_d) = new_figure((11.0, 0.9 + 0.55 * len(names) + 1.6), 1, 2)
    elif np.ndim(ax) and len(np.ravel(ax)) == 2:
        ax_l, ax_d = np.ravel(ax)
        fig = ax_l.figure
    else:
        ax_l, ax_d, fig = ax, None, ax.figure
    colors = group_colors(names, result)
    y = np.arange(len(names))[::-1]
    for yi, g in zip(y, names):
        med, lo, hi = median_interval(c["loss"][g], ci_prob)
        ax_l.errorbar([med], [yi], xerr=[[med - lo], [hi - med]], fmt="o", color=colors[g], capsize=3, lw=1.8)
    ax_l.set_yticks(y, [shown[g] for g in names])
    ax_l.set_xlabel(loss_label(result))
    ax_l.grid(True, axis="x", alpha=0.25)
    where = (f"at C = {compute:.3g} FLOPs, each group at its own optimum" if compute is not None
             else f"at N = {N:.3g} parameters, D = {D:.3g} tokens")
    ax_l.set_title(f"loss per group, {pct(ci_prob)} interval\n({where})", fontsize="medium")
    diffs = {g: c["loss"][g] - c["loss"][ref] for g in names[1:]}
    summary = "; ".join(f"P({shown[ref]} better than {shown[g]}) = {float((d > 0).mean()):.2f}"
                        for g, d in diffs.items())
    if ax_d is None:
        ax_l.set_title(ax_l.get_title() + "\n" + summary, fontsize="medium")
        return fig
    yd = np.arange(len(diffs))[::-1]
    for yi, (g, d) in zip(yd, diffs.items()):
        med, lo, hi = median_interval(d, ci_prob)
        ax_d.errorbar([med], [yi], xerr=[[med - lo], [hi - med]], fmt="o", color=BAND_COLOR, capsize=3, lw=1.8)
        ax_d.annotate(f"P({shown[ref]} better) = {float((d > 0).mean()):.2f}", (med, yi), xytext=(0, 9),
                      textcoords="offset points", ha="center", fontsize="small")
    ax_d.axvline(0.0, color="0.4", lw=0.8)
    ax_d.set_yticks(yd, [f"L({shown[g]}) − L({shown[ref]})" for g in diffs])
    ax_d.set_xlabel(f"paired loss difference ({loss_unit_of(result)})")
    ax_d.set_ylim(-0.7, len(diffs) - 0.3)
    ax_d.grid(True, axis="x", alpha=0.25)
    ax_d.set_title(f"paired difference from {shown[ref]} (same draw), {pct(ci_prob)} interval", fontsize="medium")
    return fig
