"""Benchmark: Bayesian Chinchilla fit (PyMC + nutpie) against a fair SciPy Huber + bootstrap baseline.

Data: Epoch's extraction of Hoffmann et al.'s Figure 4 (``svg_extracted_data.csv``, all 245 rows;
N = ``Model Size`` total parameters, C = ``Training FLOP`` in FLOPs, D = C / (6N) tokens, loss in
nats/token). The folder comes from ``$BAYES_SCALING_DATASETS`` (default ``../shared/datasets``
relative to the repository root).

One run measures, in order (all times are wall-clock seconds, ``time.perf_counter``):

1. **Cold fit** -- a fresh ``python`` subprocess that imports ``bayes_scaling``, loads the CSV and
   fits (4 chains x (1000 tune + 1000 draws)); timed from outside, interpreter start-up, imports
   and numba compilation included. Repeated; each run and the minimum are reported.
2. **Where the cold fit goes** -- one more subprocess that times the stages separately (imports,
   compile split into nutpie's ``numba.cfunc`` and the rest, sampling with low-rank vs diagonal
   mass-matrix adaptation with leapfrog steps per draw, post-processing), and (full mode) the
   compile once more against an empty PyTensor compile cache.
3. **Warm refit** -- in this process, one fit (compiles) and then refits on bootstrap resamples of
   the rows with new seeds; the time of each ``bayes_scaling.fit`` call; median reported.
4. **Baseline** -- Hoffmann-style point fit (Huber, delta = 1e-3, on log-loss; L-BFGS-B with analytic
   gradients; log L = LSE(a - alpha log N, b - beta log D, e)) from a grid of starts, then a
   nonparametric bootstrap where every resample is refitted from a fixed grid of starts (not from
   the full-data optimum) with a convergence audit. The collapsed "trap" bootstrap (refits started
   at the optimum, finite-difference gradients, default tolerances) is run too, to show the
   difference. BLAS is limited to one thread for the baseline (measured effect printed).
5. Intervals (baseline 95% bootstrap, Bayesian 90%/95% equal-tailed) next to Epoch's published
   95% bootstrap intervals; timing ratios; PASS/MISS against the targets.

Usage::

    .venv/bin/python benchmarks/bench_fit.py            # full (~2.5-3 min on 2 cores)
    .venv/bin/python benchmarks/bench_fit.py --quick    # fewer repeats, B = 50, no cache probe
    .venv/bin/python benchmarks/bench_fit.py --json benchmarks/latest.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

T = time.perf_counter
REPO = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).resolve().with_name("_fit_helper.py")
CSV_REL = Path("chinchilla_epoch_besiroglu2024") / "svg_extracted_data.csv"
LOAD_KW = dict(params_col="Model Size", compute_col="Training FLOP", tokens_col=None)

#: Targets, seconds.
TARGET_COLD_S = 8.0
TARGET_WARM_S = 1.5

#: Epoch AI's published 95% bootstrap intervals (Besiroglu et al. 2024, arXiv:2404.10102; 240 rows,
#: 5 highest-loss points dropped, 4000 resamples). Literature values, not measurements of this run.
EPOCH_CI95 = {"A": (285.21, 743.63), "B": (1042.36, 5810.34), "E": (1.769, 1.871),
              "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}
#: Epoch's notebook point fit (grid-search L-BFGS, plain Huber objective, 240 rows): used to validate
#: this baseline's implementation on the same 240-row sample. Literature values.
EPOCH_LBFGS_240 = {"A": 477.84, "B": 2143.86, "E": 1.8172, "alpha": 0.3473, "beta": 0.3672}
PARAMS = ("E", "A", "B", "alpha", "beta")

#: Huber threshold on log-loss residuals (Hoffmann et al. 2022).
HUBER_DELTA = 1e-3


def dataset_csv() -> Path:
    """Path of Epoch's CSV under ``$BAYES_SCALING_DATASETS`` (default ``<repo>/../shared/datasets``)."""
    root = os.environ.get("BAYES_SCALING_DATASETS")
    base = Path(root) if root else REPO.parent / "shared" / "datasets"
    path = base / CSV_REL
    if not path.is_file():
        sys.exit(f"error: {path} not found; set BAYES_SCALING_DATASETS to the datasets folder")
    return path


