"""Posterior summaries with explicit, equal-tailed credible intervals."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from bayes_scaling.conventions import CI_PROB, SAMPLE_DIMS, check_ci_prob
from bayes_scaling.errors import BayesScalingError


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


def thin_indices(total: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``cap`` of ``total`` draws, uniformly at random without replacement (NumPy's
    ``Generator.choice``, in the order drawn; with ``total <= cap``, every index in a random order): the one
    way a summary that costs per draw thins the posterior. Sort them to keep the draws' order."""
    return rng.choice(int(total), size=min(int(cap), int(total)), replace=False)


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


def weighted_quantiles(values, weights, levels) -> np.ndarray:
    """Quantiles of ``values`` (1-D, any order, units kept) under each row of ``weights`` (..., n: finite,
    >= 0, a positive sum per row; normalised here), levels first: :func:`quantiles` generalised to weighted
    draws, and equal to it (up to rounding) when a row's weights are equal. Linear interpolation between the
    values with positive weight, the k-th of them (ascending) at position (c_k - w_k / 2 - w_1 / 2) / (1 -
    w_1 / 2 - w_m / 2), c_k the cumulative weight: each value's mass centred on it (Hazen), rescaled so the
    smallest value sits at level 0 and the largest at 1, which for n equal weights puts the k-th at
    (k - 1) / (n - 1), NumPy's default ("linear") positions. NaN values get no weight; a level between two
    equal values (both infinite, say) is that value."""
    v = np.asarray(values, float).reshape(-1)
    levels = np.atleast_1d(np.asarray(levels, float))
    if levels.ndim != 1 or not np.all((levels >= 0) & (levels <= 1)):
        raise BayesScalingError(f"quantile levels must be numbers in [0, 1], got {levels.tolist()}", quantity="levels")
    w = np.array(np.broadcast_to(np.asarray(weights, float), np.shape(weights)), float)
    if w.shape[-1:] != v.shape:
        raise BayesScalingError(f"weights must have one weight per value on their last axis ({v.size}), got shape "
                                f"{w.shape}", quantity="weights")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise BayesScalingError("weights must be finite numbers >= 0", quantity="weights")
    if not np.all(v[1:] >= v[:-1]):  # not sorted, or NaN values: sort (NaN last, weightless)
        order = np.argsort(v, kind="stable")
        v, w = v[order], np.where(np.isnan(v[order]), 0.0, w[..., order])
    total = w.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise BayesScalingError("weights must have a positive sum in every row (over values that are not NaN)",
                                quantity="weights")
    w = w / total
    pos = w > 0
    every = bool(pos.all())  # the usual case: every value has weight
    ends = (np.argmax(pos, axis=-1), w.shape[-1] - 1 - np.argmax(pos[..., ::-1], axis=-1)) if not every else None
    first, last = (w[..., :1], w[..., -1:]) if every else (np.take_along_axis(w, e[..., None], -1) for e in ends)
    c = np.cumsum(w, axis=-1)
    span = c[..., -1:] - first / 2 - last / 2
    with np.errstate(invalid="ignore", divide="ignore"):  # one value with weight: every level is that value
        at = np.where(span > 0, (c - w / 2 - first / 2) / span, 1.0)
    idx = np.arange(v.size)
    if every:
        prev = np.broadcast_to(idx, w.shape)
    else:
        at = np.where(pos, at, -np.inf)  # values without weight are never a neighbour
        prev = np.maximum.accumulate(np.where(pos, idx, -1), axis=-1)  # the last with weight at or before k
    out = []
    for p in levels:
        hi = np.argmax(at >= p, axis=-1)[..., None]  # the first value with weight at or above p (the last: at = 1)
        lo = np.take_along_axis(prev, np.maximum(hi - 1, 0), -1)
        lo = np.where((hi > 0) & (lo >= 0), lo, hi)
        a_lo, a_hi = np.take_along_axis(at, lo, -1)[..., 0], np.take_along_axis(at, hi, -1)[..., 0]
        t = np.clip(np.where(a_hi > a_lo, (p - a_lo) / np.where(a_hi > a_lo, a_hi - a_lo, 1.0), 1.0), 0.0, 1.0)
        x_lo, x_hi = v[lo[..., 0]], v[hi[..., 0]]
        with np.errstate(invalid="ignore"):
            out.append(np.where(x_lo == x_hi, x_lo, x_lo + t * (x_hi - x_lo)))
    return np.stack(out)


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
