"""Many curves: ``fit_many`` on 1,000 learning curves in <= 5 min on 2 cores, and its scaling on Dask.

Curves: the 92 curves of the revisiting benchmark (Alabdulmohsin, Neyshabur, Zhai 2022; fit rows
only), replicated to ``--n`` curves (each replica a separate fit and file). Law ``power_x`` with its
default spec, fit-many's default sampler settings (4 chains x FIT_MANY_TUNE tune + FIT_MANY_DRAWS
draws, retries as in ``fit``), every fit written to its own file by the workers (as ``fit-many``
does).

1. Local process pool, ``--workers`` (2): wall time from the call to the last file written (spawn,
   imports, one compile per worker, sampling, diagnostics, writing) against the 300-s target;
   curves/s; curves passing their diagnostics; attempts per curve.
2. Dask ``LocalCluster`` with 1 then 2 worker processes (1 thread each) on ``--dask-n`` curves:
   wall time with the compile (cold) and after each worker compiled once (warm), and the speed-up
   2 workers / 1 worker (target >= 1.8, near-linear on 2 cores).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_fit_many.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("BAYES_SCALING_DATASETS", str(ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(ROOT))

TIME_TARGET_S = 300.0
N_TARGET = 1000
SPEEDUP_TARGET = 1.8


def revisiting_tables(n: int) -> dict:
    """``n`` runs tables: the revisiting benchmark's 92 fit tables, replicated (``<curve>#<replica>``)."""
    from bayes_scaling import datasets as ds

    base = {}
    for cid in ds.curves("revisiting"):
        runs = ds.load("revisiting", curve=cid)
        base[cid] = runs.subset((runs.frame["split"] == "fit").to_numpy())
    names = list(base)
    return {f"{names[i % len(names)]}#{i // len(names)}": base[names[i % len(names)]] for i in range(n)}


def _out_paths(tables: dict, folder: Path) -> dict:
    import re

    return {name: folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".nc") for name in tables}


def _warm(runs, law, fit_kw):
    """Compile the model in this (Dask worker) process: one fit of one curve."""
    import warnings

    from bayes_scaling.inference.fit import fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(runs, law=law, progress=False, **fit_kw)
    return os.getpid()


def _summary(res, wall: float, n: int) -> dict:
    import numpy as np

    recs = list(res.records.values())
    return {"curves": n, "wall_s": round(wall, 2), "curves_per_s": round(n / wall, 3), "fitted": len(res.records),
            "passed_diagnostics": res.passed, "not_fitted": len(res.errors),
            "attempts": dict(sorted(collections.Counter(r["attempts"] for r in recs).items())),
            "worker_seconds_per_curve": round(sum(r["seconds"] for r in recs) / max(1, len(res.records)), 3),
            "cpu_seconds_total": round(sum(r["cpu_seconds"] for r in recs), 1),
            "cpu_seconds_median": round(float(np.median([r["cpu_seconds"] for r in recs])) if recs else 0.0, 3)}


def local_pool(tables, args, fit_kw) -> dict:
    from bayes_scaling.inference.batch import fit_many

    with tempfile.TemporaryDirectory(prefix="bench_fit_many_") as tmp:
        out = _out_paths(tables, Path(tmp))
        t0 = time.perf_counter()
        res = fit_many(tables, law=args.law, workers=args.workers, out=out, keep=False,
                       progress=args.progress or sys.stderr.isatty(), **fit_kw)
        wall = time.perf_counter() - t0
        written = sum(p.is_file() for p in out.values())
        size_mb = sum(p.stat().st_size for p in out.values() if p.is_file()) / 1e6
    return {**_summary(res, wall, len(tables)), "files_written": written, "files_mb": round(size_mb, 1)}


def dask_scaling(tables, args, fit_kw) -> dict:
    from distributed import Client, LocalCluster

    from bayes_scaling.inference.batch import fit_many

    out = {}
    for k in (1, 2):
        with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client, tempfile.TemporaryDirectory(prefix="bench_fit_many_dask_") as tmp:
            t0 = time.perf_counter()
            client.run(_warm, next(iter(tables.values())), args.law, fit_kw)
            t_warm = time.perf_counter() - t0
            t1 = time.perf_counter()
            res = fit_many(tables, law=args.law, scheduler=client, out=_out_paths(tables, Path(tmp)), keep=False,
                           progress=args.progress or sys.stderr.isatty(), **fit_kw)
            wall = time.perf_counter() - t1
        out[k] = {**_summary(res, wall, len(tables)), "compile_s": round(t_warm, 2), "cold_s": round(t_warm + wall, 2)}
        print(f"  dask {k} worker(s): {wall:.1f} s warm ({len(tables) / wall:.2f} curves/s), compile {t_warm:.1f} s, "
              f"{res.passed}/{len(tables)} pass diagnostics; worker CPU {out[k]['cpu_seconds_total']:.0f} s "
              f"({out[k]['cpu_seconds_total'] / wall:.2f} cores busy)", flush=True)
    out["speedup_warm"] = round(out[1]["wall_s"] / out[2]["wall_s"], 3)
    # on idle cores each worker's wall time is its CPU time: the speed-up the work allows, apart from the load
    out["speedup_idle_cores"] = round(out[1]["cpu_seconds_total"] / (out[2]["cpu_seconds_total"] / 2), 3)
    out["speedup_cold"] = round(out[1]["cold_s"] / out[2]["cold_s"], 3)
    return out


