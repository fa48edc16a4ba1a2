"""Downstream accuracy on the OLMo ladder (Bhagia et al. 2024, arXiv:2412.04403) with the 3B runs held out.

Fitted on the 190M-1B runs only (every replicate and token budget), then asked about the six 3B runs:

- C4 loss (nats/token): Chinchilla's law on the final runs' ``val_ce_c4_en``.
- Accuracy (fraction) on the paper's 8 main tasks, in two steps: (1) Chinchilla's law of (N, D) fitted to the
  task's bits-per-byte on the final runs; (2) the sigmoid metric law (chance level as the floor's prior)
  fitted to accuracy against bits-per-byte on the checkpoints after each run's first 10% (every 3rd one);
  chained by ``predict_metric`` (every draw of step 1, with its noise, through a draw of step 2, with its).
- Baseline: the same two steps as least-squares point fits (SciPy), in the same run.

Scores: mean absolute error of the posterior median (and of the point fit), and the share of the 3B runs
inside the 90% predictive interval. Nothing was tuned on the 3B results.

    BAYES_SCALING_DATASETS=... python benchmarks/bench_downstream.py [--draws 500] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
from scipy.optimize import least_squares

import bayes_scaling as bs
from bayes_scaling.datasets.loaders.olmo_ladder import CHANCE, MAIN_TASKS
from bayes_scaling.queries.metric_chain import predict_metric

TRAIN = ["190M", "370M", "760M", "1B"]


def chinchilla_ls(N, D, y):
    """Least-squares E + A N^-alpha + B D^-beta (best of a grid of starts); returns a predictor."""
    def resid(t):
        return np.exp(t[0]) + np.exp(t[1]) * N ** -t[3] + np.exp(t[2]) * D ** -t[4] - y

    best = None
    for a in (0.2, 0.4, 0.6):
        for la in (2.0, 6.0, 10.0):
            t0 = np.array([np.log(0.8 * y.min()), la, la, a, a])
            r = least_squares(resid, t0, bounds=([-5, -10, -10, 0.0, 0.0], [5, 40, 40, 2.0, 2.0]))
            if best is None or r.cost < best.cost:
                best = r
    t = best.x
    return lambda n, d: np.exp(t[0]) + np.exp(t[1]) * n ** -t[3] + np.exp(t[2]) * d ** -t[4]


def sigmoid_ls(L, acc, chance):
    """Least-squares b + a / (1 + exp(k (L - L0))); returns a predictor."""
    def f(t, x):
        return t[0] + t[1] / (1 + np.exp(t[3] * (x - t[2])))

    t0 = [chance, max(acc.max() - chance, 0.05), float(np.median(L)), 5.0]
    r = least_squares(lambda t: f(t, L) - acc, t0, bounds=([0, 0, 0, 0], [1, 1, 10, 100]))
    return lambda x: f(r.x, x)


def score(truth, median, lo, hi, point):
    return {"mae": float(np.mean(np.abs(median - truth))), "coverage90": float(np.mean((truth >= lo) & (truth <= hi))),
            "mae_point": float(np.mean(np.abs(point - truth))), "n": int(len(truth))}


def quantiles(da):
    q = da.quantile([0.5, 0.05, 0.95], dim=("chain", "draw")).values
    return q[0], q[1], q[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    kw = dict(draws=args.draws, tune=1000, chains=2, seed=args.seed, progress=False)
    load = bs.datasets.load
    t_start = time.perf_counter()
    rows = {}
    warnings.simplefilter("ignore")

    c4 = load("olmo_ladder", target="c4", sizes=TRAIN)
    test = load("olmo_ladder", target="c4", sizes=["3B"])
    N, D = test.frame["N"].to_numpy(), test.frame["D"].to_numpy()
    fit = bs.fit(c4, "chinchilla", **kw)
    pred = fit.predict(N=N, D=D, seed=args.seed)["loss_predictive"]
    point = chinchilla_ls(c4.frame["N"].to_numpy(), c4.frame["D"].to_numpy(), c4.frame["loss"].to_numpy())(N, D)
    rows["C4 loss (nats/token)"] = score(test.frame["loss"].to_numpy(), *quantiles(pred), point)
    rows["C4 loss (nats/token)"]["diagnostics_ok"] = bool(fit.diagnostics.ok)
    print(rows["C4 loss (nats/token)"], flush=True)

    for task in MAIN_TASKS:
        bpb = load("olmo_ladder", target="bpb", task=task, sizes=TRAIN)
        acc = load("olmo_ladder", target="acc", task=task, sizes=TRAIN, checkpoints=True)
        acc = acc.subset(np.arange(len(acc)) % 3 == 0)
        truth = load("olmo_ladder", target="acc", task=task, sizes=["3B"]).frame["loss"].to_numpy()
        step1 = bs.fit(bpb, "chinchilla", **kw)
        spec = bs.with_chance(bs.load_spec("sigmoid_metric"), CHANCE[task])
        step2 = bs.fit(acc, spec=spec, **kw)
        chain = predict_metric(step1, step2, N=N, D=D, seed=args.seed)["metric_predictive"]
        f1 = chinchilla_ls(bpb.frame["N"].to_numpy(), bpb.frame["D"].to_numpy(), bpb.frame["loss"].to_numpy())
        f2 = sigmoid_ls(acc.frame["L"].to_numpy(), acc.frame["loss"].to_numpy(), CHANCE[task])
        rows[task] = score(truth, *quantiles(chain), f2(f1(N, D)))
        rows[task]["diagnostics_ok"] = bool(step1.diagnostics.ok and step2.diagnostics.ok)
        for name, f in (("step1", step1), ("step2", step2)):
            d = f.diagnostics
            rows[task][name] = {"r_hat_max": d.r_hat_max, "ess_bulk_min": d.ess_bulk_min,
                                "ess_tail_min": d.ess_tail_min, "divergences": d.divergences, "ok": d.ok}
        print(task, rows[task], flush=True)

    tasks = [rows[t] for t in MAIN_TASKS]
    rows["8 tasks (mean)"] = {k: float(np.mean([r[k] for r in tasks])) for k in ("mae", "coverage90", "mae_point")}
    rows["8 tasks (mean)"]["n"] = sum(r["n"] for r in tasks)
    rows["8 tasks (mean)"]["diagnostics_ok"] = sum(r["diagnostics_ok"] for r in tasks)
    print("| target | 3B runs | MAE (Bayes, median) | 90% coverage | MAE (two-step least squares) | diagnostics pass |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        ok = r["diagnostics_ok"]
        ok = f"{ok}/{len(tasks)}" if name == "8 tasks (mean)" else ("yes" if ok else "no")
        print(f"| {name} | {r['n']} | {r['mae']:.4f} | {r['coverage90']:.2f} | {r['mae_point']:.4f} | {ok} |")
    print("step 2 (metric law) diagnostics: task, max R-hat (target <= 1.01), min bulk / tail ESS (target >= 100 "
          "per chain), divergences (target 0)")
    for t in MAIN_TASKS:
        d = rows[t]["step2"]
        print(f"  {t}: {d['r_hat_max']:.3f}, {d['ess_bulk_min']:.0f} / {d['ess_tail_min']:.0f}, {d['divergences']}")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