def say(msg: str = "") -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------------
# 1-2. Cold fit in fresh subprocesses
# ------------------------------------------------------------------------------------------------
def run_helper(args: list[str], env: dict | None = None) -> tuple[float, dict, str]:
    """Run ``_fit_helper.py`` in a fresh interpreter; returns (wall seconds incl. start-up, payload, stderr)."""
    t = T()
    proc = subprocess.run([sys.executable, str(HELPER), *args], capture_output=True, text=True, cwd=REPO,
                          env=env)
    wall = T() - t
    if proc.returncode != 0:
        raise RuntimeError(f"helper {args[0]} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON: ")][-1]
    return wall, json.loads(line[len("BENCH_JSON: "):]), proc.stderr


def bench_cold(csv: Path, repeats: int) -> dict:
    """Wall time (s) of ``repeats`` fresh-process fits: import + load + compile + sample + post-process."""
    runs = []
    for i in range(repeats):
        wall, info, _ = run_helper(["fit", "--csv", str(csv), "--seed", "1"])
        info["wall_s"] = wall
        runs.append(info)
        say(f"  cold fit {i + 1}/{repeats}: {wall:6.2f} s wall  (import {info['import_s']:.2f} s, "
            f"fit {info['fit_s']:.2f} s, R-hat max {info['r_hat_max']:.4f}, divergences {info['divergences']})")
    walls = [r["wall_s"] for r in runs]
    return {"runs": runs, "wall_s": walls, "min_s": min(walls)}


def bench_breakdown(csv: Path, diag: bool, empty_cache_probe: bool) -> dict:
    """Stage times (s) of one cold fit; optionally the compile again with an empty PyTensor cache."""
    args = ["breakdown", "--csv", str(csv), "--seed", "1"] + (["--diag"] if diag else [])
    wall, out, _ = run_helper(args)
    out["wall_s"] = wall
    res = {"warm_cache": out}
    if empty_cache_probe:
        tmp = tempfile.mkdtemp(prefix="bench_pytensor_")
        try:
            env = dict(os.environ)
            flags = env.get("PYTENSOR_FLAGS", "")
            env["PYTENSOR_FLAGS"] = (flags + "," if flags else "") + f"base_compiledir={tmp}"
            wall, probe, _ = run_helper(["breakdown", "--csv", str(csv), "--no-sample"], env=env)
            probe["wall_s"] = wall
            res["empty_cache"] = probe
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


