"""Benchmark: group comparison (``bayes_scaling.queries.compare_groups``) on simulated architectures.

Every number is measured in the run; the only constants are the simulation recipe and the targets.

Each repetition simulates three architectures (groups ``a1``, ``a2``, ``a3``) from a known Chinchilla
truth near E 1.8, A 450, B 2000, alpha 0.34, beta 0.36 (perturbed per repetition: alpha, beta x
U(0.95, 1.05) with A, B moved so the loss terms keep their values at the design's geometric-mean N
and D, then E x e^U(+-0.03), A, B x e^U(+-0.1)). Each architecture gets its own IsoFLOP ladder
(``isoflop_design(geomspace(1e18, 1e21, 5), geomspace(3, 100, 5))``, 25 runs) with Student-t(4)
noise of scale 0.01 on log-loss. Architectures differ by scaling A and B by a factor k (same E,
alpha, beta): the compute-optimal allocation is then unchanged and L*_k(C) = E + k (L*(C) - E), so
k = 1 + g L*(C_t) / (L*(C_t) - E) makes the optimal loss at C_target exactly a fraction g higher.

Scenarios (C_target = 1e22 FLOPs, 10x the largest budget in the data):

* ``gap``:  a1 = truth, a2 3% worse at C_target, a3 1.5% worse.
  Check: P(L_a1 < L_a2) >= 0.95 in every repetition.
* ``null``: a1 = a2 = truth (identical laws, independent noise), a3 1.5% worse.
  Check: ROPE(1%) probability P(|L_a2 - L_a1| / L_a1 < 0.01) >= 0.9 in every repetition.

One hierarchical fit per repetition: ``bs.fit(runs, law="chinchilla", vary=["alpha", "beta", "A",
"B"], draws=500, tune=500)`` (4 chains, target_accept 0.95), then ``compare_groups(res, ["a1", "a2",
"a3"], compute=C_target, rope=0.01)``.

* **Compute multiplier.** The true multiplier C'/C_target (the compute a2 needs to reach a1's
  optimal loss at C_target) comes from bisection on log C' along the true closed-form frontier
  (Hoffmann et al. 2022 Eq. 4), cross-checked against the analytic value k^((alpha+beta)/(alpha
  beta)) of the scaled-constants construction. Check: the true multiplier lies inside the 90%
  equal-tailed interval of ``compute_multiplier`` in >= 80% of repetitions (per scenario).
  Supplementary: the same for a1 vs a3.
* **Unpaired baseline** (same fit): ``compare_groups(..., paired=False)``, which shuffles a2's draws.
  Reported: 90% interval width of the relative loss difference, unpaired / paired (median over
  repetitions), and its P(a1 better) / P(ROPE).
* **Separate-fits baseline** (``--no-separate`` skips it): each architecture fitted alone with the
  non-hierarchical default Chinchilla spec (same draws/tune), the posteriors combined draw by draw
  (independent), the same quantities computed with this script's own NumPy frontier code (which is
  cross-checked against ``compute_multiplier`` on the hierarchical posterior).

Usage::

    .venv/bin/python benchmarks/bench_compare.py                  # 10 repetitions per scenario
    .venv/bin/python benchmarks/bench_compare.py --quick          # 3 repetitions per scenario
    .venv/bin/python benchmarks/bench_compare.py --json /tmp/compare_latest.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import minimize_scalar

import bayes_scaling as bs
from bayes_scaling.laws.registry import get_law
from bayes_scaling.queries.compare_groups import compare_groups, compute_multiplier
from bayes_scaling.simulate import (
    isoflop_design,
    law_truth_params,
    simulate_runs,
    true_loss,
)

T = time.perf_counter
K = 6.0  # FLOPs per parameter per token
LAW = "chinchilla"
VARY = ["alpha", "beta", "A", "B"]
GROUPS = ["a1", "a2", "a3"]

#: Simulation recipe.
BASE_TRUTH = {"E": 1.80, "A": 450.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}
BUDGETS = np.geomspace(1e18, 1e21, 5)
RATIOS = np.geomspace(3.0, 100.0, 5)
EXPONENT_JITTER = 0.05  # alpha, beta x U(1 - j, 1 + j)
CONST_JITTER = {"E": 0.03, "A": 0.10, "B": 0.10}  # x e^U(-h, h)
SIGMA, NU = 0.01, 4.0
C_TARGET = 1e22
ROPE = 0.01
#: Relative optimal-loss gap of a2 and a3 (vs a1) at C_target, per scenario.
SCENARIOS = {"gap": {"a2": 0.03, "a3": 0.015}, "null": {"a2": 0.0, "a3": 0.015}}

#: Targets.
TARGET_P_BETTER = 0.95
TARGET_P_ROPE = 0.90
TARGET_COVERAGE = 0.80
CI = 0.90


def say(msg: str = "") -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------------
# Truth: closed-form frontier (law convention: log_E, log_A, log_B, alpha, beta)
# ------------------------------------------------------------------------------------------------
_LAW = get_law(LAW)


def log_loss_opt(p: dict, log_ct):
    """log L*(C) for log(C/6) = log_ct; ``p`` scalars or arrays (broadcast)."""
    u = _LAW.log_optimal_params(np, log_ct, p)
    return _LAW.log_loss(np, {"N": u, "D": log_ct - u}, p)


def multiplier(pa: dict, pb: dict, compute: float, iters: int = 200):
    """C'/C: the budget at which b's optimal plan matches a's optimal loss at C (bisection on log C')."""
    log_ct = math.log(compute / K)
    target = log_loss_opt(pa, np.float64(log_ct))
    target = np.asarray(target, float)
    lo = np.full(target.shape, log_ct - 40.0)
    hi = np.full(target.shape, log_ct + 40.0)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        above = log_loss_opt(pb, mid) > target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    return np.exp(0.5 * (lo + hi) - log_ct)


def optimal_loss(truth: dict, compute: float) -> float:
    return float(np.exp(log_loss_opt(law_truth_params(_LAW, truth), np.float64(math.log(compute / K)))))


def perturbed_truth(rng: np.random.Generator) -> dict:
    t = dict(BASE_TRUTH)
    log_n0 = float(np.mean(np.log(isoflop_design(BUDGETS, RATIOS)["params"])))
    log_d0 = float(np.mean(np.log(isoflop_design(BUDGETS, RATIOS)["tokens"])))
    for name, const, x0 in (("alpha", "A", log_n0), ("beta", "B", log_d0)):
        new = t[name] * rng.uniform(1 - EXPONENT_JITTER, 1 + EXPONENT_JITTER)
        t[const] *= math.exp((new - t[name]) * x0)  # keep const / x0^exponent
        t[name] = new
    for name, h in CONST_JITTER.items():
        t[name] *= math.exp(rng.uniform(-h, h))
    return t


def scaled(truth: dict, gap: float, compute: float) -> tuple[dict, float]:
    """``truth`` with A, B scaled by k so that the optimal loss at ``compute`` is (1 + gap) x."""
    L = optimal_loss(truth, compute)
    k = 1.0 + gap * L / (L - truth["E"])
    return {**truth, "A": truth["A"] * k, "B": truth["B"] * k}, k


def check_truth(truth: dict, compute: float) -> dict:
    """Closed form vs numeric minimisation of the true loss; frontier loss vs ``true_loss``."""
    p = law_truth_params(_LAW, truth)
    lct = math.log(compute / K)
    u_closed = float(_LAW.log_optimal_params(np, np.float64(lct), p))
    u_num = minimize_scalar(lambda u: float(_LAW.log_loss(np, {"N": u, "D": lct - u}, p)), bounds=(0.0, lct),
                            method="bounded", options={"xatol": 1e-10}).x
    n = math.exp(u_closed)
    l_sim = float(true_loss(LAW, truth, N=n, D=compute / K / n))
    return {"dlogN_closed_vs_numeric": float(abs(u_closed - u_num)),
            "rel_dL_frontier_vs_true_loss": abs(l_sim / optimal_loss(truth, compute) - 1)}


# ------------------------------------------------------------------------------------------------
# One repetition
# ------------------------------------------------------------------------------------------------
def eti(x, prob: float = CI) -> tuple[float, float]:
    q = (1 - prob) / 2
    lo, hi = np.quantile(np.asarray(x).ravel(), [q, 1 - q])
    return float(lo), float(hi)


def fit_quiet(runs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = T()
        res = bs.fit(runs, law=LAW, progress=False, **kw)
        return res, T() - t


def diag_dict(res) -> dict:
    d = res.diagnostics
    return {"ok": bool(d.ok), "problems": list(d.problems), "r_hat_max": float(d.r_hat_max),
            "ess_bulk_min": float(d.ess_bulk_min), "ess_tail_min": float(d.ess_tail_min),
            "divergences": int(d.divergences)}


def query_diagnostics(res, named: dict) -> dict:
    """R-hat / bulk ESS of the compared quantities (chain, draw arrays), and the fit's worst variable."""
    import arviz_stats as azs
    import xarray as xr

    ds = xr.Dataset({k: (("chain", "draw"), np.asarray(v)) for k, v in named.items()})
    rh, ess = azs.rhat(ds), azs.ess(ds, method="bulk")
    out = {k: {"r_hat": float(rh[k].values), "ess_bulk": float(ess[k].values)} for k in named}
    post = res.posterior
    rh_all = azs.rhat(post)
    worst = max(rh_all.data_vars, key=lambda v: float(np.nanmax(rh_all[v].values)))
    out["worst_r_hat_variable"] = str(worst)
    return out


