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

Noise components (``--part noise``, also in ``all``): fits with ``run_noise`` on the final runs of 190M-1B (normal
family on log-loss, logit-normal on accuracy), once without and once with each run's evaluation standard error
(the pooled checkpoint-to-checkpoint scatter, :func:`bayes_scaling.olmo_ladder_noise`), against the raw replicate
spread at 190M-1xC and 1B-1xC (4 replicates each): C4 loss in nats/token, MMLU accuracy (the chain: bits-per-byte
from (N, D), accuracy from bits-per-byte, both with run noise; the run-to-run sd of a new run's accuracy is the
step-1 run sd through the sigmoid's slope plus the step-2 run sd, per draw).

Law-form ensembles (``--part ensemble``, issue 12; not in ``all``): the C4 rows of step 1 fitted by the default
single ``chinchilla`` fit, by each member of ``bench_ensemble.py``'s default ensemble alone, by the ensemble
(leave-future-out stacking) without and with ``calibrate_extrapolation``, and by the Huber point fit of the Chinchilla
form; scored on the 3B runs (split A: fit 190M-1B) and, deeper, on the 1B and the 3B runs with 190M-760M fitted
(split B). Protocol: ``benchmarks/README.md``, "A real ladder with larger models held out".

    BAYES_SCALING_DATASETS=... python benchmarks/bench_downstream.py [--draws 500] [--part all] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from dataclasses import replace

import numpy as np
from scipy.optimize import least_squares

import bayes_scaling as bs
from bayes_scaling.datasets.loaders.olmo_ladder import CHANCE, MAIN_TASKS
from bayes_scaling.queries.metric_chain import predict_metric

TRAIN = ["190M", "370M", "760M", "1B"]


def c4_rows(sizes):
    """Step 1's C4 rows: the final runs of ``sizes`` (every replicate and token multiple), loss ``val_ce_c4_en``."""
    return bs.datasets.load("olmo_ladder", target="c4", sizes=sizes)


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


def normal_spec(name: str):
    spec = bs.load_spec(name)
    return replace(spec, likelihood=replace(spec.likelihood, family="normal")).synced()


def with_se(runs, se: float):
    """The runs with every run's evaluation standard error ``se`` (the loss column's units)."""
    return replace(runs, frame=runs.frame.assign(SE=float(se)))


def raw_spread(runs) -> dict[str, float]:
    """SD of the loss column over the replicates of each (N, D) cell with 4 runs, by size label."""
    g = runs.frame.groupby(["N", "D"])
    out = {}
    for _, cell in g:
        if len(cell) >= 4:
            out[f"{cell['size'].iloc[0]}-1xC"] = float(cell["loss"].std(ddof=1))
    return out


def run_sd_at(fit, label_loss: dict[str, float], scale: str) -> dict[str, list[float]]:
    """Posterior (median, 5%, 95%) of sigma_run in the response's units at each cell's mean response:
    x loss on log-loss (scale "log"), x p (1 - p) on logit accuracy (scale "logit")."""
    s = fit.posterior["sigma_run"].values.reshape(-1)
    out = {}
    for label, y in label_loss.items():
        f = y if scale == "log" else y * (1 - y)
        out[label] = [float(np.quantile(s * f, q)) for q in (0.5, 0.05, 0.95)]
    return out


def noise_part(kw, seed) -> dict:
    """Run-to-run sds from fits with run noise beside the raw replicate spread (see the module docstring)."""
    load = bs.datasets.load
    ev = bs.olmo_ladder_noise(("val_ce_c4_en", "bpb_mmlu_avg_test", "acc_mmlu_avg_test"))["eval_sd"]
    c4 = load("olmo_ladder", target="c4", sizes=TRAIN)
    bpb = load("olmo_ladder", target="bpb", task="mmlu", sizes=TRAIN)
    acc = load("olmo_ladder", target="acc", task="mmlu", sizes=TRAIN)
    mean_at = {}
    for runs, key in ((c4, "c4"), (acc, "acc"), (bpb, "bpb")):
        g = runs.frame.groupby(["N", "D"])
        mean_at[key] = {f"{c['size'].iloc[0]}-1xC": float(c["loss"].mean()) for _, c in g if len(c) >= 4}
    mmlu_spec = bs.with_chance(bs.load_spec("sigmoid_metric"), CHANCE["mmlu"])
    out = {"raw": {"c4": raw_spread(c4), "mmlu_acc": raw_spread(acc), "mmlu_bpb": raw_spread(bpb)},
           "eval_sd": {k: float(v) for k, v in ev.items()}}
    for tag, se in (("no_se", None), ("with_se", ev)):
        def runs_of(r, col):
            return r if se is None else with_se(r, se[col])
        f_c4 = bs.fit(runs_of(c4, "val_ce_c4_en"), spec=normal_spec("chinchilla"), run_noise=True, **kw)
        f_bpb = bs.fit(runs_of(bpb, "bpb_mmlu_avg_test"), spec=normal_spec("chinchilla"), run_noise=True, **kw)
        f_acc = bs.fit(runs_of(acc, "acc_mmlu_avg_test"), spec=mmlu_spec, run_noise=True, **kw)
        res = {"c4": run_sd_at(f_c4, mean_at["c4"], "log"),
               "mmlu_acc_given_bpb": run_sd_at(f_acc, mean_at["acc"], "logit"),
               "diagnostics_ok": bool(f_c4.diagnostics.ok and f_bpb.diagnostics.ok and f_acc.diagnostics.ok)}
        # a new run's accuracy at the cell: the bpb run noise through the sigmoid's slope, plus the accuracy's own
        law, p = f_acc.law, {k: v.values.reshape(-1) for k, v in f_acc.evaluator.params().items()}
        s_bpb = f_bpb.posterior["sigma_run"].values.reshape(-1)
        s_acc = f_acc.posterior["sigma_run"].values.reshape(-1)
        n = min(len(s_bpb), len(s_acc))
        chain = {}
        for label, L in mean_at["bpb"].items():
            h = 1e-4
            a_hi, a_lo = (law.loss(np, {"L": np.log(np.full(n, L + d))}, {k: v[:n] for k, v in p.items()}) for d in (h, -h))
            slope = (a_hi - a_lo) / (2 * h)
            acc_here = law.loss(np, {"L": np.log(np.full(n, L))}, {k: v[:n] for k, v in p.items()})
            sd = np.hypot(slope * s_bpb[:n] * L, s_acc[:n] * acc_here * (1 - acc_here))
            chain[label] = [float(np.quantile(sd, q)) for q in (0.5, 0.05, 0.95)]
        res["mmlu_acc_chain"] = chain
        out[tag] = res
        print(tag, res, flush=True)
    print("| quantity | replicate cell | raw replicate SD | run-to-run SD, no SE (median [90%]) | "
          "run-to-run SD, with SE |")
    print("|---|---|---|---|---|")
    for q, raw in (("c4", "c4"), ("mmlu_acc_chain", "mmlu_acc"), ("mmlu_acc_given_bpb", "mmlu_acc")):
        for cell in sorted(out["raw"][raw]):
            a, b = out["no_se"][q][cell], out["with_se"][q][cell]
            print(f"| {q} | {cell} | {out['raw'][raw][cell]:.4f} | {a[0]:.4f} [{a[1]:.4f}, {a[2]:.4f}] | "
                  f"{b[0]:.4f} [{b[1]:.4f}, {b[2]:.4f}] |")
    print(f"diagnostics pass: no SE {out['no_se']['diagnostics_ok']}, with SE {out['with_se']['diagnostics_ok']}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--part", choices=("all", "accuracy", "noise", "ensemble"), default="all",
                    help="all: accuracy and noise; ensemble: the law-form ensemble rows (issue 12), run alone")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    kw = dict(draws=args.draws, tune=1000, chains=2, seed=args.seed, progress=False)
    load = bs.datasets.load
    t_start = time.perf_counter()
    rows = {}
    warnings.simplefilter("ignore")
    if args.part == "ensemble":
        from downstream_ensemble import ensemble_part

        rows["ensemble"] = ensemble_part(kw, args.seed)
        print(f"total {time.perf_counter() - t_start:.0f} s")
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(rows, fh, indent=2, default=float)
        return
    if args.part != "accuracy":
        rows["noise"] = noise_part(kw, args.seed)
    if args.part == "noise":
        print(f"total {time.perf_counter() - t_start:.0f} s")
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(rows, fh, indent=2)
        return

    c4 = c4_rows(TRAIN)
    test = c4_rows(["3B"])
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
        if name == "noise":
            continue
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