# ------------------------------------------------------------------------------------------------
# 3. Warm refit in this process
# ------------------------------------------------------------------------------------------------
def bench_warm(csv: Path, repeats: int, seed: int) -> dict:
    """First in-process fit (compiles), then ``repeats`` refits on bootstrap resamples of the rows.

    Times are of the ``bayes_scaling.fit`` call only (s). Returns also the full-data posterior
    summaries at 90% and 95%, and its diagnostics.
    """
    import bayes_scaling as bs

    frame = pd.read_csv(csv)
    runs = bs.load_runs(csv, **LOAD_KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = T()
        res = bs.fit(runs, law="chinchilla", seed=seed, progress=False)
        first = T() - t
    say(f"  first fit in this process (compiles): {first:.2f} s")
    d = res.diagnostics
    rng = np.random.default_rng(seed)
    refits = []
    for i in range(repeats):
        idx = rng.integers(0, len(frame), len(frame))
        r_runs = bs.load_runs(frame.iloc[idx].reset_index(drop=True), **LOAD_KW)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t = T()
            r = bs.fit(r_runs, law="chinchilla", seed=seed + 1 + i, progress=False)
            dt = T() - t
        rd = r.diagnostics
        refits.append({"s": dt, "r_hat_max": rd.r_hat_max, "divergences": rd.divergences})
        say(f"  warm refit {i + 1}/{repeats} (bootstrap rows, seed {seed + 1 + i}): {dt:.2f} s  "
            f"(R-hat max {rd.r_hat_max:.4f}, divergences {rd.divergences})")
    times = [r["s"] for r in refits]

    def table(prob: float) -> dict:
        s = res.summary(ci_prob=prob)
        return {p: {k: float(s.loc[p, k]) for k in ("median", "ci_low", "ci_high", "r_hat", "ess_bulk")}
                for p in s.index}

    return {
        "first_fit_s": first,
        "refits": refits,
        "refit_s": times,
        "median_s": float(np.median(times)),
        "summary90": table(0.90),
        "summary95": table(0.95),
        "diagnostics": {"r_hat_max": d.r_hat_max, "ess_bulk_min": d.ess_bulk_min, "ess_tail_min": d.ess_tail_min,
                        "divergences": d.divergences, "chains": d.n_chains, "draws": d.n_draws},
    }


# ------------------------------------------------------------------------------------------------
# 4. Baseline: Huber on log-loss, L-BFGS-B, bootstrap
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogData:
    """Centred logs: ``xN = log N - mN``, ``xD = log D - mD`` (N parameters, D tokens), ``y = log loss``."""

    xN: np.ndarray
    xD: np.ndarray
    y: np.ndarray
    mN: float
    mD: float

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "LogData":
        N = frame["Model Size"].to_numpy(float)
        C = frame["Training FLOP"].to_numpy(float)
        lN, lD = np.log(N), np.log(C / (6.0 * N))
        return cls(lN - lN.mean(), lD - lD.mean(), np.log(frame["loss"].to_numpy(float)),
                   float(lN.mean()), float(lD.mean()))

    def take(self, idx: np.ndarray) -> "LogData":
        """Rows ``idx`` (same centring, so parameters stay comparable)."""
        return LogData(self.xN[idx], self.xD[idx], self.y[idx], self.mN, self.mD)


def huber_objective(theta: np.ndarray, d: LogData) -> tuple[float, np.ndarray]:
    """Sum of Huber(r_i)/delta and its analytic gradient.

    ``theta = (a', b', e, alpha, beta)`` in centred form: log L_hat = LSE(a' - alpha xN, b' - beta xD, e),
    i.e. a = a' + alpha mN, A = exp(a) (nats/token x params^alpha), likewise B; E = exp(e) nats/token.
    Dividing by delta keeps the objective O(n |r|) ~ 1-10, so L-BFGS-B's relative tolerances bite.
    """
    a, b, e, al, be = theta
    t1 = a - al * d.xN
    t2 = b - be * d.xD
    m = np.maximum(np.maximum(t1, t2), e)
    e1, e2, e3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = e1 + e2 + e3
    r = m + np.log(s) - d.y
    ar = np.abs(r)
    f = np.where(ar <= HUBER_DELTA, 0.5 * r * r / HUBER_DELTA, ar - 0.5 * HUBER_DELTA).sum()
    g = np.clip(r / HUBER_DELTA, -1.0, 1.0) / s
    g1, g2 = g * e1, g * e2
    grad = np.array([g1.sum(), g2.sum(), (g * e3).sum(), -(g1 * d.xN).sum(), -(g2 * d.xD).sum()])
    return float(f), grad


def to_user(theta: np.ndarray, d: LogData) -> dict[str, float]:
    """Centred optimiser parameters -> E, A, B (nats/token scales), alpha, beta."""
    a, b, e, al, be = theta
    return {"E": float(np.exp(e)), "A": float(np.exp(a + al * d.mN)), "B": float(np.exp(b + be * d.mD)),
            "alpha": float(al), "beta": float(be)}


def from_user(p: dict, d: LogData) -> np.ndarray:
    return np.array([np.log(p["A"]) - p["alpha"] * d.mN, np.log(p["B"]) - p["beta"] * d.mD,
                     np.log(p["E"]), p["alpha"], p["beta"]])


def start_grid(levels: dict[str, tuple]) -> list[np.ndarray]:
    """Cartesian grid of centred starts over (a', b', e, alpha, beta)."""
    keys = ("a", "b", "e", "alpha", "beta")
    return [np.array(v, float) for v in itertools.product(*(levels[k] for k in keys))]


#: Full-data fit: 3^5 = 243 starts. a', b' = log of each reducible term at the mean log N / log D.
FULL_GRID = start_grid({"a": (-4.0, -2.0, 0.0), "b": (-4.0, -2.0, 0.0), "e": (0.0, 0.5, 1.0),
                        "alpha": (0.1, 0.5, 1.0), "beta": (0.1, 0.5, 1.0)})
#: Each bootstrap resample: 2^5 = 32 starts, independent of the full-data optimum.
BOOT_GRID = start_grid({"a": (-3.0, -1.0), "b": (-3.0, -1.0), "e": (0.0, 0.5),
                        "alpha": (0.2, 0.6), "beta": (0.2, 0.6)})
LBFGS_OPTS = {"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8}
AGREE_RTOL = 1e-6


def multistart(d: LogData, starts: list[np.ndarray], extra: np.ndarray | None = None) -> dict:
    """L-BFGS-B from every start; the best minimum plus convergence counts.

    ``n_agree``: starts whose minimum is within a relative 1e-6 of the best grid minimum (several
    independent starts landing on one value is the convergence check); ``n_success``: scipy's flag.
    ``extra`` (the full-data optimum) is an audit start: ``extra_better`` says it beat the grid.
    """
    fs, xs, ok = [], [], 0
    for s in starts:
        r = minimize(huber_objective, s, args=(d,), jac=True, method="L-BFGS-B", options=LBFGS_OPTS)
        fs.append(r.fun)
        xs.append(r.x)
        ok += bool(r.success)
    fs = np.asarray(fs)
    i = int(np.argmin(fs))
    best_f, best_x = float(fs[i]), xs[i]
    out = {"n_starts": len(starts), "n_success": ok,
           "n_agree": int(np.sum(fs <= best_f + AGREE_RTOL * max(1.0, abs(best_f))))}
    out["extra_better"] = False
    if extra is not None:
        r = minimize(huber_objective, extra, args=(d,), jac=True, method="L-BFGS-B", options=LBFGS_OPTS)
        if r.fun < best_f - AGREE_RTOL * max(1.0, abs(best_f)):
            out["extra_better"] = True
            best_f, best_x = float(r.fun), r.x
    out.update(f=best_f, theta=best_x)
    return out


def trap_fit(d: LogData, start_user: dict) -> dict[str, float]:
    """The collapsing refit (for contrast only): start at the optimum, raw (uncentred) parameters,
    unscaled Huber sum (~1e-5 per point), finite-difference gradients, scipy's default tolerances."""
    lN, lD = d.xN + d.mN, d.xD + d.mD

    def f(th):
        a, b, e, al, be = th
        r = np.logaddexp(np.logaddexp(a - al * lN, b - be * lD), e) - d.y
        ar = np.abs(r)
        return np.where(ar <= HUBER_DELTA, 0.5 * r * r, HUBER_DELTA * (ar - 0.5 * HUBER_DELTA)).sum()

    x0 = np.array([np.log(start_user["A"]), np.log(start_user["B"]), np.log(start_user["E"]),
                   start_user["alpha"], start_user["beta"]])
    r = minimize(f, x0, method="L-BFGS-B")
    a, b, e, al, be = r.x
    return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)), "alpha": float(al),
            "beta": float(be)}


