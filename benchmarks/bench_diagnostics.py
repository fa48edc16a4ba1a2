"""Do default fits pass their own diagnostics? Many default ``bayes_scaling.fit`` calls, each scored.

Not part of CI. Fits (default draws, tune, chains, target acceptance and retries; seeds fixed):

* **ladders**: simulated hierarchical IsoFLOP ladders, 2-5 groups ("arch") of 25 runs each (5
  budgets 1e18-1e21 FLOPs x 5 tokens/param 3-100), Chinchilla truth (``EXAMPLE``) with per-group
  A and B differing by 5% (sd, log scale) and alpha by 2%; Student-t(4) noise of scale 0.005 on
  log-loss; fitted as ``fit --group-col arch`` does (every parameter but E varies by group);
* **differing**: one or two parameters that truly differ between groups, each group's offset pinned by many
  runs (the case centred offsets suit, benchmarks/README "Automatic centring on a retry"): golden_outputs'
  two-architecture ladder (16 runs a group, B 8% apart, 0.5% noise, ``--vary B``) and the A/B sets of
  tests/test_sampling_retry.py (3 groups x 25 runs, A and B x 0.87, 1, 1.15, 0.5% noise, ``--vary A,B``),
  seeds 1-3 each;
* **overtrain**: simulated over-training grids, 25 runs (5 budgets x 5-640 tokens/param), the same
  noise, Chinchilla truth with alpha, beta, A, B moved by 10% (sd, log scale) per simulation;
* **real**: every dataset of :mod:`bayes_scaling.datasets` that a default fit applies to, with the
  law named in ``REAL`` (Marin also by dataset, as ``--group-col dataset``; isoflops' marin_202603
  source is the marin dataset, not fitted twice); from the
  92 curves of ``revisiting``, four (every 23rd) with ``power_x``.

Pass = R-hat <= 1.01, bulk and tail ESS >= 400 (100 per chain x 4 chains), no divergences (the
fit's own ``diagnostics.ok``). Target: pass rate >= 95%.

    .venv/bin/python benchmarks/bench_diagnostics.py [--json PATH] [--only ladders,sparse,differing,overtrain,real]
        [--quick] [--no-autocentre]

``--no-autocentre``: retries keep the offsets' parametrisation (the behaviour before the automatic centring),
the baseline of the same run's numbers.

``--only ladders,sparse`` runs the hierarchical fits alone.
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
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("BAYES_SCALING_DATASETS", str(ROOT.parent / "shared" / "datasets"))
sys.path.insert(0, str(ROOT))

PASS_TARGET = 0.95
NOISE = 0.005
# name, load options, law, group column (None: pooled)
REAL = [
    ("chinchilla_epoch", {}, "chinchilla", None),
    ("datablations", {"paper_subset": True}, "data_constrained", None),
    ("misfitting", {}, "chinchilla", None),
    ("gemstones", {}, "chinchilla", None),
    ("marin", {}, "chinchilla", None),
    ("marin", {}, "chinchilla", "dataset"),
    ("marin_raw", {}, "chinchilla", "dataset"),
    ("bnsl_addition", {}, "power_x", None),
    *[("isoflops", {"source": s}, "chinchilla", None) for s in ("epochai_chinchilla", "ml_scalefit", "misfitting")],
    ("isoflops", {"source": "llama_3", "condition": "raw_loss"}, "chinchilla", None),
    *[("revisiting", {"curve": None, "index": i}, "power_x", None) for i in (0, 23, 46, 69)],
]


def ladder(n_groups: int, seed: int) -> pd.DataFrame:
    """A hierarchical IsoFLOP ladder: ``n_groups`` groups of 25 runs (columns params, tokens, compute, loss, arch)."""
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import isoflop_design, simulate_runs

    t, rng = EXAMPLE["truth"], np.random.default_rng(seed)
    design = isoflop_design(np.geomspace(1e18, 1e21, 5), np.geomspace(3, 100, 5))
    frames = []
    for g in range(n_groups):
        truth = {**t, "A": t["A"] * np.exp(0.05 * rng.standard_normal()),
                 "B": t["B"] * np.exp(0.05 * rng.standard_normal()), "alpha": t["alpha"] * np.exp(0.02 * rng.standard_normal())}
        frames.append(simulate_runs("chinchilla", truth, design, sigma=NOISE, seed=seed * 10 + g).assign(arch=f"g{g}"))
    return pd.concat(frames, ignore_index=True)


def sparse(seed: int) -> pd.DataFrame:
    """Three groups of 12, 3 and 2 runs (columns params, tokens, compute, loss, arch), spreads as :func:`ladder`."""
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import isoflop_design, simulate_runs

    t, rng = EXAMPLE["truth"], np.random.default_rng(seed)
    full = isoflop_design(np.geomspace(1e18, 1e21, 4), np.geomspace(4, 80, 3))
    frames = []
    for g, rows in enumerate((slice(None), [1, 4, 7], [4, 10])):
        truth = {**t, "A": t["A"] * np.exp(0.05 * rng.standard_normal()),
                 "B": t["B"] * np.exp(0.05 * rng.standard_normal()), "alpha": t["alpha"] * np.exp(0.02 * rng.standard_normal())}
        design = full.iloc[rows].reset_index(drop=True)
        frames.append(simulate_runs("chinchilla", truth, design, sigma=NOISE, seed=seed * 10 + g).assign(arch=f"g{g}"))
    return pd.concat(frames, ignore_index=True)


def differing(kind: str) -> pd.DataFrame:
    """Groups that truly differ, each offset pinned by many runs: ``"B"`` (two architectures, B x 1, 1.08, 16
    runs each, golden_outputs) or ``"AB"`` (three groups, A and B x 0.87, 1, 1.15, 25 runs each); noise 0.5%."""
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import isoflop_design, simulate_runs

    t = EXAMPLE["truth"]
    if kind == "B":
        design = isoflop_design(np.geomspace(1e18, 1e21, 4), np.geomspace(3, 150, 4))
        return pd.concat([simulate_runs("chinchilla", {**t, "B": t["B"] * k}, design, sigma=0.005, seed=i).assign(arch=g)
                          for i, (g, k) in enumerate((("base", 1.0), ("variant", 1.08)))], ignore_index=True)
    design = isoflop_design(np.geomspace(1e18, 1e21, 5), np.geomspace(3, 100, 5))
    return pd.concat([simulate_runs("chinchilla", {**t, "A": t["A"] * k, "B": t["B"] * k}, design, sigma=0.005,
                                    seed=40 + i).assign(arch=g) for i, (g, k) in enumerate((("g0", 0.87), ("g1", 1.0),
                                                                                            ("g2", 1.15)))],
                     ignore_index=True)


def overtrain(seed: int) -> pd.DataFrame:
    """An over-training grid: 5 budgets x 5-640 tokens/param (25 runs), a perturbed Chinchilla truth."""
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import isoflop_design, simulate_runs

    rng = np.random.default_rng(seed)
    truth = {k: v * (np.exp(0.1 * rng.standard_normal()) if k != "E" else 1.0) for k, v in EXAMPLE["truth"].items()}
    design = isoflop_design(np.geomspace(1e18, 1e21, 5), np.geomspace(5, 640, 5))
    return simulate_runs("chinchilla", truth, design, sigma=NOISE, seed=seed)


def cases(kinds: set, quick: bool):
    """(kind, label, thunk returning (runs, fit kwargs)) for every fit of the benchmark."""
    import bayes_scaling as bs
    from bayes_scaling import datasets as ds

    vary = ["alpha", "beta", "A", "B"]
    seeds = (1, 2) if quick else (1, 2, 3)
    if "ladders" in kinds:
        for g in (2, 3, 4, 5):
            for s in seeds:
                yield "ladders", f"ladder {g} groups, seed {s}", lambda g=g, s=s: (
                    bs.load_runs(ladder(g, s), group_cols=["arch"]), {"law": "chinchilla", "vary": vary, "seed": s})
    if "sparse" in kinds:
        for s in seeds:
            yield "sparse", f"sparse 12+3+2 runs, seed {s}", lambda s=s: (
                bs.load_runs(sparse(s), group_cols=["arch"]), {"law": "chinchilla", "vary": vary, "seed": s})
    if "differing" in kinds:
        for k in ("B", "AB"):
            for s in seeds:
                yield "differing", f"differing {k} ({'2 x 16' if k == 'B' else '3 x 25'} runs), seed {s}", lambda k=k, s=s: (
                    bs.load_runs(differing(k), group_cols=["arch"]), {"law": "chinchilla", "vary": list(k), "seed": s})
    if "overtrain" in kinds:
        for s in range(1, 5 if quick else 11):
            yield "overtrain", f"overtrain 5-640 D/N, seed {s}", lambda s=s: (
                bs.load_runs(overtrain(s)), {"law": "chinchilla", "seed": s})
    if "real" not in kinds:
        return
    curves = None
    for name, opts, law, group in REAL:
        opts = dict(opts)
        if name == "revisiting":
            curves = curves or sorted(ds.load("revisiting").frame["curve"].unique())
            opts = {"curve": curves[opts["index"]]}
        label = f"{name} {' '.join(f'{v}' for v in opts.values())}".strip() + (f" by {group}" if group else "")

        def thunk(name=name, opts=opts, law=law, group=group):
            runs = ds.load(name, **opts)
            kw = {"law": law, "seed": 0}
            if group:
                kw.update(vary=[p.name for p in bs.get_law(law).params if p.kind != "loss"], group_col=group)
            return runs, kw
        yield "real", label, thunk


def run_case(kind: str, label: str, thunk) -> dict:
    import bayes_scaling as bs

    runs, kw = thunk()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bs.fit(runs, progress=False, **kw)
    d = res.diagnostics
    return {"kind": kind, "fit": label, "law": kw["law"], "runs": len(runs), "groups": len(res.groups),
            "attempts": len(res.sampler_config.get("attempts", [])), "r_hat": d.r_hat_max, "ess_bulk": d.ess_bulk_min,
            "ess_tail": d.ess_tail_min, "divergences": d.divergences, "seconds": time.perf_counter() - t0,
            "pass": d.ok, "problems": d.problems, "first_problems": res.sampler_config["attempts"][0]["problems"],
            "cpu_seconds": sum(a.get("cpu_seconds", 0.0) for a in res.sampler_config["attempts"]),
            "centred": [a.get("centred") for a in res.sampler_config["attempts"]],
            "returned_attempt": res.sampler_config.get("returned_attempt")}


def table(rows: list[dict]) -> str:
    head = ("| fit | runs | attempts | first attempt | R-hat | ESS bulk | ESS tail | div | s | pass |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    body = [f"| {r['fit'].replace('|', '/')} | {r['runs']} | {r['attempts']} | "
            f"{'; '.join(r.get('first_problems') or []) or ('pass' if r['attempts'] else '-')} | {r['r_hat']:.4f} | {r['ess_bulk']:.0f} | "
            f"{r['ess_tail']:.0f} | {r['divergences']} | {r['seconds']:.1f} | {'yes' if r['pass'] else 'NO'} |"
            for r in rows]
    return "\n".join([head, *body])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=None, help="also write every number to this file")
    ap.add_argument("--only", default="ladders,sparse,overtrain,real", help="comma-separated kinds of fit")
    ap.add_argument("--quick", action="store_true", help="fewer simulated fits (2 seeds per ladder, 4 grids)")
    ap.add_argument("--no-autocentre", action="store_true", help="retries keep the offsets' parametrisation (baseline)")
    args = ap.parse_args(argv)
    if args.no_autocentre:
        from bayes_scaling.inference import retry as retry_mod  # retry.retry_centred calls it

        retry_mod.next_centred = lambda diag, failing, *, vary, centred, **_: tuple(centred)
    command = shlex.join([sys.executable, *sys.argv])
    machine = f"{platform.node()} {platform.machine()} {platform.processor()}, {os.cpu_count()} cores"
    print("command:", command, "\nmachine:", machine, "load avg", os.getloadavg(), flush=True)
    t_all, rows = time.perf_counter(), []
    for kind, label, thunk in cases(set(args.only.split(",")), args.quick):
        try:
            rows.append(run_case(kind, label, thunk))
        except Exception as e:  # noqa: BLE001  (a dataset that cannot be loaded or fitted is reported, not fatal)
            rows.append({"kind": kind, "fit": label, "runs": 0, "attempts": 0, "r_hat": float("nan"),
                         "ess_bulk": float("nan"), "ess_tail": float("nan"), "divergences": -1, "seconds": 0.0,
                         "pass": False, "problems": [f"{type(e).__name__}: {e}"]})
        r = rows[-1]
        print(f"{r['fit']}: {'pass' if r['pass'] else 'FAIL ' + '; '.join(r['problems'])} "
              f"({r['attempts']} attempt(s), {r['seconds']:.1f} s)", flush=True)
    n_pass = sum(r["pass"] for r in rows)
    rate = n_pass / max(len(rows), 1)
    total = time.perf_counter() - t_all
    print("\n" + table(rows))
    retried = sum(r["attempts"] > 1 for r in rows)
    cpu = sum(r.get("cpu_seconds", 0.0) for r in rows)
    switched = sum(any(c for c in (r.get("centred") or [])[1:]) for r in rows)
    first = sum(r["attempts"] == 1 and r["pass"] for r in rows)
    print(f"\npass rate {n_pass}/{len(rows)} = {100 * rate:.1f}% (target >= {100 * PASS_TARGET:.0f}%: "
          f"{'PASS' if rate >= PASS_TARGET else 'MISS'}); first attempt {first}/{len(rows)}; {retried} fit(s) retried; "
          f"{sum(r['attempts'] for r in rows)} attempts; {switched} retried centred; sampling CPU {cpu:.0f} s; total {total:.0f} s; "
          f"load avg at end {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"command": command, "machine": machine, "total_s": total, "pass_rate": rate,
                                         "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                         "fits": rows}, indent=1, default=float))
    return 0 if rate >= PASS_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
