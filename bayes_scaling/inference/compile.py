"""Compile a PyMC model for nutpie, with the numba C callbacks cached on disk across processes.

nutpie samples through two numba ``cfunc`` callbacks (log density + gradient, and the expansion of
a draw into every traced variable) that wrap PyTensor's numba kernels. PyTensor caches its kernels
on disk, but nutpie's cfuncs close over per-process globals (random uuid field names, closures), so
numba cannot cache them and every new process spent 4-13 s compiling them again.

The ``"cached"`` route (the default) builds the same two callbacks from nutpie's own pieces, with
deterministic field names, and hands them to numba with ``cache=True`` under a key that names
everything the machine code depends on: PyTensor's cache keys of the two compiled graphs (graph,
constants, fastmath), the dimensions, the layout of the data record, and the numba, PyTensor and
nutpie versions (numba adds the CPU). The first process compiles and stores them in PyTensor's
numba cache folder (``<pytensor base_compiledir>/numba``); later processes load them in
milliseconds.

The sampler, its random streams and the compiled code are the ones nutpie's own route produces,
so the draws are the same. The exception is the process that stores the callbacks: numba's stored
copy can differ from that process's own build in the last bit, and the chains then diverge (the
same posterior, other draws). PyTensor's kernel cache already does this, on both routes.

The ``"nutpie"`` route is ``nutpie.compile_pymc_model`` unchanged. It is kept for comparison, and
it is the fallback when a graph has no PyTensor cache key, or when nutpie's internals differ from
the 0.16 series this module was written against.

Choose with ``BAYES_SCALING_COMPILE=cached|nutpie`` (default ``cached``).
"""

from __future__ import annotations

import hashlib
import os
import warnings

from bayes_scaling.errors import BayesScalingError

ROUTES = ("cached", "nutpie")
ROUTE_ENV = "BAYES_SCALING_COMPILE"
#: Bump when the callbacks built here change, so stale cache entries are never loaded.
CACHE_VERSION = "1"


def compile_route(route: str | None = None) -> str:
    """The compile route: ``route`` if given, else ``$BAYES_SCALING_COMPILE``, else ``"cached"``."""
    value = (route or os.environ.get(ROUTE_ENV) or "cached").strip().lower()
    if value not in ROUTES:
        raise BayesScalingError(f"{ROUTE_ENV} must be one of {', '.join(ROUTES)}; got {value!r}")
    return value


def compile_nutpie_model(model, *, jitter_rvs: set, route: str | None = None):
    """A nutpie ``CompiledPyMCModel`` of the PyMC ``model`` (jittered initial values for ``jitter_rvs``)."""
    import nutpie

    from bayes_scaling.files import keep_generated_source_in_cache

    keep_generated_source_in_cache()
    if compile_route(route) == "cached":
        compiled = _compile_cached(model, jitter_rvs)
        if compiled is not None:
            return compiled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        return nutpie.compile_pymc_model(model, jitter_rvs=jitter_rvs)


def compile_jax_model(model, *, jitter_rvs: set):
    """nutpie's JAX backend (log density and gradient by JAX, XLA's vectorised exp/log: ~2x fewer
    seconds per row than the numba kernel, but called from Python: the chains share about one core)
    with the data containers kept swappable (not frozen). Needs the optional ``jax`` package; only
    ``BAYES_SCALING_BIG_BACKEND=jax`` uses it."""
    import nutpie

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        return nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax", freeze_model=False,
                                         jitter_rvs=jitter_rvs)


def _nutpie_internals():
    """nutpie's compile module when it has the pieces this route reuses (nutpie 0.16), else None."""
    import nutpie
    import nutpie.compile_pymc as nc

    needed = ("_make_functions", "_make_c_logp_func", "_make_c_expand_func", "make_user_data",
              "_prepare_dims_and_coords", "_wrap_with_lock", "CompiledPyMCModel")
    if not nutpie.__version__.startswith("0.16.") or not all(hasattr(nc, n) for n in needed):
        return None
    return nc


