"""Shared machinery of the Huber point fit and its bootstrap: optimiser coordinates, Latin-hypercube
starts, input checks, and the multi-start L-BFGS-B minimisation of the Huber objective."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping

import numpy as np
from scipy.optimize import minimize

from bayes_scaling.errors import BayesScalingError

#: Starts whose objective is within this relative distance of the best one "agree" (converged).
AGREE_RTOL = 1e-6
#: L-BFGS-B options of every start.
LBFGS_OPTS = {"maxiter": 3000, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20}
FD_STEP = 1e-6  # central-difference step for the Jacobian of the (smooth) log-loss in theta


# ------------------------------------------------------------------------------------------------
# Parametrisation: centred logs of the positive constants, logs of exponents and shapes
# ------------------------------------------------------------------------------------------------
class Coords:
    """Unconstrained optimiser coordinates ``theta`` for a law.

    ``theta`` = (each positive constant as the law's *centred* value at the reference log-inputs
    ``ref`` -- mostly the log of its own term there, see ``ScalingLaw.centre`` --, then the log of
    every exponent and shape parameter, and each real-valued offset as it is). Centring removes the
    strong log A <-> alpha correlation of raw coordinates (log N ~ 20), so L-BFGS-B is well
    conditioned and tolerances mean the same for every law.
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
        dp = {n: self._from_theta(n, col(self.k - len(self.direct) + j)) for j, n in enumerate(self.direct)}
        cen = {n: col(i) for i, n in enumerate(self.pos)}
        out = dict(self.law.uncentre(np, cen, dp, self.ref))
        out.update(dp)
        return out

    def from_p(self, p: Mapping[str, float]) -> np.ndarray:
        """The law's ``p`` to ``theta`` (k,)."""
        dp = {n: float(p[n]) for n in self.direct}
        cen = self.law.centre(np, {f"log_{n}": float(p[f"log_{n}"]) for n in self.pos}, dp, self.ref)
        return np.array([float(cen[n]) for n in self.pos] + [self._to_theta(n, dp[n]) for n in self.direct])

    def _from_theta(self, name: str, v):
        """A direct parameter from its coordinate: the log of a positive one, a real offset as is."""
        return v if name in self.law.offset_names else np.exp(v)

    def _to_theta(self, name: str, v: float) -> float:
        return v if name in self.law.offset_names else float(np.log(v))

    def bounds(self) -> list[tuple[float, float]]:
        out = [(-60.0, 60.0)] * len(self.pos)
        for n in self.direct:
            kind = self.law.param(n).kind
            wide = {"exponent": (np.log(1e-4), np.log(100.0)), "offset": (-5.0, 5.0)}
            out.append(wide.get(kind, (np.log(1e-3), np.log(1e3))))
        return out

    def box(self, x: dict[str, np.ndarray], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data-driven box (lo, hi) in ``theta`` that the starts are spread over.

        Loss floors: 2%-95% of the geometric-mean loss; other constants (the log of their term at
        the reference point): 1%-150% of it; break locations (BNSL ``d_i``): the data's range on
        the axis; exponents 0.03-2; shape parameters 0.03-30 (all on the log scale); offsets -1 to 1.
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
            starts = {"exponent": (np.log(0.03), np.log(2.0)), "offset": (-1.0, 1.0)}
            a, b = starts.get(kind, (np.log(0.03), np.log(30.0)))
            lo.append(a)
            hi.append(b)
        return np.array(lo), np.array(hi)


def one_blas_thread():
    """Limit BLAS to one thread while fitting: tiny L-BFGS-B problems only lose to thread start-up
    and oversubscription (several times slower on a loaded 2-core machine). No-op without
    threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def lhs(n: int, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Latin hypercube of ``n`` points in the box [lo, hi] (shape (n, k))."""
    k = len(lo)
    u = (np.argsort(rng.random((k, n)), axis=1).T + rng.random((n, k))) / n
    return lo + u * (hi - lo)


def prepare(law, log_inputs: Mapping[str, np.ndarray], log_loss) -> tuple[dict, np.ndarray]:
    """Checked, flattened ``({input: log-input}, log-loss)`` for ``law`` (one-line errors)."""
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
def objective(theta: np.ndarray, coords: Coords, x: dict, y: np.ndarray, delta: float):
    """Sum of Huber_delta(log L_hat - log L) / delta and its gradient in ``theta``.

    Dividing by delta keeps the objective about sum |r| (order 1) rather than ~delta |r| ~ 1e-5 per
    point, so the optimiser's relative tolerances act. The gradient is exact through the Huber
    function; the Jacobian of the (smooth) law is taken by central differences, all 2k+1
    evaluations in one vectorised call of the law.
    """
    k = coords.k
    h = FD_STEP
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


def multistart(coords: Coords, x, y, delta, starts: np.ndarray, extra: np.ndarray | None = None) -> dict:
    """L-BFGS-B from every start: the best minimum and the convergence counts of :class:`HuberFit`."""
    bounds = coords.bounds()
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    fs, xs, ok = [], [], 0
    with one_blas_thread():
        for s in starts:
            r = minimize(objective, np.clip(s, lo, hi), args=(coords, x, y, delta), jac=True,
                         method="L-BFGS-B", bounds=bounds, options=LBFGS_OPTS)
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
        with one_blas_thread():
            r = minimize(objective, np.clip(extra, lo, hi), args=(coords, x, y, delta), jac=True,
                         method="L-BFGS-B", bounds=bounds, options=LBFGS_OPTS)
        if r.fun < best_f - tol:
            out["extra_better"] = True
            best_f, best_x = float(r.fun), r.x
    out.update(f=best_f, theta=np.asarray(best_x, float))
    return out


def natural(law, p: Mapping) -> dict:
    """Law-convention ``p`` (scalars or arrays) to natural units (``{E: ..., A: ..., alpha: ...}``)."""
    return {k: (float(v) if np.ndim(v) == 0 else np.asarray(v)) for k, v in law.from_law_params(p).items()}

