"""Posterior summaries with explicit, equal-tailed credible intervals."""

from __future__ import annotations

import xarray as xr

from bayes_scaling.conventions import CI_PROB, SAMPLE_DIMS, check_ci_prob


def interval_bounds(ci_prob: float) -> tuple[float, float]:
    """Quantile levels of the equal-tailed interval of mass ``ci_prob``."""
    p = check_ci_prob(ci_prob)
    return (1 - p) / 2, 1 - (1 - p) / 2


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

