"""Statistical comparison of groups (architectures, datasets, recipes) in a hierarchical fit.

Every quantity is computed per posterior draw with the *same* draw for all groups (paired), so
the uncertainty shared by the groups (E, the population exponents, the noise) cancels in the
differences instead of inflating them. Answers:

- the posterior of the loss difference and P(A better), at one (N, D) or at a budget C with each
  group at its own compute-optimal allocation;
- the compute-equivalent multiplier: the compute B needs to match A's optimal loss at C (> 1 means
  A is more compute-efficient);
- differences of group-level parameters (exponents ...);
- a ROPE statement: P(|L_B - L_A| / L_A < rope);
- with more than two groups, P(each group is best) and the expected rank.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, check_seed, loss_unit_of, seeded_rng
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.inputs import fraction
from bayes_scaling.queries.allocate import compute_optimal
from bayes_scaling.queries.draws import (budgets_flops, law_draws, log_compute_to_reach, met_at_any_budget,
                                         resolve_cost)
from bayes_scaling.result import require_fit


def _check_groups(result, groups) -> list[str]:
    h = result.hierarchy
    if h is None:
        raise BayesScalingError("comparing groups needs a hierarchical fit: fit with --group-col COLUMN (and --vary)")
    if groups is not None and (not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) for g in groups)):
        raise BayesScalingError(f"groups must be a list of group names (e.g. {list(h['groups'][:2])}), got {groups!r}",
                                quantity="groups")
    groups = list(groups) if groups else list(h["groups"])
    bad = [g for g in groups if g not in h["groups"]]
    if bad:
        raise BayesScalingError(f"unknown group(s) {bad}; the fit's groups are {h['groups']}", quantity="groups")
    repeated = sorted({g for g in groups if groups.count(g) > 1})
    if repeated:
        raise BayesScalingError(f"group(s) {repeated} given more than once: name each group once", quantity="groups")
    if len(set(groups)) < 2:
        raise BayesScalingError("compare at least two different groups", quantity="groups")
    return groups


def group_losses(result, groups=None, *, compute: float | None = None, N=None, D=None,
                 flops_per_token: float = FLOPS_PER_PARAM_TOKEN) -> xr.DataArray:
    """Loss per group and draw (dims chain, draw, group): at a budget C (FLOPs), each group at its
    own compute-optimal allocation, or at a given (N, D)."""
    require_fit(result)
    groups = _check_groups(result, groups)
    if compute is not None and (N is not None or D is not None):  # one would be ignored
        raise BayesScalingError("compare at a budget (--compute C) or at a model (--params N --tokens D), not both: "
                                "drop one", quantity="C")
    if compute is not None:
        losses = [compute_optimal(result, [compute], flops_per_token=flops_per_token, group=g)["loss_opt"]
                  .isel(budget=0, drop=True) for g in groups]
    elif N is not None and D is not None:
        if np.size(N) != 1 or np.size(D) != 1:
            raise BayesScalingError(f"compare groups at one model: give one N and one D, got {np.size(N)} and {np.size(D)}")
        losses = [result.predict(N=N, D=D, group=g)["loss"].isel(query=0, drop=True) for g in groups]
    else:
        raise BayesScalingError("compare at a budget (--compute C) or at a model (--params N --tokens D)")
    out = xr.concat(losses, dim="group").assign_coords(group=groups).transpose("chain", "draw", "group")
    out.attrs["units"] = loss_unit_of(result)
    return out


def compute_multiplier(result, a: str, b: str, compute: float, *,
                       flops_per_token: float = FLOPS_PER_PARAM_TOKEN) -> xr.DataArray:
    """Per draw, C'/C where C' is the budget at which group ``b``'s optimal plan matches group
    ``a``'s optimal loss at C (> 1: ``b`` needs more compute than ``a``), searched as ``target`` searches a
    loss (:func:`~bayes_scaling.queries.draws.log_compute_to_reach`, the same bracket): ``inf`` in draws where
    ``b`` cannot reach that loss at any budget (its loss floor is above it), 0 where ``b`` meets it at any
    budget (already at the smallest budget searched). ``attrs``: ``p_unreachable`` and ``p_met_at_any_budget``,
    the shares of those draws. Budgets are priced by the same cost law as :func:`group_losses` (the fit's
    stored one, else C = k N D)."""
    require_fit(result)
    cost = resolve_cost(result, None, flops_per_token)
    (c,) = budgets_flops([compute], "flops")
    da, db = law_draws(result, a, cost), law_draws(result, b, cost)
    log_ct = np.log(c / cost.k)
    target = da.log_loss_opt(np.array([log_ct]))[..., 0]
    g = lambda x: db.log_loss_opt(x[..., None])[..., 0]  # noqa: E731
    x, reachable = log_compute_to_reach(g, target, da.shape)
    return xr.DataArray(np.exp(x - log_ct), dims=("chain", "draw"),
                        attrs={"units": "compute ratio", "p_unreachable": float(1 - reachable.mean()),
                               "p_met_at_any_budget": met_at_any_budget(x)})


def compare_groups(result, groups=None, *, compute: float | None = None, N=None, D=None, rope: float = 0.01,
                   flops_per_token: float = FLOPS_PER_PARAM_TOKEN, paired: bool = True, seed: int = 0) -> dict:
    """Paired comparison of ``groups`` (default: all). The first two are A and B for the pairwise
    quantities. ``paired=False`` shuffles B's loss draws against A's before the loss difference,
    P(A better) and the ROPE probability (only those), to show what pairing buys; everything else
    stays paired. Fitting the groups separately widens intervals further (benchmarks/README.md)."""
    require_fit(result)
    rope = fraction(rope, "rope must be a relative loss difference in (0, 1), e.g. 0.01", quantity="rope")
    check_seed(seed)
    groups = _check_groups(result, groups)
    losses = group_losses(result, groups, compute=compute, N=N, D=D, flops_per_token=flops_per_token)
    a, b = groups[0], groups[1]
    la, lb = losses.sel(group=a, drop=True), losses.sel(group=b, drop=True)
    if not paired:
        rng = seeded_rng(seed)
        flat = lb.values.ravel()
        lb = lb.copy(data=rng.permutation(flat).reshape(lb.shape))
    diff = lb - la
    rel = diff / la
    out = {
        "groups": groups,
        "a": a,
        "b": b,
        "loss": {g: losses.sel(group=g, drop=True) for g in groups},
        "loss_diff": diff,  # L_B - L_A: positive when A is better
        "rel_diff": rel,
        "p_a_better": float((diff > 0).mean()),
        "p_rope": float((np.abs(rel) < rope).mean()),
        "rope": rope,
        "param_diff": {},
    }
    post = getattr(result, "posterior", None)  # an ensemble's parameters differ by law form: none compared
    for name in ([] if post is None else result.law.param_names):
        if f"{name}_group" in post:
            v = post[f"{name}_group"]
            out["param_diff"][name] = v.sel(group=b, drop=True) - v.sel(group=a, drop=True)
    if compute is not None:
        out["compute_multiplier"] = compute_multiplier(result, a, b, compute, flops_per_token=flops_per_token)
    if len(groups) > 2:
        ranks = losses.copy(data=losses.values.argsort(axis=-1).argsort(axis=-1) + 1)  # 1 = lowest loss
        out["p_best"] = {g: float((ranks.sel(group=g) == 1).mean()) for g in groups}
        out["expected_rank"] = {g: float(ranks.sel(group=g).mean()) for g in groups}
    return out
