"""Compute-optimal allocation and budget decisions under posterior uncertainty.

For a law L(N, D) and a budget C (FLOPs), training costs C = k N D with k FLOPs per parameter per
token (6 by default, Kaplan et al. 2020 §2.1), or what the cost law (``cost``, or the one stored with
the fit: :mod:`bayes_scaling.cost`) says. Per posterior draw, N*(C) minimises L(N, D(C, N)) (closed
form where the law has one and the cost is linear, e.g. Hoffmann et al. 2022 Eq. 4; a vectorised
golden-section search otherwise). A *decision* picks one N for all draws, minimising the posterior expected loss
or a loss quantile (risk-averse), and reports what each alternative plan costs, in loss and in
wasted compute (1 - C'/C, C' being the budget at which the optimal plan reaches the plan's loss).

Every per-draw answer keeps ``chain`` and ``draw``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, check_count, loss_unit_of
from bayes_scaling.cost import check_cost_range
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.inputs import check_query_size, positive_number
from bayes_scaling.queries.draws import (LawDraws, bisect_decreasing, budgets_flops, check_target_loss,
                                         decision_scores, decision_search, law_draws, log_compute_to_reach,
                                         met_at_any_budget, params_unit, require_allocation, resolve_cost,
                                         wasted_compute)
from bayes_scaling.result import require_fit

BUDGET_DIM = "budget"


def _da(values, budgets=None, attrs=None):
    dims = ("chain", "draw") if budgets is None else ("chain", "draw", BUDGET_DIM)
    coords = {} if budgets is None else {BUDGET_DIM: budgets}
    da = xr.DataArray(values, dims=dims, coords=coords)
    da.attrs.update(attrs or {})
    return da


def compute_optimal(result, compute, *, flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
                    compute_unit: str = "flops", group: str | None = None, cost=None,
                    covariates: dict | None = None) -> xr.Dataset:
    """Posterior of the compute-optimal allocation at each budget.

    Returns ``N_opt`` (parameters), ``D_opt`` (tokens), ``tokens_per_param`` and ``loss_opt``
    (the fit's loss unit), dims ``(chain, draw, budget)``; the ``budget`` coordinate is in FLOPs. ``group``
    selects a group of a hierarchical fit (``"new"``: an unseen group; ``None``: the population).
    ``cost``: a :class:`~bayes_scaling.cost.CostLaw` (default: the fit's stored one, else C = k N D).
    ``covariates``: a fit's covariate values by name (the rest, and all by default, at the runs' mean).
    """
    require_fit(result)
    cost = resolve_cost(result, cost, flops_per_token)
    k = cost.k
    budgets = budgets_flops(compute, compute_unit)
    draws = law_draws(result, group, cost, covariates)
    check_query_size(budgets.size, draws.shape[0] * draws.shape[1])
    log_ct = np.log(budgets / k)
    log_n = draws.log_n_opt(log_ct)
    log_d = draws.log_tokens(log_ct, log_n)
    check_cost_range(cost, np.exp(log_n))
    loss = np.exp(draws.log_loss(log_n, log_d))
    ds = xr.Dataset({
        "N_opt": _da(np.exp(log_n), budgets, {"units": params_unit(result)}),
        "D_opt": _da(np.exp(log_d), budgets, {"units": "tokens"}),
        "tokens_per_param": _da(np.exp(log_d - log_n), budgets, {"units": "tokens/parameter"}),
        "loss_opt": _da(loss, budgets, {"units": loss_unit_of(result)}),
    })
    ds[BUDGET_DIM].attrs["units"] = "FLOPs"
    ds.attrs["flops_per_token"] = k
    ds.attrs["cost"] = cost.describe()
    return ds


def frontier_exponents(result, compute_min: float, compute_max: float, *,
                       flops_per_token: float = FLOPS_PER_PARAM_TOKEN, compute_unit: str = "flops",
                       group: str | None = None, cost=None) -> xr.Dataset:
    """Exponents a, b of N* ~ C^a and D* ~ C^b between two budgets (per draw; exact for power-law
    frontiers such as Chinchilla's, where a = beta/(alpha+beta)), and the local loss slope
    d log(L* - 0)/d log C."""
    require_fit(result)
    lo, hi = budgets_flops([compute_min, compute_max], compute_unit)
    if not hi > lo:
        raise BayesScalingError(f"compute_max must exceed compute_min, got {compute_min!r} and {compute_max!r}")
    opt = compute_optimal(result, [lo, hi], flops_per_token=flops_per_token, group=group, cost=cost)
    span = np.log(hi) - np.log(lo)
    slope = lambda v: (np.log(v.isel(budget=1)) - np.log(v.isel(budget=0))) / span  # noqa: E731
    ds = xr.Dataset({"a": slope(opt["N_opt"]), "b": slope(opt["D_opt"]), "loss_slope": slope(opt["loss_opt"])})
    ds.attrs.update({"compute_min_flops": lo, "compute_max_flops": hi})
    return ds


def plan_outcome(result, compute: float, n_params: float, *, flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
                 compute_unit: str = "flops", group: str | None = None, cost=None,
                 covariates: dict | None = None) -> xr.Dataset:
    """What training ``n_params`` parameters on budget C costs, per draw (``covariates`` as in
    :func:`compute_optimal`).

    ``loss`` (the fit's loss unit), ``loss_penalty`` = loss - the draw's optimal loss at C, and
    ``wasted_compute`` = 1 - C'/C where C' is the budget at which that draw's optimal plan reaches
    the same loss (0 for an optimal plan; 0.3 means 30% of the budget bought nothing).
    """
    require_fit(result)
    cost = resolve_cost(result, cost, flops_per_token)
    k = cost.k
    (c,) = budgets_flops([compute], compute_unit)
    n_params = positive_number(n_params, "planned parameters must be > 0", quantity="n_params")
    draws = law_draws(result, group, cost, covariates)
    log_ct = np.log(c / k)
    log_d_plan = float(draws.log_tokens(log_ct, np.log(n_params)))
    log_loss_plan = draws.log_loss(np.log(n_params), log_d_plan)[..., 0]
    log_loss_opt = draws.log_loss_opt(np.array([log_ct]))[..., 0]
    return xr.Dataset({
        "loss": _da(np.exp(log_loss_plan), attrs={"units": loss_unit_of(result)}),
        "loss_penalty": _da(np.exp(log_loss_plan) - np.exp(log_loss_opt), attrs={"units": loss_unit_of(result)}),
        "wasted_compute": _da(wasted_compute(draws, log_ct, log_loss_plan), attrs={"units": "fraction of the budget"}),
    }, attrs={"compute_flops": c, "N": float(n_params), "D": float(np.exp(log_d_plan))})


@dataclass
class Decision:
    """The allocation chosen at one budget, and how it and the alternatives fare per draw."""

    compute: float
    N: float
    D: float
    utility: str
    objective: float
    outcome: xr.Dataset
    optimum: xr.Dataset
    alternatives: dict[str, xr.Dataset] = field(default_factory=dict)
    constraints: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_per_param(self) -> float:
        return self.D / self.N

    def p_reach(self, target_loss: float) -> float:
        """Posterior probability that this plan's law loss is at or below ``target_loss`` (the fit's loss unit)."""
        unit = self.outcome["loss"].attrs.get("units") or "nats/token"
        return float((self.outcome["loss"] <= check_target_loss(target_loss, unit)).mean())


def parse_utility(utility: str) -> float | None:
    """``"mean"`` -> None; ``"quantile:0.9"`` -> 0.9 (minimise that loss quantile)."""
    if utility == "mean":
        return None
    if isinstance(utility, str) and utility.startswith("quantile:"):
        try:
            q = float(utility.split(":", 1)[1])
        except ValueError:
            q = -1.0
        if 0 < q < 1:
            return q
    raise BayesScalingError(f"utility must be 'mean' or 'quantile:Q' with 0 < Q < 1, got {utility!r}",
                            quantity="utility")


#: Most points of :func:`decide`'s grid over log N: the grid only brackets the optimum for the golden-section
#: refinement (60 steps, to float precision), so 1e5 points (spacing ~1e-4 of the window) is far more than it needs.
MAX_DECISION_GRID = 100_000


def decide(result, compute: float, *, utility: str = "mean", max_params: float | None = None,
           max_tokens: float | None = None, alternatives: dict[str, float] | None = None,
           alt_tokens_per_param: float | None = None, flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
           compute_unit: str = "flops", grid: int = 801, group: str | None = None, cost=None,
           covariates: dict | None = None) -> Decision:
    """The one N (and D = C/(kN)) to train at budget C.

    Minimises the posterior expected loss (``utility="mean"``) or a loss quantile
    (``"quantile:0.9"``: risk-averse), subject to N <= ``max_params`` and D <= ``max_tokens``.
    ``alternatives`` maps names to planned N; ``alt_tokens_per_param`` adds the plan with that
    many tokens per parameter (e.g. 20, the Chinchilla rule of thumb). ``covariates``: a fit's covariate values by
    name (the rest, and all by default, at the runs' mean; a covariate multiplies the loss, so it moves the losses,
    not N* or the wasted compute).
    """
    require_fit(result)
    grid = check_count("grid", grid, 3, MAX_DECISION_GRID,
                       " (the grid brackets the optimum; a golden-section search refines it)")
    q = parse_utility(utility)
    cost = resolve_cost(result, cost, flops_per_token)
    k = cost.k
    (c,) = budgets_flops([compute], compute_unit)
    draws = law_draws(result, group, cost, covariates)
    log_ct = np.log(c / k)
    opt = compute_optimal(result, [c], group=group, cost=cost, covariates=covariates)
    log_nopt = np.log(opt["N_opt"].values[..., 0])
    # feasible log N from the limits, then the search window around the posterior of N*
    lo_c, hi_c = 0.0, log_ct
    constraints = {}
    max_params, max_tokens = (None if _no_limit(v) else v for v in (max_params, max_tokens))  # +inf: no limit
    if max_params is not None:
        max_params = positive_number(max_params, "max_params must be a finite number > 0 (parameters)",
                                     quantity="max_params")
        hi_c = min(hi_c, np.log(max_params))
        constraints["max_params"] = float(max_params)
    if max_tokens is not None:
        max_tokens = positive_number(max_tokens, "max_tokens must be a finite number > 0 (tokens)",
                                     quantity="max_tokens")
        # D <= max_tokens: log N at or above where the budget buys exactly max_tokens (D falls with N)
        lo_c = max(lo_c, float(bisect_decreasing(lambda u: draws.log_tokens(log_ct, u), np.log(max_tokens),
                                                 -60.0, log_ct + 60.0)))
        constraints["max_tokens"] = float(max_tokens)
    if log_ct < 0:  # no limit helps: C / k < 1 cannot buy N >= 1 parameter trained on D >= 1 token
        raise BayesScalingError(f"the budget is too small: C = {c:.3g} FLOPs cannot train one parameter on one token "
                                f"({cost.describe()}): raise the compute budget", quantity="C")
    if lo_c > hi_c:
        raise BayesScalingError(
            f"no feasible plan at C = {c:.3g} FLOPs: N <= {max_params or np.inf:.3g} and D <= {max_tokens or np.inf:.3g} "
            f"cannot spend the budget ({cost.describe()}); raise a limit or lower the budget"
        )
    lo = max(np.quantile(log_nopt, 0.001) - np.log(30.0), lo_c)
    hi = min(np.quantile(log_nopt, 0.999) + np.log(30.0), hi_c)
    if lo > hi:  # the limits exclude every plausible optimum: search next to the binding limit
        lo, hi = (max(lo_c, hi_c - 2 * np.log(30.0)), hi_c) if hi_c < lo else (lo_c, min(hi_c, lo_c + 2 * np.log(30.0)))
    check_query_size(grid, int(np.prod(draws.shape)))
    best = decision_search(draws, log_ct, lo, hi, q=q, grid=grid)
    n_best = float(np.exp(best))
    if alternatives is not None and not isinstance(alternatives, dict):
        raise BayesScalingError(f"alternatives must be a dict {{name: planned N}}, got {alternatives!r}"[:200],
                                quantity="alternatives")
    alts = {str(k): positive_number(v, f"alternatives[{k!r}] must be a finite number of parameters > 0",
                                    quantity="alternatives") for k, v in (alternatives or {}).items()}
    if alt_tokens_per_param is not None:
        alt_tokens_per_param = positive_number(alt_tokens_per_param, "alt_tokens_per_param must be a finite number > 0",
                                               quantity="alt_tokens_per_param")
        alts[f"{alt_tokens_per_param:g} tokens/parameter"] = float(cost.params_at_ratio(c, alt_tokens_per_param))
    return Decision(
        compute=c, N=n_best, D=float(np.exp(draws.log_tokens(log_ct, best))), utility=utility,
        objective=float(_score(draws, best, log_ct, q)),
        outcome=plan_outcome(result, c, n_best, group=group, cost=cost, covariates=covariates),
        optimum=opt.isel(budget=0, drop=True),
        alternatives={name: plan_outcome(result, c, n, group=group, cost=cost, covariates=covariates)
                      for name, n in alts.items()},
        constraints=constraints,
    )


def _score(draws: LawDraws, u: float, log_ct: float, q: float | None) -> float:
    loss = np.exp(draws.log_loss(np.array([u]), draws.log_tokens(log_ct, np.array([u])))).reshape(-1, 1)
    return float(decision_scores(loss, q)[0])


def compute_for_loss(result, target_loss: float, *, flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
                     group: str | None = None, cost=None) -> xr.Dataset:
    """Compute (FLOPs) the optimal plan needs to reach ``target_loss`` (the fit's loss unit), per draw, with
    the N* and D* there. Draws whose loss floor is above the target give ``inf``; draws that meet it at any
    budget (already at the smallest searched, :func:`~bayes_scaling.queries.draws.met_at_any_budget`) give 0.
    ``attrs``: ``p_unreachable`` and ``p_met_at_any_budget``, the shares of those draws."""
    require_fit(result)
    target_loss = check_target_loss(target_loss, loss_unit_of(result))
    cost = resolve_cost(result, cost, flops_per_token)
    k = cost.k
    draws = law_draws(result, group, cost)
    g = lambda x: draws.log_loss_opt(x[..., None])[..., 0]  # noqa: E731
    x, reachable = log_compute_to_reach(g, np.log(target_loss), draws.shape)
    fin = np.isfinite(x)
    x0 = np.where(fin, x, 0.0)
    log_n = np.where(fin, draws.log_n_opt(x0[..., None])[..., 0], x)  # x = +-inf: N* = inf or 0, as the compute
    log_d = np.where(fin, draws.log_tokens(x0, np.where(fin, log_n, 0.0)), x)
    return xr.Dataset({
        "compute": _da(k * np.exp(x), attrs={"units": "FLOPs"}),
        "N_opt": _da(np.exp(log_n), attrs={"units": params_unit(result)}),
        "D_opt": _da(np.exp(log_d), attrs={"units": "tokens"}),
    }, attrs={"target_loss": float(target_loss), "p_unreachable": float(1 - reachable.mean()),
              "p_met_at_any_budget": met_at_any_budget(x)})


def _no_limit(v) -> bool:
    """Whether a limit is +inf ("no limit", as None)."""
    return isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and v == np.inf


def prob_reach(result, target_loss: float, compute: float, *, flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
               compute_unit: str = "flops", group: str | None = None, cost=None, plan: str = "optimal") -> float:
    """Posterior probability that a plan at budget C reaches ``target_loss`` (law loss). ``plan``:
    ``"optimal"``, each draw at its own optimal N (as if the optimal N were known: an upper bound);
    ``"decision"``, the one (N, D) that :func:`decide` picks (expected-loss utility), the plan one would train."""
    require_fit(result)
    target_loss = check_target_loss(target_loss, loss_unit_of(result))
    if plan == "decision":
        d = decide(result, compute, flops_per_token=flops_per_token, compute_unit=compute_unit, group=group, cost=cost)
        return d.p_reach(target_loss)
    if plan != "optimal":
        raise BayesScalingError(f"plan must be 'optimal' or 'decision', got {plan!r}", quantity="plan")
    opt = compute_optimal(result, [compute], flops_per_token=flops_per_token, compute_unit=compute_unit, group=group,
                          cost=cost)
    return float((opt["loss_opt"] <= target_loss).mean())