def _cached_cfunc(raw, signature, name: str, key: str):
    """``numba.cfunc(signature, cache=True)`` of ``raw`` under PyTensor's cache locator with ``key``.

    ``raw`` is nutpie's callback body (a closure numba cannot cache); a one-line function compiled
    from source calls it, and PyTensor's locator files that function's machine code (``raw`` and
    the kernels it calls are linked in) under ``key`` instead of under a source file.
    """
    import numba
    from pytensor.link.numba.cache import compile_numba_function_src

    args = ", ".join(f"a{i}" for i in range(len(signature.args)))
    src = f"def {name}({args}):\n    return raw({args})\n"
    # __name__: numba rebuilds a cached function's environment by importing its module
    fn = compile_numba_function_src(src, name, global_env={"__name__": __name__, "raw": numba.njit(raw)},
                                    cache_key=f"{name}_{key}")
    with warnings.catch_warnings():
        # a graph holding large constant arrays (e.g. tables of ~1e5 rows or more) cannot be cached: numba
        # then compiles it in each process, as the "nutpie" route always does; not the user's concern
        warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=numba.NumbaWarning)
        return numba.cfunc(signature, cache=True)(fn)


def _compile_cached(model, jitter_rvs):
    """nutpie's numba compile with cacheable callbacks; None when the graph or nutpie does not allow it."""
    import nutpie
    import numba
    import numpy as np
    import pytensor
    from pymc.initial_point import make_initial_point_fn
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    nc = _nutpie_internals()
    if nc is None or not pytensor.config.numba__cache:
        return None
    # as nutpie.compile_pymc_model(model, jitter_rvs=...) with its defaults (numba backend, support points)
    init = nc._wrap_with_lock(make_initial_point_fn(model=model, jitter_rvs=jitter_rvs, default_strategy="support_point",
                                                    return_transformed=True))
    n_dim, n_expanded, logp_pt, expand_pt, init_fn, shape_info, reparam = nc._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=init)
    logp_fn, expand_fn = logp_pt.vm.jit_fn, expand_pt.vm.jit_fn
    graph_keys = [CACHED_SRC_FUNCTIONS.get(f.py_func) for f in (logp_fn, expand_fn)]
    if None in graph_keys:
        return None
    shared_data, keys = {}, {}
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var not in keys:
            keys[var] = f"d{len(keys)}"  # nutpie uses random uuids here, which defeat any cache
            value = np.array(var.get_value(), order="C", copy=True)
            value.flags.writeable = False
            shared_data[keys[var]] = value
    user_data = nc.make_user_data(keys, shared_data)
    logp_keys = [keys[v] for v in logp_pt.get_shared()]
    expand_keys = [keys[v] for v in expand_pt.get_shared()]
    layout = [(k, a.dtype.str, a.ndim) for k, a in shared_data.items()]
    versions = (numba.__version__, pytensor.__version__, nutpie.__version__, CACHE_VERSION)
    key = hashlib.sha256(repr((graph_keys, n_dim, n_expanded, user_data.dtype.descr, layout, logp_keys, expand_keys,
                               versions)).encode()).hexdigest()
    raw, sig = nc._make_c_logp_func(n_dim, logp_fn, user_data, logp_keys, shared_data)
    logp_c = _cached_cfunc(raw, sig, "bayes_scaling_logp", key)
    raw, sig = nc._make_c_expand_func(n_dim, n_expanded, expand_fn, user_data, expand_keys, shared_data)
    expand_c = _cached_cfunc(raw, sig, "bayes_scaling_expand", key)
    dims, coords = nc._prepare_dims_and_coords(model, shape_info, reparam)
    return nc.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords, _shapes={n: tuple(s) for n, _, s in zip(*shape_info)},
        compiled_logp_func=logp_c, compiled_expand_func=expand_c, initial_point_func=init_fn,
        shared_data=shared_data, shared_var_keys=keys, user_data=user_data, n_expanded=n_expanded,
        shape_info=shape_info, logp_func=logp_pt, expand_func=expand_pt, reparameterized_names=reparam)