def separate_draws(res) -> dict:
    """Law-convention params as flat arrays (chain*draw) of a non-hierarchical fit."""
    return {k: v.transpose("chain", "draw").values.ravel() for k, v in res.law_params().items()}


def run_rep(scenario: str, rep: int, seed: int, args) -> dict:
    rng = np.random.default_rng([seed, rep, list(SCENARIOS).index(scenario)])
    base = perturbed_truth(rng)
    truths, ks = {"a1": base}, {"a1": 1.0}
    for g in ("a2", "a3"):
        truths[g], ks[g] = scaled(base, SCENARIOS[scenario][g], C_TARGET)
    design = isoflop_design(BUDGETS, RATIOS)
    frames = []
    noise_seeds = rng.integers(0, 2**31 - 1, size=len(GROUPS) + 1)
    for g, s in zip(GROUPS, noise_seeds):
        f = simulate_runs(LAW, truths[g], design, sigma=SIGMA, nu=NU, seed=int(s))
        f["arch"] = g
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    runs = bs.load_runs(frame, group_cols=["arch"])
    fit_seed = int(noise_seeds[-1])

    lstar = {g: optimal_loss(truths[g], C_TARGET) for g in GROUPS}
    p_true = {g: law_truth_params(_LAW, truths[g]) for g in GROUPS}
    m_true = {g: float(multiplier(p_true["a1"], p_true[g], C_TARGET)) for g in ("a2", "a3")}
    gamma = base["alpha"] * base["beta"] / (base["alpha"] + base["beta"])
    m_analytic = {g: ks[g] ** (1 / gamma) for g in ("a2", "a3")}
    checks = check_truth(base, C_TARGET)
    checks["rel_d_multiplier_bisection_vs_analytic"] = float(max(abs(m_true[g] / m_analytic[g] - 1) for g in ("a2", "a3")))

    # hierarchical fit + paired / unpaired comparison
    res, t_fit = fit_quiet(runs, vary=VARY, seed=fit_seed, draws=args.draws, tune=args.tune)
    t = T()
    c = compare_groups(res, GROUPS, compute=C_TARGET, rope=ROPE)
    t_cmp = T() - t
    u = compare_groups(res, GROUPS, compute=C_TARGET, rope=ROPE, paired=False, seed=fit_seed)
    m12 = c["compute_multiplier"].values.ravel()
    m13 = compute_multiplier(res, "a1", "a3", C_TARGET).values.ravel()
    # the script's own multiplier code on the same group posteriors (cross-check of the package)
    pg = {g: {k: v.transpose("chain", "draw").values.ravel() for k, v in res.law_params(g).items()} for g in GROUPS}
    m12_own = multiplier(pg["a1"], pg["a2"], C_TARGET)
    checks["max_rel_d_multiplier_own_vs_package"] = float(np.max(np.abs(m12_own / m12 - 1)))
    m12_unp = u["compute_multiplier"].values.ravel()
    rel = c["rel_diff"].values.ravel()
    qdiag = query_diagnostics(res, {"rel_diff": c["rel_diff"].transpose("chain", "draw").values,
                                    "log_multiplier": np.log(c["compute_multiplier"].transpose("chain", "draw").values)})
    rel_u = u["rel_diff"].values.ravel()
    w_p, w_u = np.subtract(*eti(rel)[::-1]), np.subtract(*eti(rel_u)[::-1])
    row = {
        "scenario": scenario, "rep": rep, "fit_seed": fit_seed, "truth_a1": base,
        "k": ks, "true_L_opt": lstar, "true_rel_gap_a2": lstar["a2"] / lstar["a1"] - 1,
        "true_multiplier": m_true, "checks": checks,
        "fit_s": t_fit, "compare_s": t_cmp, "diagnostics": diag_dict(res),
        "query_diagnostics": qdiag,
        "p_a1_better": c["p_a_better"], "p_rope": c["p_rope"],
        "rel_diff_median": float(np.median(rel)), "rel_diff_ci90": eti(rel),
        "rel_diff_covered": bool(eti(rel)[0] <= lstar["a2"] / lstar["a1"] - 1 <= eti(rel)[1]),
        "multiplier_median": float(np.median(m12)), "multiplier_ci90": eti(m12),
        "multiplier_covered": bool(eti(m12)[0] <= m_true["a2"] <= eti(m12)[1]),
        "multiplier_a3_median": float(np.median(m13)), "multiplier_a3_ci90": eti(m13),
        "multiplier_a3_covered": bool(eti(m13)[0] <= m_true["a3"] <= eti(m13)[1]),
        "p_best": c["p_best"], "expected_rank": c["expected_rank"],
        "unpaired": {"p_a1_better": u["p_a_better"], "p_rope": u["p_rope"], "rel_diff_ci90": eti(rel_u),
                     "rel_diff_covered": bool(eti(rel_u)[0] <= lstar["a2"] / lstar["a1"] - 1 <= eti(rel_u)[1]),
                     "width_ratio_rel_diff": float(w_u / w_p),
                     "multiplier_identical_to_paired": bool(np.array_equal(m12_unp, m12))},
    }

    if not args.no_separate:
        sep, t_sep, diags = {}, 0.0, {}
        for i, g in enumerate(GROUPS):
            sub = bs.load_runs(frames[i].drop(columns="arch"))
            r, dt = fit_quiet(sub, seed=fit_seed + i, draws=args.draws, tune=args.tune)
            sep[g], t_sep, diags[g] = separate_draws(r), t_sep + dt, diag_dict(r)
        lct = np.float64(math.log(C_TARGET / K))
        L = {g: np.exp(log_loss_opt(sep[g], lct)) for g in GROUPS}
        rel_s = (L["a2"] - L["a1"]) / L["a1"]
        ms = multiplier(sep["a1"], sep["a2"], C_TARGET)
        ms3 = multiplier(sep["a1"], sep["a3"], C_TARGET)
        row["separate"] = {
            "fit_s": t_sep, "diagnostics_ok": {g: d["ok"] for g, d in diags.items()},
            "problems": {g: d["problems"] for g, d in diags.items() if not d["ok"]},
            "p_a1_better": float(np.mean(rel_s > 0)), "p_rope": float(np.mean(np.abs(rel_s) < ROPE)),
            "rel_diff_ci90": eti(rel_s),
            "rel_diff_covered": bool(eti(rel_s)[0] <= lstar["a2"] / lstar["a1"] - 1 <= eti(rel_s)[1]),
            "width_ratio_rel_diff": float(np.subtract(*eti(rel_s)[::-1]) / w_p),
            "multiplier_ci90": eti(ms), "multiplier_covered": bool(eti(ms)[0] <= m_true["a2"] <= eti(ms)[1]),
            "multiplier_width_ratio_log": float(np.log(eti(ms)[1] / eti(ms)[0]) / np.log(eti(m12)[1] / eti(m12)[0])),
            "multiplier_a3_covered": bool(eti(ms3)[0] <= m_true["a3"] <= eti(ms3)[1]),
        }
    return row


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def cp_interval(k: int, n: int, prob: float = 0.95) -> tuple[float, float]:
    a = 1 - prob
    lo = 0.0 if k == 0 else stats.beta.ppf(a / 2, k, n - k + 1)
    hi = 1.0 if k == n else stats.beta.ppf(1 - a / 2, k + 1, n - k)
    return float(lo), float(hi)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_rows(rows: list[dict], separate: bool) -> None:
    hdr = ("scen rep  true gap  true m    P(a1<a2) P(rope)  rel diff med [90%]          mult med [90%]          cov "
           "m13 cov  Pbest(a1,a2,a3)    unp P    unp P(rope) unp w/p" + ("  sep P   sep P(rope) sep w/p sep cov" if separate else "")
           + "  fit s  compared-quantity diag   fit diagnostics")
    say(hdr)
    for r in rows:
        lo, hi = r["rel_diff_ci90"]
        mlo, mhi = r["multiplier_ci90"]
        pb = r["p_best"]
        line = (f"{r['scenario']:<4} {r['rep']:>3}  {r['true_rel_gap_a2']:+.3%}  {r['true_multiplier']['a2']:7.3f}  "
                f"{r['p_a1_better']:.4f}   {r['p_rope']:.4f}   {r['rel_diff_median']:+.4f} [{lo:+.4f}, {hi:+.4f}]  "
                f"{r['multiplier_median']:6.3f} [{mlo:6.3f}, {mhi:6.3f}]  {'yes' if r['multiplier_covered'] else 'NO ':<3} "
                f"{'yes' if r['multiplier_a3_covered'] else 'NO ':<7} {pb['a1']:.2f},{pb['a2']:.2f},{pb['a3']:.2f}     "
                f"{r['unpaired']['p_a1_better']:.4f}   {r['unpaired']['p_rope']:.4f}      {r['unpaired']['width_ratio_rel_diff']:.2f}   ")
        if separate:
            s = r["separate"]
            line += (f"  {s['p_a1_better']:.4f}  {s['p_rope']:.4f}      {s['width_ratio_rel_diff']:.2f}   "
                     f"{'yes' if s['multiplier_covered'] else 'NO ':<7}")
        d = r["diagnostics"]
        q = r["query_diagnostics"]
        line += (f"  {r['fit_s']:5.1f}  q R-hat {max(q['rel_diff']['r_hat'], q['log_multiplier']['r_hat']):.3f} "
                 f"ESS {min(q['rel_diff']['ess_bulk'], q['log_multiplier']['ess_bulk']):4.0f}  "
                 f"{'ok' if d['ok'] else '; '.join(d['problems']) + ' (worst: ' + q['worst_r_hat_variable'] + ')'}")
        say(line)