def main(argv=None) -> int:
    from bayes_scaling.commands.fit import FIT_MANY_DRAWS, FIT_MANY_TUNE

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 curves on the pool, 24 on Dask (~2 min quiet)")
    ap.add_argument("--n", type=int, default=None, help=f"curves on the local pool (default {N_TARGET})")
    ap.add_argument("--dask-n", type=int, default=None, help="curves for the Dask 1-vs-2-worker run (default 200)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--law", default="power_x")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=FIT_MANY_DRAWS)
    ap.add_argument("--tune", type=int, default=FIT_MANY_TUNE)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--progress", action="store_true", help="progress lines on stderr even when it is not a terminal")
    args = ap.parse_args(argv)
    n = args.n or (100 if args.quick else N_TARGET)
    dask_n = args.dask_n or (24 if args.quick else 200)
    cmd = shlex.join([sys.executable, *sys.argv])
    print("command:", cmd)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load avg {os.getloadavg()}",
          flush=True)
    fit_kw = {"chains": args.chains, "draws": args.draws, "tune": args.tune, "seed": args.seed}
    t0 = time.perf_counter()
    tables = revisiting_tables(max(n, dask_n))
    print(f"{len(tables)} curves prepared in {time.perf_counter() - t0:.1f} s (92 revisiting curves replicated); "
          f"law {args.law}, {args.chains} chains x ({args.tune} tune + {args.draws} draws)", flush=True)

    pool = local_pool(dict(list(tables.items())[:n]), args, fit_kw)
    scale = n / N_TARGET
    verdict = "PASS" if pool["wall_s"] <= TIME_TARGET_S * scale else "MISS"
    print(f"\nlocal pool, {args.workers} workers, {n} curves: {pool['wall_s']:.1f} s wall (target <= "
          f"{TIME_TARGET_S * scale:.0f} s{'' if n == N_TARGET else f' = 300 s x {n}/{N_TARGET}'}): {verdict}; "
          f"{pool['curves_per_s']:.2f} curves/s (target >= {N_TARGET / TIME_TARGET_S:.2f})")
    print(f"  passing diagnostics: {pool['passed_diagnostics']}/{n} ({100 * pool['passed_diagnostics'] / n:.0f}%); "
          f"not fitted {pool['not_fitted']}; attempts per curve {pool['attempts']}; "
          f"{pool['files_written']} files, {pool['files_mb']:.0f} MB", flush=True)
    print(f"  per curve in a worker (fit + diagnostics + write): {pool['worker_seconds_per_curve']:.3f} s wall, CPU "
          f"{pool['cpu_seconds_median']:.3f} s median; all curves' CPU {pool['cpu_seconds_total']:.0f} s / {args.workers} "
          f"workers = {pool['cpu_seconds_total'] / args.workers:.0f} s: the wall time on {args.workers} idle cores, "
          f"before spawn and imports (a check on the load's effect)", flush=True)

    dask = None
    if not args.no_dask:
        print(f"\nDask LocalCluster, {dask_n} curves:", flush=True)
        dask = dask_scaling(dict(list(tables.items())[:dask_n]), args, fit_kw)
        print(f"  speed-up 2 vs 1 worker: {dask['speedup_warm']:.2f}x warm, {dask['speedup_cold']:.2f}x with the "
              f"compile (target >= {SPEEDUP_TARGET}): {'PASS' if dask['speedup_warm'] >= SPEEDUP_TARGET else 'MISS'}; "
              f"{dask['speedup_idle_cores']:.2f}x on idle cores (1 worker's CPU / 2 workers' CPU per worker)")
    print(f"load avg at the end {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({
            "command": cmd, "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpu_count": os.cpu_count(), "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "time_target_s": TIME_TARGET_S, "local_pool": pool, "local_pool_verdict": verdict, "dask": dask,
            "load_end": os.getloadavg()}, indent=2))
        print("wrote", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
