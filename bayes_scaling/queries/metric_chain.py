"""Chains of two fits: (N, D) -> a loss (a law fitted to the LM loss or a task's bits-per-byte) and that
loss -> a bounded metric (a metric law, e.g. accuracy as a fraction), as in Bhagia et al. 2024
(arXiv:2412.04403, steps 1 and 2) and Gadre et al. 2024 (arXiv:2403.08540, Eq. 5).

Every posterior draw of the first fit is pushed through one draw of the second (paired by index; the
second fit's draws are resampled with replacement when the counts differ), so the metric carries both
fits' uncertainty; ``metric_predictive`` adds the second fit's noise (a new run's evaluation). Draws keep
``(chain, draw)`` of the first fit. A ``group`` is asked of each fit that has groups (:func:`chain_groups`): a
named group's own parameters, ``"new"`` an unseen group's (drawn around the population from the fitted spread,
as ``predict`` does), None the population values, in both fits alike. A chain whose loss fit is in another unit than the metric fit's recorded
predictor L (e.g. C4 nats/token into a law of a task's bits/byte) is refused.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, QUERY_DIM, as_number, derived_seed, loss_unit_of, seeded_rng
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.inputs import fraction, positive_number
from bayes_scaling.posterior.intervals import flat_draws
from bayes_scaling.queries.allocate import BUDGET_DIM
from bayes_scaling.queries.draws import check_budgets, law_draws, log_compute_to_reach, met_at_any_budget, resolve_cost
from bayes_scaling.result import require_fit
from bayes_scaling.result.noise import check_new_run_se


def _check(loss_fit, metric_fit) -> None:
    if metric_fit.law.response != "metric" or metric_fit.law.input_names != ("L",):
        raise BayesScalingError(f"the second fit must be a metric law of a loss L (sigmoid_metric, exp_metric), "
                                f"got {metric_fit.law.name!r}")
    if loss_fit.law.response == "metric":
        raise BayesScalingError(f"the first fit must predict a loss from N, D or C, got {loss_fit.law.name!r}")
    check_predictor_unit(loss_fit, metric_fit)


def loss_fit_name(loss_fit) -> str:
    """The loss fit of a chain as its messages name it: its law, or an ensemble's members' laws."""
    from bayes_scaling.conventions import is_ensemble

    if is_ensemble(loss_fit):
        return "ensemble of " + ", ".join(m.law.name for m in loss_fit.members.values())
    return loss_fit.law.name


def check_predictor_unit(loss_fit, metric_fit) -> None:
    """Refuse a chain whose loss fit's losses are not in the unit of the metric fit's predictor L, where the
    metric fit records that unit (``predictor_unit``; None, unknown, is not refused here)."""
    want, have = getattr(metric_fit, "predictor_unit", None), loss_unit_of(loss_fit)
    if want is not None and want != have:
        raise BayesScalingError(f"the {metric_fit.law.name} fit's predictor L is in {want} but the {loss_fit_name(loss_fit)} "
                                f"fit's losses are in {have}: chain it with a loss fit of losses in {want} "
                                f"(fit --loss-unit {want}), or refit the metric law with L in {have}",
                                quantity="loss_unit")


def chain_groups(loss_fit, metric_fit, group: str | None) -> tuple[str | None, str | None]:
    """The group the loss fit and the metric fit answer for, given the chain's ``group`` (a label, ``"new"`` or
    None): each fit with groups is asked for it, a fit without groups answers as it is. Two fits grouped by different
    columns are refused (one label cannot name a group of both); so is a label the metric fit (or the loss fit) has no
    group of, naming the groups it has, and a group where neither fit has groups."""
    if group is None:
        return None, None
    if not isinstance(group, str):
        raise BayesScalingError(f"group must be a group label or 'new', got {type(group).__name__} {group!r}",
                                quantity="group")
    cols = {name: f.hierarchy["group_col"] for name, f in (("loss", loss_fit), ("metric", metric_fit))
            if f.hierarchy is not None}
    if len(set(cols.values())) > 1:
        raise BayesScalingError(f"group {group!r}: the loss fit is grouped by {cols['loss']!r} and the metric fit by "
                                f"{cols['metric']!r}, so one group cannot name a group of both; chain fits grouped by the "
                                f"same column, or one of them without groups", quantity="group")
    picked = []
    for name, f in (("loss", loss_fit), ("metric", metric_fit)):
        h = f.hierarchy
        if h is not None and group != "new" and group not in h["groups"]:
            raise BayesScalingError(f"group {group!r} is not a group of the {name} fit ({f.law.name}, grouped by "
                                    f"{h['group_col']!r}); its groups are {list(h['groups'])} (or 'new')",
                                    quantity="group")
        picked.append(None if h is None else group)
    if picked == [None, None]:
        raise BayesScalingError(f"group {group!r}: neither the loss fit nor the metric fit has groups (fit with "
                                f"--group-col); leave the group out", quantity="group")
    return picked[0], picked[1]


def pair_index(n_from: int, n_to: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``n_from`` draws, one per each of ``n_to`` draws: the identity when the counts agree,
    else a resample with replacement."""
    return np.arange(n_to) if n_from == n_to else rng.integers(0, n_from, n_to)


