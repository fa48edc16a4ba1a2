"""``bench_downstream.py --part ensemble``: law-form ensembles against one law on the OLMo ladder's larger models.

Issue 12 on a real ladder whose held-out targets are larger models trained the same way (Bhagia et al. 2024,
arXiv:2412.04403): the C4 rows of ``bench_downstream.py``'s step 1 (final runs, loss ``val_ce_c4_en`` in nats/token)
are fitted by (i) the default single ``chinchilla`` fit, (ii) each member alone, (iii) the ensemble of
``bench_ensemble.py``'s default members with leave-future-out stacking, (iv) the same with
``calibrate_extrapolation=True``, (v) the Huber point fit of the Chinchilla form. Split A fits 190M-1B and scores the
3B runs; split B fits 190M-760M and scores the 1B and the 3B runs separately. Splits, members, sampler settings and
scores were declared in ``benchmarks/README.md`` before any run.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

import bayes_scaling as bs
from bayes_scaling import baselines as bl
from bayes_scaling.conventions import derived_seed
from bayes_scaling.inference.ensemble import fit_ensemble
from bayes_scaling.laws.registry import get_law
from bayes_scaling.posterior.mixture import MEMBER_SEED_STRIDE
from bayes_scaling.result.ensemble import law_form_share
from bench_downstream import TRAIN, c4_rows

#: bench_ensemble.py's default members (its ND_LAWS), fixed before this part was run.
ENSEMBLE_LAWS = ["chinchilla", "chinchilla_tied", "kaplan_nd_floor"]
#: (name, sizes fitted, {target: sizes scored}), declared in benchmarks/README.md before any run.
SPLITS = [("A", TRAIN, {"3B": ["3B"]}), ("B", TRAIN[:3], {"1B": ["1B"], "3B": ["3B"]})]
CI = (0.05, 0.95)  # the 90% equal-tailed interval


def score_draws(draws: np.ndarray, y: np.ndarray) -> dict:
    """Scores of predictive ``draws`` (run x draws, nats/token) against the observed losses ``y`` (nats/token)."""
    lo, med, hi = np.quantile(draws, [CI[0], 0.5, CI[1]], axis=1)
    inside = (lo <= y) & (y <= hi)
    return {"rel_err_signed": ((med - y) / y).tolist(), "mae": float(np.mean(np.abs(med - y))),
            "mare": float(np.mean(np.abs(med - y) / y)), "covered": int(inside.sum()), "n": int(len(y)),
            "width_mean": float(np.mean(hi - lo)), "median": med.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}


def score_point(point: np.ndarray, y: np.ndarray) -> dict:
    """Scores of point predictions (nats/token): no interval."""
    return {"rel_err_signed": ((point - y) / y).tolist(), "mae": float(np.mean(np.abs(point - y))),
            "mare": float(np.mean(np.abs(point - y) / y)), "n": int(len(y)), "median": point.tolist()}


def diag(d) -> dict:
    return {"r_hat_max": float(d.r_hat_max), "ess_bulk_min": float(d.ess_bulk_min),
            "ess_tail_min": float(d.ess_tail_min), "divergences": int(d.divergences), "ok": bool(d.ok)}


def huber_predict(train, test) -> np.ndarray:
    """Huber point fit of the Chinchilla form on log-loss (as bench_ensemble.py calls it), at ``test``'s runs."""
    lw = get_law("chinchilla")
    lt, le = train.log_inputs(lw.compute_unit), test.log_inputs(lw.compute_unit)
    hf = bl.huber_fit("chinchilla", {k: lt[k] for k in lw.input_names}, np.log(train.frame["loss"].to_numpy(float)))
    return hf.predict({k: le[k] for k in lw.input_names})


def form_shares(ens, test, seed: int) -> dict:
    """Share of the variance of log-loss between members, per run: of the predictive draws (each member's, with
    the discrepancy it carries, on its own noise stream as the mixture draws it) and of the law's mean."""
    pred, mean = {}, {}
    for i, (k, m) in enumerate(ens.members.items()):
        d = m.evaluator.predictive_at_runs(test, seed=derived_seed(seed, i * MEMBER_SEED_STRIDE))
        pred[k] = xr.DataArray(np.log(d.T.reshape(*m.evaluator.shape, -1)), dims=("chain", "draw", "run"))
        mean[k] = m.evaluator.log_mean_at_runs(test)
    return {"predictive": law_form_share(pred, ens.weights, log=False).values.tolist(),
            "law_mean": law_form_share(mean, ens.weights, log=False).values.tolist()}


def ensemble_record(ens, targets: dict, seed: int) -> dict:
    info = ens.info
    out = {"weights": ens.weights, "weights_per_cut": info.get("weights_per_cut"), "cuts": info.get("cuts"),
           "weights_fallback": info.get("weights_fallback"), "score": info.get("score"),
           "inner_diagnostics_ok": info.get("inner_diagnostics_ok"), "diagnostics": diag(ens.diagnostics),
           "members_diagnostics": {k: diag(m.diagnostics) for k, m in ens.members.items()}, "targets": {}}
    if ens.discrepancy is not None:
        dinfo = ens.discrepancy.info
        out["discrepancy"] = {k: dinfo.get(k) for k in ("tau_median", "inner_coverage_90_raw",
                                                       "inner_coverage_90_calibrated", "posterior_mass_at_grid_edge",
                                                       "weights_source", "inner_n_train", "inner_n_test")}
        out["discrepancy"]["log10_axis_max"] = float(ens.discrepancy.log10_axis_max)
    for name, test in targets.items():
        y = test.frame["loss"].to_numpy(float)
        out["targets"][name] = {**score_draws(ens.evaluator.predictive_at_runs(test, seed=seed), y),
                                "law_form_share": form_shares(ens, test, seed)}
    return out


