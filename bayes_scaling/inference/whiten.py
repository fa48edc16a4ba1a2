"""Big tables: sample an affinely whitened copy of the model, started at the posterior mode.

A fit of a learning-curve table (1e4-1e6 rows) spends most of its gradients in early warmup: the
chains start at the prior's support point with an identity mass matrix, while the posterior is
concentrated to ~1e-3 of the unconstrained scale and correlated, so NUTS runs deep trees of tiny
steps until the mass matrix adapts. Every gradient is a pass over all the rows.

Here the sampler's coordinates are ``z`` with the model's unconstrained vector ``x = m + L z``:
``m`` is the posterior mode (L-BFGS on the compiled log density, then Newton steps) and ``L`` the
Cholesky factor of the inverse of minus the Hessian there (central differences of the gradient).
The map is affine, so its Jacobian is constant and the posterior is exactly the model's (the same
target, another parameterisation; the trace holds the same named variables). In ``z`` a big
table's near-Gaussian posterior is close to a standard normal: chains start inside it (the usual
+-1 jitter around ``z = 0``), the identity mass matrix is already right, the trees are shallow
from the first draw, and a short warmup suffices (:data:`BIG_TUNE`); the diagnostics judge it as
any fit, and a failed one is retried with longer tuning as usual.

``m`` and ``L`` are data containers (``white_mean``, ``white_chol``), so the compiled graph is the
same for every table of a spec and reused or loaded from the disk cache. Tables under
:data:`BIG_TABLE_ROWS` rows are fitted as before (their draws are unchanged).

Backend (``$BAYES_SCALING_BIG_BACKEND``: ``auto`` = ``numba``, the default; ``jax``; or ``off``: big
tables sampled as small ones, the route before this module): the log density of a big table is one
pass over its rows per gradient. numba's kernel calls scalar libm functions (~30-50 ns per row for
the Chinchilla law with Student-t noise) and its chains run in parallel, one per core; JAX's XLA code
calls vectorised ones (~2x fewer seconds per row) but nutpie calls it from Python, so its chains
share about one core (measured: CPU seconds = wall seconds on 2 cores). On 2 cores the two are
close at 1e5 rows; with more cores numba wins. ``jax`` needs the optional ``jax`` package.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import os

import numpy as np

from bayes_scaling.errors import BayesScalingError, raise_received_interrupt

#: Tables with at least this many rows are sampled whitened from a pilot mode (ladders of runs, with
#: hundreds of rows, never are).
BIG_TABLE_ROWS = 10_000
#: Default tuning steps per chain of a whitened fit (an explicit ``tune`` is kept).
BIG_TUNE = 200
WHITE_Z, WHITE_MEAN, WHITE_CHOL = "white_z", "white_mean", "white_chol"
BACKEND_ENV = "BAYES_SCALING_BIG_BACKEND"


def big_backend() -> str:
    """``"jax"``, ``"numba"`` or ``"off"``: the backend of whitened big-table fits (module docstring)."""
    value = (os.environ.get(BACKEND_ENV) or "auto").strip().lower()
    if value not in ("auto", "numba", "jax", "off"):
        raise BayesScalingError(f"{BACKEND_ENV} must be auto, numba, jax or off; got {value!r}")
    if value in ("numba", "off"):
        return value
    if value == "jax" and importlib.util.find_spec("jax") is None:
        raise BayesScalingError(f"{BACKEND_ENV}=jax needs the optional jax package (pip install jax)")
    return "jax" if value == "jax" else "numba"


def is_big(n_rows: int) -> bool:
    """Is a table of ``n_rows`` rows fitted by the whitened route?"""
    return int(n_rows) >= BIG_TABLE_ROWS and big_backend() != "off"


def feed(compiled, **data):
    """``compiled.with_data(**data)``; for a JAX model the arrays become JAX arrays once here (fed as
    NumPy arrays, every gradient would copy them: 24 MB per call at 1e6 rows)."""
    if not hasattr(compiled, "compiled_logp_func"):
        import jax.numpy as jnp

        data = {k: jnp.asarray(v) for k, v in data.items()}
    return compiled.with_data(**data)


def whitened_model(model):
    """A PyMC model of ``z`` (flat, one vector) whose log density is ``model``'s at ``x = m + L z``,
    with every free variable and deterministic of ``model`` as a deterministic (same names, dims)."""
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace

    value_vars = list(model.value_vars)
    point = model.initial_point()
    shapes = [tuple(np.shape(point[v.name])) for v in value_vars]
    sizes = [int(np.prod(s, dtype=int)) for s in shapes]
    n = sum(sizes)
    named = [*model.free_RVs, *model.deterministics]
    outputs = [model.logp(), *model.replace_rvs_by_values(named)]
    dims = model.named_vars_to_dims
    with pm.Model(coords=model.coords) as white:
        mean = pm.Data(WHITE_MEAN, np.zeros(n))
        chol = pm.Data(WHITE_CHOL, np.eye(n))
        z = pm.Flat(WHITE_Z, shape=(n,))
        x = mean + pt.dot(chol, z)
        replace, start = {}, 0
        for v, shape, size in zip(value_vars, shapes, sizes):
            replace[v] = x[start:start + size].reshape(shape)
            start += size
        new = graph_replace(outputs, replace, strict=False)
        pm.Potential("model_logp", new[0])
        for var, graph in zip(named, new[1:]):
            pm.Deterministic(var.name, graph, dims=dims.get(var.name))
    return white, np.concatenate([np.ravel(point[v.name]) for v in value_vars])


class _Density:
    """``log p(m + L z)`` and its gradient in ``z`` through the compiled model's C callback."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.n = compiled.n_dim
        self.calls = 0
        if hasattr(compiled, "compiled_logp_func"):  # numba: nutpie's C callback
            self.fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_void_p, ctypes.c_void_p)(compiled.compiled_logp_func.address)
        else:  # jax: nutpie's Python callback (nutpie 0.16's PyFuncModel)
            self.fn = None
            self.py_fn = compiled._make_logp_func()

    def __call__(self, z):
        z = np.ascontiguousarray(z, dtype=float)
        self.calls += 1
        if self.fn is None:
            try:
                logp, grad = self.py_fn(z, **self.compiled._shared_data)
            except (ValueError, FloatingPointError, ArithmeticError):
                return -np.inf, np.zeros(self.n)
            logp, grad = np.asarray(logp, float)[()], np.asarray(grad, float)
        else:
            grad, out = np.empty(self.n), np.empty(1)
            rc = self.fn(self.n, z.ctypes.data, grad.ctypes.data, out.ctypes.data,
                         self.compiled.user_data.ctypes.data)
            logp = out[0] if rc == 0 else -np.inf
        if not np.isfinite(logp) or not np.all(np.isfinite(grad)):
            return -np.inf, np.zeros(self.n)
        return float(logp), grad


