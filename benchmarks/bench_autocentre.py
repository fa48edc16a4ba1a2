"""Automatic centring on a retry (inference/retry.next_centred), on and off, in one process, per seed.

Not part of CI. Sets: ``shared`` (tests/test_sampling_offsets' design: 3 groups x 12 runs, only A differs, 1% noise,
``vary`` alpha, beta, A, B: the risky side, where most varying parameters are shared) and ``ab`` (the A/B sets of
tests/test_sampling_retry: 3 x 25 runs, A and B x 0.87, 1, 1.15, 0.5% noise, ``vary`` A, B: the case centring
suits). Each seed is fitted with the rule ("after"), with wt_autocentre's rule (no check that the data inform the
offsets, no memory of the forms that mixed badly: "merged") and with retries that keep the parametrisation ("before"),
at the given first-attempt draws and tuning; default retries. Prints one JSON line per fit and the totals.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_autocentre.py --set shared --draws 300 --tune 300 --seeds 1-5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def runs_of(kind: str, seed: int):
    import bayes_scaling as bs
    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import isoflop_design, simulate_runs

    t = EXAMPLE["truth"]
    if kind == "shared":  # as tests/test_sampling_offsets._runs
        design = isoflop_design(np.geomspace(1e18, 1e21, 4), np.geomspace(4, 80, 3))
        frames = [simulate_runs("chinchilla", {**t, "A": t["A"] * m}, design, sigma=0.01, seed=100 * seed + i).assign(arch=g)
                  for i, (g, m) in enumerate({"g1": 1.0, "g2": 1.15, "g3": 0.9}.items())]
        return bs.load_runs(pd.concat(frames, ignore_index=True), group_cols=["arch"]), ["alpha", "beta", "A", "B"]
    design = isoflop_design(np.geomspace(1e18, 1e21, 5), np.geomspace(3, 100, 5))  # fixed data, as the test's
    frames = [simulate_runs("chinchilla", {**t, "A": t["A"] * k, "B": t["B"] * k}, design, sigma=0.005,
                            seed=40 + i).assign(arch=g) for i, (g, k) in enumerate({"g0": 0.87, "g1": 1.0, "g2": 1.15}.items())]
    return bs.load_runs(pd.concat(frames, ignore_index=True), group_cols=["arch"]), ["A", "B"]


def main(argv=None) -> int:
    import bayes_scaling as bs
    from bayes_scaling.inference import retry

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=("shared", "ab"), default="shared")
    ap.add_argument("--draws", type=int, default=1000, help="first attempt's draws per chain")
    ap.add_argument("--tune", type=int, default=1000, help="first attempt's tuning steps per chain")
    ap.add_argument("--seeds", default="1-5", help="fit seeds, e.g. 1-5 (the shared set's data seed too)")
    args = ap.parse_args(argv)
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    print("command:", " ".join(sys.argv), "| utc", time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "| load",
          os.getloadavg(), flush=True)
    new_rule = retry.next_centred
    arms = {"after": new_rule,  # "merged": wt_autocentre's rule, without the informed-offsets check and the memory
            "merged": lambda diag, failing, *, vary, centred, spec_centred=(), **_: new_rule(
                diag, failing, vary=vary, centred=centred, spec_centred=spec_centred),
            "before": lambda diag, failing, *, vary, centred, **_: tuple(centred)}
    totals = {a: {"attempts": 0, "passes": 0, "cpu_seconds": 0.0} for a in arms}
    for seed in seeds:
        runs, vary = runs_of(args.set, seed)
        for arm, rule in arms.items():
            retry.next_centred = rule  # retry.retry_centred calls it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = bs.fit(runs, law="chinchilla", vary=vary, seed=seed, draws=args.draws, tune=args.tune, progress=False)
            att, d = res.sampler_config["attempts"], res.diagnostics
            cpu = sum(a["cpu_seconds"] for a in att)
            totals[arm]["attempts"] += len(att)
            totals[arm]["passes"] += d.ok
            totals[arm]["cpu_seconds"] += cpu
            print(json.dumps({"seed": seed, "arm": arm, "ok": d.ok, "attempts": len(att),
                              "returned": res.sampler_config.get("returned_attempt"),
                              "centred": [a["centred"] for a in att], "problems": [a["problems"] for a in att],
                              "cpu_seconds": round(cpu, 2), "r_hat": round(d.r_hat_max, 4), "ess_bulk": round(d.ess_bulk_min),
                              "divergences": d.divergences}), flush=True)
    retry.next_centred = new_rule
    for arm, t in totals.items():
        print(f"{arm}: {t['passes']}/{len(seeds)} pass, {t['attempts']} attempts, sampling CPU {t['cpu_seconds']:.1f} s")
    print("load at end", os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