def one_split(label: str, fit_sizes, target_sizes: dict, kw: dict, seed: int) -> dict:
    train = c4_rows(fit_sizes)
    targets = {k: c4_rows(v) for k, v in target_sizes.items()}
    res = {"split": label, "fit_sizes": list(fit_sizes), "n_train": len(train), "rows": {}}
    t0 = time.perf_counter()
    single = bs.fit(train, "chinchilla", **kw)  # (i): bench_downstream.py's C4 row
    res["rows"]["(i) chinchilla, single fit"] = {"diagnostics": diag(single.diagnostics), "targets": {}}
    for name, test in targets.items():
        N, D = test.frame["N"].to_numpy(), test.frame["D"].to_numpy()
        draws = single.predict(N=N, D=D, seed=seed)["loss_predictive"].values.reshape(-1, len(test)).T
        res["rows"]["(i) chinchilla, single fit"]["targets"][name] = score_draws(draws, test.frame["loss"].to_numpy(float))
    ens_kw = dict(laws=ENSEMBLE_LAWS, draws=kw["draws"], tune=kw["tune"], chains=kw["chains"], seed=seed)
    ens = fit_ensemble(train, calibrate_extrapolation=False, **ens_kw)  # (iii)
    for k, m in ens.members.items():  # (ii): the full-data member fits, no discrepancy
        res["rows"][f"(ii) {k} alone"] = {"diagnostics": diag(m.diagnostics), "targets": {
            name: score_draws(m.evaluator.predictive_at_runs(test, seed=seed), test.frame["loss"].to_numpy(float))
            for name, test in targets.items()}}
    res["rows"]["(iii) ensemble, LFO stacking"] = ensemble_record(ens, targets, seed)
    cal = fit_ensemble(train, calibrate_extrapolation=True, **ens_kw)  # (iv)
    res["rows"]["(iv) ensemble + calibrate_extrapolation"] = ensemble_record(cal, targets, seed)
    res["rows"]["(v) Huber point fit (chinchilla form)"] = {"targets": {
        name: score_point(huber_predict(train, test), test.frame["loss"].to_numpy(float)) for name, test in targets.items()}}
    res["seconds"] = time.perf_counter() - t0
    return res


def print_split(label: str, res: dict) -> None:
    for target in next(iter(res["rows"].values()))["targets"]:
        print(f"\nsplit {label} (fit {', '.join(res['fit_sizes'])}: {res['n_train']} runs), target {target}")
        print("| row | signed rel. error of the median per run | MAE (nats/token) | cov90 | mean 90% width (nats/token) "
              "| diagnostics (R-hat max, ESS bulk/tail min, div.) |")
        print("|---|---|---|---|---|---|")
        for name, r in res["rows"].items():
            t = r["targets"][target]
            errs = ", ".join(f"{e:+.2%}" for e in t["rel_err_signed"])
            cov = f"{t['covered']}/{t['n']}" if "covered" in t else "-"
            width = f"{t['width_mean']:.4f}" if "width_mean" in t else "-"
            d = r.get("diagnostics")
            dg = (f"{d['r_hat_max']:.3f}, {d['ess_bulk_min']:.0f}/{d['ess_tail_min']:.0f}, {d['divergences']}"
                  f"{'' if d['ok'] else ' FAIL'}") if d else "-"
            print(f"| {name} | {errs} | {t['mae']:.4f} | {cov} | {width} | {dg} |")
    for name, r in res["rows"].items():
        if "weights" not in r:
            continue
        print(f"{name}: weights " + ", ".join(f"{k} {w:.2f}" for k, w in r["weights"].items())
              + f"; score {r['score']}; fallback {r['weights_fallback']}")
        print(f"  cuts {r['cuts']}")
        print(f"  weights per cut {r['weights_per_cut']}; inner fits ok {r['inner_diagnostics_ok']}")
        if r.get("discrepancy"):
            print(f"  discrepancy {r['discrepancy']}")
        for target, t in r["targets"].items():
            sh = t["law_form_share"]
            print(f"  {target}: law-form share of the predictive variance of log-loss per run "
                  + ", ".join(f"{x:.0%}" for x in sh["predictive"]) + "; of the law's mean "
                  + ", ".join(f"{x:.0%}" for x in sh["law_mean"]))


def ensemble_part(kw: dict, seed: int) -> dict:
    """Every row of both splits (module docstring); prints the tables and returns the record."""
    out = {}
    for label, fit_sizes, target_sizes in SPLITS:
        out[label] = one_split(label, fit_sizes, target_sizes, kw, seed)
        print_split(label, out[label])
        print(f"split {label}: {out[label]['seconds']:.0f} s", flush=True)
    return out
