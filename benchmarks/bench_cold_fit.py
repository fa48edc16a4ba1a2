"""Benchmark: cold fit (fresh process) on Epoch's 245 runs, both compile routes side by side.

Routes (:mod:`bayes_scaling.inference.compile`, chosen with ``BAYES_SCALING_COMPILE``):

* ``cached`` -- nutpie's numba callbacks compiled with ``cache=True`` under a content key, so a
  fresh process loads them from disk (the default);
* ``nutpie`` -- ``nutpie.compile_pymc_model`` unchanged (its cfuncs cannot be cached: the baseline).

For each route, in a PyTensor compile folder of its own (``PYTENSOR_FLAGS=base_compiledir=<tmp>``,
emptied at the start, so the user's cache is neither used nor touched):

1. **first process** after clearing the caches (everything compiled from scratch), reported apart;
2. **cold fit**: ``--repeats`` further fresh processes (median reported), each timed from outside
   (interpreter start-up included) and split inside into: ``import bayes_scaling``; ``import pymc,
   nutpie``; load the CSV; compile (``compiled_model``); fit (``bayes_scaling.fit``, which reuses the
   compiled model: sampling + post-processing). 4 chains x (1000 tune + 1000 draws), seed 1;
   Then ``--cli-repeats`` fresh ``python -m bayes_scaling fit`` processes (the command a user types;
   it also saves the fit file), median reported;
3. **warm refit**: in one process, after a first fit, ``--warm-repeats`` refits on bootstrap
   resamples of the rows (``with_data`` reuse; median of the ``fit`` calls);
4. **posterior**: means and sds of every parameter, on Epoch's runs and on the bundled example,
   from both routes at the same seed (the routes run the same machine code and random streams, so
   they should agree to the last bit; the largest difference is printed).

Diagnostics of every fit: R-hat max, bulk ESS min, divergences, and ESS per second (bulk ESS min
over the cold process's wall time, and over the fit call's time). Figures are printed beside the
targets: cold fit <= 8 s, warm refit <= 1 s.

Usage::

    .venv/bin/python benchmarks/bench_cold_fit.py                 # ~4-5 min on 2 quiet cores
    .venv/bin/python benchmarks/bench_cold_fit.py --repeats 5 --json /tmp/cold.json
    .venv/bin/python benchmarks/bench_cold_fit.py --routes cached --no-first
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T = time.perf_counter
REPO = Path(__file__).resolve().parents[1]
CSV_REL = Path("chinchilla_epoch_besiroglu2024") / "svg_extracted_data.csv"
LOAD_KW = dict(params_col="Model Size", compute_col="Training FLOP", tokens_col=None)
TARGET_COLD_S = 8.0
TARGET_WARM_S = 1.0
PARAMS = ("E", "A", "B", "alpha", "beta", "sigma")


def say(msg: str = "") -> None:
    print(msg, flush=True)


def dataset_csv() -> Path:
    root = os.environ.get("BAYES_SCALING_DATASETS")
    path = (Path(root) if root else REPO.parent / "shared" / "datasets") / CSV_REL
    if not path.is_file():
        sys.exit(f"error: {path} not found; set BAYES_SCALING_DATASETS to the datasets folder")
    return path


# ------------------------------------------------------------------------------------------------
# Worker (runs in a fresh interpreter)
# ------------------------------------------------------------------------------------------------
def _diag(res, fit_s: float) -> dict:
    d = res.diagnostics
    return {"r_hat_max": d.r_hat_max, "ess_bulk_min": d.ess_bulk_min, "ess_tail_min": d.ess_tail_min,
            "divergences": d.divergences, "ess_per_fit_s": d.ess_bulk_min / fit_s}


def _moments(res) -> dict:
    post = res.tree.posterior
    return {p: {"mean": float(post[p].mean()), "sd": float(post[p].std())} for p in PARAMS}


def worker_cold(csv: str, seed: int) -> dict:
    """Stage times (s) of one cold fit and its diagnostics."""
    import warnings

    out = {"entered_at": time.time()}  # the parent subtracts its spawn time: interpreter start-up
    t = T()
    import bayes_scaling as bs

    out["import_bayes_scaling_s"] = T() - t
    t = T()
    import nutpie  # noqa: F401
    import pymc  # noqa: F401

    out["import_pymc_nutpie_s"] = T() - t
    from bayes_scaling.inference.compile import compile_route
    from bayes_scaling.inference.fit import compiled_model, resolve_spec
    from bayes_scaling.inference.model import model_data

    t = T()
    runs = bs.load_runs(csv, **LOAD_KW)
    out["load_s"] = T() - t
    t = T()
    spec = resolve_spec("chinchilla").synced()
    compiled_model(spec, model_data(spec, runs))
    out["compile_s"] = T() - t
    out["route"] = compile_route()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = T()
        res = bs.fit(runs, law="chinchilla", seed=seed, progress=False)
        out["fit_s"] = T() - t
    out.update(_diag(res, out["fit_s"]))
    out["left_at"] = time.time()  # the parent subtracts this from its exit time: interpreter teardown
    return out


def worker_warm(csv: str, seed: int, repeats: int) -> dict:
    """One process: first fit, refits on bootstrap rows (s each), moments on Epoch and the example."""
    import warnings

    import numpy as np
    import pandas as pd

    import bayes_scaling as bs
    from bayes_scaling.examples import example_path

    frame = pd.read_csv(csv)
    out: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = T()
        res = bs.fit(bs.load_runs(frame, **LOAD_KW), law="chinchilla", seed=seed, progress=False)
        out["first_fit_s"] = T() - t
        out["epoch"] = {"moments": _moments(res), **_diag(res, out["first_fit_s"])}
        rng = np.random.default_rng(seed)
        refits = []
        for i in range(repeats):
            rows = bs.load_runs(frame.iloc[rng.integers(0, len(frame), len(frame))].reset_index(drop=True), **LOAD_KW)
            t = T()
            r = bs.fit(rows, law="chinchilla", seed=seed + 1 + i, progress=False)
            dt = T() - t
            refits.append({"s": dt, **_diag(r, dt)})
        out["refits"] = refits
        ex = bs.fit(bs.load_runs(example_path()), law="chinchilla", seed=seed, progress=False)
        out["example"] = {"moments": _moments(ex), **_diag(ex, 1.0)}
    return out


# ------------------------------------------------------------------------------------------------
# Parent
# ------------------------------------------------------------------------------------------------
def run_worker(args: list[str], env: dict) -> tuple[float, dict]:
    t, spawned = T(), time.time()
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, cwd=REPO,
                          env=env)
    wall, ended = T() - t, time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON: ")][-1]
    out = json.loads(line[len("BENCH_JSON: "):])
    if "entered_at" in out:
        out["startup_s"], out["teardown_s"] = out.pop("entered_at") - spawned, ended - out.pop("left_at")
    return wall, out


def run_cli(csv: Path, seed: int, env: dict, out: Path) -> float:
    """Wall seconds of ``python -m bayes_scaling fit`` on Epoch's runs, saving the fit to ``out``."""
    cmd = [sys.executable, "-m", "bayes_scaling", "fit", str(csv), "--law", "chinchilla", "--params-col", "Model Size",
           "--compute-col", "Training FLOP", "--tokens-col", "", "--seed", str(seed), "--out", str(out)]
    t = T()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    wall = T() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def cold_line(tag: str, wall: float, c: dict) -> str:
    return (f"  {tag}: {wall:6.2f} s wall = imports {c['import_bayes_scaling_s'] + c['import_pymc_nutpie_s']:.2f} "
            f"+ compile {c['compile_s']:.2f} + fit {c['fit_s']:.2f} + start-up {c['startup_s']:.2f} "
            f"+ exit {c['teardown_s']:.2f} + load {c['load_s']:.2f}; R-hat max "
            f"{c['r_hat_max']:.4f}, ESS bulk min {c['ess_bulk_min']:.0f}, {c['divergences']} div, "
            f"ESS/s {c['ess_bulk_min'] / wall:.0f} (per fit-call s: {c['ess_per_fit_s']:.0f})")


