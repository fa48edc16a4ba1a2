"""Figures on fits built from known draws (``fake_fit``, no sampling): axis labels with units, log
scales, the artists drawn, and one clear BayesScalingError for input a figure cannot take."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

from bayes_scaling import BayesScalingError
from bayes_scaling.plots import (
    plot_backtest,
    plot_fit,
    plot_frontier,
    plot_group_comparison,
    plot_isoflops,
    plot_posterior,
    plot_residuals,
)
from bayes_scaling.testing import fake_fit, fake_hierarchical_fit

POWER_X = {"E": 1.5, "B": 10.0, "c0": 0.3}
LOSS = "loss (nats/token)"


@pytest.fixture(scope="module")
def chin():
    return fake_fit(seed=1)


@pytest.fixture(scope="module")
def power():
    return fake_fit("power_x", POWER_X, seed=1)


@pytest.fixture(scope="module")
def hier():
    return fake_hierarchical_fit()


def _lines(ax, prefix=""):
    return [ln for ln in ax.get_lines() if ln.get_label().startswith(prefix) and not ln.get_label().startswith("_")]


def _bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def _scatter_points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


def test_fit_of_a_law_of_n_and_d_is_loss_vs_compute_with_the_envelope(chin):
    fig = plot_fit(chin)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_xlabel() == "compute C (FLOPs)" and ax.get_ylabel() == LOSS
    assert len(_lines(ax, "L*(C) posterior median")) == 1 and len(_bands(ax)) == 1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sum(lab.startswith("runs at C ≈") for lab in labels) == 4  # the 4 IsoFLOP budgets, one colour each
    assert _scatter_points(ax) == 16
    assert "90% band of L*(C)" in labels and "90%" in ax.get_title()
    narrow = plot_fit(chin, ci_prob=0.5).axes[0]
    wide_band = _bands(ax)[0].get_paths()[0].vertices[:, 1]
    narrow_band = _bands(narrow)[0].get_paths()[0].vertices[:, 1]
    assert np.ptp(narrow_band) < np.ptp(wide_band)  # a 50% band is narrower than a 90% band


def test_fit_of_a_single_axis_law_and_drawing_on_a_given_axes(power):
    fig0 = Figure()
    ax0 = fig0.add_subplot()
    assert plot_fit(power, ax=ax0) is fig0
    assert ax0.get_xlabel().startswith("scale axis X") and ax0.get_ylabel() == LOSS
    assert (ax0.get_xscale(), ax0.get_yscale()) == ("log", "log")
    assert len(_lines(ax0, "posterior median")) == 1
    assert len(_bands(ax0)) == 2  # the law's band and the lighter predictive band
    assert _scatter_points(ax0) == 16


def test_fit_of_a_hierarchical_fit_has_one_band_per_group(hier, chin):
    ax = plot_fit(hier).axes[0]
    assert len(_lines(ax, "L*(C) posterior median")) == 2 and len(_bands(ax)) == 2
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"runs (x)", "runs (y)"}
    one = plot_fit(hier, groups=["y"]).axes[0]
    assert len(_lines(one, "L*(C) posterior median")) == 1
    with pytest.raises(BayesScalingError, match="unknown group"):
        plot_fit(hier, groups=["z"])
    with pytest.raises(BayesScalingError, match="no groups"):
        plot_fit(chin, groups=["x"])


def test_fit_of_a_law_of_several_inputs_shows_each_run():
    truth = {"E": 1.8, "alpha": 0.35, "beta": 0.30, "A": 450.0, "B": 1500.0, "R_D_star": 15.0, "R_N_star": 5.0}
    ax = plot_fit(fake_fit("data_constrained", truth, seed=1, draws=50)).axes[0]
    assert ax.get_xlabel() == "compute C (FLOPs)" and ax.get_ylabel() == LOSS
    assert len(ax.containers) == 1 and _scatter_points(ax) == 16  # per-run intervals and the observed runs


def test_residuals_are_a_posterior_predictive_check(chin, power):
    ax = plot_residuals(chin).axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert ax.get_xlabel().startswith("compute C (FLOPs)") and ax.get_ylabel() == "observed / predictive median − 1"
    assert _scatter_points(ax) == 16 and "of 16 runs outside their 90% interval" in ax.get_title()
    ax = plot_residuals(power, ci_prob=0.5).axes[0]
    assert ax.get_xlabel().startswith("scale axis X") and "50% interval" in ax.get_title()
    with pytest.raises(BayesScalingError, match="ci_prob"):
        plot_residuals(chin, ci_prob=1.5)


def test_isoflops_draw_one_curve_per_budget_with_its_runs(chin, power):
    ax = plot_isoflops(chin).axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "parameters N (total)" and ax.get_ylabel() == LOSS
    curves = _lines(ax, "C = ")
    assert [ln.get_label() for ln in curves] == ["C = 1e18 FLOPs", "C = 1e19 FLOPs", "C = 1e20 FLOPs", "C = 1e21 FLOPs"]
    assert len(_bands(ax)) == 4 and _scatter_points(ax) == 16  # every run belongs to its budget
    two = plot_isoflops(chin, [1e19, 1e20]).axes[0]
    assert len(_lines(two, "C = ")) == 2 and _scatter_points(two) == 8
    with pytest.raises(BayesScalingError, match="needs a law of parameters N and tokens D.*power_x"):
        plot_isoflops(power)
    with pytest.raises(BayesScalingError, match="budgets must be"):
        plot_isoflops(chin, [1e19, -1.0])


def test_frontier_has_two_panels_with_reference_slopes(chin, power):
    fig = plot_frontier(chin, 1e18, 1e24)
    ax_n, ax_d = fig.axes
    for ax in (ax_n, ax_d):
        assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log") and ax.get_xlabel() == "compute C (FLOPs)"
        assert len(_bands(ax)) == 1
    assert ax_n.get_ylabel() == "compute-optimal parameters N (total)" and ax_d.get_ylabel() == "compute-optimal tokens D*"
    labels = [ln.get_label() for ln in ax_n.get_lines()]
    assert any("Kaplan" in lab and "0.73" in lab for lab in labels)
    assert any("Chinchilla" in lab and "0.5" in lab for lab in labels)
    assert any(lab.startswith("N*(C) median: N* ∝ C^a, a = 0.5") for lab in labels)  # truth: beta/(alpha+beta) = 0.514
    assert ax_n.get_xlim() == pytest.approx((1e18, 1e24))
    own = Figure().subplots(1, 2)
    assert plot_frontier(chin, axes=own) is own[0].figure
    with pytest.raises(BayesScalingError, match="two panels"):
        plot_frontier(chin, axes=[own[0]])
    with pytest.raises(BayesScalingError, match="compute_min < compute_max"):
        plot_frontier(chin, 1e22, 1e20)
    with pytest.raises(BayesScalingError, match="frontier needs a law of parameters N"):
        plot_frontier(power)


def test_posterior_marginals_carry_units_and_intervals(chin, hier):
    fig = plot_posterior(chin)
    labelled = [ax for ax in fig.axes if ax.get_xlabel()]
    assert {ax.get_xlabel() for ax in labelled} == {"E (nats/token)", "A (nats/token x parameters^alpha)",
                                                    "B (nats/token x tokens^beta)", "alpha (dimensionless)",
                                                    "beta (dimensionless)", "sigma (log(nats/token))"}  # the summary's unit
    assert all("[" in ax.get_title() for ax in labelled)  # median [lo, hi]
    titles = {ax.get_title().split(":")[0] for ax in plot_posterior(hier, ["A_group"], ci_prob=0.8).axes if ax.get_xlabel()}
    assert titles == {"A_group[x]", "A_group[y]"}
    with pytest.raises(BayesScalingError, match="unknown posterior variable"):
        plot_posterior(chin, ["gamma"])


def test_group_comparison_is_paired(hier, chin):
    fig = plot_group_comparison(hier, compute=1e21)
    ax_l, ax_d = fig.axes
    ticks = sorted(zip(ax_l.get_yticks(), (t.get_text() for t in ax_l.get_yticklabels())))
    assert ax_l.get_xlabel() == LOSS and [name for _, name in ticks] == ["y", "x"]  # first group on top
    assert ax_d.get_xlabel() == "paired loss difference (nats/token)"
    assert [t.get_text() for t in ax_d.get_yticklabels()] == ["L(y) − L(x)"]
    p = float(ax_d.texts[0].get_text().split("=")[1])
    assert p > 0.95  # group y is ~6% worse by construction
    single = Figure().add_subplot()
    plot_group_comparison(hier, N=1e9, D=2e10, ax=single)
    assert "P(x better than y)" in single.get_title()
    with pytest.raises(BayesScalingError, match="hierarchical fit"):
        plot_group_comparison(chin)


def test_interval_percentages_are_exact(chin):
    from bayes_scaling.plots.common import pct

    assert [pct(p) for p in (0.9, 0.975, 0.995, 0.5)] == ["90%", "97.5%", "99.5%", "50%"]
    ax = plot_fit(chin, ci_prob=0.975).axes[0]
    assert "97.5% band" in ax.get_title()
    assert "97.5% band of L*(C)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "outside their 99.5% interval" in plot_residuals(chin, ci_prob=0.995).axes[0].get_title()
    post = fake_fit("power_x", POWER_X, seed=1, draws=50)
    assert "99.5% equal-tailed" in plot_posterior(post, ["c0"], ci_prob=0.995).get_suptitle()


def test_kaplan_c_fit_says_the_formula_is_in_pf_days_and_the_axis_in_flops():
    ax = plot_fit(fake_fit("kaplan_c", {"alpha_C": 0.050, "C_c": 3.1e8}, seed=1, draws=50)).axes[0]
    assert ax.get_xlabel() == "compute C (FLOPs)"
    assert "C in PF-days" in ax.get_title() and "the axis shows C in FLOPs, 1 PF-day = 8.64e19 FLOPs" in ax.get_title()


def _relabelled(fit, names: dict[str, str]):
    """The hierarchical ``fit`` with its groups renamed (``names`` must keep their sorted order)."""
    from dataclasses import replace

    import xarray as xr

    from bayes_scaling.inference.model import model_data
    from bayes_scaling.result import FitResult

    col = fit.hierarchy["group_col"]
    runs = replace(fit.runs, frame=fit.runs.frame.assign(**{col: fit.runs.frame[col].map(names)}))
    trace = xr.DataTree.from_dict({"posterior": fit.posterior.assign_coords(group=[names[g] for g in fit.groups]),
                                   "sample_stats": fit.sample_stats})
    return FitResult.from_trace(trace, spec=fit.spec, runs=runs, data=model_data(fit.spec, runs),
                                sampler_config=fit.sampler_config)


def test_dollar_signs_in_group_labels_are_literal_text(hier):
    import io

    fit = _relabelled(hier, {"x": "$x", "y": "y$^{2}"})
    texts = []
    for fig in (plot_group_comparison(fit), plot_fit(fit), plot_isoflops(fit, group="$x"),
                plot_posterior(fit, ["A_group"])):
        fig.savefig(io.BytesIO(), format="png", dpi=30)
        for ax in fig.axes:
            legend = ax.get_legend()
            texts += [ax.get_title(), *(t.get_text() for t in [*ax.get_yticklabels(), *ax.texts,
                                                                 *(legend.get_texts() if legend else [])])]
    dollars = [t for t in texts if "$" in t]
    assert dollars and all(t.count("$") == t.count(r"\$") for t in dollars)  # every $ escaped: no mathtext
    assert r"L(y\$^{2}) − L(\$x)" in texts and r"runs (\$x)" in texts and r"A_group[\$x]: " in " ".join(texts)


def test_backtest_shows_held_out_runs_against_their_intervals(chin):
    from bayes_scaling.inference.backtest import BacktestResult, split_runs

    _, test, info = split_runs(chin.runs, chin.law, holdout_above=3e20)
    pred = chin.predict(N=test.frame["N"].to_numpy(), D=test.frame["D"].to_numpy())["loss_predictive"]
    q = np.quantile(pred.transpose("query", "chain", "draw").values.reshape(len(test), -1), [0.05, 0.5, 0.95], axis=1)
    per_run = pd.DataFrame({"loss": test.frame["loss"], "bayes_median": q[1], "bayes_lo90": q[0], "bayes_hi90": q[2],
                            "C": test.frame["C"]})
    table = pd.DataFrame([{"method": "bayes (chinchilla)", "coverage_50": 0.5, "coverage_90": 1.0, "mare": 0.01,
                           "crps": 0.01}]).set_index("method")
    ax = plot_backtest(BacktestResult(table, per_run, info, chin)).axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_xlabel() == "compute C (FLOPs)" and ax.get_ylabel() == LOSS
    assert len(ax.containers) == 1 and "4 held-out runs" in ax.get_title()
    with pytest.raises(BayesScalingError, match="BacktestResult"):
        plot_backtest(chin)


def test_every_figure_renders_to_png(chin, power, hier):
    import io

    figs = [plot_fit(chin), plot_residuals(chin), plot_isoflops(chin), plot_frontier(chin), plot_posterior(power),
            plot_fit(hier), plot_group_comparison(hier)]
    for fig in figs:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=50)
        assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_display_as_png_in_an_ipython_shell():
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    from bayes_scaling.plots import register_ipython_png
    from bayes_scaling.testing import fake_fit

    shell = InteractiveShell.instance()
    register_ipython_png()
    fig = plot_fit(fake_fit(draws=50))
    data, _ = shell.display_formatter.format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_a_groups_isoflop_curves_show_and_price_its_own_runs(hier):
    """With ``group``, each rung's runs (the points and the compute the curve is drawn at) are the group's own, as
    Approach 2 checks them (``approach2_check(group=...)``); they were every group's."""
    col = hier.hierarchy["group_col"]
    g = str(hier.groups[0])
    mine = int((hier.runs.frame[col].astype(str) == g).sum())
    ax = plot_isoflops(hier, group=g).axes[0]
    assert _scatter_points(ax) == mine < len(hier.runs.frame)