def blas_one_thread():
    """Context limiting BLAS to one thread (threadpoolctl), or a no-op if it is not installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext(), False
    return threadpool_limits(limits=1, user_api="blas"), True


def percentile_ci(draws: dict[str, list[float]], prob: float = 0.95) -> dict[str, tuple[float, float]]:
    q = [(1 - prob) / 2 * 100, (1 + prob) / 2 * 100]
    return {k: tuple(float(x) for x in np.percentile(v, q)) for k, v in draws.items()}


def bench_baseline(csv: Path, n_boot: int, seed: int, blas_probe: bool) -> dict:
    """Time (s) the full-data multistart fit and the B-resample bootstrap; intervals and audits."""
    frame = pd.read_csv(csv)
    d = LogData.from_frame(frame)
    out: dict = {}

    if blas_probe:  # the effect of OpenBLAS threads on tiny L-BFGS-B problems, measured here
        def ten():
            t = T()
            for s in BOOT_GRID[:10]:
                minimize(huber_objective, s, args=(d,), jac=True, method="L-BFGS-B", options=LBFGS_OPTS)
            return (T() - t) / 10
        default_s = ten()
        ctx, _ = blas_one_thread()
        with ctx:
            one_s = ten()
        out["blas_probe"] = {"default_threads_s_per_start": default_s, "one_thread_s_per_start": one_s}
        say(f"  L-BFGS-B per start: {default_s * 1e3:.1f} ms with default BLAS threads, "
            f"{one_s * 1e3:.1f} ms with 1 thread -> baseline runs with 1 BLAS thread")

    ctx, limited = blas_one_thread()
    out["blas_one_thread"] = limited
    with ctx:
        t = T()
        full = multistart(d, FULL_GRID)
        out["point_fit_s"] = T() - t
        best = to_user(full["theta"], d)
        out["point_fit"] = {"params": best, "objective": full["f"], "n_starts": full["n_starts"],
                            "n_agree": full["n_agree"], "n_success": full["n_success"]}
        say(f"  point fit ({full['n_starts']} starts): {out['point_fit_s']:.2f} s; "
            f"{full['n_agree']} starts agree on the minimum {full['f']:.6f}")

        # Validation (not part of the timed baseline): Epoch's 240-row sample (5 highest losses dropped).
        f240 = frame.drop(frame["loss"].nlargest(5).index)
        d240 = LogData.from_frame(f240)
        t = T()
        v = multistart(d240, FULL_GRID)
        out["validation_240"] = {"params": to_user(v["theta"], d240), "s": T() - t, "n_agree": v["n_agree"]}

        rng = np.random.default_rng(seed)
        idxs = [rng.integers(0, len(d.y), len(d.y)) for _ in range(n_boot)]
        boot = {k: [] for k in PARAMS}
        agree, success, extra_better = [], [], 0
        t = T()
        for idx in idxs:
            r = multistart(d.take(idx), BOOT_GRID, extra=full["theta"])
            for k, v in to_user(r["theta"], d).items():
                boot[k].append(v)
            agree.append(r["n_agree"])
            success.append(r["n_success"])
            extra_better += r["extra_better"]
        out["bootstrap_s"] = T() - t
        out["bootstrap"] = {
            "B": n_boot, "starts_per_resample": len(BOOT_GRID) + 1,
            "ci95": percentile_ci(boot),
            "agree_min": int(min(agree)), "agree_median": float(np.median(agree)),
            "resamples_with_single_agreeing_start": int(sum(a <= 1 for a in agree)),
            "success_fraction": float(np.sum(success) / (n_boot * len(BOOT_GRID))),
            "audit_start_beat_grid": int(extra_better),
        }
        say(f"  bootstrap B={n_boot} x {len(BOOT_GRID) + 1} starts: {out['bootstrap_s']:.2f} s "
            f"({out['bootstrap_s'] / n_boot * 1e3:.0f} ms/resample); grid starts agreeing on the minimum: "
            f"min {min(agree)}, median {np.median(agree):.0f} of {len(BOOT_GRID)}; "
            f"audit start beat the grid in {extra_better}/{n_boot}")

        t = T()
        trap = {k: [] for k in PARAMS}
        for idx in idxs:
            for k, v in trap_fit(d.take(idx), best).items():
                trap[k].append(v)
        out["trap_s"] = T() - t
        out["trap_ci95"] = percentile_ci(trap)
    out["total_s"] = out["point_fit_s"] + out["bootstrap_s"]
    return out


# ------------------------------------------------------------------------------------------------
# Reporting
# ------------------------------------------------------------------------------------------------
def fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 100 else f"{v:.0f}"


def fmt_ci(ci) -> str:
    return f"{fmt(ci[0])}-{fmt(ci[1])}"


def report(res: dict) -> None:
    warm, base, cold = res["warm"], res["baseline"], res["cold"]
    s90, s95 = warm["summary90"], warm["summary95"]
    say("\n== Intervals (all 245 rows; Epoch: 240 rows, 5 highest-loss dropped) ==")
    hdr = f"{'param':<6} {'Epoch 95% boot':>16} {'baseline 95% boot':>18} {'trap 95% boot':>16} " \
          f"{'Bayes median':>12} {'Bayes 90%':>16} {'Bayes 95%':>16} {'median in Epoch 95%':>20}"
    say(hdr)
    for p in PARAMS:
        med = s95[p]["median"]
        lo, hi = EPOCH_CI95[p]
        say(f"{p:<6} {fmt_ci(EPOCH_CI95[p]):>16} {fmt_ci(base['bootstrap']['ci95'][p]):>18} "
            f"{fmt_ci(base['trap_ci95'][p]):>16} {fmt(med):>12} {fmt_ci((s90[p]['ci_low'], s90[p]['ci_high'])):>16} "
            f"{fmt_ci((s95[p]['ci_low'], s95[p]['ci_high'])):>16} {('yes' if lo <= med <= hi else 'NO'):>20}")
    bp = base["point_fit"]["params"]
    say("baseline point fit (245 rows): " + ", ".join(f"{p} {fmt(bp[p])}" for p in PARAMS))
    v = base["validation_240"]["params"]
    say("baseline point fit (Epoch's 240 rows, validation): " + ", ".join(f"{p} {fmt(v[p])}" for p in PARAMS))
    say("Epoch notebook L-BFGS point fit (240 rows, published): "
        + ", ".join(f"{p} {fmt(EPOCH_LBFGS_240[p])}" for p in PARAMS))
    say("(baseline and Bayes intervals use all 245 rows, Epoch's use 240: compare widths, not exact bounds)")

    say("\n== Sanity: interval widths relative to Epoch's published 95% bootstrap widths ==")
    for p in ("alpha", "beta", "E"):
        w_epoch = EPOCH_CI95[p][1] - EPOCH_CI95[p][0]
        wb = np.diff(base["bootstrap"]["ci95"][p])[0] / w_epoch
        wt = np.diff(base["trap_ci95"][p])[0] / w_epoch
        wbay = (s95[p]["ci_high"] - s95[p]["ci_low"]) / w_epoch
        say(f"{p:<6} baseline {wb:5.2f}x   trap {wt:6.3f}x   Bayes 95% {wbay:5.2f}x"
            + ("   <- baseline interval collapsed?" if wb < 0.3 else ""))
    res["sanity"] = {"baseline_collapsed": bool(any(
        np.diff(base["bootstrap"]["ci95"][p])[0] < 0.3 * (EPOCH_CI95[p][1] - EPOCH_CI95[p][0])
        for p in ("alpha", "beta", "E")))}

    dg = warm["diagnostics"]
    say(f"\nBayes diagnostics (full data, seed {res['config']['seed']}): R-hat max {dg['r_hat_max']:.4f}, "
        f"bulk ESS min {dg['ess_bulk_min']:.0f}, divergences {dg['divergences']} "
        f"({dg['chains']} chains x {dg['draws']} draws)")

    bd = res["breakdown"]["warm_cache"]
    say("\n== Where the cold fit goes (one fresh process, PyTensor cache warm) ==")
    say(f"import bayes_scaling {bd['import_bayes_scaling_s']:.2f} s, PyMC+nutpie {bd['import_pymc_nutpie_s']:.2f} s; "
        f"compile {bd['compile_s']:.2f} s (nutpie numba.cfunc {bd['compile_cfunc_s']:.2f} s, "
        f"other {bd['compile_other_s']:.2f} s); sample low-rank {bd['sample_low_rank_s']:.2f} s "
        f"({bd['n_steps_low_rank']:.1f} leapfrog steps/draw); post-process {bd['postprocess_s']:.2f} s")
    if "sample_diag_s" in bd:
        say(f"same sampler with diagonal adaptation: {bd['sample_diag_s']:.2f} s ({bd['n_steps_diag']:.1f} steps/draw)")
    if "empty_cache" in res["breakdown"]:
        ec = res["breakdown"]["empty_cache"]
        say(f"compile with an EMPTY PyTensor cache: {ec['compile_s']:.2f} s (numba.cfunc {ec['compile_cfunc_s']:.2f} s)"
            f" vs {bd['compile_s']:.2f} s warm")

    say("\n== Timing (wall s) ==")
    cold_min, warm_med, base_tot = cold["min_s"], warm["median_s"], base["total_s"]
    say("cold fit (fresh process): " + ", ".join(f"{w:.2f}" for w in cold["wall_s"]) + f"  min {cold_min:.2f}")
    say("warm refit: " + ", ".join(f"{w:.2f}" for w in warm["refit_s"]) + f"  median {warm_med:.2f}")
    say(f"baseline: point fit {base['point_fit_s']:.2f} + bootstrap {base['bootstrap_s']:.2f} = {base_tot:.2f}"
        f"  (trap bootstrap, for contrast: {base['trap_s']:.2f})")
    ratios = {"cold_over_baseline": cold_min / base_tot, "warm_over_baseline": warm_med / base_tot}
    res["ratios"] = ratios
    say(f"ratio cold fit / baseline (point fit + bootstrap): {ratios['cold_over_baseline']:.2f}")
    say(f"ratio warm refit / baseline:                       {ratios['warm_over_baseline']:.3f}")
    verdict = {"cold": cold_min <= TARGET_COLD_S, "warm": warm_med <= TARGET_WARM_S}
    res["targets"] = {"cold_s": TARGET_COLD_S, "warm_s": TARGET_WARM_S,
                      "cold_pass": verdict["cold"], "warm_pass": verdict["warm"]}
    say(f"target cold fit <= {TARGET_COLD_S:.1f} s: {cold_min:.2f} s  {'PASS' if verdict['cold'] else 'MISS'}")
    say(f"target warm refit <= {TARGET_WARM_S:.1f} s: {warm_med:.2f} s  {'PASS' if verdict['warm'] else 'MISS'}")


def environment() -> dict:
    import importlib.metadata as md

    vers = {}
    for pkg in ("pymc", "pytensor", "nutpie", "numba", "numpy", "scipy"):
        try:
            vers[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            vers[pkg] = None
    return {"date": _dt.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
            "versions": vers}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="1 cold fit, 2 warm refits, B=50, no empty-cache probe, no diagonal-adaptation run")
    p.add_argument("--json", metavar="PATH", help="write all measured numbers to PATH")
    p.add_argument("--cold-repeats", type=int)
    p.add_argument("--warm-repeats", type=int)
    p.add_argument("--bootstrap", type=int, metavar="B", help="bootstrap resamples for the baseline")
    p.add_argument("--no-cache-probe", action="store_true", help="skip the empty-PyTensor-cache compile")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    cold_n = a.cold_repeats or (1 if a.quick else 2)
    warm_n = a.warm_repeats or (2 if a.quick else 3)
    n_boot = a.bootstrap or (50 if a.quick else 200)
    probe = not (a.quick or a.no_cache_probe)

    csv = dataset_csv()
    env = environment()
    say(f"bench_fit: {csv} | {env['cpus']} CPUs, load avg {env['load_avg_at_start'][0]:.2f} | "
        f"cold x{cold_n}, warm x{warm_n}, B={n_boot}" + (" (quick)" if a.quick else ""))
    t_all = T()
    res: dict = {"environment": env, "config": {"quick": a.quick, "cold_repeats": cold_n, "warm_repeats": warm_n,
                                                "bootstrap": n_boot, "seed": a.seed, "csv": str(csv),
                                                "draws": 1000, "tune": 1000, "chains": 4}}
    say("\n[1] cold fit in fresh processes")
    res["cold"] = bench_cold(csv, cold_n)
    say("\n[2] cold-fit breakdown" + (" (+ empty-cache compile probe)" if probe else ""))
    res["breakdown"] = bench_breakdown(csv, diag=not a.quick, empty_cache_probe=probe)
    say("  done")
    say("\n[3] warm refit in this process")
    res["warm"] = bench_warm(csv, warm_n, a.seed)
    say("\n[4] SciPy baseline (Huber delta=1e-3 on log-loss, L-BFGS-B, analytic gradients)")
    res["baseline"] = bench_baseline(csv, n_boot, a.seed, blas_probe=True)
    report(res)
    res["bench_wall_s"] = T() - t_all
    res["environment"]["load_avg_at_end"] = os.getloadavg()
    say(f"\nbenchmark wall time {res['bench_wall_s']:.0f} s; load average at end "
        f"{res['environment']['load_avg_at_end'][0]:.2f} (other processes inflate timings)")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=float) + "\n")
        say(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