def summarise(rows: list[dict], separate: bool) -> dict:
    out = {"per_scenario": {}, "criteria": {}}
    for scen in SCENARIOS:
        rs = [r for r in rows if r["scenario"] == scen]
        n = len(rs)
        cov = sum(r["multiplier_covered"] for r in rs)
        cov3 = sum(r["multiplier_a3_covered"] for r in rs)
        s = {
            "n": n,
            "p_a1_better": [r["p_a1_better"] for r in rs],
            "p_rope": [r["p_rope"] for r in rs],
            "multiplier_coverage": cov / n, "multiplier_covered": cov,
            "multiplier_coverage_cp95": cp_interval(cov, n),
            "multiplier_a3_coverage": cov3 / n,
            "rel_diff_coverage": float(np.mean([r["rel_diff_covered"] for r in rs])),
            "unpaired_rel_diff_coverage": float(np.mean([r["unpaired"]["rel_diff_covered"] for r in rs])),
            "median_rel_diff_ci90_width": float(np.median([r["rel_diff_ci90"][1] - r["rel_diff_ci90"][0] for r in rs])),
            "median_multiplier_ci90_width_log": float(np.median([np.log(r["multiplier_ci90"][1] / r["multiplier_ci90"][0]) for r in rs])),
            "median_true_multiplier": float(np.median([r["true_multiplier"]["a2"] for r in rs])),
            "median_width_ratio_unpaired_over_paired": float(np.median([r["unpaired"]["width_ratio_rel_diff"] for r in rs])),
            "unpaired_p_a1_better": [r["unpaired"]["p_a1_better"] for r in rs],
            "unpaired_p_rope": [r["unpaired"]["p_rope"] for r in rs],
            "p_best_a1_median": float(np.median([r["p_best"]["a1"] for r in rs])),
            # gap: a1 < a3 < a2 by expected rank; null: a3 last (a1 and a2 tie in truth)
            "rank_order_correct": sum((sorted(GROUPS, key=r["expected_rank"].get) == ["a1", "a3", "a2"]) if scen == "gap"
                                      else (max(GROUPS, key=r["expected_rank"].get) == "a3") for r in rs),
            "diagnostics_failed": sum(not r["diagnostics"]["ok"] for r in rs),
            "worst_r_hat": max(r["diagnostics"]["r_hat_max"] for r in rs),
            "min_ess_bulk": min(r["diagnostics"]["ess_bulk_min"] for r in rs),
            "divergences": sum(r["diagnostics"]["divergences"] for r in rs),
            "worst_r_hat_variables": sorted({r["query_diagnostics"]["worst_r_hat_variable"] for r in rs}),
            "query_r_hat_max": max(max(r["query_diagnostics"][k]["r_hat"] for k in ("rel_diff", "log_multiplier")) for r in rs),
            "query_ess_bulk_min": min(min(r["query_diagnostics"][k]["ess_bulk"] for k in ("rel_diff", "log_multiplier")) for r in rs),
            "fit_s_median": float(np.median([r["fit_s"] for r in rs])),
        }
        if separate:
            s["separate"] = {
                "p_a1_better": [r["separate"]["p_a1_better"] for r in rs],
                "p_rope": [r["separate"]["p_rope"] for r in rs],
                "median_width_ratio_over_paired": float(np.median([r["separate"]["width_ratio_rel_diff"] for r in rs])),
                "median_multiplier_log_width_ratio": float(np.median([r["separate"]["multiplier_width_ratio_log"] for r in rs])),
                "multiplier_coverage": float(np.mean([r["separate"]["multiplier_covered"] for r in rs])),
                "rel_diff_coverage": float(np.mean([r["separate"]["rel_diff_covered"] for r in rs])),
                "multiplier_a3_coverage": float(np.mean([r["separate"]["multiplier_a3_covered"] for r in rs])),
                "fits_with_diagnostics_failed": sum(not ok for r in rs for ok in r["separate"]["diagnostics_ok"].values()),
            }
        out["per_scenario"][scen] = s
    g, nl = out["per_scenario"]["gap"], out["per_scenario"]["null"]
    out["criteria"] = {
        "gap_p_a1_better": {"target": f">= {TARGET_P_BETTER} in every repetition",
                            "met": sum(p >= TARGET_P_BETTER for p in g["p_a1_better"]), "n": g["n"],
                            "min": min(g["p_a1_better"]),
                            "verdict": verdict(all(p >= TARGET_P_BETTER for p in g["p_a1_better"]))},
        "null_p_rope": {"target": f">= {TARGET_P_ROPE} in every repetition",
                        "met": sum(p >= TARGET_P_ROPE for p in nl["p_rope"]), "n": nl["n"], "min": min(nl["p_rope"]),
                        "verdict": verdict(all(p >= TARGET_P_ROPE for p in nl["p_rope"]))},
    }
    for scen, s in (("gap", g), ("null", nl)):
        out["criteria"][f"{scen}_multiplier_coverage"] = {
            "target": f">= {TARGET_COVERAGE:.0%} of repetitions", "covered": s["multiplier_covered"], "n": s["n"],
            "rate": s["multiplier_coverage"], "verdict": verdict(s["multiplier_coverage"] >= TARGET_COVERAGE)}
    pooled = sum(s["multiplier_covered"] for s in (g, nl))
    npool = g["n"] + nl["n"]
    out["criteria"]["pooled_multiplier_coverage"] = {
        "target": f">= {TARGET_COVERAGE:.0%} of repetitions", "covered": pooled, "n": npool, "rate": pooled / npool,
        "cp95": cp_interval(pooled, npool), "verdict": verdict(pooled / npool >= TARGET_COVERAGE)}
    return out


