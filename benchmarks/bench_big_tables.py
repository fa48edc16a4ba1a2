"""Fits of learning-curve tables (runs x logged steps): wall time, peak memory and fit file size.

A table of ``--rows`` rows (default 1e5) is simulated: 250 runs with N log-spaced over 3 decades
(1e7-1e10 parameters), each trained to 10-40 tokens per parameter and logged at evenly spaced steps
from 1/40 of its tokens to all of them (D over 1.6 decades per run, 3.2 overall), loss from the
Chinchilla law (Hoffmann et al. 2022's form; E 1.8, A 400, B 2000, alpha 0.34, beta 0.36) with
Student-t(4) noise of scale 0.01 on log-loss. ``bayes-scaling fit`` runs in a fresh process with
its defaults (4 chains x 1000 draws; tables of 1e4+ rows: whitened from a pilot mode, 200 tuning
steps, numba unless ``--route jax``: :mod:`bayes_scaling.inference.whiten`); its wall time, peak resident
memory (``wait4``) and file size are printed beside the targets (<= 60 s, <= 2 GB at 1e5 rows;
<= 600 s at 1e6 rows with ``--full``), with the diagnostics (R-hat, ESS bulk/tail), ESS per second,
the gradient evaluations per kept draw and the cost of one log-density gradient at that size on
each backend (the sampler's unit of work).

Baseline, in the same run: the same fit of a ``--baseline-rows`` table (default 1e4) on each route:
``off`` (big tables sampled as before: support-point start, 1000 tuning steps, numba), ``numba`` and
``jax`` (whitened; jax only when installed), with the ratios of time and ESS per second to ``off``.
``--loglik-baseline`` also refits it storing the pointwise log-likelihood, as every fit did before.

    .venv/bin/python benchmarks/bench_big_tables.py [--rows 1e5] [--full] [--baseline-rows 1e4]
        [--draws 1000] [--tune N] [--route auto|numba|jax|off] [--no-baseline] [--loglik-baseline]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {1e5: {"seconds": 60.0, "peak_gb": 2.0}, 1e6: {"seconds": 600.0, "peak_gb": None}}
TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.36}
#: Runs the driver so that every fit stores its log-likelihood, as before (the baseline).
STORE_ALL = "import bayes_scaling.result.loglik as ll; ll.STORE_MAX_VALUES = 10**15\n"


def learning_curves(rows: int, runs: int = 250, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of ``runs`` simulated learning curves (columns run, params, tokens, loss)."""
    sys.path.insert(0, str(ROOT))
    from bayes_scaling.simulate import simulate_runs

    steps = max(2, rows // runs)
    rng = np.random.default_rng(seed)
    n = np.geomspace(1e7, 1e10, runs)
    d_max = n * rng.uniform(10, 40, runs)
    frac = np.linspace(1 / 40, 1, steps)
    design = pd.DataFrame({"run": np.repeat(np.arange(runs), steps), "params": np.repeat(n, steps),
                           "tokens": (d_max[:, None] * frac[None, :]).ravel()})
    return simulate_runs("chinchilla", TRUTH, design, sigma=0.01, nu=4.0, seed=seed)


def run_fit(csv: Path, out: Path, draws: int, tune: int | None, prelude: str = "", timeout: float = 1800,
            route: str = "auto") -> dict:
    """``bayes-scaling fit`` in a fresh process: wall seconds, peak RSS (GB), file size (MB), exit code.
    ``route``: ``$BAYES_SCALING_BIG_BACKEND`` (auto, numba, jax, off)."""
    code = prelude + "from bayes_scaling.cli import console\nraise SystemExit(console())\n"
    cmd = [sys.executable, "-c", code, "fit", str(csv), "--law", "chinchilla", "--out", str(out),
           "--compute-col", "", "--draws", str(draws), "--seed", "1", *(["--tune", str(tune)] if tune else [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BAYES_SCALING_BIG_BACKEND": route}
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = t0 + timeout
    try:
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.2)
    except BaseException:  # the benchmark interrupted: never leave the fit running
        p.kill()
        raise
    wall = time.perf_counter() - t0
    err = p.stderr.read()
    rc = os.waitstatus_to_exitcode(status)
    return {"seconds": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_gb": usage.ru_maxrss / 1e6, "file_mb": out.stat().st_size / 1e6 if out.exists() else
            float("nan"), "rc": rc, "stderr": err.strip().splitlines()[-1:] if err.strip() else []}


def sampler_work(fit: Path) -> dict:
    """Gradient evaluations per kept draw, diagnostics and the big-table route of a saved fit."""
    sys.path.insert(0, str(ROOT))
    from bayes_scaling.result import FitResult

    res = FitResult.load(fit)
    steps = res.sample_stats["n_steps"].values
    d = res.diagnostics
    cfg = json.loads(res.tree.attrs["sampler_config"])
    pilot = cfg.get("big_table_pilot") or {}
    return {"steps_per_draw": float(steps.mean()), "r_hat_max": d.r_hat_max, "ess_bulk_min": d.ess_bulk_min,
            "ess_tail_min": d.ess_tail_min, "ok": d.ok, "tune": cfg["tune"], "divergences": int(d.divergences),
            "route": f"whitened, {pilot['backend']}" if pilot.get("ok") else "plain",
            "stores_loglik": "log_likelihood" in res.tree.children}


def show_work(r: dict, w: dict) -> None:
    print(f"    {w['route']}, tune {w['tune']}: {w['steps_per_draw']:.1f} gradients per kept draw, r_hat_max "
          f"{w['r_hat_max']:.3f}, ESS bulk/tail min {w['ess_bulk_min']:.0f}/{w['ess_tail_min']:.0f} "
          f"({w['ess_bulk_min'] / r['seconds']:.1f} bulk ESS per wall second), divergences {w['divergences']}, "
          f"diagnostics {'pass' if w['ok'] else 'FAIL'}, log-likelihood stored: {w['stores_loglik']}", flush=True)


def gradient_cost(csv: Path, repeats: int = 20, mode: str = "NUMBA", summed: bool = True) -> float:
    """Seconds of one log-density + gradient evaluation of the fit's model on the table (``mode``:
    PyTensor's NUMBA or JAX backend; ``summed``: the law as log(sum(exp(terms))), as big tables are
    sampled, else as nested log-add-exps, as before)."""
    code = f"""
import time, warnings
warnings.simplefilter("ignore")
import numpy as np
from pymc.blocking import DictToArrayBijection
from bayes_scaling.data.runs import load_runs
from bayes_scaling.inference.fit import resolve_spec
from bayes_scaling.inference.model import build_model, model_data
spec = resolve_spec("chinchilla").synced()
runs = load_runs({str(csv)!r}, compute_col=None)
model = build_model(spec, model_data(spec, runs), summed={summed!r})
f = model.logp_dlogp_function(mode={mode!r})
f.set_extra_values({{}})
ip = model.initial_point()
x = DictToArrayBijection.map({{v.name: ip[v.name] for v in model.value_vars}}).data
f(x)
t = time.perf_counter()
for _ in range({repeats}):
    f(x)
print((time.perf_counter() - t) / {repeats})
"""
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def show(label: str, r: dict, target: dict | None = None) -> bool:
    ok = r["rc"] == 0
    parts = [f"{label}: {r['seconds']:.1f} s", f"CPU {r['cpu_s']:.0f} s (all threads)", f"peak {r['peak_gb']:.2f} GB", f"file {r['file_mb']:.1f} MB",
             f"exit {r['rc']}"]
    if target:
        for key, unit in (("seconds", "s"), ("peak_gb", "GB")):
            if target.get(key) is not None:
                hit = r[key] <= target[key]
                ok &= hit
                parts.append(f"{key} target <= {target[key]:g} {unit}: {'MET' if hit else 'MISSED'}")
    print("  " + ", ".join(parts) + (f"  [{r['stderr'][0]}]" if r["rc"] else ""), flush=True)
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=float, default=1e5)
    ap.add_argument("--full", action="store_true", help="also fit 1e6 rows (target <= 600 s)")
    ap.add_argument("--baseline-rows", type=float, default=1e4)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--loglik-baseline", action="store_true")
    ap.add_argument("--route", default="auto", choices=["auto", "numba", "jax", "off"],
                    help="BAYES_SCALING_BIG_BACKEND of the --rows (and --full) fits")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=None, help="default: the fit's (1000; 200 whitened)")
    args = ap.parse_args(argv)
    has_jax = importlib.util.find_spec("jax") is not None
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load avg {os.getloadavg()}; "
          f"4 chains x ({args.tune or 'default'} tune + {args.draws} draws); jax installed: {has_jax}", flush=True)
    sizes = [int(args.rows)] + ([int(1e6)] if args.full else [])
    ok = True
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for rows in sizes:
            csv = d / f"curves_{rows}.csv"
            learning_curves(rows).to_csv(csv, index=False)
            for mode, summed in (("NUMBA", False), ("NUMBA", True), *((("JAX", True),) if has_jax else ())):
                g = gradient_cost(csv, mode=mode, summed=summed)
                print(f"{rows} rows: one log-density gradient, {mode.lower()}, law as "
                      f"{'log(sum(exp(terms)))' if summed else 'nested log-add-exps (before)'}: {g * 1e3:.2f} ms "
                      f"({g / rows * 1e9:.1f} ns per row)", flush=True)
            r = run_fit(csv, d / f"fit_{rows}.nc", args.draws, args.tune, route=args.route)
            ok &= show(f"{rows} rows", r, TARGETS.get(float(rows)))
            if r["rc"] == 0:
                show_work(r, sampler_work(d / f"fit_{rows}.nc"))
            (d / f"fit_{rows}.nc").unlink(missing_ok=True)
        if not args.no_baseline:
            rows = int(args.baseline_rows)
            csv = d / f"curves_{rows}.csv"
            learning_curves(rows).to_csv(csv, index=False)
            print(f"baseline, {rows} rows: the same fit on each route (off = as before this change)", flush=True)
            base, runs_ = {}, {}
            for route in ("off", "numba", *(("jax",) if has_jax else ())):
                r = runs_[route] = run_fit(csv, d / f"{route}.nc", args.draws, args.tune, route=route)
                show(f"  {route:5s}", r)
                if r["rc"] == 0:
                    w = sampler_work(d / f"{route}.nc")
                    show_work(r, w)
                    base[route] = (r["seconds"], w["ess_bulk_min"] / r["seconds"])
            for route, (sec, ess_s) in base.items():
                if route != "off" and "off" in base:
                    print(f"  {route} / off: time {sec / base['off'][0]:.3f}, bulk ESS per second "
                          f"{ess_s / base['off'][1]:.2f}x", flush=True)
            if args.loglik_baseline:
                before = run_fit(csv, d / "before.nc", args.draws, args.tune, prelude=STORE_ALL, route="off")
                show("  off, log-likelihood stored as before", before)
                if "off" in runs_:
                    off = runs_["off"]
                    print(f"  ratios off (log-likelihood computed when needed) / stored: peak memory "
                          f"{off['peak_gb'] / before['peak_gb']:.2f}, file size {off['file_mb'] / before['file_mb']:.3f}",
                          flush=True)
    if not any(float(rows) in TARGETS for rows in sizes):
        print(f"no targets at {sizes} rows (targets: 1e5 rows <= 60 s and <= 2 GB; 1e6 rows <= 600 s)")
    print("ALL TARGETS MET" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
