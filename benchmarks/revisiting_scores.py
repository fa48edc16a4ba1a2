"""Scores, baselines and summaries of ``bench_revisiting.py`` (kept apart to hold that script under 400 lines).

RMSE-log as in the paper's code, sqrt(mean((log yhat - log y)^2)); MARE = median |yhat - y| / y; coverage of the
equal-tailed predictive intervals (50%, 90%) at the held-out rows.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np


def rmse_log(pred, y):
    return float(np.sqrt(np.mean((np.log(pred) - np.log(y)) ** 2)))


def mare(pred, y):
    return float(np.median(np.abs(pred - y) / y))


def baselines(dom, xf, yf, xt, yt, seed):
    """M4 and Huber power-law point fit of one curve (run in a worker process); returns (row, t_m4, t_huber)."""
    from bayes_scaling import baselines as bl

    row = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = time.perf_counter()
        try:
            m4 = bl.m4_fit(xf, yf, eps0=1.0 if dom == "IC" and yf.max() < 1.0 else None, seed=seed)
            p = bl.m4_predict(m4, xt)
            row.update(m4_rmse_log=rmse_log(p, yt), m4_mare=mare(p, yt))
        except Exception as e:
            row["m4_error"] = f"{type(e).__name__}: {e}"
        t_m4 = time.perf_counter() - a
        a = time.perf_counter()
        try:
            hf = bl.huber_fit("power_x", {"X": np.log(xf)}, np.log(yf), seed=seed)
            p = hf.predict({"X": np.log(xt)})
            row.update(huber_rmse_log=rmse_log(p, yt), huber_mare=mare(p, yt))
        except Exception as e:
            row["huber_error"] = f"{type(e).__name__}: {e}"
        t_hub = time.perf_counter() - a
    return row, t_m4, t_hub


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished child processes (the worker pools)."""
    t = os.times()
    return t.children_user + t.children_system


def scores(prefix, q, yt):
    """RMSE-log and MARE of the median, 50%/90% coverage and the 90% misses below/above, from the
    predictive quantiles q = (5, 25, 50, 75, 95)%."""
    return {f"{prefix}_rmse_log": rmse_log(q[2], yt), f"{prefix}_mare": mare(q[2], yt),
            f"{prefix}_cov50": float(np.mean((q[1] <= yt) & (yt <= q[3]))),
            f"{prefix}_cov90": float(np.mean((q[0] <= yt) & (yt <= q[4]))),
            f"{prefix}_below90": float(np.mean(yt < q[0])), f"{prefix}_above90": float(np.mean(yt > q[4]))}


def summarise(rows, methods, interval_methods, members):
    """Per-domain / overall figures of the per-curve rows (RMSE-log, MARE, wins, coverage, diagnostics)."""
    out = {"curves": len(rows)}
    for m in methods:
        r = [x[f"{m}_rmse_log"] for x in rows if f"{m}_rmse_log" in x]
        e = [x[f"{m}_mare"] for x in rows if f"{m}_mare" in x]
        out[f"{m}_rmse_log_mean"] = float(np.mean(r)) if r else None
        out[f"{m}_rmse_log_median"] = float(np.median(r)) if r else None
        out[f"{m}_mare_median"] = float(np.median(e)) if e else None
        out[f"{m}_n"] = len(r)
    both = [x for x in rows if all(f"{m}_rmse_log" in x for m in methods)]
    for m in methods:
        out[f"{m}_wins"] = sum(min(methods, key=lambda k: x[f"{k}_rmse_log"]) == m for x in both)
    r = [x["ensnp_rmse_log"] for x in rows if "ensnp_rmse_log" in x]
    out["ensnp_rmse_log_mean"] = float(np.mean(r)) if r else None
    if "ens" in methods:
        both = [x for x in rows if "ens_rmse_log" in x and "m4_rmse_log" in x]
        out["ens_beats_m4_curves"] = sum(x["ens_rmse_log"] < x["m4_rmse_log"] for x in both)
    for m in interval_methods:
        b = [x for x in rows if f"{m}_cov90" in x]
        n = sum(x["n_test"] for x in b)
        out[f"{m}_curves_scored"] = len(b)
        for k in ("cov50", "cov90", "below90", "above90"):
            out[f"{m}_{k}_points"] = sum(x[f"{m}_{k}"] * x["n_test"] for x in b) / n if n else None
            out[f"{m}_{k}_curves"] = float(np.mean([x[f"{m}_{k}"] for x in b])) if b else None
    out["n_test_points"] = sum(x["n_test"] for x in rows)
    b = [x for x in rows if "bayes_cov90" in x]
    out["diagnostics_ok"] = sum(x["diagnostics_ok"] for x in b)
    out["divergent_curves"] = sum(x["divergences"] > 0 for x in b)
    if "ens" in methods:
        e = [x for x in rows if "ens_member_diagnostics_ok" in x]
        out["ens_member_fits"] = sum(len(x["ens_member_diagnostics_ok"]) for x in e)
        out["ens_member_fits_ok"] = sum(sum(x["ens_member_diagnostics_ok"].values()) for x in e)
        out["ens_member_fits_ok_by_law"] = {k: f'{sum(x["ens_member_diagnostics_ok"][k] for x in e)} of {len(e)}'
                                            for k in members}
        out["ens_inner_fits"] = sum(x["ens_inner_fits"] for x in e)
        out["ens_inner_fits_ok"] = sum(x["ens_inner_ok"] for x in e)
        out["ens_calibrated"] = sum(x["ens_calibrated"] for x in e)
        out["ens_weights_mean"] = {k: float(np.mean([x["ens_weights"][k] for x in e])) for k in members} if e else None
    out["lfo_mare_median"] = (float(np.median([x["lfo_mare"] for x in rows if "lfo_mare" in x]))
                              if any("lfo_mare" in x for x in rows) else None)
    return out