def print_summary(summ: dict, rows: list[dict], separate: bool) -> None:
    say("\nSummary")
    for scen, s in summ["per_scenario"].items():
        say(f"  [{scen}] n={s['n']}: P(a1<a2) min {min(s['p_a1_better']):.4f} median {np.median(s['p_a1_better']):.4f}; "
            f"P(rope) min {min(s['p_rope']):.4f} median {np.median(s['p_rope']):.4f}")
        lo, hi = s["multiplier_coverage_cp95"]
        say(f"         multiplier: true median {s['median_true_multiplier']:.3f}; 90% coverage {s['multiplier_covered']}/{s['n']} "
            f"= {s['multiplier_coverage']:.0%} [CP95 {lo:.0%}-{hi:.0%}]; a1-vs-a3 coverage {s['multiplier_a3_coverage']:.0%}; "
            f"median 90% width (hi/lo) {math.exp(s['median_multiplier_ci90_width_log']):.2f}x")
        say(f"         relative loss difference L_a2/L_a1 - 1: median 90% width {s['median_rel_diff_ci90_width']:.4f}; "
            f"90% interval covers the true gap in {s['rel_diff_coverage']:.0%} (unpaired {s['unpaired_rel_diff_coverage']:.0%}"
            + (f", separate fits {s['separate']['rel_diff_coverage']:.0%})" if separate else ")"))
        say(f"         unpaired (paired=False): width ratio unpaired/paired median {s['median_width_ratio_unpaired_over_paired']:.2f}; "
            f"P(a1<a2) min {min(s['unpaired_p_a1_better']):.4f}; P(rope) min {min(s['unpaired_p_rope']):.4f} "
            f"median {np.median(s['unpaired_p_rope']):.4f}")
        say(f"         ranking: expected-rank order correct ({'a1 < a3 < a2' if scen == 'gap' else 'a3 last'}) in "
            f"{s['rank_order_correct']}/{s['n']}; median P(a1 best) {s['p_best_a1_median']:.2f}")
        say(f"         hierarchical fits: median {s['fit_s_median']:.1f} s, diagnostics failed {s['diagnostics_failed']}/{s['n']} "
            f"(worst R-hat {s['worst_r_hat']:.3f}, min bulk ESS {s['min_ess_bulk']:.0f}, {s['divergences']} divergences; "
            f"worst-R-hat variables {s['worst_r_hat_variables']}); compared quantities (rel diff, log multiplier): "
            f"R-hat max {s['query_r_hat_max']:.3f}, bulk ESS min {s['query_ess_bulk_min']:.0f}")
        if separate:
            sp = s["separate"]
            say(f"         separate fits: width ratio separate/paired median {sp['median_width_ratio_over_paired']:.2f}; "
                f"multiplier log-width ratio {sp['median_multiplier_log_width_ratio']:.2f}; P(a1<a2) min {min(sp['p_a1_better']):.4f}; "
                f"P(rope) min {min(sp['p_rope']):.4f} median {np.median(sp['p_rope']):.4f}; multiplier coverage "
                f"{sp['multiplier_coverage']:.0%} (a1-a3 {sp['multiplier_a3_coverage']:.0%}); fits failing diagnostics "
                f"{sp['fits_with_diagnostics_failed']}/{3 * s['n']}")
    say("\nCriteria")
    for name, c in summ["criteria"].items():
        extra = {k: v for k, v in c.items() if k not in ("target", "verdict")}
        say(f"  {name:<28} target {c['target']:<36} {extra}  -> {c['verdict']}")
    same = all(r["unpaired"]["multiplier_identical_to_paired"] for r in rows)
    say(f"\nNote: compare_groups(paired=False)['compute_multiplier'] identical to the paired one in every repetition: {same}")
    ck = {k: max(r["checks"][k] for r in rows) for k in rows[0]["checks"]}
    say(f"Self-checks (max over repetitions): {ck}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=10, help="repetitions per scenario (default 10)")
    ap.add_argument("--quick", action="store_true", help="3 repetitions per scenario")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-separate", action="store_true", help="skip the separate-fits baseline")
    ap.add_argument("--json", type=Path, help="write every number to this file")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else args.reps

    import nutpie
    import pymc
    import pytensor

    env = {"date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
           "python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
           "pymc": pymc.__version__, "pytensor": pytensor.__version__, "nutpie": nutpie.__version__,
           "numpy": np.__version__, "bayes_scaling": getattr(bs, "__version__", "?"), "loadavg_start": os.getloadavg(),
           "argv": sys.argv[1:], "reps": reps, "draws": args.draws, "tune": args.tune, "c_target": C_TARGET}
    say(f"bench_compare: {reps} repetitions x {list(SCENARIOS)}; Chinchilla hierarchical fit vary={VARY}, "
        f"4 chains x ({args.tune} tune + {args.draws} draws); C_target = {C_TARGET:.0e} FLOPs; {env['date_utc']}; "
        f"{env['cpus']} CPUs; load {env['loadavg_start'][0]:.2f}")
    t0 = T()
    rows = []
    for scen in SCENARIOS:
        for rep in range(reps):
            r = run_rep(scen, rep, args.seed, args)
            rows.append(r)
            say(f"  {scen} rep {rep}: fit {r['fit_s']:.1f} s, P(a1<a2) {r['p_a1_better']:.4f}, P(rope) {r['p_rope']:.4f}, "
                f"mult {r['multiplier_median']:.3f} [{r['multiplier_ci90'][0]:.3f}, {r['multiplier_ci90'][1]:.3f}] "
                f"true {r['true_multiplier']['a2']:.3f}" + ("" if r["diagnostics"]["ok"] else
                                                           f"; diagnostics: {'; '.join(r['diagnostics']['problems'])}"))
    total = T() - t0
    say("")
    print_rows(rows, not args.no_separate)
    summ = summarise(rows, not args.no_separate)
    print_summary(summ, rows, not args.no_separate)
    env["loadavg_end"] = os.getloadavg()
    env["total_s"] = total
    say(f"\nFirst hierarchical fit (includes the compile): {rows[0]['fit_s']:.1f} s; total {total:.0f} s; "
        f"load {env['loadavg_end'][0]:.2f} at the end")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"env": env, "summary": summ, "rows": rows}, indent=1, default=float))
        say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
