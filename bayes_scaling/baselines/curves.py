"""Baselines for a single learning curve: the M4 estimator of Alabdulmohsin, Neyshabur, Zhai 2022
(arXiv:2209.06640) and a point fit of the 1-break broken power law (Caballero et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, lsq_linear

from bayes_scaling.baselines.huber import HUBER_DELTA, HuberFit, huber_fit
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.registry import get_law


# ------------------------------------------------------------------------------------------------
# M4 (Alabdulmohsin, Neyshabur, Zhai 2022)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class M4Fit:
    """M4 estimator: (eps_x - eps_inf) / (eps_0 - eps_x)^alpha = beta x^c, with c <= 0, alpha >= 0.

    ``eps_inf`` (limiting loss/error as x grows) and ``eps_0`` (loss/error of random guessing) are
    in the units of y; ``beta`` in (y units)^(1 - alpha) per (x units)^c. ``rmse_log``: RMS of
    log(predicted y) - log(y) over the fitted points. ``n_agree`` of ``n_starts`` starts reached
    the best objective (relative 1e-6).
    """

    beta: float
    c: float
    alpha: float
    eps_inf: float
    eps_0: float
    rmse_log: float
    n_starts: int
    n_agree: int


def _m4_solve_log_w(log_f, alpha, b):
    """log w solving w / (b - w)^alpha = f (w in (0, b)), elementwise.

    h(s) = s - alpha log(b - e^s) - log f rises in s = log w; its root lies in
    [min(log f + alpha log(b/2), log(b/2)), min(log f + alpha log b, log b)] (as 0 <= w < b).
    Safeguarded Newton: a Newton step when it stays inside the current bracket, else bisection.
    """
    log_f, alpha, b = np.broadcast_arrays(np.asarray(log_f, float), np.asarray(alpha, float), np.asarray(b, float))
    log_b = np.log(b)
    hi = np.minimum(log_f + alpha * log_b, log_b)
    lo = np.minimum(log_f + alpha * (log_b - np.log(2.0)), log_b - np.log(2.0))
    s = 0.5 * (lo + hi)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(60):
            w = np.exp(s)
            h = s - alpha * np.log(b - w) - log_f
            pos = ~(h <= 0)  # nan (w >= b by rounding) counts as above the root
            hi = np.where(pos, s, hi)
            lo = np.where(pos, lo, s)
            s_new = s - h / (1.0 + alpha * w / (b - w))
            ok = np.isfinite(s_new) & (s_new >= lo) & (s_new <= hi)
            s_next = np.where(ok, s_new, 0.5 * (lo + hi))
            done = np.all(np.abs(s_next - s) <= 1e-14 * np.maximum(1.0, np.abs(s)))
            s = s_next
            if done:
                break
    return s


def _m4_log_pred(lx, log_beta, c, alpha, e_inf, e_0):
    """log of the M4 prediction at log data sizes ``lx``."""
    s = _m4_solve_log_w(log_beta + c * lx, alpha, e_0 - e_inf)
    return np.log(e_inf + np.exp(s))


def m4_fit(x, y, *, eps0: float | None = None, lower: float = 0.0, seed: int = 0) -> M4Fit:
    """Fit M4 to one learning curve: ``x`` data size (any positive scale), ``y`` loss or error rate.

    The original (google-research ``revisiting_neural_scaling_laws/methods/m4.py``) alternates
    least squares for (log beta, c, alpha) in the log-linearised equation with gradient/Newton
    steps on (eps_inf, eps_0), then predicts by solving the implicit equation. Here, a robust
    equivalent: least squares of log(predicted y) - log(y), the prediction solving the implicit
    equation exactly, over (log beta, c <= 0, alpha >= 0, eps_inf in (lower, min y) and, unless
    ``eps0`` fixes it -- 1.0 for error rates --, eps_0 > max y). Multi-start: a grid of
    (eps_inf, eps_0), each started from the log-linearised least squares (as in the original).
    """
    lx = np.log(np.asarray(x, float).ravel())
    y = np.asarray(y, float).ravel()
    ly = np.log(y)
    if lx.size != y.size or y.size < 4:
        raise BayesScalingError("m4_fit needs x and y of the same length, at least 4 points")
    if np.any(y <= lower):
        raise BayesScalingError(f"m4_fit needs y above lower={lower}")
    ymin, ymax = float(y.min()), float(y.max())
    if eps0 is not None and eps0 <= ymax:
        raise BayesScalingError(f"eps0={eps0} must exceed the largest observed value {ymax}")
    span = ymax - ymin if ymax > ymin else abs(ymax)
    fixed0 = eps0 is not None

    # unconstrained u = (log beta, log(-c), log alpha, logit of eps_inf in (lower, ymin)[, log of eps_0 - ymax])
    def unpack(u):
        u = np.clip(u, -40.0, 40.0)
        e_inf = lower + (ymin - lower) / (1.0 + np.exp(-u[3]))
        e_0 = float(eps0) if fixed0 else ymax + span * np.exp(u[4])
        return u[0], -np.exp(u[1]), np.exp(u[2]), e_inf, e_0

    def resid_jac(u):
        """Residuals log(pred) - log(y) and their exact Jacobian in u (implicit differentiation of
        h(s) = s - alpha log(b - e^s) - log beta - c log x = 0 for s = log w, b = eps_0 - eps_inf)."""
        lb, c, alpha, e_inf, e_0 = unpack(u)
        b = e_0 - e_inf
        s_ = _m4_solve_log_w(lb + c * lx, alpha, b)
        w = np.exp(s_)
        with np.errstate(divide="ignore", invalid="ignore"):
            bw = b - w
            h_s = 1.0 + alpha * w / bw
            dp_ds = w / (e_inf + w)
            ds = np.column_stack([np.ones_like(lx), lx, np.log(bw), alpha / bw]) / h_s[:, None]  # lb, c, alpha, b
            uc = np.clip(u, -40.0, 40.0)
            sig = 1.0 / (1.0 + np.exp(-uc[3]))
            cols = [dp_ds * ds[:, 0], dp_ds * ds[:, 1] * c, dp_ds * ds[:, 2] * alpha,
                    (1.0 / (e_inf + w) - dp_ds * ds[:, 3]) * (ymin - lower) * sig * (1.0 - sig)]
            if not fixed0:
                cols.append(dp_ds * ds[:, 3] * (e_0 - ymax))
            r = np.log(e_inf + w) - ly
            jac = np.column_stack(cols)
        bad = ~np.isfinite(r) | ~np.all(np.isfinite(jac), axis=1)
        return np.where(bad, 1e3, r), np.where(bad[:, None], 0.0, jac)

    cache: dict = {}

    def cached(u):
        key = u.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = resid_jac(u)
        return cache[key]

    def resid(u):
        return cached(u)[0]

    def jac(u):
        return cached(u)[1]

    def linearised_start(e_inf, e_0):
        a = np.column_stack([np.ones_like(lx), lx, np.log(e_0 - y)])
        t = np.log(y - e_inf)
        cf = lsq_linear(a, t, bounds=([-np.inf, -5.0, 1e-3], [np.inf, -1e-3, 20.0]), method="bvls").x
        return cf[0], np.log(-cf[1]), np.log(cf[2])

    fr_inf = (0.0, 0.5, 0.8, 0.95)
    fr_0 = (0.1,) if fixed0 else (0.02, 0.3, 3.0)
    fits = []
    for fi in fr_inf:
        e_inf = lower + fi * (ymin - lower)
        for f0 in fr_0:
            e_0 = float(eps0) if fixed0 else ymax + f0 * span
            u0 = [*linearised_start(e_inf, e_0), np.log(max(fi, 1e-3) / max(1 - fi, 1e-3))]
            if not fixed0:
                u0.append(np.log(f0))
            r = least_squares(resid, np.asarray(u0), jac=jac, method="trf", x_scale="jac", xtol=1e-12,
                              ftol=1e-12, gtol=1e-12, max_nfev=2000)
            fits.append((float(np.sum(r.fun ** 2)), r.x))
    fs = np.array([f for f, _ in fits])
    best = fits[int(np.argmin(fs))]
    log_beta, c, alpha, e_inf, e_0 = unpack(best[1])
    n_agree = int(np.sum(fs <= best[0] * (1 + 1e-6) + 1e-14))
    return M4Fit(beta=float(np.exp(log_beta)), c=float(c), alpha=float(alpha), eps_inf=float(e_inf),
                 eps_0=float(e_0), rmse_log=float(np.sqrt(best[0] / y.size)), n_starts=len(fits), n_agree=n_agree)


def m4_predict(fit: M4Fit, x_new) -> np.ndarray:
    """Loss/error (units of the fitted y) at data sizes ``x_new`` (units of the fitted x).

    Solves w / (b - w)^alpha = beta x^c for w = eps - eps_inf, b = eps_0 - eps_inf: the left side
    rises from 0 to infinity on (0, b), so the root is unique (bisection in log w, then Newton);
    the prediction falls monotonically in x because beta x^c does (c <= 0).
    """
    lx = np.log(np.asarray(x_new, float))
    return np.exp(_m4_log_pred(lx, np.log(fit.beta), fit.c, fit.alpha, fit.eps_inf, fit.eps_0))


# ------------------------------------------------------------------------------------------------
# BNSL point fit
# ------------------------------------------------------------------------------------------------
def bnsl_point_fit(x, y, *, law: str = "bnsl1_x", delta: float = HUBER_DELTA, starts: int = 96,
                   seed: int = 0) -> HuberFit:
    """Point fit of a broken power law (Caballero et al. 2022) to one curve.

    ``x``: scale (e.g. training-set size, any positive units); ``y``: loss/error (positive, data
    units). Huber_delta on log y (:func:`huber_fit`) from ``starts`` Latin-hypercube starts whose
    break locations spread over the observed range of x. Predict with
    ``fit.predict({"X": np.log(x_new)})``.
    """
    lw = get_law(law)
    if len(lw.input_names) != 1:
        raise BayesScalingError(f"bnsl_point_fit needs a single-axis law, not {law!r}")
    ax = lw.input_names[0]
    return huber_fit(law, {ax: np.log(np.asarray(x, float))}, np.log(np.asarray(y, float)), delta=delta,
                     starts=starts, seed=seed)
