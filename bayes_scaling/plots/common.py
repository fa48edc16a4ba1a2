"""Shared plotting helpers: figures without pyplot, axis labels with units, posterior bands,
per-run posterior draws and compute budgets. Public: the report builds on them too.

Figures are built as ``matplotlib.figure.Figure`` objects (no pyplot state, no window, rendered by
the Agg canvas when saved), so plotting works headless and never leaks figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_scaling.conventions import RUN_DIM, check_ci_prob, in_loss_unit, loss_unit_of, pct, unit_text  # noqa: F401  (pct: used by the figures and the report)
from bayes_scaling.data.budgets import BUDGET_DECADES, budget_centres, budget_levels
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import flat_draws, interval_bounds

def loss_label(result) -> str:
    """The loss axis label of a fit's figures, in its recorded loss unit (nats/token by default)."""
    return f"loss ({loss_unit_of(result)})"
#: Colours: posterior median and band, observed runs, highlights.
BAND_COLOR = "#1f4e8c"
PRED_COLOR = "#7fa7d6"
OBS_COLOR = "#222222"
FLAG_COLOR = "#c0392b"


def new_figure(figsize=(7.0, 4.6), nrows: int = 1, ncols: int = 1, **subplot_kw):
    """A pyplot-free figure (Agg when saved) with ``nrows x ncols`` axes; returns (figure, axes)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, (axes[0, 0] if nrows * ncols == 1 else axes.ravel())


def target_ax(ax, figsize=(7.0, 4.6)):
    """(figure, axes): the given axes' figure, or a new figure with one axes."""
    if ax is None:
        return new_figure(figsize)
    return ax.figure, ax


def check_ci(ci_prob: float) -> tuple[float, float, float]:
    """(ci_prob, lower quantile, upper quantile) of the equal-tailed interval."""
    lo, hi = interval_bounds(ci_prob)
    return check_ci_prob(ci_prob), lo, hi


def axis_label(result, quantity: str) -> str:
    """Axis label with units for an input quantity of ``result``'s runs."""
    meta = result.runs_metadata
    if quantity == "N":
        return f"parameters N ({meta.get('params_kind', 'total')})"
    if quantity == "D":
        return "tokens D"
    if quantity == "C":
        return "compute C (FLOPs)"
    if quantity == "U":
        return "unique tokens U"
    if quantity == "S":
        return "optimizer steps S_min"
    if quantity == "X":
        col = meta.get("columns", {}).get("extra", {}).get("X")
        return f"scale axis X ({col})" if col else "scale axis X"
    return quantity


def largest_fitted(result, quantity: str) -> float:
    """The largest fitted value of ``quantity`` (e.g. ``"C"``, FLOPs) where the extrapolation guard starts counting
    decades beyond the data (:func:`~bayes_scaling.queries.extrapolation.fitted_maxima`: for laws of N and D, C is
    the stored cost law's C(N, D) of the runs): where a figure starts its "beyond the largest run" shading."""
    from bayes_scaling.queries.extrapolation import fitted_maxima

    return float(10 ** fitted_maxima(result)[quantity])


def is_nd(law) -> bool:
    """Whether the law is a law of exactly N and D (allocation and IsoFLOP curves apply)."""
    return set(law.input_names) == {"N", "D"}


def require_nd(result, what: str) -> None:
    law = result.law
    if not is_nd(law):
        raise BayesScalingError(
            f"{what} needs a law of parameters N and tokens D (chinchilla, kaplan_nd); this fit's law "
            f"{law.name!r} has inputs {list(law.input_names)}: use plot_fit for it"
        )


def scale_axis(result) -> str:
    """The runs' scale axis: compute C for laws of several inputs, else the law's one input."""
    law = result.law
    if len(law.input_names) == 1:
        return law.input_names[0]
    return "C" if "C" in result.runs.frame else law.input_names[-1]


def check_groups(result, groups) -> list[str | None]:
    """Groups to draw: ``[None]`` (the population) for a fit without groups; all or the given ones
    of a hierarchical fit (unknown names fail with one clear message)."""
    h = result.hierarchy
    if h is None:
        if groups:
            raise BayesScalingError(f"this fit has no groups, so groups={list(groups)!r} cannot be drawn: "
                                    f"fit with --group-col COLUMN for per-group curves")
        return [None]
    if groups is None:
        return list(h["groups"])
    groups = [groups] if isinstance(groups, str) else list(groups)
    bad = [g for g in groups if g not in h["groups"]]
    if bad or not groups:
        raise BayesScalingError(f"unknown group(s) {bad or groups}; the fit's groups are {h['groups']}")
    return groups