def paired_metric_params(metric_fit, shape: tuple, rng: np.random.Generator,
                         group: str | None = None) -> tuple[dict, np.ndarray]:
    """The metric fit's parameters (of ``group``: a label, ``"new"`` or None for the population, as
    :meth:`PosteriorEvaluator.params`) and noise sigma, one draw per element of ``shape`` (the first fit's
    (chain, draw)), paired by :func:`pair_index`: arrays shaped ``shape``."""
    ev = metric_fit.evaluator
    idx = pair_index(ev.sigma.size, int(np.prod(shape)), rng)
    p = {k: flat_draws(v)[idx].reshape(shape) for k, v in ev.params(group).items()}
    return p, flat_draws(ev.sigma)[idx].reshape(shape)


def metric_at_loss(metric_fit, loss: np.ndarray, *, rng: np.random.Generator,
                   se: float | None = None, group: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(law, predictive) metric draws at ``loss`` (array (chain, draw, ...) of the first fit's draws): each
    leading draw paired with one draw of ``metric_fit`` (:func:`pair_index`); ``se``: the new evaluation's
    standard error (a fraction), added in quadrature to the metric fit's noise on the family's scale; ``group``:
    the metric fit's group, as :func:`paired_metric_params`."""
    ev = metric_fit.evaluator
    extra = (1,) * (loss.ndim - 2)
    p, sigma = paired_metric_params(metric_fit, loss.shape[:2], rng, group)
    p, sigma = {k: v.reshape(v.shape + extra) for k, v in p.items()}, sigma.reshape(sigma.shape + extra)
    log_mu = ev.law.log_loss(np, {"L": np.log(loss)}, p)
    if se is not None:
        sigma = ev.family.scale_with_se(sigma, log_mu, se, "metric_se")
    log_pred = ev.family.add_noise(np, log_mu, sigma, ev.family.draws(rng, log_mu.shape))
    return np.exp(log_mu), np.exp(log_pred)


def predict_metric(loss_fit, metric_fit, N=None, D=None, C=None, *, seed: int | None = None, group: str | None = None,
                   loss_noise: bool = True, metric_se: float | None = None, **extra) -> xr.Dataset:
    """The metric at query points (N parameters, D tokens, C FLOPs; two suffice): ``loss`` (the first fit's
    loss draws: a new run's, with its noise, unless ``loss_noise=False``; nats/token or bits-per-byte),
    ``metric`` (the metric law at that loss) and ``metric_predictive`` (plus the metric's noise), both
    fractions, dims (chain, draw, query). ``metric_se``: the new run's evaluation standard error of the metric
    (a fraction at most 0.5, e.g. sqrt(p (1 - p) / n) on n examples), only for a metric fit with run noise given SEs
    (elsewhere its sigma already holds the evaluation noise: :mod:`bayes_scaling.result.noise`). ``group``: a
    label, ``"new"`` for an unseen group or None for the population, asked of each fit with groups as in
    ``predict`` (:func:`chain_groups`)."""
    require_fit(loss_fit, "loss_fit")
    require_fit(metric_fit, "metric_fit", ensemble=False)
    _check(loss_fit, metric_fit)
    loss_group, metric_group = chain_groups(loss_fit, metric_fit, group)
    pred = loss_fit.predict(N=N, D=D, C=C, seed=seed, group=loss_group, **extra)
    loss = pred["loss_predictive" if loss_noise else "loss"]
    rng = np.random.default_rng(derived_seed(metric_fit.evaluator.seed if seed is None else seed, 2))
    mu, m_pred = metric_at_loss(metric_fit, loss.values, rng=rng, se=check_new_run_se(metric_fit, metric_se, "metric_se"),
                                group=metric_group)
    ds = xr.Dataset({"loss": loss, "metric": (loss.dims, mu), "metric_predictive": (loss.dims, m_pred)},
                    coords={k: pred[k] for k in pred.coords if k not in ("chain", "draw")})
    ds["metric"].attrs["units"] = ds["metric_predictive"].attrs["units"] = metric_fit.law.response_unit
    return ds.transpose("chain", "draw", QUERY_DIM)


def compute_for_metric(loss_fit, metric_fit, target: float, *, budgets=None, seed: int = 0,
                       group: str | None = None) -> xr.Dataset:
    """Compute (FLOPs) the loss fit's compute-optimal plan needs for the metric law to reach ``target`` (a
    fraction, e.g. 0.55), per draw, by the bisection on log compute that ``target`` uses
    (:func:`bayes_scaling.queries.draws.log_compute_to_reach`, priced by the loss fit's cost law): ``inf`` only
    in draws whose metric at the loss law's floor (compute -> infinity; at most the metric law's ceiling) stays
    below the target; 0 in draws that meet it at any budget (``attrs["p_met_at_any_budget"]``, e.g. a target
    at or below chance). ``metric_opt``: the metric along the frontier at ``budgets`` (FLOPs; default 1e17 to
    1e27), dims (chain, draw, budget). ``group``: asked of each fit with groups, as in :func:`predict_metric`. Needs a
    loss law of N and D (allocation)."""
    require_fit(loss_fit, "loss_fit")
    require_fit(metric_fit, "metric_fit", ensemble=False)
    _check(loss_fit, metric_fit)
    loss_group, metric_group = chain_groups(loss_fit, metric_fit, group)
    target = fraction(target, "target metric must be a fraction in (0, 1)", quantity="target_metric")
    budgets = np.geomspace(1e17, 1e27, 121) if budgets is None else check_budgets(budgets)
    cost = resolve_cost(loss_fit, None, FLOPS_PER_PARAM_TOKEN)
    draws = law_draws(loss_fit, loss_group, cost)
    p, _ = paired_metric_params(metric_fit, draws.shape, seeded_rng(seed), metric_group)
    law = metric_fit.law

    def neg_log_metric(x):  # decreasing in log compute: the loss falls and the metric rises along the frontier
        return -law.log_loss(np, {"L": draws.log_loss_opt(x[..., None])[..., 0]}, p)

    x, reachable = log_compute_to_reach(neg_log_metric, -np.log(target), draws.shape)
    x_b = np.log(budgets / cost.k)
    log_l = draws.log_loss_opt(x_b)  # (chain, draw, budget)
    mu = np.exp(law.log_loss(np, {"L": log_l}, {k: v[..., None] for k, v in p.items()}))
    return xr.Dataset({"compute": (("chain", "draw"), cost.k * np.exp(x), {"units": "FLOPs"}),
                       "metric_opt": (("chain", "draw", BUDGET_DIM), mu, {"units": metric_fit.law.response_unit})},
                      coords={BUDGET_DIM: budgets}, attrs={"target": float(target),
                                                           "p_unreachable": float(1 - reachable.mean()),
                                                           "p_met_at_any_budget": met_at_any_budget(x)})


def prob_reach_metric(loss_fit, metric_fit, target: float, compute: float, *, seed: int = 0,
                      group: str | None = None) -> float:
    """Posterior probability that the compute-optimal plan at ``compute`` FLOPs reaches the metric ``target``
    (the metric law's mean at that plan): the share of draws whose :func:`compute_for_metric` is at most it."""
    require_fit(loss_fit, "loss_fit")
    require_fit(metric_fit, "metric_fit", ensemble=False)
    compute = positive_number(compute, "compute must be a finite number of FLOPs > 0", quantity="C")
    out = compute_for_metric(loss_fit, metric_fit, target, budgets=[compute], seed=seed, group=group)
    return float((out["compute"] <= compute).mean())
