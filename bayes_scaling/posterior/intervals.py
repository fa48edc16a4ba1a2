"""Posterior summaries with explicit, equal-tailed credible intervals."""

from __future__ import annotations

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
    with np.errstate(invalid="ignore"):
        q = np.nanquantile(arr, [0.5, lo, hi], axis=-1)
    return q[0], q[1], q[2]


def summarize(da: xr.DataArray, ci_prob: float = CI_PROB) -> xr.Dataset:
    """Median, mean, sd and the equal-tailed ``ci_prob`` interval over ``chain`` and ``draw``."""
    lo, hi = interval_bounds(ci_prob)
    q = da.quantile([0.5, lo, hi], dim=list(SAMPLE_DIMS))
    out = xr.Dataset(
        {
            "median": q.isel(quantile=0, drop=True),
            "mean": da.mean(SAMPLE_DIMS),
            "sd": da.std(SAMPLE_DIMS, ddof=1),
            "ci_low": q.isel(quantile=1, drop=True),
            "ci_high": q.isel(quantile=2, drop=True),
        }
    )
    out.attrs["ci_prob"] = float(ci_prob)
    out.attrs["ci_kind"] = "equal-tailed"
    return out


def summary_record(da: xr.DataArray, ci_prob: float = CI_PROB) -> dict[str, float]:
    """One scalar quantity as ``{median, mean, ci_low, ci_high, ci_prob}`` (the JSON shape)."""
    s = summarize(da, ci_prob)
    return {
        "median": float(s["median"]),
        "mean": float(s["mean"]),
        "ci_low": float(s["ci_low"]),
        "ci_high": float(s["ci_high"]),
        "ci_prob": float(ci_prob),
    }



def format_interval(r, fmt=".4g", *, median: bool = True) -> str:
    """``"median [lo, hi]"`` (``"[lo, hi]"`` with ``median=False``) of a :func:`summary_record` (or any
    mapping with ``median``, ``ci_low``, ``ci_high``) or a ``(median, lo, hi)`` tuple; ``fmt``: a format
    spec (``".4g"``) or a function of one number returning its text."""
    m, lo, hi = (r["median"], r["ci_low"], r["ci_high"]) if hasattr(r, "keys") else r
    f = fmt if callable(fmt) else (lambda v: format(v, fmt))
    return f"{f(m)} [{f(lo)}, {f(hi)}]" if median else f"[{f(lo)}, {f(hi)}]"