def _laplace_at(density, z, steps):
    """(covariance, its Cholesky factor) of the Laplace approximation at ``z`` (finite-difference
    Hessian with ``steps``), or None when the Hessian is not negative definite there."""
    h = _hessian(density, z, steps)
    if h is None:
        return None
    try:
        cov = np.linalg.inv(-h)
        return cov, np.linalg.cholesky(0.5 * (cov + cov.T))
    except np.linalg.LinAlgError:
        return None


def _hessian(density, z, steps):
    """Symmetrised central-difference Hessian of the log density at ``z`` (steps per coordinate)."""
    n = len(z)
    h = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = steps[i]
        lp_p, g_p = density(z + e)
        lp_m, g_m = density(z - e)
        if not (np.isfinite(lp_p) and np.isfinite(lp_m)):
            return None
        h[i] = (g_p - g_m) / (2 * steps[i])
    return 0.5 * (h + h.T)


@dataclasses.dataclass(frozen=True)
class Pilot:
    """The mode ``mean`` (unconstrained) and ``chol`` (Cholesky factor of the Laplace covariance)."""

    mean: np.ndarray
    chol: np.ndarray
    gradients: int
    max_grad_z: float


def pilot(compiled, start: np.ndarray, max_iter: int = 500) -> Pilot | None:
    """Posterior mode and Laplace covariance of the whitened model ``compiled`` (fed the data), from
    the unconstrained point ``start``; None when the log density has no usable maximum there (a
    Hessian that is not negative definite), in which case the caller samples the usual way."""
    from scipy.optimize import minimize

    n = compiled.n_dim
    density = _Density(feed(compiled, **{WHITE_MEAN: np.asarray(start, float), WHITE_CHOL: np.eye(n)}))

    def neg(z):
        lp, g = density(z)
        raise_received_interrupt()
        return (1e300, np.zeros(n)) if not np.isfinite(lp) else (-lp, -g)

    res = minimize(neg, np.zeros(n), jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": 1e-9,
                                                                                 "ftol": 1e-15})
    z = res.x
    if not np.isfinite(neg(z)[0]) or neg(z)[0] >= 1e300:
        return None
    # Newton steps with a finite-difference Hessian; the step sizes follow the current scale estimate
    steps = np.full(n, 1e-4)
    for _ in range(3):
        laplace = _laplace_at(density, z, steps)
        if laplace is None:
            return None
        cov, chol = laplace
        lp, g = density(z)
        step = cov @ g
        lp_new, _ = density(z + step)
        if np.isfinite(lp_new) and lp_new >= lp:
            z = z + step
        steps = np.maximum(1e-3 * np.sqrt(np.diag(cov)), 1e-12)
    lp, g = density(z)
    laplace = _laplace_at(density, z, steps)
    if laplace is None:
        return None
    cov, chol = laplace
    mean = np.asarray(start, float) + z  # density was fed chol = I: x = start + z
    return Pilot(mean=mean, chol=chol, gradients=density.calls, max_grad_z=float(np.max(np.abs(chol.T @ g))))
