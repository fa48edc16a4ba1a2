"""Where scaling may break down.

``contradiction_point``: Kaplan et al. 2020 §6.3. The compute-efficient trend L(C_min) =
(C_c/C_min)^alpha_C falls faster than the data-limited L(D) = (D_c/D)^alpha_D evaluated at the
data that compute-efficient training consumes, D(C_min) = 2 C_min / (6 N(C_min)) with
N(C_min) = N_e C_min^p_N (Table 6: N_e = 1.3e9, p_N = 0.73, C_min in PF-days). The two meet at
C* (~1e4 PF-days, N* ~ 1e12, D* ~ 1e12, L* ~ 1.7 in the paper); past it the laws contradict each
other. With posteriors for both laws (fits of ``kaplan_c`` and ``kaplan_d``), C* has a posterior.

``fit_counterpart``: for a single-axis law, the broken (or unbroken) law on the same runs, so a
break can be tested by LOO (:func:`bayes_scaling.queries.compare_laws.break_test`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, check_positive, pf_days_to_flops, real_array, seeded_rng
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import flat_draws
from bayes_scaling.laws.registry import counterpart_law  # noqa: F401  (part of this module's answers)
from bayes_scaling.result import require_fit

#: Kaplan et al. 2020 Table 6: N_opt = 1.3e9 C_min^0.73 (C_min in PF-days), trained at C = 2 C_min.
KAPLAN_PATH = {"n_e": 1.3e9, "p_n": 0.73, "compute_factor": 2.0}


def _flat(result, name):
    return flat_draws(result.posterior[name])


def path_from_frontier(fit_ns) -> tuple[np.ndarray, np.ndarray]:
    """The compute-efficient path N = n_e C^p_n (C in PF-days) per draw of a ``kaplan_ns`` fit
    (Appendix B), flattened over (chain, draw): the alternative to Kaplan's Table 6 constants."""
    require_fit(fit_ns, "fit_ns", ensemble=False)
    from bayes_scaling.queries.kaplan_frontier import efficient_frontier

    ef = efficient_frontier(fit_ns, [1.0]).isel(budget=0)
    return flat_draws(ef["N_opt"]), flat_draws(ef["p_N"])


