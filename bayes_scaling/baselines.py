"""Frequentist baselines that backtests compare the Bayesian fits against, computed in the same run.

* :func:`huber_fit` -- Hoffmann et al. 2022 "Approach 3" point fit of any registered law: the sum of
  Huber_delta (delta = 1e-3) residuals of log-loss, L-BFGS-B from many starts.
* :func:`huber_bootstrap` / :func:`predict_interval` -- nonparametric bootstrap of that fit (every
  resample refitted from its own independent starts, never from the full-data optimum) and
  percentile intervals of the predicted loss at new inputs.
* :func:`m4_fit` / :func:`m4_predict` -- the M4 estimator of Alabdulmohsin, Neyshabur, Zhai 2022
  (arXiv:2209.06640) for single-axis curves.
* :func:`bnsl_point_fit` -- point fit of the 1-break broken power law (Caballero et al. 2022,
  law ``bnsl1_x``) on a single axis.

Units: inputs are passed as *natural logs* of the law's inputs in the law's units (parameters,
tokens, FLOPs -- or PF-days for ``kaplan_c`` --, a generic scale for ``X``); losses are in the
units of the data (nats/token for language-model losses, or an error rate). Parameters follow the
law convention (``p``): exponents and shape parameters as they are, every positive constant as
``log_<name>`` (natural log of the constant in its own units).

NumPy and SciPy only: no PyMC, no MCMC.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares, lsq_linear, minimize

from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.registry import get_law

__all__ = [
    "HUBER_DELTA",
    "HuberBootstrap",
    "HuberFit",
    "M4Fit",
    "bnsl_point_fit",
    "huber_bootstrap",
    "huber_fit",
    "m4_fit",
    "m4_predict",
    "predict_interval",
]

#: Huber threshold on log-loss residuals (Hoffmann et al. 2022, App. D.2).
HUBER_DELTA = 1e-3
#: Starts whose objective is within this relative distance of the best one "agree" (converged).
AGREE_RTOL = 1e-6
_LBFGS_OPTS = {"maxiter": 3000, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20}
_FD_STEP = 1e-6  # central-difference step for the Jacobian of the (smooth) log-loss in theta


# ------------------------------------------------------------------------------------------------
# Parametrisation: centred logs of the positive constants, logs of exponents and shapes
# ------------------------------------------------------------------------------------------------
class _Coords:
    """Unconstrained optimiser coordinates ``theta`` for a law.

    ``theta`` = (each positive constant as the law's *centred* value at the reference log-inputs
    ``ref`` -- mostly the log of its own term there, see ``ScalingLaw.centre`` --, then the log of
    every exponent and shape parameter). Centring removes the strong log A <-> alpha correlation
    of raw coordinates (log N ~ 20), so L-BFGS-B is well conditioned and tolerances mean the same
    for every law.
    """

    def __init__(self, law, ref: dict[str, float]):
        self.law = law
        self.ref = ref
        self.pos = tuple(law.positive_names)
        self.direct = tuple(law.direct_names)
        self.names = self.pos + self.direct
        self.k = len(self.names)

    def to_p(self, theta: np.ndarray) -> dict:
        """``theta`` of shape (k,) or (m, k) to the law's ``p`` (values of shape () or (m, 1))."""
        th = np.asarray(theta, float)
        col = (lambda i: th[i]) if th.ndim == 1 else (lambda i: th[:, i:i + 1])
        dp = {n: np.exp(col(self.k - len(self.direct) + j)) for j, n in enumerate(self.direct)}
        cen = {n: col(i) for i, n in enumerate(self.pos)}
        out = dict(self.law.uncentre(np, cen, dp, self.ref))
        out.update(dp)
        return out

    def from_p(self, p: Mapping[str, float]) -> np.ndarray:
        """The law's ``p`` to ``theta`` (k,)."""
        dp = {n: float(p[n]) for n in self.direct}
        cen = self.law.centre(np, {f"log_{n}": float(p[f"log_{n}"]) for n in self.pos}, dp, self.ref)
        return np.array([float(cen[n]) for n in self.pos] + [np.log(dp[n]) for n in self.direct])

    def bounds(self) -> list[tuple[float, float]]:
        out = [(-60.0, 60.0)] * len(self.pos)
        for n in self.direct:
            kind = self.law.param(n).kind
            out.append((np.log(1e-4), np.log(100.0)) if kind == "exponent" else (np.log(1e-3), np.log(1e3)))
        return out

    def box(self, x: dict[str, np.ndarray], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data-driven box (lo, hi) in ``theta`` that the starts are spread over.

        Loss floors: 2%-95% of the geometric-mean loss; other constants (the log of their term at
        the reference point): 1%-150% of it; break locations (BNSL ``d_i``): the data's range on
        the axis; exponents 0.03-2; shape parameters 0.03-30 (all on the log scale).
        """
        ly = float(np.mean(y))
        lo, hi = [], []
        for n in self.pos:
            kind = self.law.param(n).kind
            if kind == "loss":
                a, b = ly + np.log(0.02), ly + np.log(0.95)
            elif getattr(self.law, "n_breaks", 0) and re.fullmatch(r"d\d+", n):
                ax = x[self.law.axis]
                a, b = float(ax.min() - self.ref[self.law.axis]), float(ax.max() - self.ref[self.law.axis])
            else:
                a, b = ly + np.log(0.01), ly + np.log(1.5)
            lo.append(a)
            hi.append(b)
        for n in self.direct:
            kind = self.law.param(n).kind
            a, b = (np.log(0.03), np.log(2.0)) if kind == "exponent" else (np.log(0.03), np.log(30.0))
            lo.append(a)
            hi.append(b)
        return np.array(lo), np.array(hi)


def _one_blas_thread():
    """Limit BLAS to one thread while fitting: tiny L-BFGS-B problems only lose to thread start-up
    and oversubscription (several times slower on a loaded 2-core machine). No-op without
    threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _lhs(n: int, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Latin hypercube of ``n`` points in the box [lo, hi] (shape (n, k))."""
    k = len(lo)
    u = (np.argsort(rng.random((k, n)), axis=1).T + rng.random((n, k))) / n
    return lo + u * (hi - lo)


def _prepare(law, log_inputs: Mapping[str, np.ndarray], log_loss) -> tuple[dict, np.ndarray]:
    missing = [n for n in law.input_names if n not in log_inputs]
    if missing:
        raise BayesScalingError(f"law {law.name!r} needs log-inputs {missing} (natural logs, law units)")
    y = np.asarray(log_loss, float).ravel()
    x = {n: np.asarray(log_inputs[n], float).ravel() for n in law.input_names}
    for n, v in x.items():
        if v.shape != y.shape:
            raise BayesScalingError(f"log-input {n!r} has {v.size} values, log_loss has {y.size}")
    if not (np.all(np.isfinite(y)) and all(np.all(np.isfinite(v)) for v in x.values())):
        raise BayesScalingError("log-inputs and log-loss must be finite (pass natural logs of positive values)")
    return x, y


# ------------------------------------------------------------------------------------------------
# Huber objective with its gradient
# ------------------------------------------------------------------------------------------------
def _objective(theta: np.ndarray, coords: _Coords, x: dict, y: np.ndarray, delta: float):
    """Sum of Huber_delta(log L_hat - log L) / delta and its gradient in ``theta``.

    Dividing by delta keeps the objective about sum |r| (order 1) rather than ~delta |r| ~ 1e-5 per
    point, so the optimiser's relative tolerances act. The gradient is exact through the Huber
    function; the Jacobian of the (smooth) law is taken by central differences, all 2k+1
    evaluations in one vectorised call of the law.
    """
    k = coords.k
    h = _FD_STEP
    th = np.vstack([theta, theta + h * np.eye(k), theta - h * np.eye(k)])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        pred = np.asarray(coords.law.log_loss(np, x, coords.to_p(th)), float)
    pred = np.broadcast_to(pred, (2 * k + 1, y.size))
    r = pred[0] - y
    if not np.all(np.isfinite(pred)):
        return 1e30, np.zeros(k)
    ar = np.abs(r)
    f = float(np.where(ar <= delta, 0.5 * r * r / delta, ar - 0.5 * delta).sum())
    jac = (pred[1:k + 1] - pred[k + 1:]) / (2 * h)  # (k, n)
    grad = (jac * np.clip(r / delta, -1.0, 1.0)).sum(axis=1)
    return f, grad


def _multistart(coords: _Coords, x, y, delta, starts: np.ndarray, extra: np.ndarray | None = None) -> dict:
    """L-BFGS-B from every start; best minimum and convergence counts (see :class:`HuberFit`)."""
    bounds = coords.bounds()
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    fs, xs, ok = [], [], 0
    with _one_blas_thread():
        for s in starts:
            r = minimize(_objective, np.clip(s, lo, hi), args=(coords, x, y, delta), jac=True,
                         method="L-BFGS-B", bounds=bounds, options=_LBFGS_OPTS)
            fs.append(float(r.fun))
            xs.append(r.x)
            ok += bool(r.success)
    fs_arr = np.asarray(fs)
    i = int(np.argmin(fs_arr))
    best_f, best_x = float(fs_arr[i]), xs[i]
    tol = AGREE_RTOL * max(1.0, abs(best_f))
    agree = fs_arr <= best_f + tol
    out = {"n_starts": len(starts), "n_success": ok, "n_agree": int(agree.sum()), "extra_better": False}
    if extra is not None:
        with _one_blas_thread():
            r = minimize(_objective, np.clip(extra, lo, hi), args=(coords, x, y, delta), jac=True,
                         method="L-BFGS-B", bounds=bounds, options=_LBFGS_OPTS)
        if r.fun < best_f - tol:
            out["extra_better"] = True
            best_f, best_x = float(r.fun), r.x
    out.update(f=best_f, theta=np.asarray(best_x, float))
    return out


@dataclass(frozen=True)
class HuberFit:
    """Result of :func:`huber_fit`.

    ``p``: best parameters in the law convention (exponents/shapes as is, ``log_<name>`` for
    positive constants). ``objective``: sum of Huber_delta(residual of log-loss) / delta at the
    best start. Convergence: ``n_agree`` of ``n_starts`` starts reached the best objective within a
    relative 1e-6 (several independent starts agreeing is the convergence check); ``n_success``
    counts SciPy's success flags.
    """

    law: str
    p: dict[str, float]
    objective: float
    delta: float
    n_obs: int
    n_starts: int
    n_agree: int
    n_success: int
    ref: dict[str, float] = field(repr=False)
    theta: np.ndarray = field(repr=False)

    @property
    def params(self) -> dict[str, float]:
        """Parameters in natural units (E in loss units, A/B/... in their own units, exponents)."""
        return _natural(get_law(self.law), self.p)

    def predict_log(self, log_inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Natural log of the predicted loss at ``log_inputs`` (natural logs of the inputs)."""
        law = get_law(self.law)
        x = {n: np.asarray(log_inputs[n], float) for n in law.input_names}
        return np.asarray(law.log_loss(np, x, self.p), float)

    def predict(self, log_inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Predicted loss (units of the fitted loss) at ``log_inputs``."""
        return np.exp(self.predict_log(log_inputs))


def _natural(law, p: Mapping) -> dict:
    return {k: (float(v) if np.ndim(v) == 0 else np.asarray(v)) for k, v in law.from_law_params(p).items()}


def _start_array(coords: _Coords, starts, x, y, seed: int, default: int) -> np.ndarray:
    if starts is None or isinstance(starts, (int, np.integer)):
        n = default if starts is None else int(starts)
        if n < 1:
            raise BayesScalingError("starts must be a positive count or a list of parameter dicts")
        lo, hi = coords.box(x, y)
        return _lhs(n, lo, hi, np.random.default_rng(seed))
    return np.array([coords.from_p(s) for s in starts])


def huber_fit(law_name: str, log_inputs: Mapping[str, np.ndarray], log_loss, *, delta: float = HUBER_DELTA,
              starts: int | Sequence[Mapping[str, float]] | None = None, seed: int = 0) -> HuberFit:
    """Hoffmann-style (Approach 3) point fit of any registered law.

    Minimises sum_i Huber_delta(law.log_loss(x_i) - log_loss_i) over the law's parameters with
    L-BFGS-B from many starts, in centred log coordinates (see :class:`_Coords`).

    Parameters
    ----------
    law_name : a registered law (:func:`bayes_scaling.get_law`).
    log_inputs : ``{input: natural log of the input}`` in the law's units (N parameters, D tokens,
        C FLOPs or PF-days as the law says, U unique tokens, X any scale).
    log_loss : natural log of the observed loss (nats/token, or the data's own units).
    delta : Huber threshold on log-loss residuals (1e-3 as in Hoffmann et al. 2022).
    starts : number of Latin-hypercube starts over a data-driven box (default 48), or explicit
        starts as law-convention ``p`` dicts.
    seed : seed of the starts (the fit is deterministic given it).
    """
    law = get_law(law_name)
    x, y = _prepare(law, log_inputs, log_loss)
    ref = {n: float(np.mean(v)) for n, v in x.items()}
    coords = _Coords(law, ref)
    st = _start_array(coords, starts, x, y, seed, default=48)
    res = _multistart(coords, x, y, float(delta), st)
    p = {k: float(v) for k, v in coords.to_p(res["theta"]).items()}
    return HuberFit(law=law.name, p=p, objective=res["f"], delta=float(delta), n_obs=int(y.size),
                    n_starts=res["n_starts"], n_agree=res["n_agree"], n_success=res["n_success"], ref=ref,
                    theta=res["theta"])


# ------------------------------------------------------------------------------------------------
# Bootstrap
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HuberBootstrap:
    """Nonparametric bootstrap of :func:`huber_fit`.

    ``draws``: array (n_boot, k) of refitted parameters in the law convention, columns ``names``
    (``log_<name>`` for positive constants, exponents/shapes as is). ``point``: the full-data fit.
    Per resample: ``n_agree`` (how many of its ``starts_per_resample`` independent starts reached
    its best objective; 1 means unconfirmed) and ``extra_better`` (the full-data optimum, tried as
    an audit start only, beat all the independent starts -- ideally never).
    """

    law: str
    names: tuple[str, ...]
    draws: np.ndarray
    point: HuberFit
    n_agree: np.ndarray
    starts_per_resample: int
    extra_better: np.ndarray

    def p_draws(self) -> dict[str, np.ndarray]:
        """Draws as law-convention arrays ``{name: (n_boot,)}``."""
        return {n: self.draws[:, i] for i, n in enumerate(self.names)}

    def param_draws(self) -> dict[str, np.ndarray]:
        """Draws in natural units ``{E: ..., A: ..., alpha: ...}``."""
        return _natural(get_law(self.law), self.p_draws())

    def interval(self, prob: float = 0.95) -> dict[str, tuple[float, float]]:
        """Equal-tailed percentile interval of every parameter (natural units)."""
        q = [50 * (1 - prob), 50 * (1 + prob)]
        return {k: tuple(float(v) for v in np.percentile(d, q)) for k, d in self.param_draws().items()}


def huber_bootstrap(law_name: str, log_inputs: Mapping[str, np.ndarray], log_loss, *, n_boot: int = 200,
                    seed: int = 0, delta: float = HUBER_DELTA, starts_per_resample: int = 10,
                    point: HuberFit | None = None, point_starts: int | None = None) -> HuberBootstrap:
    """Bootstrap of the Huber point fit: rows resampled with replacement ``n_boot`` times.

    Each resample is refitted from ``starts_per_resample`` fresh Latin-hypercube starts over the
    data-driven box (new ones per resample), never from the full-data optimum: refits started at
    the optimum stop near it and the bootstrap then reports the start, not the uncertainty (20x
    too narrow on Epoch's Chinchilla data). The full-data optimum is tried only as an audit start
    (``extra_better``). Inputs and units as in :func:`huber_fit`; ``point`` reuses a full-data fit.
    """
    law = get_law(law_name)
    x, y = _prepare(law, log_inputs, log_loss)
    if point is None:
        point = huber_fit(law_name, log_inputs, log_loss, delta=delta, starts=point_starts, seed=seed)
    elif point.law != law.name or point.delta != float(delta):
        raise BayesScalingError(f"point fit is {point.law!r} with delta={point.delta}, not {law.name!r} with {delta}")
    coords = _Coords(law, point.ref)
    lo, hi = coords.box(x, y)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xB007]))
    n = y.size
    names = tuple(f"log_{k}" for k in coords.pos) + coords.direct
    draws = np.empty((n_boot, len(names)))
    agree = np.empty(n_boot, int)
    extra = np.zeros(n_boot, bool)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        xb = {k: v[idx] for k, v in x.items()}
        yb = y[idx]
        res = _multistart(coords, xb, yb, float(delta), _lhs(starts_per_resample, lo, hi, rng), extra=point.theta)
        pb = coords.to_p(res["theta"])
        draws[b] = [float(pb[k]) for k in names]
        agree[b] = res["n_agree"]
        extra[b] = res["extra_better"]
    return HuberBootstrap(law=law.name, names=names, draws=draws, point=point, n_agree=agree,
                          starts_per_resample=int(starts_per_resample), extra_better=extra)


def predict_interval(boot: HuberBootstrap, log_inputs: Mapping[str, np.ndarray], *, prob: float = 0.95) -> dict:
    """Point prediction and bootstrap percentile interval of the loss at new inputs.

    ``log_inputs``: natural logs of the new inputs (law units). Returns ``{"point": full-data fit,
    "median", "lower", "upper"}``, arrays of losses in the data's units (e.g. nats/token), the
    interval equal-tailed with probability ``prob``.
    """
    law = get_law(boot.law)
    x = {n: np.atleast_1d(np.asarray(log_inputs[n], float)) for n in law.input_names}
    pdraw = {k: v[:, None] for k, v in boot.p_draws().items()}
    lp = np.asarray(law.log_loss(np, x, pdraw), float)  # (n_boot, m)
    q = np.percentile(lp, [50 * (1 - prob), 50.0, 50 * (1 + prob)], axis=0)
    return {"point": boot.point.predict(x), "median": np.exp(q[1]), "lower": np.exp(q[0]), "upper": np.exp(q[2])}


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
