"""Predicted loss at new (N, D, C): the law's value and the posterior predictive of a new run.

Both keep ``chain`` and ``draw`` (dims ``chain, draw, query``), so every answer carries its
interval. Evaluation uses the same law function as the PyMC graph, in NumPy.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, PF_DAY_FLOPS, QUERY_DIM
from bayes_scaling.errors import BayesScalingError


def query_inputs(law, N=None, D=None, C=None, **extra) -> dict[str, dict[str, np.ndarray]]:
    """Query values and natural-log law inputs, completing N/D/C with C = 6ND. C is in FLOPs;
    ``extra`` holds further inputs (``U`` unique tokens, ``X`` scale axis)."""

    def arr(name, v):
        if v is None:
            return None
        try:
            a = np.atleast_1d(np.asarray(v, dtype=float))
        except (TypeError, ValueError):
            raise BayesScalingError(f"{name} must be a number or a list of numbers, got {v!r}") from None
        if a.ndim != 1:
            raise BayesScalingError(f"{name} must be a number or a flat list of numbers, got shape {a.shape}")
        if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise BayesScalingError(f"{name} must be finite and > 0, got {v!r}")
        return a

    N, D, C = arr("params N", N), arr("tokens D", D), arr("compute C", C)
    extra = {k: arr(k, v) for k, v in extra.items()}
    try:
        np.broadcast_shapes(*(v.shape for v in (N, D, C, *extra.values()) if v is not None))
    except ValueError:
        raise BayesScalingError("query inputs must have the same number of values (or one value each)") from None
    if N is not None and D is not None and C is not None:
        implied = FLOPS_PER_PARAM_TOKEN * N * D
        if not np.allclose(C, implied, rtol=1e-3, atol=0.0):
            raise BayesScalingError("N, D and C disagree (C must be 6ND FLOPs): give two of them, not all three")
    if D is None and N is not None and C is not None:
        D = C / (FLOPS_PER_PARAM_TOKEN * N)
    if N is None and D is not None and C is not None:
        N = C / (FLOPS_PER_PARAM_TOKEN * D)
    if C is None and N is not None and D is not None:
        C = FLOPS_PER_PARAM_TOKEN * N * D
    given = {"N": N, "D": D, "C": C, **extra}
    missing = [k for k in law.input_names if given.get(k) is None]
    if missing:
        flags = {"N": "--params", "D": "--tokens", "C": "--compute", "U": "--unique-tokens", "X": "--x", "S": "--steps"}
        raise BayesScalingError(
            f"law {law.name!r} needs {', '.join(missing)} to predict: give {' '.join(flags[m] for m in missing)}"
            + (" (or two of N, D, C, with C = 6ND)" if set(missing) <= {"N", "D", "C"} else "")
        )
    present = {k: v for k, v in given.items() if v is not None}
    try:
        shape = np.broadcast_shapes(*(v.shape for v in present.values()))
    except ValueError:
        raise BayesScalingError("query inputs must have the same number of values (or one value each)") from None
    values = {k: np.broadcast_to(v, shape) for k, v in present.items()}
    logs = {k: np.log(values[k] / (PF_DAY_FLOPS if (k == "C" and law.compute_unit == "PF-days") else 1.0))
            for k in law.input_names}
    return {"values": values, "logs": logs}


def noise_draws(likelihood, rng: np.random.Generator, shape) -> np.ndarray:
    """Standardised run-to-run noise of the likelihood (Student-t with its nu, Normal, or Laplace with
    scale 1), ``shape``."""
    if likelihood.family == "student_t":
        return rng.standard_t(likelihood.nu, size=shape)
    if likelihood.family == "laplace":
        return rng.laplace(0.0, 1.0, size=shape)
    if likelihood.family == "normal":
        return rng.standard_normal(shape)
    raise BayesScalingError(f"likelihood family must be student_t, normal or laplace, got {likelihood.family!r}")


def predict_loss(result, N=None, D=None, C=None, *, seed: int | None = None, group: str | None = None,
                 covariates: dict[str, float] | None = None, **extra) -> xr.Dataset:
    """Posterior of the law's loss and of a new run's observed loss at each query point.

    ``N`` in parameters, ``D`` in tokens, ``C`` in FLOPs (scalars or equal-length arrays).
    Returns a Dataset with ``loss`` (the law, nats/token) and ``loss_predictive`` (law plus the
    fitted run-to-run noise, plus the extrapolation discrepancy when the fit carries one), dims
    ``(chain, draw, query)``, and the query's N, D, C as coords.
    ``group`` (hierarchical fits): a group label, ``"new"`` for an unseen group, ``None`` for the
    population. ``covariates`` (fits with covariates): values such as ``{"log_aspect_ratio": 3.5}`` (one
    number, or one per query point); those not given stay at the runs' mean (no effect).
    """
    law = result.law
    q = query_inputs(law, N, D, C, **extra)
    params = result.law_params(group, seed=0 if seed is None else seed)
    x = {k: xr.DataArray(v, dims=QUERY_DIM) for k, v in q["logs"].items()}
    log_mu = law.log_loss(np, x, params)
    cov = result.covariates
    if covariates:
        if cov is None:
            raise BayesScalingError("this fit has no covariates; fit with --shape-cols or --covariate to use them")
        unknown = sorted(set(covariates) - set(cov["names"]))
        if unknown:
            raise BayesScalingError(f"unknown covariate(s) {unknown}; the fit's covariates are {cov['names']}")
        n_query = next(iter(q["logs"].values())).shape[0]
        try:
            shift = np.stack([np.broadcast_to(np.asarray(covariates.get(n, m), float) - m, (n_query,))
                              for n, m in zip(cov["names"], cov["means"])])
        except ValueError:
            raise BayesScalingError(f"covariate values must be one number or one per query point ({n_query})") from None
        log_mu = log_mu + xr.DataArray(shift, dims=("covariate", QUERY_DIM)).dot(result.posterior["gamma"],
                                                                                  dim="covariate")
    log_mu = log_mu.transpose("chain", "draw", QUERY_DIM)
    sigma = result.posterior["sigma"]
    rng = np.random.default_rng(result.sampler_config.get("seed", 0) + 1 if seed is None else seed)
    shape = log_mu.shape
    log_pred = log_mu + sigma * xr.DataArray(noise_draws(result.spec.likelihood, rng, shape), dims=log_mu.dims)
    disc = result.discrepancy
    if disc is not None:  # model discrepancy beyond the data (calibrated by leave-future-out)
        s = disc.scale(q["values"][disc.axis])
        log_pred = log_pred + s * xr.DataArray(rng.standard_normal(shape), dims=log_mu.dims)
    coords = {f"{k}": (QUERY_DIM, v) for k, v in q["values"].items()}
    ds = xr.Dataset({"loss": np.exp(log_mu), "loss_predictive": np.exp(log_pred.transpose(*log_mu.dims))})
    ds = ds.assign_coords(coords)
    ds["loss"].attrs["units"] = "nats/token"
    ds["loss_predictive"].attrs["units"] = "nats/token"
    for k, unit in (("N", "parameters"), ("D", "tokens"), ("C", "FLOPs"), ("U", "unique tokens")):
        if k in ds.coords:
            ds[k].attrs["units"] = unit
    return ds


def log_mu_at_runs(result, runs, *, seed: int = 0) -> xr.DataArray:
    """The law's log-loss at each run of a runs table (dims chain, draw, run), as the fit sees it:
    each run's own group when the fit has groups (an unseen group gets ``"new"``'s draws), and its
    covariate values centred as in the fit."""
    from bayes_scaling.conventions import RUN_DIM

    law = result.law
    logs = runs.log_inputs(law.compute_unit)
    x = {k: xr.DataArray(logs[k], dims=RUN_DIM) for k in law.input_names}
    h = result.hierarchy
    if h is None:
        labels = np.array([None] * len(runs))
    else:
        if h["group_col"] not in runs.frame:
            raise BayesScalingError(f"the runs lack the fit's group column {h['group_col']!r}")
        labels = runs.frame[h["group_col"]].astype(str).to_numpy()
    out = None
    for label in dict.fromkeys(labels):
        group = None if label is None else (label if label in h["groups"] else "new")
        sel = np.flatnonzero(labels == label) if label is not None else np.arange(len(runs))
        mu = law.log_loss(np, {k: v.isel({RUN_DIM: sel}) for k, v in x.items()}, result.law_params(group, seed=seed))
        mu = mu.transpose("chain", "draw", RUN_DIM).assign_coords({RUN_DIM: sel})
        out = mu if out is None else xr.concat([out, mu], dim=RUN_DIM)
    out = out.sortby(RUN_DIM)
    cov = result.covariates
    if cov is not None:
        shift = np.column_stack([runs.frame[n].to_numpy(float) - m for n, m in zip(cov["names"], cov["means"])])
        out = out + xr.DataArray(shift, dims=(RUN_DIM, "covariate")).dot(result.posterior["gamma"], dim="covariate")
    return out.transpose("chain", "draw", RUN_DIM).drop_vars(RUN_DIM)


def predictive_at_runs(result, runs, *, seed: int = 0) -> np.ndarray:
    """Posterior predictive draws of each run's loss (nats/token; array run x draws): the law at the
    run (see :func:`log_mu_at_runs`), the fitted noise and, when the fit carries one, the
    extrapolation discrepancy."""
    log_mu = log_mu_at_runs(result, runs, seed=seed)
    rng = np.random.default_rng(seed)
    shape = log_mu.shape
    noise = noise_draws(result.spec.likelihood, rng, shape)
    log_pred = log_mu.values + result.posterior["sigma"].values[..., None] * noise
    disc = result.discrepancy
    if disc is not None:
        s = disc.scale(runs.frame[disc.axis].to_numpy(float)).values
        log_pred = log_pred + s * rng.standard_normal(shape)
    return np.exp(log_pred).reshape(-1, shape[-1]).T
