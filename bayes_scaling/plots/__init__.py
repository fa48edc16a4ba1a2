"""Figures of a fitted scaling law: every function returns a ``matplotlib.figure.Figure`` built
without pyplot (Agg when saved; nothing is shown), takes the interval mass ``ci_prob`` explicitly
(equal-tailed, default :data:`bayes_scaling.conventions.CI_PROB`) and draws on a given ``ax`` when
one is passed.

- :func:`plot_fit`: observed runs and the fitted law (loss vs the input, or vs compute with the
  compute-optimal envelope L*(C) for laws of N and D), per group for hierarchical fits;
- :func:`plot_residuals`: posterior predictive check per run;
- :func:`plot_isoflops`: loss vs N at fixed compute, with the observed runs of each budget;
- :func:`plot_frontier`: N*(C) and D*(C) with the published Kaplan and Chinchilla slopes;
- :func:`plot_posterior`: marginal posteriors (arviz_plots);
- :func:`plot_group_comparison`: loss per group and paired differences;
- :func:`plot_backtest`: held-out runs against their predicted intervals.
"""

from bayes_scaling.plots.common import register_ipython_png
from bayes_scaling.plots.allocation import plot_frontier, plot_isoflops
from bayes_scaling.plots.backtest import plot_backtest
from bayes_scaling.plots.fit import plot_fit, plot_residuals
from bayes_scaling.plots.groups import plot_group_comparison
from bayes_scaling.plots.posterior import plot_posterior

register_ipython_png()

__all__ = ["plot_backtest", "register_ipython_png", "plot_fit", "plot_frontier", "plot_group_comparison", "plot_isoflops", "plot_posterior",
           "plot_residuals"]
