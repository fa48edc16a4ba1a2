"""Few runs at short settings: 5 runs of the bundled ladder (every 15th row: 6e18 to 3e21 FLOPs), the default
chinchilla spec, 4 chains x (300 tune + 300 draws), ``fit``'s retries on. How many seeds pass the diagnostics
after the retries, and in what wall time, with the retry floor (a retry never samples less than a default fit's
1000 + 1000, :func:`bayes_scaling.inference.retry.escalate`) against plain doubling (the baseline, the floor
switched off), seed by seed in the same process.

Usage::

    python benchmarks/bench_few_runs.py --seeds 40
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from bayes_scaling.data.runs import load_runs
from bayes_scaling.examples import example_path
from bayes_scaling.inference import fit as fit_mod


def run(runs, seed: int, floor: bool, draws: int, tune: int) -> tuple[bool, float, list]:
    keep = fit_mod.default_floor
    if not floor:
        fit_mod.default_floor = lambda tune=None: None  # noqa: E731 - the baseline: doubling alone
    try:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_mod.fit(runs, law="chinchilla", draws=draws, tune=tune, seed=seed, progress=False)
        return res.diagnostics.ok, time.perf_counter() - t, res.sampler_config["attempts"]
    finally:
        fit_mod.default_floor = keep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=40)
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--tune", type=int, default=300)
    args = p.parse_args()
    frame = pd.read_csv(example_path()).iloc[::15].reset_index(drop=True)
    runs = load_runs(frame)
    run(runs, 0, True, args.draws, args.tune)  # compile once, outside the timing
    out = {True: [], False: []}
    for seed in range(args.seeds):
        for floor in (False, True):  # alternated, so load changes fall on both
            out[floor].append(run(runs, seed, floor, args.draws, args.tune))
    for floor, name in ((False, "doubling (baseline)"), (True, "floor at the defaults")):
        rows = out[floor]
        first = sum(a[0]["ok"] for _, _, a in rows)
        print(f"{name:>22}: {sum(ok for ok, _, _ in rows)}/{len(rows)} pass after the retries "
              f"({first} at the first attempt), {sum(s for _, s, _ in rows):.1f} s wall, "
              f"{sum(len(a) for _, _, a in rows) / len(rows):.2f} attempts per fit")
    ratio = sum(s for _, s, _ in out[True]) / sum(s for _, s, _ in out[False])
    print(f"wall time ratio floor / baseline: {ratio:.2f}")


if __name__ == "__main__":
    main()
