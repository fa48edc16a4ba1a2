"""Kaplan et al. 2020's compute-efficient frontier from a fitted L(N, S_min) (law ``kaplan_ns``).

With the critical batch size B_crit(L) = B_* / L^(1/alpha_B) (Eq. 1.4; B_* = 2.1e8 tokens and
alpha_B = 0.21 by default, Table 5) and training compute C = 6 N B S (Eq. B.3), Appendix B gives
the compute-efficient plan in closed form:

- alpha_C = 1 / (1/alpha_S + 1/alpha_B + 1/alpha_N)                                   (B.6-B.7)
- C_c = 6 N_c B_* S_c (1 + alpha_N/alpha_S)^(1/alpha_S + 1/alpha_N) (alpha_S/alpha_N)^(1/alpha_S)  (B.8)
- N(C) = N_c (C/C_c)^(alpha_C/alpha_N) (1 + alpha_N/alpha_S)^(1/alpha_N)              (B.9)
- S(C) = C_c / (6 N_c B_*) (1 + alpha_N/alpha_S)^(-1/alpha_N) (C/C_c)^(alpha_C/alpha_S)  (B.10)
- L(C) = (C_c / C)^alpha_C, B(C) = B_crit(L(C)).

So N ~ C^(alpha_C/alpha_N), B ~ C^(alpha_C/alpha_B), S ~ C^(alpha_C/alpha_S) (Kaplan: 0.73, 0.24,
0.03 empirically; Eq. 1.7-1.8). ``efficient_vs_converged`` makes the headline claim testable: at
one budget, the compute-efficient plan (a large model stopped early) against the best model
trained until its loss is within ``f`` (2%) of converged, per posterior draw.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.conventions import (FLOPS_PER_PARAM_TOKEN, KAPLAN_ALPHA_B, KAPLAN_B_STAR_TOKENS, check_positive,
                                       flops_to_pf_days, pf_days_to_flops)
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.inputs import check_query_size, fraction
from bayes_scaling.queries.draws import bisect_decreasing, check_budgets, params_unit
from bayes_scaling.result import require_fit


def _params(result):
    if not result.law.has("efficient_frontier"):
        raise BayesScalingError(f"the compute-efficient frontier needs a kaplan_ns fit (L(N, S_min)); got "
                                f"{result.law.name!r}")
    post = result.posterior
    get = lambda n: post[n].transpose("chain", "draw").values  # noqa: E731
    return get("alpha_N"), get("alpha_S"), np.log(get("N_c")), np.log(get("S_c"))


def _log_cc(a_n, a_s, log_nc, log_sc, b_star, alpha_b):
    alpha_c = 1 / (1 / a_s + 1 / alpha_b + 1 / a_n)
    r = a_n / a_s
    log_cc = (np.log(FLOPS_PER_PARAM_TOKEN) + log_nc + np.log(b_star) + log_sc + (1 / a_s + 1 / a_n) * np.log1p(r)
              + (1 / a_s) * np.log(1 / r))
    return alpha_c, log_cc


def efficient_frontier(result, compute_pf_days, *, b_star: float = KAPLAN_B_STAR_TOKENS,
                       alpha_b: float = KAPLAN_ALPHA_B) -> xr.Dataset:
    """Posterior of the compute-efficient plan at budgets C (PF-days; C = 6 N B S with B_crit).

    Returns ``N_opt`` (parameters), ``S_min`` (steps), ``B`` (tokens per batch), ``loss``
    (nats/token) over (chain, draw, budget), and the exponents ``p_N``, ``p_B``, ``p_S``,
    ``alpha_C`` over (chain, draw).
    """
    require_fit(result, ensemble=False)
    b_star = check_positive("b_star must be a finite number of tokens > 0 (Kaplan's B*)", b_star, "b_star")
    alpha_b = check_positive("alpha_b must be a finite number > 0 (Kaplan's alpha_B)", alpha_b, "alpha_b")
    c = check_budgets(compute_pf_days, "PF-days")
    check_query_size(c.size, result.posterior.sizes["chain"] * result.posterior.sizes["draw"])
    a_n, a_s, log_nc, log_sc = _params(result)
    alpha_c, log_cc = _log_cc(a_n, a_s, log_nc, log_sc, b_star, alpha_b)
    e = lambda v: v[..., None]  # noqa: E731
    log_c = np.log(pf_days_to_flops(c))
    r = a_n / a_s
    x = log_c - e(log_cc)
    log_n = e(log_nc) + e(alpha_c / a_n) * x + e(np.log1p(r) / a_n)
    log_s = e(log_cc - np.log(FLOPS_PER_PARAM_TOKEN) - log_nc - np.log(b_star) - np.log1p(r) / a_n) + e(alpha_c / a_s) * x
    log_l = -e(alpha_c) * x
    log_b = np.log(b_star) - log_l / alpha_b
    dims3, dims2 = ("chain", "draw", "budget"), ("chain", "draw")
    ds = xr.Dataset(
        {
            "N_opt": (dims3, np.exp(log_n), {"units": params_unit(result)}),
            "S_min": (dims3, np.exp(log_s), {"units": "steps"}),
            "B": (dims3, np.exp(log_b), {"units": "tokens per batch"}),
            "loss": (dims3, np.exp(log_l), {"units": "nats/token"}),
            "alpha_C": (dims2, alpha_c),
            "p_N": (dims2, alpha_c / a_n),
            "p_B": (dims2, alpha_c / alpha_b),
            "p_S": (dims2, alpha_c / a_s),
            "C_c": (dims2, flops_to_pf_days(np.exp(log_cc)), {"units": "PF-days"}),
        },
        coords={"budget": ("budget", c, {"units": "PF-days"})},
    )
    ds.attrs.update({"b_star_tokens": b_star, "alpha_B": alpha_b})
    return ds


def converged_plan_loss(result, compute_pf_days: float, *, f: float = 0.02, b_star: float = KAPLAN_B_STAR_TOKENS,
                        alpha_b: float = KAPLAN_ALPHA_B) -> xr.Dataset:
    """Per draw, the model trained until its loss is within ``f`` of converged, L = (1 + f) L(N, inf),
    that exactly spends budget C (PF-days): its N, steps and loss. The steps follow from
    (S_c/S)^alpha_S = f (N_c/N)^alpha_N; C = 6 N B_crit(L) S grows with N, so N is found by bisection."""
    require_fit(result, ensemble=False)
    f = fraction(f, "f (distance from convergence) must be in (0, 1), e.g. 0.02", quantity="converged_within")
    (c,) = check_budgets([compute_pf_days], "PF-days")
    a_n, a_s, log_nc, log_sc = _params(result)
    log_c = np.log(pf_days_to_flops(c))

    def parts(log_n):
        log_l_inf = a_n * (log_nc - log_n)
        log_s = log_sc - (np.log(f) + log_l_inf) / a_s
        log_l = np.log1p(f) + log_l_inf
        log_b = np.log(b_star) - log_l / alpha_b
        return np.log(FLOPS_PER_PARAM_TOKEN) + log_n + log_b + log_s, log_l, log_s

    # cost falls as N falls: search log N in [0, 60] for cost(N) = C (bisect on -cost, decreasing)
    log_n = bisect_decreasing(lambda u: -parts(u)[0], -np.full(a_n.shape, log_c), np.zeros(a_n.shape),
                               np.full(a_n.shape, 60.0))
    _, log_l, log_s = parts(log_n)
    dims = ("chain", "draw")
    return xr.Dataset({"N": (dims, np.exp(log_n), {"units": params_unit(result)}),
                       "S": (dims, np.exp(log_s), {"units": "steps"}),
                       "loss": (dims, np.exp(log_l), {"units": "nats/token"})},
                      attrs={"compute_pf_days": float(compute_pf_days), "f": f})


def efficient_vs_converged(result, compute_pf_days: float, *, f: float = 0.02, **kw) -> dict:
    """At budget C: P(the compute-efficient plan reaches a lower loss than training to within ``f`` of
    convergence), the loss gap (converged - efficient, nats/token) per draw, and both plans."""
    require_fit(result, ensemble=False)
    eff = efficient_frontier(result, [compute_pf_days], **kw).isel(budget=0)
    conv = converged_plan_loss(result, compute_pf_days, f=f, **kw)
    gap = conv["loss"] - eff["loss"]
    return {"p_efficient_better": float((gap > 0).mean()), "loss_gap": gap, "efficient": eff, "converged": conv}