def group_colors(groups, result=None) -> dict:
    """A colour per group; with ``result``, by the group's place among the fit's groups, so a group
    keeps its colour in every figure whatever subset or order is drawn."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    order = list(((result.hierarchy or {}).get("groups") or []) if result is not None else [])
    return {g: (BAND_COLOR if g is None else cmap((order.index(g) if g in order else i) % 10))
            for i, g in enumerate(groups)}


def run_draws(result, *, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per run, posterior draws of the law's loss and of a new run's loss (posterior predictive: noise,
    and the extrapolation discrepancy when the fit carries one), each shaped (run, sample), nats/token,
    with every run's own group parameters and covariates (the fit's evaluator; an ensemble's: its mixture)."""
    ev = result.evaluator
    runs = result.runs
    log_mu = ev.log_mean_at_runs(runs)
    if not hasattr(ev, "log_predictive"):  # an ensemble's mixture: each member's noise, pooled by weight
        pred = ev.predictive_at_runs(runs, seed=2 if seed is None else seed)
        return np.exp(flat_draws(log_mu.transpose(RUN_DIM, ...))), pred
    axis = None if ev.discrepancy is None else ev.values_at_runs(runs)
    log_pred = ev.log_predictive(log_mu, axis, rng=ev.default_rng(2, seed))
    return np.exp(flat_draws(log_mu.transpose(RUN_DIM, ...))), np.exp(flat_draws(log_pred.transpose(RUN_DIM, ...)))


#: Approach 2 needs 3 sizes per budget for a parabola (Hoffmann et al. 2022 §3.2): runs are an IsoFLOP ladder
#: only when at least half of them lie in budgets with this many distinct N.
ISOFLOP_MIN_SIZES = 3


def budget_labels(compute, n_params=None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Runs grouped into compute budgets by the one rule (:func:`~bayes_scaling.data.budgets.budget_levels`):
    (label per run, geometric-mean compute per label in FLOPs, whether the runs form an IsoFLOP ladder: 2 or
    more budgets of 2 or more runs on average, each spanning at most 2 x ``BUDGET_DECADES``, and, given
    ``n_params``, half the runs in budgets with :data:`ISOFLOP_MIN_SIZES` or more distinct N; replicates at one
    size are not an IsoFLOP budget)."""
    lc = np.log10(np.asarray(compute, float))
    labels = budget_levels(10 ** lc)
    k = int(labels.max()) + 1 if len(lc) else 0
    centres = budget_centres(10 ** lc, labels)
    spans = np.array([np.ptp(lc[labels == i]) for i in range(k)])
    isoflop = bool(k >= 2 and k <= max(2, len(lc) // 2) and np.all(spans <= 2 * BUDGET_DECADES))
    if isoflop and n_params is not None:
        n = np.asarray(n_params, float)
        sizes = np.array([np.unique(n[labels == i]).size for i in range(k)])
        isoflop = bool(np.isin(labels, np.flatnonzero(sizes >= ISOFLOP_MIN_SIZES)).mean() >= 0.5)
    return labels, centres, isoflop


def compute_at_runs(result, frame=None, cost=None) -> np.ndarray:
    """The compute C (FLOPs) of ``frame``'s runs (default: the fit's) in the currency of the fit's queries, where a
    run belongs on an axis of C beside L*(C), N*(C) or D*(C): for laws of N and D, C(N, D) of ``cost`` (default: the
    stored cost law; none stored: C = k N D; :func:`~bayes_scaling.posterior.discrepancy.scale_values`), not the
    table's C column, which (a nominal or recorded budget) only groups runs into budgets; a law of C: its C."""
    from bayes_scaling.cost import stored_cost
    from bayes_scaling.posterior.discrepancy import scale_values

    frame = result.runs.frame if frame is None else frame
    if not is_nd(result.law):
        return frame["C"].to_numpy(float)
    return scale_values(result.law, frame, stored_cost(result) if cost is None else cost)["C"]


