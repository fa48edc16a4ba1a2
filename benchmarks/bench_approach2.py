"""Approach 2 check on the registry's IsoFLOP datasets: fit Chinchilla's law to each source, then compare
its N*(C) with law-free IsoFLOP parabola minima (Hoffmann et al. 2022; bootstrap 90% intervals).

    BAYES_SCALING_DATASETS=... python benchmarks/bench_approach2.py [--draws 500]

Prints one line per budget (``isoflop-check``'s text) and a summary table per source.
"""

from __future__ import annotations

import argparse
import time
import warnings

import bayes_scaling as bs
from bayes_scaling.queries.isoflop_check import approach2_check

SOURCES = [("isoflops", {"source": "epochai_chinchilla"}), ("isoflops", {"source": "ml_scalefit"}),
           ("isoflops", {"source": "misfitting"}), ("isoflops", {"source": "llama_3", "condition": "raw_loss"}),
           *(("marin", {"dataset": d}) for d in ("comma", "dclm", "nemotron"))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("| dataset | runs | budgets | agree | disagree | budgets that disagree (FLOPs) | fit s |")
    print("|---|---|---|---|---|---|---|")
    for name, opts in SOURCES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs = bs.datasets.load(name, **opts)
            t0 = time.perf_counter()
            fit = bs.fit(runs, "chinchilla", draws=args.draws, tune=args.draws, chains=2, seed=args.seed,
                         progress=False)
            secs = time.perf_counter() - t0
        table = approach2_check(fit, n_boot=500, seed=args.seed)
        bad = table[~table["agree"]]
        label = f"{name} {' '.join(f'{k}={v}' for k, v in opts.items())}"
        print(f"| {label} | {len(runs)} | {len(table)} | {int(table['agree'].sum())} | {len(bad)} | "
              f"{', '.join(f'{b:.2g}' for b in bad['budget']) or '-'} | {secs:.0f} |", flush=True)


if __name__ == "__main__":
    main()
