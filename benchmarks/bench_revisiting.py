"""Revisiting benchmark (Alabdulmohsin, Neyshabur, Zhai 2022): 92 learning curves, extrapolation.

For each curve (72 vision few-shot IC, 5 NMT, 5 LM, 10 BIG-bench): fit on the authors' fit rows
(``Training == 1``, split "fit") and predict the held-out rows (``Training == 0``, split
"extrapolate"). Methods, all computed in this run:

- Bayes: law ``power_x`` (L = E + B X^-c0, the paper's M2, default weakly informative spec,
  Student-t on log-loss) fitted with :func:`bayes_scaling.inference.batch.fit_many` (one compiled
  model per worker, data swapped per curve); point prediction = posterior-predictive median;
  50%/90% equal-tailed predictive intervals.
- Bayes ensemble (``--members``, default ``power_x,m4``: the paper's M2 and M4 as fitted laws) per
  curve with :func:`bayes_scaling.inference.batch.fit_ensembles` (one core per worker; one compiled
  model per member spec per worker): weights by leave-future-out stacking on the curve's own fit points
  (``--cuts`` decades below its largest fit X, or its largest quarter when the curve spans too little),
  and the cross-fitted leave-future-out discrepancy of :mod:`bayes_scaling.inference.ensemble`, calibrated
  on the stacking cut's member fits (no refit). The held-out points are never used.
  ``calibrate_extrapolation="auto"``: curves too short to split keep the plain mixture. On the IC curves
  (classification error rates, eps_0 <= 1: known before any fit, as the M4 baseline's eps_0 = 1) the m4
  member takes ``models/m4_error_rate.toml`` (``--error-rate-spec``; one compiled M4 serves both specs:
  the positive parameters' prior numbers are model data). Member fits: 4 chains x (``--ens-tune`` 300 +
  ``--ens-draws`` 700), retried on fit's ``"ess"`` schedule (``--retry-schedule``: draws sized by the ESS
  shortfall, smaller steps only after divergences) within ``--retry-budget`` 30 CPU seconds per fit
  (``--retry-clock cpu``: the same retries on a loaded machine as on an idle one); inner (stacking) fits:
  2 chains (``--inner-chains``) x (200 + 200) (``--inner-draws``) without retries (``--inner-retries``):
  they only score held-out points, and their diagnostics are reported apart. ``--residual-process``: each
  curve's correlated residuals continue beyond its fit rows (an OU process in log10 X fitted to the mixture
  median's residuals at the fit rows, :mod:`bayes_scaling.inference.residual_process`); the same ensembles are
  also scored without it.
- M4 (:func:`bayes_scaling.baselines.m4_fit`; eps_0 fixed to 1 for IC error rates).
- Huber power-law point fit (:func:`bayes_scaling.baselines.huber_fit` with ``power_x``).

Scores on the extrapolation rows of each curve: RMSE in log space as in the paper's code,
sqrt(mean((log yhat - log y)^2)), and MARE (median |yhat - y| / y). Per domain: mean over curves of
RMSE-log, median over curves of MARE, and how many curves each method wins on RMSE-log. Coverage:
extrapolation points inside the Bayes intervals, pooled over points, and averaged over curves.
Diagnostics: share of fits passing R-hat/ESS/divergence checks (single law; ensemble members'
full fits; the inner leave-future-out fits separately). Timing: wall and worker CPU time of the
``fit_many`` and ``fit_ensembles`` calls (process spawn, imports, compile and sampling); the
ensemble's against the 3-minute target for 92 curves on 2 cores. Acceptance lines print each figure
beside its target.

    .venv/bin/python benchmarks/bench_revisiting.py [--quick] [--json PATH] [--workers 2] [--members power_x,m4]
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

from revisiting_scores import baselines, children_cpu, scores, summarise  # noqa: E402

TIME_TARGET_S = 180.0


def _ensemble_row(ens, xt, yt, seed):
    """Scores of an ensemble (with its mixture discrepancy where calibrated) at the held-out points."""
    s = ens.predict(X=xt, seed=seed)["loss_predictive"].transpose("query", "chain", "draw").values
    q = np.quantile(s.reshape(len(xt), -1), [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    law = {k: m.law.name for k, m in ens.members.items()}  # members by law (m4's spec differs by domain)
    diag = {law[k]: bool(m.diagnostics.ok) for k, m in ens.members.items()}
    inner = [ok for cut in ens.info.get("inner_diagnostics_ok", {}).values() for ok in cut.values()]
    first = next(iter(ens.members.values()))
    extra = {}
    if isinstance(ens.info.get("residual_process"), dict):  # the same fits scored without the process too
        from bayes_scaling.posterior.discrepancy import Discrepancy
        from bayes_scaling.result.ensemble import EnsembleResult

        bare = EnsembleResult({k: m.with_discrepancy(Discrepancy(m.discrepancy.tau0, m.discrepancy.tau1, m.discrepancy.axis,
                                                                 m.discrepancy.log10_axis_max, m.discrepancy.info))
                               for k, m in ens.members.items()}, ens.weights, ens.info, seed=ens.seed)
        s0 = bare.predict(X=xt, seed=seed)["loss_predictive"].transpose("query", "chain", "draw").values
        extra = {**scores("ensnp", np.quantile(s0.reshape(len(xt), -1), [0.05, 0.25, 0.5, 0.75, 0.95], axis=1), yt),
                 "ens_process_ell_decades": ens.info["residual_process"]["ell_decades"],
                 "ens_process_s": ens.info["residual_process"]["s"]}
    elif "residual_process" in ens.info:
        extra = {"ens_process": ens.info["residual_process"]}
    return {**scores("ens", q, yt), **extra, "ens_weights": {law[k]: w for k, w in ens.weights.items()},
            "ens_weights_per_cut": ens.info.get("weights_per_cut"),
            "ens_calibrated": first.discrepancy is not None,
            "ens_member_diagnostics_ok": diag, "ens_inner_fits": len(inner), "ens_inner_ok": int(sum(inner)),
            "ens_attempts": {law[k]: len(m.sampler_config.get("attempts", [])) for k, m in ens.members.items()}}


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
    ap.add_argument("--members", default="power_x,m4",
                    help="ensemble members (laws of X), comma-separated; 'none' skips the ensemble")
    ap.add_argument("--cuts", default="1.0",
                    help="leave-future-out stacking cuts, decades below each curve's largest fit X (the 1-decade "
                         "cut is also the discrepancy's split, so its fits are reused)")
    ap.add_argument("--ens-draws", type=int, default=700, help="draws per chain of the members' full fits")
    ap.add_argument("--ens-tune", type=int, default=300, help="tuning steps per chain of the members' full fits")
    ap.add_argument("--inner-draws", type=int, default=200,
                    help="draws and tuning steps per chain of the inner (stacking) fits, which only score held-out points")
    ap.add_argument("--inner-chains", type=int, default=2,
                    help="chains of the inner (stacking) fits (the calibration scores at most 400 mixture draws per cut)")
    ap.add_argument("--inner-retries", type=int, default=0,
                    help="retries of an inner fit whose diagnostics fail (-1: fit's default)")
    ap.add_argument("--error-rate-spec", default="m4_error_rate",
                    help="spec of the m4 member on the IC curves, whose loss is a classification error rate (eps_0 <= 1, "
                         "known before any fit; the M4 baseline fixes eps_0 = 1 there too); 'none': m4.toml everywhere")
    ap.add_argument("--retry-budget", type=float, default=30.0,
                    help="seconds per fit (on --retry-clock) within which a fit whose diagnostics failed is resampled")
    ap.add_argument("--retry-clock", choices=("cpu", "wall"), default="cpu",
                    help="clock of --retry-budget: the worker's CPU seconds (default: the same retries on a loaded "
                         "machine as on an idle one) or wall seconds")
    ap.add_argument("--retry-schedule", choices=("double", "ess"), default="ess",
                    help="retries of the members' fits: 'double' (fit's default: draws and tuning doubled, smaller "
                         "steps) or 'ess' (draws sized by the ESS shortfall, smaller steps only after divergences)")
    ap.add_argument("--residual-process", action="store_true",
                    help="ensembles: continue each curve's correlated residuals beyond its fit rows (an OU process in "
                         "log10 X fitted to the mixture median's residuals at the fit rows; inference.residual_process)")
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

    c0 = children_cpu()
    t1 = time.perf_counter()
    batch = fit_many(fit_tables, law=args.law, workers=args.workers, chains=args.chains, draws=args.draws,
                     tune=args.tune, seed=args.seed)
    t_bayes = time.perf_counter() - t1
    t_bayes_cpu = children_cpu() - c0
    print(f"fit_many: {len(batch.fits)} fitted, {len(batch.errors)} errors, {t_bayes:.1f} s wall", flush=True)

    members = [] if args.members == "none" else args.members.split(",")
    ens_batch, t_ens, t_ens_cpu = None, 0.0, 0.0
    if members:
        from bayes_scaling.inference.batch import fit_ensembles

        cuts = tuple(float(c) for c in args.cuts.split(","))
        print(f"fit_ensembles(members={members}, leave-future-out cuts {list(cuts)}, discrepancy on the mixture, "
              f"draws={args.ens_draws}, tune={args.ens_tune} (inner {args.inner_chains} x {args.inner_draws}, retries {args.inner_retries}), m4 spec on IC "
              f"{args.error_rate_spec}, retry budget {args.retry_budget:g} {args.retry_clock} s per fit ({args.retry_schedule} schedule), workers={args.workers})",
              flush=True)
        c0 = children_cpu()
        t1 = time.perf_counter()
        ens_kw = dict(workers=args.workers, method="lfo", cut_decades=cuts, draws=args.ens_draws, tune=args.ens_tune,
                      inner_draws=args.inner_draws, chains=args.chains, seed=args.seed, calibrate_extrapolation="auto",
                      retry_budget_s=args.retry_budget, retry_clock=args.retry_clock,
                      retry_schedule=args.retry_schedule, residual_process=args.residual_process,
                      inner_fit_kw={"chains": args.inner_chains,
                                    **({} if args.inner_retries < 0 else {"retries": args.inner_retries})})
        # IC curves are error rates: their m4 member takes the error-rate spec (decided by what the loss is)
        own = {} if args.error_rate_spec == "none" or "m4" not in members else {
            k: ([m for m in members if m != "m4"], [args.error_rate_spec]) for k in fit_tables if k.startswith("IC|")}
        ens_batch = fit_ensembles(fit_tables, members, members=own, **ens_kw)
        t_ens = time.perf_counter() - t1
        t_ens_cpu = children_cpu() - c0
        print(f"fit_ensembles: {len(ens_batch.fits)} fitted, {len(ens_batch.errors)} errors, {t_ens:.1f} s wall, "
              f"{t_ens_cpu:.1f} s CPU in workers", flush=True)

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
            row.update(**scores("bayes", q, yt), r_hat_max=float(d.r_hat_max), divergences=int(d.divergences), diagnostics_ok=bool(d.ok))
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
                    row.update(**scores("lfo", q, yt), lfo_tau1=float(cal.discrepancy.tau1.median()))
                except Exception as e:  # e.g. too few points to split: reported, the raw row stands
                    row["lfo_error"] = f"{type(e).__name__}: {e}"
                t_cal += time.perf_counter() - a
        ens = None if ens_batch is None else ens_batch.fits.get(cid)
        if ens_batch is not None and ens is None:
            row["ens_error"] = ens_batch.errors.get(cid, "missing")
        elif ens is not None:
            row.update(_ensemble_row(ens, xt, yt, args.seed))
        bl_rows.append(pool.submit(baselines, dom, xf, yf, xt, yt, args.seed))
        per_curve.append(row)
    for row, fut in zip(per_curve, bl_rows):
        r, a, b = fut.result()
        row.update(r); t_m4 += a; t_hub += b
    pool.shutdown()
    t_baselines = time.perf_counter() - t2

    # ---- summaries ---------------------------------------------------------------------------------
    methods = ("bayes", "ens", "m4", "huber") if members else ("bayes", "m4", "huber")
    interval_methods = [m for m in ("bayes", "ens", "lfo") if m in methods or (m == "lfo" and args.calibrate)]
    if any("ensnp_cov90" in r for r in per_curve):
        interval_methods.append("ensnp")
    domains = [d for d in ("IC", "NMT", "LM", "BB") if any(r["domain"] == d for r in per_curve)]

    def summ(rows):
        return summarise(rows, methods, interval_methods, members)

    by_domain = {d: summ([r for r in per_curve if r["domain"] == d]) for d in domains}
    total = summ(per_curve)
    f = lambda v, p=False: "–" if v is None else (f"{100 * v:.0f}%" if p else f"{v:.4f}")  # noqa: E731
    names = {"bayes": f"Bayes {args.law}", "ens": f"Bayes ensemble ({'+'.join(members)})", "m4": "M4",
             "huber": f"Huber {args.law}", "lfo": f"Bayes {args.law} + LFO discrepancy",
             "ensnp": "same ensembles without the residual process"}
    print("\nper domain: RMSE-log (mean over curves) / MARE (median over curves); wins: lowest RMSE-log of "
          + "/".join(methods))
    print(" | ".join(["domain", "curves", *(f"{names[m]} rmse / mare" for m in methods), "wins"]))
    for d, sm in [*by_domain.items(), ("all", total)]:
        print(" | ".join([d, str(sm["curves"]), *(f"{f(sm[f'{m}_rmse_log_mean'])} / {f(sm[f'{m}_mare_median'])}"
                                                   for m in methods),
                          "/".join(str(sm[f"{m}_wins"]) for m in methods)]))
    print("\nintervals (pooled over points | mean over curves): cov50, cov90, below / above the 90% interval")
    for m in interval_methods:
        for d, sm in [*by_domain.items(), ("all", total)]:
            print(f"   {names[m]:40s} {d:4s} ({sm[f'{m}_curves_scored']:2d} curves)  "
                  f"cov50 {f(sm[f'{m}_cov50_points'], True)} | {f(sm[f'{m}_cov50_curves'], True)}   "
                  f"cov90 {f(sm[f'{m}_cov90_points'], True)} | {f(sm[f'{m}_cov90_curves'], True)}   "
                  f"below/above {f(sm[f'{m}_below90_points'], True)}/{f(sm[f'{m}_above90_points'], True)} | "
                  f"{f(sm[f'{m}_below90_curves'], True)}/{f(sm[f'{m}_above90_curves'], True)}")
    n_fit = len(batch.fits)
    print(f"\ndiagnostics: Bayes {args.law} (fit_many) ok on {total['diagnostics_ok']} of {n_fit} fits "
          f"({f(total['diagnostics_ok'] / max(n_fit, 1), True)}), {total['divergent_curves']} with divergences; "
          f"errors: {batch.errors or 'none'}")
    if members:
        print(f"diagnostics: ensemble members' fits ok on {total['ens_member_fits_ok']} of {total['ens_member_fits']} "
              f"({f(total['ens_member_fits_ok'] / max(total['ens_member_fits'], 1), True)}; by law "
              f"{total['ens_member_fits_ok_by_law']}); leave-future-out inner "
              f"fits ok on {total['ens_inner_fits_ok']} of {total['ens_inner_fits']}; discrepancy calibrated on "
              f"{total['ens_calibrated']} of {len(ens_batch.fits)} curves; mean weights {total['ens_weights_mean']}; "
              f"errors: {ens_batch.errors or 'none'}")
    if args.calibrate:
        print(f"   {args.law} LFO calibration time {t_cal:.1f} s in this process")
    errs = {r["curve"]: {k: v for k, v in r.items() if k.endswith("_error")} for r in per_curve
            if any(k.endswith("_error") for k in r)}
    if errs:
        print("baseline/fit errors:", errs)
    verdict = "PASS" if t_bayes <= TIME_TARGET_S else "MISS"
    quick = "; quick subset, not comparable" if args.quick else ""
    print(f"\nBayes {args.law} fit_many wall {t_bayes:.1f} s ({t_bayes_cpu:.1f} s CPU in workers) for {len(ids)} "
          f"curves{quick}")
    print(f"Bayes predict {t_pred:.1f} s; baselines wall {t_baselines:.1f} s on {args.workers} workers (CPU time in "
          f"workers: M4 {t_m4:.1f} s, Huber power-law {t_hub:.1f} s); load avg {os.getloadavg()}")
    acceptance = {}
    if members:
        a = total
        acceptance = {
            "ens_rmse_log_below_m4": (a["ens_rmse_log_mean"], a["m4_rmse_log_mean"],
                                      a["ens_rmse_log_mean"] is not None and a["m4_rmse_log_mean"] is not None
                                      and a["ens_rmse_log_mean"] < a["m4_rmse_log_mean"]),
            "ens_cov90_curves_80_97": (a["ens_cov90_curves"], (0.80, 0.97),
                                       a["ens_cov90_curves"] is not None and 0.80 <= a["ens_cov90_curves"] <= 0.97),
            "diagnostics_share_ge_95": (a["ens_member_fits_ok"] / max(a["ens_member_fits"], 1), 0.95,
                                        a["ens_member_fits_ok"] >= 0.95 * a["ens_member_fits"]),
            "ens_wall_le_180s": (t_ens, TIME_TARGET_S, t_ens <= TIME_TARGET_S),
        }
        v = lambda ok: "PASS" if ok else "MISS"  # noqa: E731
        print(f"\nacceptance (issue 12, revisiting){quick}:")
        print(f"   ensemble RMSE-log {f(a['ens_rmse_log_mean'])} vs M4 {f(a['m4_rmse_log_mean'])} (target: below M4; "
              f"ensemble better on {a['ens_beats_m4_curves']} of {len(per_curve)} curves): "
              f"{v(acceptance['ens_rmse_log_below_m4'][2])}")
        if a.get("ensnp_cov90_curves") is not None:
            print(f"   (the same ensembles without the residual process: RMSE-log {f(a['ensnp_rmse_log_mean'])}, 90% coverage "
                  f"averaged over curves {f(a['ensnp_cov90_curves'], True)})")
        print(f"   ensemble 90% coverage averaged over curves {f(a['ens_cov90_curves'], True)} (target 80-97%): "
              f"{v(acceptance['ens_cov90_curves_80_97'][2])}")
        print(f"   diagnostics pass on {f(acceptance['diagnostics_share_ge_95'][0], True)} of the ensemble members' "
              f"fits (target >= 95%): {v(acceptance['diagnostics_share_ge_95'][2])}")
        print(f"   ensemble wall {t_ens:.1f} s ({t_ens_cpu:.1f} s CPU in workers) for {len(ids)} curves on "
              f"{args.workers} workers (target <= {TIME_TARGET_S:.0f} s for 92 on 2 cores): "
              f"{'n/a' if args.quick else v(t_ens <= TIME_TARGET_S)}")
    if args.json:
        args.json.write_text(json.dumps({
            "command": cmd, "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu_count": os.cpu_count(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "n_curves": len(ids), "t_load_s": t_load, "t_fit_many_s": t_bayes, "t_predict_s": t_pred, "t_m4_s": t_m4,
            "t_huber_s": t_hub, "t_calibrate_s": t_cal, "t_fit_many_cpu_s": t_bayes_cpu, "t_ensemble_s": t_ens,
            "t_ensemble_cpu_s": t_ens_cpu, "acceptance": acceptance, "ensemble_errors": None if ens_batch is None else ens_batch.errors, "t_baselines_wall_s": t_baselines, "time_target_s": TIME_TARGET_S, "time_verdict": None if args.quick else verdict,
            "fit_errors": batch.errors, "by_domain": by_domain, "all": total, "per_curve": per_curve,
            "load_end": os.getloadavg()}, indent=2, default=float))
        print("wrote", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
