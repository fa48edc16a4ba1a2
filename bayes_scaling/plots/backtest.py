"""Backtest: the held-out larger runs against the intervals predicted from the smaller ones."""

from __future__ import annotations

import numpy as np

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.plots.common import (
    BAND_COLOR,
    FLAG_COLOR,
    loss_label,
    OBS_COLOR,
    axis_label,
    finish_log_axes,
    legend,
    target_ax,
)

_POINTS = {"huber_point": ("Huber + bootstrap point fit", "x"), "m4": ("M4 point fit", "^"),
           "bnsl_point_fit": ("BNSL point fit", "v")}


def plot_backtest(bt, *, ax=None):
    """For a :class:`~bayes_scaling.inference.backtest.BacktestResult`: the training runs, the
    held-out runs' observed loss, and the Bayesian 90% predictive interval and median for each
    (plus the baselines' point predictions), against the split axis (log-log). Held-out runs
    outside their interval are flagged."""
    runs = getattr(bt, "runs", None)
    split = getattr(bt, "split", None)
    need = {"loss", "bayes_median", "bayes_lo90", "bayes_hi90"}
    if runs is None or split is None or not need <= set(runs.columns):
        raise BayesScalingError("plot_backtest needs the BacktestResult of bayes_scaling.inference.backtest.backtest")
    axis = split["axis"]
    fig, ax = target_ax(ax)
    fit = bt.fit
    train = fit.runs.frame
    if axis in train:
        ax.scatter(train[axis], train["loss"], s=12, color="0.6", lw=0, label=f"training runs ({len(train)})")
    x = runs[axis].to_numpy(float)
    y = runs["loss"].to_numpy(float)
    med, lo, hi = (runs[k].to_numpy(float) for k in ("bayes_median", "bayes_lo90", "bayes_hi90"))
    ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", ms=5, mfc="white", color=BAND_COLOR, capsize=3, lw=1.4,
                label="Bayes: predictive median and 90% interval")
    if {"bayes_lfo_median", "bayes_lfo_lo90", "bayes_lfo_hi90"} <= set(runs.columns):
        lm, ll, lh = (runs[f"bayes_lfo_{k}"].to_numpy(float) for k in ("median", "lo90", "hi90"))
        ax.errorbar(x * 1.06, lm, yerr=[lm - ll, lh - lm], fmt="s", ms=4, mfc="white", color="#8e44ad", capsize=3,
                    lw=1.2, label="Bayes + extrapolation discrepancy (LFO): 90% interval")
    for col, (name, marker) in _POINTS.items():
        if col in runs:
            ax.scatter(x, runs[col], marker=marker, s=30, color="#e67e22", zorder=4, label=name)
    outside = (y < lo) | (y > hi)
    ax.scatter(x[~outside], y[~outside], s=22, color=OBS_COLOR, zorder=5, label="held-out run (observed)")
    if outside.any():
        ax.scatter(x[outside], y[outside], s=30, marker="D", color=FLAG_COLOR, zorder=5,
                   label=f"held-out run outside its 90% interval ({int(outside.sum())})")
    ax.axvline(split["holdout_above"], color="0.4", ls="--", lw=0.9, label="hold-out threshold")
    result_axis_label = axis_label(fit, axis)
    finish_log_axes(ax, result_axis_label, loss_label(fit))
    table = bt.table
    bayes = next((m for m in table.index if str(m).startswith("bayes")), None)
    title = f"Backtest: {split['n_test']} held-out runs up to {split['decades_beyond']:.2f} decades beyond the training runs"
    if bayes is not None and np.isfinite(table.loc[bayes, "coverage_90"]):
        title += f"\nBayes 90% coverage {table.loc[bayes, 'coverage_90']:.0%}, MARE {table.loc[bayes, 'mare']:.2%}"
    ax.set_title(title, fontsize="medium")
    legend(ax, loc="best")
    return fig
