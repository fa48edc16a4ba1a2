"""Benchmark: which runs next (``bayes_scaling.queries.design``), against simple ways to spend the same FLOPs.

On simulated ladders with a known truth (half Chinchilla-like: E 1.7-1.9, A ~400, B 400-2000,
alpha and beta 0.28-0.38; half Kaplan-like through the same chinchilla law with small exponents,
alpha 0.07-0.10, beta 0.08-0.11), each ladder an IsoFLOP grid of 4 budgets (1e18-1e20 FLOPs) x 5
tokens/parameter ratios (2-200), Student-t(4) noise of scale 0.01 on log-loss, fitted with the
default chinchilla spec (``--spec``: another spec of the chinchilla law, e.g. ``chinchilla_wide``, for every
ladder, every strategy's refit and the posterior the design uses; nutpie, 2 chains x (300 tune + 300 draws)). The extra budget is that of
(b) one more IsoFLOP budget at 3x the largest (5 runs, 1.5e21 FLOPs). Strategies spending it:

* **designed**: ``design_runs`` on the design's default IsoFLOP grid: 10 budgets x 10 ratios over the trusted
  shapes, 0.04-340 tokens/parameter, the span of Hoffmann et al. 2022's runs, as ``bayes-scaling design`` builds it
  by default (``--ratios LO HI``: another range; ``--data-shapes``: the fit's own runs' range, 2-200 here; with
  ``--reach-optimal-shape`` extended at the same spacing, at most 10 more ratios, to the posterior's 90% interval
  of the compute-optimal D/N at the target, as ``bayes-scaling design --reach-optimal-shape``), objective ``n_star`` (``--objective``:
  ``n_star_width``, the width of N*'s 90% interval, or the others), batch <= 5,
  the Laplace fallback where an outcome's importance weights collapse (``--no-laplace``), the best greedy
  rule's batch refined by exchange among the 20 best candidates by gain and by gain per FLOP (``--exchange``);
* (a) **ssl suggest**: simple-scaling-laws 0.2.0's ``suggest_runs`` (greedy linear-Gaussian variance
  reduction of log N* at the target over its bootstrap draws; its own ``fit``, law ``separable-power``,
  400 draws, cost 6ND): 5 runs on the iso-cost curve of the budget of (b)'s runs, 3x the largest, so it
  spends exactly the same FLOPs and chooses only the sizes. Optional (``pip install '.[bench]'``): skipped,
  with a line saying so, when the package is not installed;
* (b) **isoflop 3x**: the 5 runs of one more IsoFLOP budget at 3x the largest;
* (c) **random**: 5 runs, costs a Dirichlet(1) split of the budget, tokens/parameter log-uniform 2-200;
* (none): the ladder as it is.

The new runs' losses are simulated from the truth, the fit is redone with all runs, and at
C = 100x the largest budget (1e22 FLOPs) we score: the wasted compute of ``decide``'s N against the
truth (1 - C'/C, C' where the true optimal plan reaches the plan's true loss), the width of N*'s 90%
interval (decades, log10(hi/lo)) and whether it covers the true N* (target 85-95%); per kind, the share of
ladders where the designed batch beat each rival, and the posterior quantile of the true exponents in the
ladder's fit (far from 0.5: the prior pulls the posterior away from the truth), and the share of each
strategy's refits that pass the sampler diagnostics at the first attempt (2 x 300 draws) and after the
fit's own retries (``fit``: up to 2, longer tuning and more draws). Also timed: ranking
100 candidates with ``design_runs`` on a 4 x 1000-draw fit (target <= 10 s on 2 cores). On the first
``--refit-checks`` ladders the expected objective (``--objective``) after the designed batch, estimated by reweighting
alone and with the Laplace fallback, is compared with real warm refits.

Usage::

    python benchmarks/bench_design.py                 # 60 ladders, ~16 min on 2 cores at load ~12 (ssl: ~4 s each)
    python benchmarks/bench_design.py --ladders 20 --ratios 0.001 1e6 --skip-timing   # ssl-like freedom of shape
    python benchmarks/bench_design.py --first 500 --ladders 12 --skip-timing   # development ladders (other seeds)
    python benchmarks/bench_design.py --ladders 6     # quick
    python benchmarks/bench_design.py --spec chinchilla_wide   # the opt-in wide-prior spec for every fit
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_allocation import true_log_nopt, true_wasted  # noqa: E402

from bayes_scaling.data.runs import load_runs  # noqa: E402
from bayes_scaling.inference.fit import fit  # noqa: E402
from bayes_scaling.laws.registry import get_law  # noqa: E402
from bayes_scaling.queries.allocate import compute_optimal, decide  # noqa: E402
from bayes_scaling.inference.design import refit_expected  # noqa: E402
from bayes_scaling.queries.design import OBJECTIVES, candidate_grid, design_runs, posterior_objective  # noqa: E402
from bayes_scaling.conventions import TRUSTED_TOKENS_PER_PARAM  # noqa: E402
from bayes_scaling.queries.design_shapes import data_shapes, optimal_shape_interval, outside  # noqa: E402
from bayes_scaling.specs.spec import load_spec  # noqa: E402
from bayes_scaling.simulate import isoflop_design, law_truth_params, simulate_runs  # noqa: E402

T = time.perf_counter
LAW = get_law("chinchilla")
BUDGETS = np.geomspace(1e18, 1e20, 4)
RATIOS = np.geomspace(2.0, 200.0, 5)
EXTRA_BUDGET = 3 * BUDGETS[-1] * len(RATIOS)
TARGET = 100 * BUDGETS[-1]
SAMPLER = {"draws": 300, "tune": 300, "chains": 2}

try:  # benchmark-only dependency (pyproject extra "bench")
    import polars as pl
    import simple_scaling_laws as ssl
    from simple_scaling_laws.cost import cost_model as ssl_cost_model
except ImportError:
    ssl = None
#: tokens/parameter range of the designed strategy's candidates (--ratios; the CLI's default, the trusted shapes);
#: None: the fit's own runs' range (``data_shapes``, --data-shapes)
CANDIDATE_RATIOS = tuple(TRUSTED_TOKENS_PER_PARAM)
#: extend the candidates to the posterior's 90% interval of the optimal shape at the target (--reach-optimal-shape)
REACH = False
#: the designed strategy's Laplace fallback (--no-laplace turns it off)
LAPLACE = True
#: the designed strategy's exchange pool (candidates by gain and by gain per FLOP; --exchange, 0: greedy only)
EXCHANGE = 20
#: score every plan by the design's estimator too (--diagnose)
DIAGNOSE = False
#: the designed strategy's objective (--objective)
OBJECTIVE = "n_star"
#: importance-weight ESS below which a simulated outcome is scored by the Laplace fallback (design and refit check)
MIN_ESS = 50.0
#: the fit spec of every ladder's fit and every strategy's refit (--spec; the design uses its posterior)
SPEC = load_spec("chinchilla")
STRATEGIES = ("designed", "ssl_suggest", "isoflop_3x", "random", "none")


def truth_for(kind: str, rng: np.random.Generator) -> dict:
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    logu = lambda a, b: float(np.exp(rng.uniform(np.log(a), np.log(b))))  # noqa: E731
    if kind == "chinchilla":
        return {"E": u(1.7, 1.9), "A": logu(320, 500), "B": logu(400, 2000), "alpha": u(0.28, 0.38),
                "beta": u(0.28, 0.38)}
    return {"E": u(1.0, 1.5), "A": logu(4, 10), "B": logu(6, 15), "alpha": u(0.07, 0.10), "beta": u(0.08, 0.11)}


def runs_at(truth: dict, n, d, seed: int) -> pd.DataFrame:
    design = pd.DataFrame({"params": n, "tokens": d, "compute": 6 * np.asarray(n) * np.asarray(d)})
    return simulate_runs("chinchilla", truth, design, sigma=0.01, seed=seed)


def refit(frame: pd.DataFrame, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(load_runs(frame), spec=SPEC, seed=seed, progress=False, **SAMPLER)


def score(res, truth: dict) -> dict:
    p = law_truth_params(LAW, truth)
    n_true = float(np.exp(true_log_nopt(LAW, p, np.log(TARGET / 6))))
    n_opt = compute_optimal(res, [TARGET])["N_opt"].values.reshape(-1)
    lo, hi = np.quantile(n_opt, [0.05, 0.95])
    return {"wasted": true_wasted(LAW, p, decide(res, TARGET).N, TARGET), "width_decades": float(np.log10(hi / lo)),
            "covered": bool(lo <= n_true <= hi), "diagnostics_ok": bool(res.diagnostics.ok),
            "first_ok": bool(res.sampler_config.get("attempts", [{"ok": res.diagnostics.ok}])[0]["ok"]),
            "attempts": len(res.sampler_config.get("attempts", [None]))}


def ssl_suggest(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) of simple-scaling-laws' ``suggest_runs``: 5 runs on the iso-cost curve of 3x the largest
    budget (the per-run budget of (b)), for N* at the target, from its own bootstrap fit of the ladder."""
    df = pl.DataFrame({"training_run_id": [f"r{i}" for i in range(len(frame))],
                       "model_size__n_params": frame["params"].to_numpy(float),
                       "dataset_size__n_tokens": frame["tokens"].to_numpy(float),
                       "test_loss__cross_entropy": frame["loss"].to_numpy(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ssl.fit(df, law="separable-power", n_draws=400, seed=seed)
        plan = ssl.suggest_runs(model, [TARGET], ssl_cost_model("power", k=6.0, a=1.0, b=1.0), n=len(RATIOS),
                                candidate_budgets=[3 * BUDGETS[-1]])
    return plan["model_size__n_params"].to_numpy(), plan["dataset_size__n_tokens"].to_numpy()


def strategies(res, frame: pd.DataFrame, rng: np.random.Generator, seed: int) -> dict:
    """(N, D) of the new runs of each strategy, and the designed batch's record."""
    iso = isoflop_design([3 * BUDGETS[-1]], RATIOS)
    costs = EXTRA_BUDGET * rng.dirichlet(np.ones(len(RATIOS)))
    ratio = np.exp(rng.uniform(np.log(2), np.log(200), len(RATIOS)))
    n_rand = np.sqrt(costs / (6 * ratio))
    reach = optimal_shape_interval(res, TARGET) if REACH else None
    n, d = candidate_grid(res.runs.frame["C"], EXTRA_BUDGET, ratios=CANDIDATE_RATIOS or data_shapes(res), reach=reach)
    t0 = T()
    des = design_runs(res, TARGET, EXTRA_BUDGET, n, d, objective=OBJECTIVE, batch=len(RATIOS), seed=seed,
                      laplace=LAPLACE, min_ess=MIN_ESS, exchange=EXCHANGE)
    picks = [b["candidate"] for b in des.batch]
    info = {"seconds": T() - t0, "rule": des.rule, "cost": float(des.cost[picks].sum()), "n_runs": len(picks), "moves": des.exchanged,
            "min_ess": float(min([b["ess"] for b in des.batch] or [0])),
            "laplace_share": float(max([b["laplace_share"] for b in des.batch] or [0])),
            "tokens_per_param": [float(des.tokens[j] / des.n_params[j]) for j in picks], "_des": des,
            "optimal_shape_interval": None if reach is None else list(reach), "candidates": len(n),
            "shapes": [float(np.min(d / n)), float(np.max(d / n))],
            "picks_outside_trusted": int(np.sum(outside(des.tokens[picks] / des.n_params[picks])))}
    plans = {"designed": (des.n_params[picks], des.tokens[picks]), "isoflop_3x": (iso["params"], iso["tokens"]),
             "random": (n_rand, ratio * n_rand)}
    if ssl is not None:
        t0 = T()
        plans["ssl_suggest"] = ssl_suggest(frame, seed)
        info["ssl_seconds"] = T() - t0
    return plans, info


def refit_check(res, des, sims: int, seed: int) -> dict:
    """The estimated expected objective (``OBJECTIVE``) after the whole designed batch (by reweighting
    alone, and with the Laplace fallback where the weights collapse, ESS < ``MIN_ESS`` as in the design)
    against real warm refits (``sims`` simulated outcomes)."""
    from bayes_scaling.queries.design import Worlds, expected_after, outcome_loglik
    from bayes_scaling.queries.design_laplace import laplace_for

    picks, pre = [b["candidate"] for b in des.batch], des.pre
    ll, est = None, {}
    for lap in (False, True):
        w = Worlds.draw(pre, len(des.cost), des.worlds, seed)
        if lap:
            w.laplace, w.min_ess = laplace_for(pre, des.n_params, des.tokens), MIN_ESS
        ll = outcome_loglik(pre, pre.log_mean(des.n_params, des.tokens), w) if ll is None else ll
        for j in picks[:-1]:
            w.add(j, ll)
        est["laplace" if lap else "reweight"] = float(expected_after(pre, ll, w, [picks[-1]], OBJECTIVE).after[picks[-1]])
    score = lambda f: posterior_objective(f, TARGET, OBJECTIVE)  # noqa: E731
    ref = refit_expected(res, des.n_params[picks], des.tokens[picks], score, sims=sims, seed=seed, **SAMPLER)
    return {"objective": OBJECTIVE, "before": float(des.pre.current(OBJECTIVE)), **est, "refit": ref["mean"], "refit_scores": ref["scores"],
            "runs": len(picks), "cost": float(des.cost[picks].sum())}


def expected_after_batch(res, n, d, seed: int) -> float:
    """The design's estimate of the expected var log N* at the target after runs (N, D), on worlds and a
    draw thinning independent of the design's (256 worlds, Laplace fallback below ESS ``MIN_ESS``)."""
    from bayes_scaling.queries.design import Preposterior, Worlds, draws_sigma_family, expected_after, outcome_loglik
    from bayes_scaling.queries.design_laplace import laplace_for
    from bayes_scaling.queries.draws import resolve_cost

    n, d = np.asarray(n, float), np.asarray(d, float)
    pre = Preposterior(*draws_sigma_family(res, resolve_cost(res, None, 6.0)), TARGET, objective="n_star", seed=seed)
    w = Worlds.draw(pre, len(n), 256, seed)
    w.laplace, w.min_ess = laplace_for(pre, n, d), MIN_ESS
    ll = outcome_loglik(pre, pre.log_mean(n, d), w)
    for j in range(len(n) - 1):
        w.add(j, ll)
    return float(expected_after(pre, ll, w, [len(n) - 1], "n_star", before=0.0).after[-1])


def one_ladder(i: int, kind: str, check_sims: int = 0) -> dict:
    rng = np.random.default_rng(1000 + i)
    truth = truth_for(kind, rng)
    base = isoflop_design(BUDGETS, RATIOS)
    frame = runs_at(truth, base["params"], base["tokens"], seed=i)
    res = refit(frame, seed=i)
    lp = res.law_params()  # where the truth sits in the ladder's posterior (prior-data conflict: near 0 or 1)
    out = {"kind": kind, "truth": truth, "none": score(res, truth),
           "truth_quantile": {k: float(np.mean(np.asarray(lp[k]).reshape(-1) < truth[k])) for k in ("alpha", "beta")}}
    plans, info = strategies(res, frame, rng, seed=i)
    des = info.pop("_des")
    if check_sims and des.batch:
        info["refit_check"] = refit_check(res, des, check_sims, seed=i)
    out["design"] = info
    if DIAGNOSE:  # every plan scored by the design's own estimator; ssl's shapes clipped to the designed range
        est = {k: expected_after_batch(res, n, d, 7777 + i) for k, (n, d) in plans.items() if len(n)}
        if "ssl_suggest" in plans:
            n, d = plans["ssl_suggest"]
            r = np.clip(d / n, *info["shapes"])
            nc = np.sqrt(n * d / r)
            est["ssl_clipped"] = expected_after_batch(res, nc, r * nc, 7777 + i)
        info["expected_var_after"] = est
    for name, (n, d) in plans.items():
        new = runs_at(truth, n, d, seed=10_000 + i)  # the same noise stream for every strategy
        out[name] = {**score(refit(pd.concat([frame, new], ignore_index=True), seed=i), truth),
                     "cost": float(np.sum(6 * n * d))}
    return out


def time_ranking() -> dict:
    """design_runs on 100 candidates for a 4 x 1000-draw fit (thinned to 800 draws), wall seconds."""
    truth = truth_for("chinchilla", np.random.default_rng(0))
    base = isoflop_design(BUDGETS, RATIOS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit(load_runs(runs_at(truth, base["params"], base["tokens"], 0)), spec=SPEC, seed=0, progress=False)
    n, d = candidate_grid(res.runs.frame["C"], EXTRA_BUDGET, ratios=CANDIDATE_RATIOS or data_shapes(res),
                          reach=optimal_shape_interval(res, TARGET) if REACH else None)
    times = {}
    for obj in OBJECTIVES:
        t0 = T()
        des = design_runs(res, TARGET, EXTRA_BUDGET, n, d, objective=obj, batch=5, exchange=EXCHANGE)
        times[obj] = {"rank": des.seconds["rank"], "rank_batch_stop_go": T() - t0}
        t0 = T()  # baseline: the greedy batch alone
        design_runs(res, TARGET, EXTRA_BUDGET, n, d, objective=obj, batch=5, exchange=0)
        times[obj]["rank_batch_stop_go_greedy_only"] = T() - t0
    return {"candidates": len(n), "draws": 4000, "seconds": times}


def summarise(rows: list[dict]) -> dict:
    out = {}
    for name in [k for k in STRATEGIES if all(k in r for r in rows)]:
        w = np.array([r[name]["wasted"] for r in rows])
        width = np.array([r[name]["width_decades"] for r in rows])
        cov = np.mean([r[name]["covered"] for r in rows])
        out[name] = {"median_wasted": float(np.median(w)), "mean_wasted": float(w.mean()),
                     "median_width_decades": float(np.median(width)), "coverage_90": float(cov),
                     "median_cost": float(np.median([r[name].get("cost", 0.0) for r in rows])),
                     "diagnostics_ok": int(sum(r[name]["diagnostics_ok"] for r in rows)),
                     "first_ok": int(sum(r[name]["first_ok"] for r in rows)), "fits": len(rows)}
    return out


def paired_lines(rows: list[dict]) -> list[str]:
    """Per kind: where the true exponents sit in the ladder's posterior (median quantile), and the share of
    ladders on which the designed batch beat each rival (lower waste; narrower N* interval)."""
    out = []
    for kind in ("all", "chinchilla", "kaplan_like"):
        sub = [r for r in rows if kind in ("all", r["kind"])]
        if not sub:
            continue
        q = {k: np.median([r["truth_quantile"][k] for r in sub]) for k in ("alpha", "beta")}
        wins = [f"{k} {np.mean([r['designed']['wasted'] < r[k]['wasted'] for r in sub]):.0%}/"
                f"{np.mean([r['designed']['width_decades'] < r[k]['width_decades'] for r in sub]):.0%}"
                for k in STRATEGIES[1:] if all(k in r for r in sub)]
        out.append(f"{kind} ({len(sub)}): true alpha, beta at posterior quantile (median) {q['alpha']:.2f}, "
                   f"{q['beta']:.2f}; designed beats (lower waste/narrower): " + ", ".join(wins))
    return out


def diagnose_lines(rows: list[dict]) -> list[str]:
    """--diagnose's summary per kind: each plan's estimated expected var log N* after, as a geometric-mean
    ratio to the designed batch's, over the ladders whose designed batch is not empty (an empty one has
    no 'designed' score) and the plans scored on all of them."""
    out = []
    for kind in ("chinchilla", "kaplan_like"):
        sub = [r["design"]["expected_var_after"] for r in rows
               if r["kind"] == kind and "designed" in r["design"].get("expected_var_after", {})]
        if sub:
            out.append(f"estimated expected var log N* after, {kind} ({len(sub)} ladders with a designed batch): "
                       f"geometric mean ratio to designed: " + ", ".join(
                           f"{k} {np.exp(np.mean([np.log(e[k] / e['designed']) for e in sub])):.3f} "
                           f"(designed lower in {sum(e[k] > e['designed'] for e in sub)}/{len(sub)})"
                           for k in sub[0] if k != "designed" and all(k in e for e in sub)))
    return out


def bench_spec(ap: argparse.ArgumentParser, name: str):
    """The spec ``--spec`` names, refused (one line, exit 2) unless it loads and is of the chinchilla law."""
    from bayes_scaling.errors import BayesScalingError

    try:
        spec = load_spec(name)
    except BayesScalingError as e:
        ap.error(f"--spec: {e}")
    if spec.law_name != LAW.name:
        ap.error(f"--spec must be a spec of the {LAW.name} law (the ladders are simulated from it), "
                 f"got {name!r} of law {spec.law_name!r}")
    return spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ladders", type=int, default=60)
    ap.add_argument("--json", default=None)
    ap.add_argument("--ratios", type=float, nargs=2, default=CANDIDATE_RATIOS, metavar=("LO", "HI"),
                    help="tokens/parameter range of the designed candidates (default: the design's, the trusted "
                         "shapes 0.04-340 of Hoffmann et al. 2022's runs)")
    ap.add_argument("--data-shapes", action="store_true",
                    help="the designed candidates over the fit's own runs' tokens/parameter range instead")
    ap.add_argument("--reach-optimal-shape", action="store_true",
                    help="extend the designed candidates to the posterior's 90%% interval of the optimal shape at the "
                         "target, as design --reach-optimal-shape")
    ap.add_argument("--objective", choices=OBJECTIVES, default=OBJECTIVE,
                    help="objective of the designed strategy (default %(default)s)")
    ap.add_argument("--skip-timing", action="store_true", help="skip the ranking-time measurement")
    ap.add_argument("--no-laplace", action="store_true", help="designed strategy without the Laplace fallback")
    ap.add_argument("--exchange", type=int, default=EXCHANGE,
                    help="designed strategy: exchange pool per ranking (0: greedy only; default %(default)s)")
    ap.add_argument("--diagnose", action="store_true",
                    help="also score every plan (and ssl's clipped to the designed shapes) by the design's estimator")
    ap.add_argument("--first", type=int, default=0,
                    help="index of the first ladder (its seeds); 0 for the benchmark, others for development")
    ap.add_argument("--refit-checks", type=int, default=4, metavar="K",
                    help="on the first K ladders, check the estimated objective after the whole designed batch "
                         "against real refits (default %(default)s)")
    ap.add_argument("--refit-sims", type=int, default=6, help="simulated outcomes per refit check")
    ap.add_argument("--spec", default="chinchilla",
                    help="fit spec (shipped name or TOML path) of every fit, refit and the design's posterior; "
                         "a spec of the chinchilla law, the ladders' truth (default %(default)s)")
    args = ap.parse_args()
    globals()["SPEC"] = bench_spec(ap, args.spec)
    if args.exchange < 0:  # checked before the timing run (design_runs would refuse it only after it)
        ap.error(f"--exchange must be a whole number >= 0, got {args.exchange}")
    globals()["CANDIDATE_RATIOS"] = None if args.data_shapes else tuple(args.ratios)
    globals()["REACH"] = args.reach_optimal_shape
    globals()["LAPLACE"] = not args.no_laplace
    globals()["OBJECTIVE"] = args.objective
    globals()["EXCHANGE"] = args.exchange
    globals()["DIAGNOSE"] = args.diagnose
    t0 = T()
    timing = {"candidates": 0, "draws": 0, "seconds": {}} if args.skip_timing else time_ranking()
    shapes = ("the fit's own range" if CANDIDATE_RATIOS is None else f"{CANDIDATE_RATIOS[0]:g}-{CANDIDATE_RATIOS[1]:g}") + (
        ", extended to the posterior's 90% interval of D*/N* at the target" if REACH else "")
    print(f"fit spec {SPEC.origin}; designed candidates: tokens/parameter {shapes}; objective {OBJECTIVE}; "
          f"Laplace fallback {'on' if LAPLACE else 'off'}; exchange pool {EXCHANGE}", flush=True)
    if timing["seconds"]:
        print(f"ranking {timing['candidates']} candidates ({timing['draws']} draws, thinned to 800), target <= 10 s: "
              + ", ".join(f"{k} {v['rank']:.2f} s (with batch, exchange and stop-or-go {v['rank_batch_stop_go']:.2f} s; "
                          f"greedy only {v['rank_batch_stop_go_greedy_only']:.2f} s)"
                          for k, v in timing["seconds"].items()), flush=True)
    if ssl is None:
        print("strategy (a) ssl suggest skipped: simple-scaling-laws is not installed (pip install '.[bench]')",
              flush=True)
    rows = []
    for i in range(args.first, args.first + args.ladders):
        kind = "chinchilla" if i % 2 == 0 else "kaplan_like"
        r = one_ladder(i, kind, args.refit_sims if i < args.first + args.refit_checks else 0)
        rows.append(r)
        print(f"{i:>3} {kind:<11} " + "  ".join(f"{k} {r[k]['wasted']:.2%}/{r[k]['width_decades']:.2f}"
                                                 f"{'' if r[k]['covered'] else '!'}{'' if r[k]['diagnostics_ok'] else '?'}"
                                                 for k in STRATEGIES if k in r)
              + f"  (design {r['design']['seconds']:.1f} s, {r['design']['n_runs']} runs, {r['design']['rule']}, {r['design']['moves']} moves, "
                f"{r['design']['cost']:.2g} FLOPs, D/N {','.join(f'{x:.2g}' for x in r['design']['tokens_per_param'])}, "
                f"min ESS {r['design']['min_ess']:.0f}, Laplace share {r['design']['laplace_share']:.0%}, "
                f"{r['design']['candidates']} candidates at D/N {r['design']['shapes'][0]:.2g}-{r['design']['shapes'][1]:.2g}, "
                f"{r['design']['picks_outside_trusted']} picks outside 0.04-340)", flush=True)
        if "expected_var_after" in r["design"]:
            print("    estimated expected var log N* after: " + ", ".join(
                f"{k} {v:.3g}" for k, v in r["design"]["expected_var_after"].items()), flush=True)
        if "refit_check" in r["design"]:
            c = r["design"]["refit_check"]
            print(f"    refit check (the batch, {c['runs']} runs, {c['cost']:.2g} FLOPs): {c['objective']} "
                  f"now {c['before']:.4g}; after, estimated by reweighting {c['reweight']:.4g}, with Laplace fallback "
                  f"{c['laplace']:.4g}; real refits {c['refit']:.4g} (mean of {len(c['refit_scores'])})", flush=True)
    checks = [r["design"]["refit_check"] for r in rows if "refit_check" in r["design"]]
    if checks:
        for k in ("reweight", "laplace"):
            ratio = np.array([c[k] / c["refit"] for c in checks])
            print(f"refit check: estimated / refit {OBJECTIVE} after the designed batch, {k}: geometric mean "
                  f"{np.exp(np.mean(np.log(ratio))):.2f} (each {', '.join(f'{x:.2f}' for x in ratio)})")
    for line in paired_lines(rows) + diagnose_lines(rows):
        print(line)
    summary = {"all": summarise(rows), **{k: summarise([r for r in rows if r["kind"] == k])
                                          for k in ("chinchilla", "kaplan_like")}}
    print(f"\n{args.ladders} ladders; extra budget {EXTRA_BUDGET:.3g} FLOPs; target {TARGET:.3g} FLOPs; "
          f"{T() - t0:.0f} s in all ({platform.processor() or platform.machine()}, {platform.python_version()})")
    print(f"{'subset':<12} {'strategy':<11} {'median wasted':>13} {'mean wasted':>11} {'median 90% width (dec)':>22} "
          f"{'coverage 90%':>12} {'median FLOPs':>12} {'diagnostics pass, 1st try / final':>33}")
    for subset, s in summary.items():
        for name, v in s.items():
            print(f"{subset:<12} {name:<11} {v['median_wasted']:>13.3%} {v['mean_wasted']:>11.3%} "
                  f"{v['median_width_decades']:>22.3f} {v['coverage_90']:>12.0%} {v['median_cost']:>12.3g} "
                  f"{v['first_ok']:>24} / {v['diagnostics_ok']} of {v['fits']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"timing": timing, "summary": summary, "ladders": rows}, indent=1,
                                              default=float))


if __name__ == "__main__":
    main()
