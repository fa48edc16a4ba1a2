"""How much do the backtest verdicts depend on where the split falls? The same backtest at three depths.

``bench_backtest.py`` scores one pre-registered split per dataset; with 8-82 held-out runs, one split
can flip a MARE comparison. This companion reruns :func:`bayes_scaling.inference.backtest.backtest` on
the four primary datasets (same loaders, laws and fit options as ``bench_backtest.py``) with the
held-out runs being those within ``h`` decades of compute of the largest run (C > C_max / 10^h),
for h = 0.5, 1 and 1.5, and prints, per dataset and depth, the MARE of the Bayes + LFO predictive
median against the Huber point fit, both computed in the same run, and the Bayes 90% coverage.
It is supplementary evidence: the acceptance verdict stays with ``bench_backtest.py``'s splits,
which were fixed before any result was seen.

    .venv/bin/python benchmarks/bench_backtest_splits.py [--depths 0.5 1 1.5] [--draws 1000] [--tune 1000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bench_backtest import DATASETS, FIT_OPTIONS, PRIMARY, VERDICT_ROW, _fmt  # noqa: E402  (sets the data home)


def _num(x):
    """A finite float, or None (a failed baseline's NaN)."""
    return float(x) if x is not None and np.isfinite(x) else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depths", type=float, nargs="+", default=[0.5, 1.0, 1.5],
                    help="hold out the runs within this many decades of compute of the largest")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=20, help="Huber bootstrap resamples (its coverage only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    print("command:", shlex.join([sys.executable, *sys.argv]), flush=True)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load avg {os.getloadavg()}", flush=True)

    from bayes_scaling import datasets as ds
    from bayes_scaling.inference.backtest import backtest

    t_all = time.perf_counter()
    rows = []
    for name, opts, law, spec, _rule in DATASETS:
        if name not in PRIMARY or (args.only and name not in args.only):
            continue
        runs = ds.load(name, **opts)
        c_max = float(runs.frame["C"].max())
        for h in args.depths:
            t0 = time.perf_counter()
            row = {"dataset": name, "depth_decades": h, "holdout_above": c_max / 10 ** h}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = backtest(runs, law=law, spec=spec, holdout_above=c_max / 10 ** h, seed=args.seed,
                                   draws=args.draws, tune=args.tune, n_boot=args.n_boot, **FIT_OPTIONS.get(name, {}))
            except Exception as e:  # one split must not sink the others
                row["error"] = f"{type(e).__name__}: {e}"
                print(f"{name} h={h}: ERROR {row['error']}", flush=True)
                rows.append(row)
                continue
            t = {m.split(" (")[0]: r for m, r in res.table.iterrows()}
            bayes = t.get(VERDICT_ROW, t["bayes"])
            huber = t.get("huber + bootstrap")
            y = res.runs["loss"].to_numpy(float)
            key = "bayes_lfo" if "bayes_lfo_median" in res.runs else "bayes"
            row.update({
                "n_train": res.split["n_train"], "n_test": res.split["n_test"],
                "decades_beyond": res.split["decades_beyond"], "r_hat_max": res.split["r_hat_max"],
                "bayes_row": VERDICT_ROW if VERDICT_ROW in t else "bayes",
                "bayes_mare": float(bayes["mare"]), "bayes_cov90": float(bayes["coverage_90"]),
                "bayes_signed": float(np.median((res.runs[f"{key}_median"] - y) / y)),
                "huber_mare": None if huber is None else _num(huber["mare"]),
                "huber_signed": None if "huber_point" not in res.runs else
                float(np.median((res.runs["huber_point"] - y) / y)),
                "wall_s": time.perf_counter() - t0,
            })
            rows.append(row)
            hs = row["huber_signed"]
            print(f"{name:18s} h={h:<4} train {row['n_train']:4d} test {row['n_test']:3d}  "
                  f"Bayes+LFO MARE {row['bayes_mare']:.4f} ({row['bayes_signed']:+.4f})  "
                  f"Huber MARE {_fmt(row['huber_mare'])} ({'–' if hs is None else f'{hs:+.4f}'})  "
                  f"cov90 {row['bayes_cov90']:.0%}  R-hat {row['r_hat_max']:.3f}  {row['wall_s']:.0f} s", flush=True)

    ok = [r for r in rows if "error" not in r and r.get("huber_mare") is not None]
    print("\n== no worse than Huber, by depth (datasets)")
    for h in args.depths:
        sel = [r for r in ok if r["depth_decades"] == h]
        wins = sum(r["bayes_mare"] <= r["huber_mare"] for r in sel)
        print(f"   h={h}: {wins} of {len(sel)}")
    print("== no worse than Huber, by dataset (depths)")
    for name in PRIMARY:
        sel = [r for r in ok if r["dataset"] == name]
        if sel:
            wins = sum(r["bayes_mare"] <= r["huber_mare"] for r in sel)
            ratio = float(np.exp(np.mean([np.log(r["bayes_mare"] / r["huber_mare"]) for r in sel])))
            print(f"   {name:18s} {wins} of {len(sel)}; geometric-mean MARE ratio Bayes/Huber {ratio:.2f}")
    if ok:
        all_ratio = float(np.exp(np.mean([np.log(r["bayes_mare"] / r["huber_mare"]) for r in ok])))
        wins = sum(r["bayes_mare"] <= r["huber_mare"] for r in ok)
        print(f"== all: Bayes no worse on {wins} of {len(ok)} (dataset, depth) pairs; "
              f"geometric-mean MARE ratio {all_ratio:.2f}")
    wall = time.perf_counter() - t_all
    print(f"total wall {wall:.0f} s; load avg {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"command": shlex.join([sys.executable, *sys.argv]), "rows": rows,
                                         "wall_s": wall}, indent=2, default=float))
        print("wrote", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