def contradiction_point(fit_c, fit_d, *, n_e=KAPLAN_PATH["n_e"], p_n=KAPLAN_PATH["p_n"],
                        compute_factor: float = KAPLAN_PATH["compute_factor"], seed: int = 0) -> xr.Dataset:
    """Posterior of Kaplan's contradiction point from a ``kaplan_c`` fit and a ``kaplan_d`` fit.

    The path N = n_e C^p_n is given as numbers (default: Kaplan's Table 6) or as per-draw arrays
    (e.g. :func:`path_from_frontier` of a ``kaplan_ns`` fit). Draws of independent posteriors are
    paired at random (seeded). Returns ``C_star``
    (PF-days), ``N_star`` (parameters), ``D_star`` (tokens) and ``L_star`` (in the fits' loss unit) over
    ``(chain, draw)`` of ``fit_c``; ``inf`` where the curves never meet (alpha_C <= alpha_D (1 - p_N)).
    """
    require_fit(fit_c, "fit_c", ensemble=False)
    require_fit(fit_d, "fit_d", ensemble=False)
    if not (fit_c.law.has("compute_law") and fit_d.law.has("data_law")):
        raise BayesScalingError(
            f"the contradiction point needs a kaplan_c fit and a kaplan_d fit, got {fit_c.law.name!r} and "
            f"{fit_d.law.name!r}"
        )
    if fit_c.loss_unit != fit_d.loss_unit:  # L(C) meets L(D) only with both losses in one unit
        raise BayesScalingError(f"the kaplan_c fit's losses are in {fit_c.loss_unit} and the kaplan_d fit's in "
                                f"{fit_d.loss_unit}: fit both with the same --loss-unit", quantity="loss_unit")
    compute_factor = check_positive("compute_factor must be a finite number > 0", compute_factor, "compute_factor")
    path_n_e, path_p_n = real_array(n_e), real_array(p_n)
    if path_n_e is None or path_p_n is None:
        raise BayesScalingError(f"n_e and p_n must be numbers or lists of numbers, got {n_e!r} and {p_n!r}"[:200],
                                quantity="n_e" if path_n_e is None else "p_n")
    try:
        n_e, p_n = np.broadcast_arrays(path_n_e, path_p_n)
    except ValueError:
        raise BayesScalingError("n_e and p_n must be one number each or arrays of the same length (one per path)",
                                quantity="n_e") from None
    if n_e.ndim != 1 or not (np.all((0 < n_e) & (n_e < np.inf)) and np.all((0 < p_n) & (p_n < 1))):
        raise BayesScalingError("the compute-efficient path needs finite n_e > 0 and 0 < p_n < 1", quantity="n_e")
    shape = (fit_c.posterior.sizes["chain"], fit_c.posterior.sizes["draw"])
    size = shape[0] * shape[1]
    rng = seeded_rng(seed)
    idx = rng.choice(fit_d.posterior.sizes["chain"] * fit_d.posterior.sizes["draw"], size=size, replace=True)
    path = rng.choice(n_e.size, size=size, replace=True) if n_e.size > 1 else np.zeros(size, int)
    n_e, p_n = n_e[path], p_n[path]
    a_c, log_cc = _flat(fit_c, "alpha_C"), np.log(_flat(fit_c, "C_c"))
    a_d, log_dc = _flat(fit_d, "alpha_D")[idx], np.log(_flat(fit_d, "D_c"))[idx]
    # log D(C) = log_k + (1 - p_n) log C, C in PF-days. 6 stays (not the fit's cost law): Kaplan et al. 2020 define
    # C_min and its compute-efficient path N_e C^p_n with C = 6 N B S (§2.1, §6), and these fits are theirs
    log_k = np.log(pf_days_to_flops(compute_factor) / (FLOPS_PER_PARAM_TOKEN * n_e))
    denom = a_c - a_d * (1 - p_n)
    meets = denom > 0
    x = np.where(meets, (a_c * log_cc - a_d * log_dc + a_d * log_k) / np.where(meets, denom, 1.0), np.inf)
    c_star = np.exp(x)
    n_star = n_e * c_star ** p_n
    d_star = np.exp(log_k + (1 - p_n) * np.where(meets, x, np.inf))
    l_star = np.where(meets, np.exp(a_c * (log_cc - np.where(meets, x, 0.0))), np.nan)
    dims = ("chain", "draw")
    ds = xr.Dataset({
        "C_star": (dims, c_star.reshape(shape), {"units": "PF-days of C_min"}),
        "N_star": (dims, n_star.reshape(shape), {"units": "parameters"}),
        "D_star": (dims, d_star.reshape(shape), {"units": "tokens"}),
        "L_star": (dims, l_star.reshape(shape), {"units": "nats/token"}),
    })
    ds.attrs.update({"n_e_median": float(np.median(n_e)), "p_n_median": float(np.median(p_n)),
                     "compute_factor": compute_factor, "p_never_meet": float(1 - meets.mean())})
    return ds


def prob_before(point: xr.Dataset, budget_pf_days: float) -> float:
    """P(the laws already contradict each other at a training budget): C* is a C_min value (Kaplan et al.
    2020 §6), while a run on the path costs ``compute_factor`` x C_min of training compute (Table 6: 2), so
    the budget (PF-days of training compute) is compared as C_min = budget / compute_factor: P(C* < that)."""
    if not isinstance(point, xr.Dataset) or "C_star" not in point:
        raise BayesScalingError("point must be the Dataset contradiction_point returns (with C_star)", quantity="point")
    budget_pf_days = check_positive("budget_pf_days must be a finite number of PF-days > 0", budget_pf_days,
                                    "budget_pf_days")
    return float((point["C_star"] < budget_pf_days / point.attrs["compute_factor"]).mean())
