"""Posterior summaries: equal-tailed intervals, the 0.9 default and ci_prob validation."""

from __future__ import annotations

import inspect

import arviz_stats
import numpy as np
import pytest
import xarray as xr

from bayes_scaling import CI_PROB, BayesScalingError
from bayes_scaling.posterior.intervals import format_interval, interval_bounds, summarize, summary_record


def _draws(seed=0, extra=None):
    rng = np.random.default_rng(seed)
    if extra is None:
        # skewed, so an equal-tailed interval differs from an HDI and from mean +- z sd
        return xr.DataArray(rng.lognormal(0.0, 0.8, size=(4, 1000)), dims=("chain", "draw"))
    return xr.DataArray(rng.lognormal(0.0, 0.8, size=(4, 1000, extra)), dims=("chain", "draw", "query"),
                        coords={"query": np.arange(extra)})


def _eti(da, prob):
    bounds = arviz_stats.eti(da, prob=prob, dim=["chain", "draw"])
    return bounds.sel(ci_bound="lower"), bounds.sel(ci_bound="upper")


def test_default_ci_prob_is_0_9():
    assert CI_PROB == 0.9
    assert inspect.signature(summarize).parameters["ci_prob"].default == 0.9
    assert inspect.signature(summary_record).parameters["ci_prob"].default == 0.9
    da = _draws()
    assert summarize(da).attrs["ci_prob"] == 0.9
    assert summary_record(da)["ci_prob"] == 0.9


@pytest.mark.parametrize("prob", [0.5, 0.9, 0.95])
def test_summarize_matches_arviz_eti(prob):
    da = _draws(1)
    s = summarize(da, prob)
    lo, hi = _eti(da, prob)
    assert float(s["ci_low"]) == pytest.approx(float(lo), rel=1e-12)
    assert float(s["ci_high"]) == pytest.approx(float(hi), rel=1e-12)
    assert s.attrs["ci_kind"] == "equal-tailed"
    assert s.attrs["ci_prob"] == prob
    flat = da.values.ravel()
    assert float(s["median"]) == pytest.approx(np.median(flat), rel=1e-12)
    assert float(s["mean"]) == pytest.approx(flat.mean(), rel=1e-12)
    assert float(s["sd"]) == pytest.approx(flat.std(), rel=1e-3)
    # equal tails: the same mass outside on each side
    below, above = np.mean(flat < float(s["ci_low"])), np.mean(flat > float(s["ci_high"]))
    assert below == pytest.approx((1 - prob) / 2, abs=1e-3)
    assert above == pytest.approx((1 - prob) / 2, abs=1e-3)


def test_default_summary_is_the_90_percent_eti():
    da = _draws(2)
    lo, hi = _eti(da, 0.9)
    s = summarize(da)
    assert float(s["ci_low"]) == pytest.approx(float(lo), rel=1e-12)
    assert float(s["ci_high"]) == pytest.approx(float(hi), rel=1e-12)
    # and not an HDI of the same mass (the draws are skewed)
    hdi = arviz_stats.hdi(da, prob=0.9, dim=["chain", "draw"])
    assert abs(float(hdi.sel(ci_bound="lower")) - float(lo)) > 1e-3


def test_summarize_keeps_other_dims():
    da = _draws(3, extra=5)
    s = summarize(da, 0.8)
    assert s["ci_low"].dims == ("query",) and s["median"].dims == ("query",)
    lo, hi = _eti(da, 0.8)
    np.testing.assert_allclose(s["ci_low"].values, lo.transpose("query").values, rtol=1e-12)
    np.testing.assert_allclose(s["ci_high"].values, hi.transpose("query").values, rtol=1e-12)
    assert np.all(s["ci_low"] < s["median"]) and np.all(s["median"] < s["ci_high"])


def test_summary_record_shape_and_values():
    da = _draws(4)
    rec = summary_record(da, 0.9)
    assert set(rec) == {"median", "mean", "ci_low", "ci_high", "ci_prob"}
    assert all(isinstance(v, float) for v in rec.values())
    lo, hi = _eti(da, 0.9)
    assert rec["ci_low"] == pytest.approx(float(lo), rel=1e-12)
    assert rec["ci_high"] == pytest.approx(float(hi), rel=1e-12)
    assert rec["ci_low"] < rec["median"] < rec["ci_high"]


def test_interval_bounds():
    assert interval_bounds(0.9) == pytest.approx((0.05, 0.95))
    assert interval_bounds(0.5) == pytest.approx((0.25, 0.75))


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "x", None, float("nan"), float("inf"), True])
def test_invalid_ci_prob(bad):
    da = _draws(5)
    for fn in (summarize, summary_record):
        with pytest.raises(BayesScalingError) as ei:
            fn(da, bad)
        msg = str(ei.value)
        assert "ci_prob" in msg and "\n" not in msg
    with pytest.raises(BayesScalingError):
        interval_bounds(bad)


def test_tiny_ci_prob_is_rejected_or_summarized():
    rec = summary_record(_draws(6), 1e-17)
    assert rec["ci_low"] <= rec["median"] <= rec["ci_high"]


def test_median_interval_is_the_summary_of_the_draws_in_either_layout():
    from bayes_scaling.posterior.intervals import median_interval

    da = _draws(3, extra=5)
    s = summarize(da, 0.8)
    med, lo, hi = median_interval(da, 0.8)
    for got, key in ((med, "median"), (lo, "ci_low"), (hi, "ci_high")):
        np.testing.assert_allclose(got, s[key].values, rtol=1e-12)
    flat = da.transpose("query", "chain", "draw").values.reshape(5, -1)
    np.testing.assert_array_equal(np.array(median_interval(flat, 0.8)), np.array([med, lo, hi]))
    flat[0, :10] = np.nan  # NaN draws are skipped
    assert np.all(np.isfinite(median_interval(flat, 0.8)))
    with pytest.raises(BayesScalingError, match="ci_prob"):
        median_interval(flat, 1.5)


def test_format_interval_writes_median_and_bracket_once():
    r = {"median": 2.34567, "ci_low": 2.1, "ci_high": 2.6, "ci_prob": 0.9}
    assert format_interval(r, ".3f") == "2.346 [2.100, 2.600]"
    assert format_interval(r, ".3f", median=False) == "[2.100, 2.600]"
    assert format_interval((1e21, 5e20, 2e21), ".3g") == "1e+21 [5e+20, 2e+21]"
    assert format_interval({**r, "median": None}, lambda v: "n/a" if v is None else f"{v:.1f}") == "n/a [2.1, 2.6]"


def test_flat_draws_is_chain_major_whatever_the_dims_order():
    """Sample k of the flattened axis is (chain k // n_draw, draw k % n_draw), for either storage order."""
    import xarray as xr

    from bayes_scaling.posterior.intervals import flat_draws

    chains, draws = 3, 4
    val = np.arange(chains)[:, None] * 100 + np.arange(draws)[None, :]  # chain*100 + draw
    da = xr.DataArray(np.stack([val, val + 1000], axis=-1), dims=("chain", "draw", "query"))
    expected = np.stack([val.ravel(), val.ravel() + 1000])
    assert np.array_equal(flat_draws(da), expected)
    assert np.array_equal(flat_draws(da.transpose("draw", "query", "chain")), expected)