def bench_route(route: str, csv: Path, repeats: int, cli_repeats: int, warm_repeats: int, first: bool,
                seed: int) -> dict:
    tmp = tempfile.mkdtemp(prefix=f"bench_cold_{route}_")
    env = dict(os.environ, BAYES_SCALING_COMPILE=route, PYTHONPATH=str(REPO))
    flags = env.get("PYTENSOR_FLAGS", "")
    env["PYTENSOR_FLAGS"] = (flags + "," if flags else "") + f"base_compiledir={tmp}"
    out: dict = {"route": route}
    try:
        say(f"\n[{route}] PyTensor/numba cache folder {tmp} (empty)")
        if not first:  # warm the empty folder without reporting it
            run_worker(["cold", str(csv), str(seed)], env)
        else:
            wall, c = run_worker(["cold", str(csv), str(seed)], env)
            c["wall_s"] = wall
            out["first"] = c
            say(cold_line("first process, caches cleared", wall, c))
        runs = []
        for i in range(repeats):
            wall, c = run_worker(["cold", str(csv), str(seed)], env)
            c["wall_s"] = wall
            runs.append(c)
            say(cold_line(f"cold fit {i + 1}/{repeats}", wall, c))
        out["cold"] = runs
        out["cold_median_s"] = statistics.median(r["wall_s"] for r in runs)
        out["cli_s"] = [run_cli(csv, seed, env, Path(tmp) / f"fit{i}.nc") for i in range(cli_repeats)]
        if out["cli_s"]:
            out["cli_median_s"] = statistics.median(out["cli_s"])
            say("  `bayes-scaling fit` (CLI, fresh process, saves the fit): " + ", ".join(f"{w:.2f}" for w in out["cli_s"])
                + f" s; median {out['cli_median_s']:.2f} s")
        _, w = run_worker(["warm", str(csv), str(seed), str(warm_repeats)], env)
        out["warm"] = w
        out["warm_median_s"] = statistics.median(r["s"] for r in w["refits"])
        say(f"  warm refits (bootstrap rows): " + ", ".join(f"{r['s']:.2f}" for r in w["refits"])
            + f" s; median {out['warm_median_s']:.2f} s; R-hat max "
            f"{max(r['r_hat_max'] for r in w['refits']):.4f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(res: dict) -> None:
    routes = res["routes"]
    say("\n== Cold fit, fresh process (median of the runs after the first; seconds) ==")
    names = list(routes)
    say(f"{'':34}" + "".join(f"{n:>14}" for n in names))

    def row(label, fn, f="{:.2f}"):
        say(f"{label:34}" + "".join(f"{(f.format(fn(routes[n])) if fn(routes[n]) is not None else '-'):>14}"
                                    for n in names))

    row("first process, caches cleared", lambda r: r.get("first", {}).get("wall_s"))
    row("CLI `bayes-scaling fit` wall (median)", lambda r: r.get("cli_median_s"))
    row("library cold fit wall (median)", lambda r: r["cold_median_s"])
    row("  imports", lambda r: med(r["cold"], "import_bayes_scaling_s") + med(r["cold"], "import_pymc_nutpie_s"))
    row("  compile", lambda r: med(r["cold"], "compile_s"))
    row("  fit call (sample + post-process)", lambda r: med(r["cold"], "fit_s"))
    row("  interpreter start-up + exit", lambda r: med(r["cold"], "startup_s") + med(r["cold"], "teardown_s"))
    row("  load CSV", lambda r: med(r["cold"], "load_s"))
    row("R-hat max (worst run)", lambda r: max(c["r_hat_max"] for c in r["cold"]), "{:.4f}")
    row("bulk ESS min (worst run)", lambda r: min(c["ess_bulk_min"] for c in r["cold"]), "{:.0f}")
    row("ESS/s over the cold wall (median)", lambda r: statistics.median(c["ess_bulk_min"] / c["wall_s"]
                                                                         for c in r["cold"]), "{:.0f}")
    row("ESS/s over the fit call (median)", lambda r: med(r["cold"], "ess_per_fit_s"), "{:.0f}")
    row("warm refit (median)", lambda r: r["warm_median_s"])
    row("warm ESS/s (median)", lambda r: statistics.median(x["ess_per_fit_s"] for x in r["warm"]["refits"]), "{:.0f}")
    for n in names:
        r = routes[n]
        cold = max(r["cold_median_s"], r.get("cli_median_s", 0.0))  # the slower of the two paths
        say(f"{n}: cold fit {cold:.2f} s (slower of CLI and library) vs target <= {TARGET_COLD_S:.0f} s: "
            f"{'PASS' if cold <= TARGET_COLD_S else 'MISS'}; warm refit {r['warm_median_s']:.2f} s vs "
            f"target <= {TARGET_WARM_S:.0f} s: {'PASS' if r['warm_median_s'] <= TARGET_WARM_S else 'MISS'}")
    if {"cached", "nutpie"} <= set(names):
        a, b = routes["cached"], routes["nutpie"]
        if "cli_median_s" in a and "cli_median_s" in b:
            say(f"ratio CLI cold fit cached / nutpie: {a['cli_median_s'] / b['cli_median_s']:.2f}")
        say(f"ratio library cold fit cached / nutpie: {a['cold_median_s'] / b['cold_median_s']:.2f}; "
            f"warm refit: {a['warm_median_s'] / b['warm_median_s']:.2f}")
        say("\n== Posterior moments, same seed, both routes ==")
        worst = 0.0
        for data in ("epoch", "example"):
            for p in PARAMS:
                ma, mb = a["warm"][data]["moments"][p], b["warm"][data]["moments"][p]
                diff = max(abs(ma["mean"] - mb["mean"]) / mb["sd"], abs(ma["sd"] - mb["sd"]) / mb["sd"])
                worst = max(worst, diff)
                say(f"{data:8} {p:6} mean {ma['mean']:.6g} / {mb['mean']:.6g}   sd {ma['sd']:.4g} / {mb['sd']:.4g}")
        res["moment_max_diff_in_sd"] = worst
        say(f"largest difference of a mean or sd between the routes: {worst:.3g} posterior sds "
            f"(0 = identical draws; Monte Carlo error of a mean is ~0.02 sd at ESS ~2000)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        kind, csv, seed, *rest = argv[1:]
        out = worker_cold(csv, int(seed)) if kind == "cold" else worker_warm(csv, int(seed), int(rest[0]))
        print("BENCH_JSON: " + json.dumps(out, default=float), flush=True)
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--routes", default="cached,nutpie", help="comma-separated compile routes (cached, nutpie)")
    p.add_argument("--repeats", type=int, default=3, help="cold processes per route after the first (median)")
    p.add_argument("--cli-repeats", type=int, default=3, help="fresh `bayes-scaling fit` processes per route (median)")
    p.add_argument("--warm-repeats", type=int, default=3)
    p.add_argument("--no-first", action="store_true", help="do not report the first (cleared-cache) process")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args(argv)
    csv = dataset_csv()
    load0 = os.getloadavg()
    say(f"bench_cold_fit: {csv.name} | {os.cpu_count()} CPUs, load avg {load0[0]:.2f} {load0[1]:.2f} | "
        f"Python {platform.python_version()} | routes {a.routes} | cold x{a.repeats} (library) + "
        f"x{a.cli_repeats} (CLI), warm x{a.warm_repeats}")
    t0 = T()
    res = {"config": vars(a), "load_avg_start": load0, "routes": {}}
    for route in [r.strip() for r in a.routes.split(",") if r.strip()]:
        res["routes"][route] = bench_route(route, csv, a.repeats, a.cli_repeats, a.warm_repeats, not a.no_first,
                                          a.seed)
    report(res)
    res["load_avg_end"] = os.getloadavg()
    res["wall_s"] = T() - t0
    say(f"\nbenchmark wall {res['wall_s']:.0f} s; load average start {load0[0]:.2f}, end {res['load_avg_end'][0]:.2f} "
        f"(other processes inflate timings; compare the routes' ratio)")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
