"""Marginal posteriors of the law's parameters (arviz_plots), with units on every axis."""

from __future__ import annotations

import sys

import numpy as np

from bayes_scaling.conventions import CI_PROB
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import format_interval, median_interval
from bayes_scaling.plots.common import check_ci, mpl_text, param_unit, pct


def plot_posterior(result, var_names=None, *, ci_prob: float = CI_PROB):
    """Marginal posterior densities (``arviz_plots.plot_dist``) of ``var_names`` (default: the law's
    parameters and the noise scale ``sigma``), each with its median and equal-tailed ``ci_prob``
    interval, and the parameter's unit on its x axis. Returns the Figure."""
    import arviz_plots as azp
    from matplotlib.ticker import MaxNLocator

    ci_prob, _, _ = check_ci(ci_prob)
    post = result.posterior
    names = list(var_names) if var_names is not None else [*result.law.param_names, "sigma"]
    if isinstance(var_names, str):
        names = [var_names]
    unknown = [n for n in names if n not in post.data_vars]
    if unknown or not names:
        raise BayesScalingError(f"unknown posterior variable(s) {unknown or names}; this fit has "
                                f"{sorted(str(v) for v in post.data_vars if not str(v).startswith(('z_', 'log_', 'eps_')))}")
    n_panels = sum(int(np.prod([post[n].sizes[d] for d in post[n].dims if d not in ("chain", "draw")])) for n in names)
    cols = min(3, n_panels)
    rows = -(-n_panels // cols)
    pc = azp.plot_dist(result.tree, var_names=names, ci_kind="eti", ci_prob=ci_prob, point_estimate="median",
                       backend="matplotlib", col_wrap=cols, visuals={"point_estimate_text": False},
                       figure_kwargs={"figsize": (3.9 * cols, 2.6 * rows + 0.5), "layout": "constrained"})
    fig = pc.viz["figure"].item()
    plots = pc.viz["plot"]
    for name in names:
        unit = param_unit(result, name)
        da = post[name]
        others = [d for d in da.dims if d not in ("chain", "draw")]
        stacked = da.stack(__s=others) if others else da.expand_dims(__s=[0])
        targets = np.atleast_1d(plots[name].values).ravel()
        for i, ax in enumerate(targets):
            v = stacked.isel(__s=i).values.ravel()
            q = median_interval(v, ci_prob)
            label = (name if not others else f"{name}[{mpl_text(stacked[others[0]].values[i])}]" if len(others) == 1
                     else ax.get_title())
            ax.set_title(f"{label}: {format_interval(q, '.4g')}", fontsize="small")
            ax.set_xlabel(f"{name} ({unit})" if unit else name, fontsize="small")
            ax.tick_params(labelsize="small")
            ax.xaxis.set_major_locator(MaxNLocator(5))
    fig.suptitle(f"Marginal posteriors: median and {pct(ci_prob)} equal-tailed interval", fontsize="medium")
    if "matplotlib.pyplot" in sys.modules:  # arviz_plots draws through pyplot: detach the figure from it
        import matplotlib.pyplot as plt

        plt.close(fig)
    return fig
