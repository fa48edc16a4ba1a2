"""Revisiting benchmark (Alabdulmohsin, Neyshabur, Zhai 2022): 92 learning curves, extrapolation.

For each curve (72 vision few-shot IC, 5 NMT, 5 LM, 10 BIG-bench): fit on the authors' fit rows
(``Training == 1``, split "fit") and predict the held-out rows (``Training == 0``, split
"extrapolate"). Methods, all computed in this run:

- Bayes: law ``power_x`` (L = E + B X^-c0, the paper's M2, default weakly informative spec,
  Student-t on log-loss) fitted with :func:`bayes_scaling.inference.batch.fit_many` (one compiled
  model per worker, data swapped per curve); point prediction = posterior-predictive median;
  50%/90% equal-tailed predictive intervals.
- M4 (:func:`bayes_scaling.baselines.m4_fit`; eps_0 fixed to 1 for IC error rates).
- Huber power-law point fit (:func:`bayes_scaling.baselines.huber_fit` with ``power_x``).

Scores on the extrapolation rows of each curve: RMSE in log space as in the paper's code,
sqrt(mean((log yhat - log y)^2)), and MARE (median |yhat - y| / y). Per domain: mean over curves of
RMSE-log, median over curves of MARE, and how many curves each method wins on RMSE-log. Coverage:
extrapolation points inside the Bayes intervals, pooled over points, and averaged over curves.
Timing: wall time of the ``fit_many`` call (process spawn, imports, compile and sampling), against
the 3-minute target on 2 cores.

    .venv/bin/python benchmarks/bench_revisiting.py [--quick] [--json PATH] [--workers 2]
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
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("BAYES_SCALING_DATASETS", str(ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(ROOT))

TIME_TARGET_S = 180.0


def _rmse_log(pred, y):
    return float(np.sqrt(np.mean((np.log(pred) - np.log(y)) ** 2)))


def _mare(pred, y):
    return float(np.median(np.abs(pred - y) / y))


def _baselines(dom, xf, yf, xt, yt, seed):
    """M4 and Huber power-law point fit of one curve (run in a worker process); returns (row, t_m4, t_huber)."""
    from bayes_scaling import baselines as bl

    row = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = time.perf_counter()
        try:
            m4 = bl.m4_fit(xf, yf, eps0=1.0 if dom == "IC" and yf.max() < 1.0 else None, seed=seed)
            p = bl.m4_predict(m4, xt)
            row.update(m4_rmse_log=_rmse_log(p, yt), m4_mare=_mare(p, yt))
        except Exception as e:
            row["m4_error"] = f"{type(e).__name__}: {e}"
        t_m4 = time.perf_counter() - a
        a = time.perf_counter()
        try:
            hf = bl.huber_fit("power_x", {"X": np.log(xf)}, np.log(yf), seed=seed)
            p = hf.predict({"X": np.log(xt)})
            row.update(huber_rmse_log=_rmse_log(p, yt), huber_mare=_mare(p, yt))
        except Exception as e:
            row["huber_error"] = f"{type(e).__name__}: {e}"
        t_hub = time.perf_counter() - a
    return row, t_m4, t_hub


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every 8th curve (12 of 92)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--law", default="power_x")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--tune", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibrate", action="store_true",
                    help="also score each fit with its leave-future-out extrapolation discrepancy (one more fit per "
                         "curve, in this process, timed separately)")
    args = ap.parse_args(argv)
    cmd = shlex.join([sys.executable, *sys.argv])
    print("command:", cmd, flush=True)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, load avg {os.getloadavg()}",
          flush=True)

    from bayes_scaling import datasets as ds
    from bayes_scaling.inference.batch import fit_many

    ids = ds.curves("revisiting")
    if args.quick:
        ids = ids[::8]
    allrows = ds.load("revisiting")  # every curve, grouped by "curve"
    frame = allrows.frame
    t0 = time.perf_counter()
    fit_tables, test = {}, {}
    for cid in ids:
        runs = ds.load("revisiting", curve=cid)
        f = runs.frame
        is_fit = (f["split"] == "fit").to_numpy()
        fit_tables[cid] = runs.subset(is_fit)
        test[cid] = (f.loc[~is_fit, "X"].to_numpy(float), f.loc[~is_fit, "loss"].to_numpy(float),
                     f.loc[is_fit, "X"].to_numpy(float), f.loc[is_fit, "loss"].to_numpy(float))
    t_load = time.perf_counter() - t0
    del frame, allrows
    print(f"{len(ids)} curves loaded in {t_load:.1f} s; fitting with fit_many(law={args.law!r}, workers={args.workers}, "
          f"chains={args.chains}, draws={args.draws}, tune={args.tune})", flush=True)

    t1 = time.perf_counter()
    batch = fit_many(fit_tables, law=args.law, workers=args.workers, chains=args.chains, draws=args.draws,
                     tune=args.tune, seed=args.seed)
    t_bayes = time.perf_counter() - t1
    print(f"fit_many: {len(batch.fits)} fitted, {len(batch.errors)} errors, {t_bayes:.1f} s wall", flush=True)

    per_curve, bl_rows, t_pred, t_m4, t_hub, t_cal = [], [], 0.0, 0.0, 0.0, 0.0
    t2 = time.perf_counter()
    pool = ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn"))
    for cid in ids:
        xt, yt, xf, yf = test[cid]
        dom = cid.split("|")[0]
        row = {"curve": cid, "domain": dom, "n_fit": int(len(xf)), "n_test": int(len(xt)),
               "decades_beyond": float(np.log10(xt.max() / xf.max()))}
        res = batch.fits.get(cid)
        if res is None:
            row["bayes_error"] = batch.errors.get(cid, "missing")
        else:
            a = time.perf_counter()
            pred = res.predict(X=xt, seed=args.seed)
            s = pred["loss_predictive"].transpose("query", "chain", "draw").values.reshape(len(xt), -1)
            q = np.quantile(s, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
            t_pred += time.perf_counter() - a
            d = res.diagnostics
            row.update(bayes_rmse_log=_rmse_log(q[2], yt), bayes_mare=_mare(q[2], yt),
                       bayes_cov50=float(np.mean((q[1] <= yt) & (yt <= q[3]))),
                       bayes_cov90=float(np.mean((q[0] <= yt) & (yt <= q[4]))),
                       bayes_below90=float(np.mean(yt < q[0])), bayes_above90=float(np.mean(yt > q[4])),
                       r_hat_max=float(d.r_hat_max), divergences=int(d.divergences), diagnostics_ok=bool(d.ok))
            if args.calibrate:
                from bayes_scaling.inference.discrepancy import calibrate
                from bayes_scaling.inference.fit import fit

                a = time.perf_counter()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        cal = res.with_discrepancy(calibrate(res, fit, draws=args.draws, tune=args.tune))
                    s = cal.predict(X=xt, seed=args.seed)["loss_predictive"].transpose("query", "chain", "draw")
                    q = np.quantile(s.values.reshape(len(xt), -1), [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
                    row.update(lfo_cov50=float(np.mean((q[1] <= yt) & (yt <= q[3]))),
                               lfo_cov90=float(np.mean((q[0] <= yt) & (yt <= q[4]))),
                               lfo_mare=_mare(q[2], yt), lfo_tau1=float(cal.discrepancy.tau1.median()))
                except Exception as e:  # e.g. too few points to split: reported, the raw row stands
                    row["lfo_error"] = f"{type(e).__name__}: {e}"
                t_cal += time.perf_counter() - a
        bl_rows.append(pool.submit(_baselines, dom, xf, yf, xt, yt, args.seed))
        per_curve.append(row)
    for row, fut in zip(per_curve, bl_rows):
        r, a, b = fut.result()
        row.update(r); t_m4 += a; t_hub += b
    pool.shutdown()
    t_baselines = time.perf_counter() - t2

    # ---- summaries ---------------------------------------------------------------------------------
    methods = ("bayes", "m4", "huber")
    domains = [d for d in ("IC", "NMT", "LM", "BB") if any(r["domain"] == d for r in per_curve)]

    def summ(rows):
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
        b = [x for x in rows if "bayes_cov90" in x]
        n = sum(x["n_test"] for x in b)
        out["n_test_points"] = n
        out["bayes_cov50_points"] = sum(x["bayes_cov50"] * x["n_test"] for x in b) / n if n else None
        out["bayes_cov90_points"] = sum(x["bayes_cov90"] * x["n_test"] for x in b) / n if n else None
        out["bayes_cov50_curves"] = float(np.mean([x["bayes_cov50"] for x in b])) if b else None
        out["bayes_cov90_curves"] = float(np.mean([x["bayes_cov90"] for x in b])) if b else None
        out["bayes_below90_points"] = sum(x["bayes_below90"] * x["n_test"] for x in b) / n if n else None
        out["bayes_above90_points"] = sum(x["bayes_above90"] * x["n_test"] for x in b) / n if n else None
        lf = [x for x in rows if "lfo_cov90" in x]
        nl = sum(x["n_test"] for x in lf)
        out["lfo_curves"] = len(lf)
        out["lfo_cov50_points"] = sum(x["lfo_cov50"] * x["n_test"] for x in lf) / nl if nl else None
        out["lfo_cov90_points"] = sum(x["lfo_cov90"] * x["n_test"] for x in lf) / nl if nl else None
        out["lfo_cov90_curves"] = float(np.mean([x["lfo_cov90"] for x in lf])) if lf else None
        out["lfo_mare_median"] = float(np.median([x["lfo_mare"] for x in lf])) if lf else None
        out["diagnostics_ok"] = sum(x["diagnostics_ok"] for x in b)
        out["divergent_curves"] = sum(x["divergences"] > 0 for x in b)
        return out

    by_domain = {d: summ([r for r in per_curve if r["domain"] == d]) for d in domains}
    total = summ(per_curve)
    f = lambda v, p=False: "–" if v is None else (f"{100 * v:.0f}%" if p else f"{v:.4f}")  # noqa: E731
    print("\nper domain (RMSE-log: mean over curves; MARE: median over curves; wins: lowest RMSE-log)")
    hdr = ("domain", "curves", "bayes rmse", "m4 rmse", "huber rmse", "bayes mare", "m4 mare", "huber mare",
           "wins b/m4/h", "cov50", "cov90", "below/above 90")
    print(" | ".join(hdr))
    for d, s in [*by_domain.items(), ("all", total)]:
        print(" | ".join([d, str(s["curves"]), f(s["bayes_rmse_log_mean"]), f(s["m4_rmse_log_mean"]),
                          f(s["huber_rmse_log_mean"]), f(s["bayes_mare_median"]), f(s["m4_mare_median"]),
                          f(s["huber_mare_median"]), f"{s['bayes_wins']}/{s['m4_wins']}/{s['huber_wins']}",
                          f(s["bayes_cov50_points"], True), f(s["bayes_cov90_points"], True),
                          f"{f(s['bayes_below90_points'], True)}/{f(s['bayes_above90_points'], True)}"]))
    print(f"\ncoverage averaged over curves: 50% {f(total['bayes_cov50_curves'], True)}, "
          f"90% {f(total['bayes_cov90_curves'], True)}; diagnostics ok on {total['diagnostics_ok']} of "
          f"{len(batch.fits)} fits, {total['divergent_curves']} with divergences; errors: {batch.errors or 'none'}")
    if args.calibrate:
        print("\nwith the leave-future-out discrepancy (curves calibrated / 90% coverage pooled over points / "
              "averaged over curves / MARE):")
        for d, sm in [*by_domain.items(), ("all", total)]:
            print(f"   {d:4s} {sm['lfo_curves']:3d}  cov50 {f(sm['lfo_cov50_points'], True)}  cov90 "
                  f"{f(sm['lfo_cov90_points'], True)} / {f(sm['lfo_cov90_curves'], True)}  MARE "
                  f"{f(sm['lfo_mare_median'])}")
        print(f"   calibration time {t_cal:.1f} s in this process")
    errs = {r["curve"]: {k: v for k, v in r.items() if k.endswith("_error")} for r in per_curve
            if any(k.endswith("_error") for k in r)}
    if errs:
        print("baseline/fit errors:", errs)
    verdict = "PASS" if t_bayes <= TIME_TARGET_S else "MISS"
    print(f"\nBayes fit_many wall {t_bayes:.1f} s for {len(ids)} curves (target <= {TIME_TARGET_S:.0f} s for 92 "
          f"on 2 cores{'; quick subset, not comparable' if args.quick else ''}): {verdict if not args.quick else 'n/a'}")
    print(f"Bayes predict {t_pred:.1f} s; baselines wall {t_baselines:.1f} s on {args.workers} workers (CPU time in "
          f"workers: M4 {t_m4:.1f} s, Huber power-law {t_hub:.1f} s); load avg {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({
            "command": cmd, "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu_count": os.cpu_count(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "n_curves": len(ids), "t_load_s": t_load, "t_fit_many_s": t_bayes, "t_predict_s": t_pred, "t_m4_s": t_m4,
            "t_huber_s": t_hub, "t_calibrate_s": t_cal, "t_baselines_wall_s": t_baselines, "time_target_s": TIME_TARGET_S, "time_verdict": None if args.quick else verdict,
            "fit_errors": batch.errors, "by_domain": by_domain, "all": total, "per_curve": per_curve,
            "load_end": os.getloadavg()}, indent=2, default=float))
        print("wrote", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