def envelope_runs(result, bin_decades: float = 0.25, min_runs: int = 3) -> tuple[np.ndarray, str]:
    """Indices (by increasing compute) of the lowest-loss run per compute budget: an IsoFLOP
    ladder's budgets, else bins of ``bin_decades`` in log10 C holding at least ``min_runs`` runs;
    and a sentence saying which."""
    frame = result.runs.frame
    c = frame["C"].to_numpy(float)
    loss = frame["loss"].to_numpy(float)
    labels, centres, isoflop = budget_labels(c, frame["N"] if "N" in frame else None)
    if isoflop:
        how = f"the lowest-loss run at each of the {len(centres)} IsoFLOP budgets"
    else:
        lc = np.log10(c)
        labels = np.floor((lc - lc.min()) / bin_decades).astype(int)
        keep = [i for i in np.unique(labels) if (labels == i).sum() >= min_runs]
        how = (f"the lowest-loss run in each {bin_decades:g}-decade bin of compute holding at least {min_runs} runs "
               f"(the runs are not on IsoFLOP budgets)")
        labels = np.where(np.isin(labels, keep), labels, -1)
    idx = []
    for i in np.unique(labels):
        if i < 0:
            continue
        m = np.flatnonzero(labels == i)
        idx.append(m[np.argmin(loss[m])])
    idx = np.asarray(idx, int)
    return idx[np.argsort(c[idx])], how


def spread_x(result, axis: str, width_decades: float = 0.12) -> tuple[np.ndarray, bool]:
    """x positions of the runs on ``axis``; runs of one IsoFLOP budget are spread over
    ``width_decades`` in order of N so that they do not hide each other. (positions, spread?)"""
    frame = result.runs.frame
    x = frame[axis].to_numpy(float)
    if axis != "C" or "N" not in frame:
        return x, False
    labels, _, isoflop = budget_labels(x, frame["N"])
    if not isoflop:
        return x, False
    out = x.copy()
    n = frame["N"].to_numpy(float)
    for i in np.unique(labels):
        m = np.flatnonzero(labels == i)
        if m.size > 1:
            rank = np.argsort(np.argsort(n[m]))
            out[m] = x[m] * 10 ** (width_decades * (rank / (m.size - 1) - 0.5))
    return out, True


def sci(v: float) -> str:
    """Compact scientific notation: 1e+21 -> 1e21, 5.76e+23 -> 5.76e23."""
    return f"{v:.3g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def finish_log_axes(ax, xlabel: str, ylabel: str, *, logx: bool = True, logy: bool = True,
                    loss_ticks: bool = True) -> None:
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
        if loss_ticks:
            _loss_ticks(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.25)


def _loss_ticks(ax) -> None:
    """Readable tick labels on a log loss axis (losses span less than a decade)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=np.arange(1.0, 10.0, 0.5)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def legend(ax, **kw: Any) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize="small", framealpha=0.85, **kw)


def mpl_text(label) -> str:
    """A label (e.g. a group name) as literal matplotlib text: ``$`` escaped, so it never starts mathtext."""
    return str(label).replace("$", r"\$")


def param_unit(result, name: str) -> str:
    """Unit of a posterior variable of ``result``: the law's unit for its parameters (and their
    ``_group`` values), the log scales of ``sigma`` and ``tau_*``; "" when unknown."""
    base = name.removesuffix("_group")
    law = result.law
    if base in law.param_names:
        return in_loss_unit(unit_text(law.param(base).unit), loss_unit_of(result))
    if name == "sigma":  # the family's noise scale in the recorded response unit, e.g. log(nats/token), logit(fraction)
        spec = getattr(result, "spec", None)
        return "log-loss scale" if spec is None else in_loss_unit(spec.likelihood.dist.noise_unit(law.response_unit),
                                                                  loss_unit_of(result))
    if name.startswith("tau_"):
        return "log scale"
    return ""


def register_ipython_png() -> None:
    """Show this module's Figures as PNG in a running IPython/Jupyter kernel (they are built without
    pyplot, so no inline backend has registered a formatter for them)."""
    import io
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure

    def _png(fig):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()

    shell.display_formatter.formatters["image/png"].for_type(Figure, _png)
