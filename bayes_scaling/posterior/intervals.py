"""Posterior summaries with explicit, equal-tailed credible intervals."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayes_scaling.conventions import CI_PROB, SAMPLE_DIMS, check_ci_prob


def interval_bounds(ci_prob: float) -> tuple[float, float]:
    """Quantile levels of the equal-tailed interval of mass ``ci_prob``."""
    p = check_ci_prob(ci_prob)
    return (1 - p) / 2, 1 - (1 - p) / 2


def flat_draws(da: xr.DataArray) -> np.ndarray:
    """The values of ``da`` with its other dims first (in order) and its ``chain`` x ``draw`` samples
    flattened, chain-major, onto the last axis."""
    others = [d for d in da.dims if d not in SAMPLE_DIMS]
    arr = da.transpose(*others, *SAMPLE_DIMS).values
    return arr.reshape(arr.shape[: len(others)] + (-1,))


def median_interval(draws, ci_prob: float = CI_PROB) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, lower, upper) of the equal-tailed ``ci_prob`` interval over the samples of ``draws``:
    an xarray object with ``chain`` and ``draw`` dims (the other dims kept, in order), or an array whose
    last axis holds the samples. NaN draws are skipped."""
    lo, hi = interval_bounds(ci_prob)
    arr = flat_draws(draws) if isinstance(draws, xr.DataArray) else np.asarray(draws, float)
    q = quantiles(arr, [0.5, lo, hi])
    return q[0], q[1], q[2]


def quantiles(arr, levels) -> np.ndarray:
    """Quantiles (linear interpolation) of the samples on the last axis of ``arr``, NaN samples
    skipped, levels first. Where both neighbouring order statistics are infinite (e.g. the compute
    for a loss below the floor of most draws: +inf), the answer is that infinity, never NaN."""
    arr = np.asarray(arr, float)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice gives NaN, said by the caller
        q = np.nanquantile(arr, levels, axis=-1)
        if np.isinf(arr).any():  # linear interpolation between two infs gives inf - inf = NaN
            q = np.where(np.isnan(q), np.nanquantile(arr, levels, axis=-1, method="inverted_cdf"), q)
    return q


def summarize(da: xr.DataArray, ci_prob: float = CI_PROB) -> xr.Dataset:
    """Median, mean, sd and the equal-tailed ``ci_prob`` interval over ``chain`` and ``draw``."""
    lo, hi = interval_bounds(ci_prob)
    others = [d for d in da.dims if d not in SAMPLE_DIMS]
    q = quantiles(flat_draws(da), [0.5, lo, hi])
    coords = {k: v for k, v in da.coords.items() if set(v.dims) <= set(others)}
    part = lambda i: xr.DataArray(q[i], dims=others, coords=coords)  # noqa: E731
    out = xr.Dataset(
        {
            "median": part(0),
            "mean": da.mean(SAMPLE_DIMS),  # +inf when any draw is +inf
            "sd": da.std(SAMPLE_DIMS, ddof=1),
            "ci_low": part(1),
            "ci_high": part(2),
        }
    )
    out.attrs["ci_prob"] = float(ci_prob)
    out.attrs["ci_kind"] = "equal-tailed"
    return out


def summary_record(da: xr.DataArray, ci_prob: float = CI_PROB) -> dict[str, float]:
    """One scalar quantity as ``{median, mean, ci_low, ci_high, ci_prob}`` (the JSON shape). When some
    draws are +inf (e.g. the compute for a loss below their floor), ``mean`` is +inf and the record adds
    ``p_infinite`` (the share of such draws) and ``mean_finite`` (the mean over the finite draws)."""
    s = summarize(da, ci_prob)
    out = {
        "median": float(s["median"]),
        "mean": float(s["mean"]),
        "ci_low": float(s["ci_low"]),
        "ci_high": float(s["ci_high"]),
        "ci_prob": float(ci_prob),
    }
    v = np.asarray(da.values, float)
    if np.isposinf(v).any():
        fin = v[np.isfinite(v)]
        out["p_infinite"] = float(np.isposinf(v).mean())
        out["mean_finite"] = float(fin.mean()) if fin.size else float("nan")
    return out



def format_interval(r, fmt=".4g", *, median: bool = True) -> str:
    """``"median [lo, hi]"`` (``"[lo, hi]"`` with ``median=False``) of a :func:`summary_record` (or any
    mapping with ``median``, ``ci_low``, ``ci_high``) or a ``(median, lo, hi)`` tuple; ``fmt``: a format
    spec (``".4g"``) or a function of one number returning its text."""
    m, lo, hi = (r["median"], r["ci_low"], r["ci_high"]) if hasattr(r, "keys") else r
    f = fmt if callable(fmt) else (lambda v: format(v, fmt))
    return f"{f(m)} [{f(lo)}, {f(hi)}]" if median else f"[{f(lo)}, {f(hi)}]"
