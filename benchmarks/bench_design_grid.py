"""Benchmark: the resolution of run design's decision grid (``Preposterior(grid=81)``, issue 15).

The wasted-compute objective (and stop or go, whatever the objective) takes, in every simulated world, the plan
of least expected waste over a grid of N at the target budget. On the first Chinchilla-like ladders of
``bench_design.py`` (its truths, runs, fit and default candidate grid) this runs ``design_runs`` with objective
``wasted_compute`` at 81 (the default), 161 and 321 grid points, and once more at 81 with another seed (other
simulated worlds: the Monte Carlo error the grid error is compared with). Reported per ladder, in fractions of C
(the target's FLOPs): the least expected waste now and its grid error against 1281 points; each candidate's
expected waste after it against 321 points (largest and median change), beside the gains' Monte Carlo SE (median
over candidates) and the change with the seed; each candidate's gain's change against 321 points in its own Monte
Carlo SE (largest and median); whether the batch and stop or go's verdict change; the seconds.

Usage::

    python benchmarks/bench_design_grid.py                  # 6 ladders (0, 2, ..., 10), ~10 min on 2 cores
    python benchmarks/bench_design_grid.py --ladders 2      # quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_design as B  # noqa: E402

import bayes_scaling.queries.design as design_mod  # noqa: E402
from bayes_scaling.queries.design import candidate_grid, design_runs  # noqa: E402
from bayes_scaling.queries.design_preposterior import Preposterior  # noqa: E402

GRIDS = (81, 161, 321)
REFERENCE_GRID = 1281  #: the "now" objective's reference (one evaluation, cheap)


def run(res, n, d, grid: int, seed: int):
    design_mod.Preposterior = lambda *a, **k: Preposterior(*a, grid=grid, **k)
    try:
        t0 = time.perf_counter()
        des = design_runs(res, B.TARGET, B.EXTRA_BUDGET, n, d, objective="wasted_compute", batch=len(B.RATIOS),
                          seed=seed)
        return des, time.perf_counter() - t0
    finally:
        design_mod.Preposterior = Preposterior


def ladder(i: int) -> dict:
    rng = np.random.default_rng(1000 + i)  # as bench_design.one_ladder
    truth = B.truth_for("chinchilla", rng)
    base = B.isoflop_design(B.BUDGETS, B.RATIOS)
    res = B.refit(B.runs_at(truth, base["params"], base["tokens"], seed=i), seed=i)
    n, d = candidate_grid(res.runs.frame["C"], B.EXTRA_BUDGET, ratios=B.CANDIDATE_RATIOS)
    des = {g: run(res, n, d, g, seed=i) for g in GRIDS}
    other, _ = run(res, n, d, GRIDS[0], seed=i + 1)
    ref = des[GRIDS[-1]][0]
    pre = des[GRIDS[0]][0].pre
    fine = Preposterior(pre.draws, pre.sigma, pre.family, B.TARGET, objective="wasted_compute", grid=REFERENCE_GRID,
                        seed=i).current()
    out = {"ladder": i, "now_fine": fine, "gain_se_median": float(np.median(des[GRIDS[0]][0].gains.se)),
           "seed_change_median": float(np.median(np.abs(other.gains.after - des[GRIDS[0]][0].gains.after)))}
    for g, (x, sec) in des.items():
        delta = np.abs(x.gains.after - ref.gains.after)
        in_se = np.abs(x.gains.gain - ref.gains.gain) / des[GRIDS[0]][0].gains.se  # gain's change in its MC SEs
        out[g] = {"now": x.gains.before, "after_change_max": float(delta.max()), "after_change_median": float(np.median(delta)),
                  "gain_change_in_se_max": float(np.max(in_se)), "gain_change_in_se_median": float(np.median(in_se)),
                  "batch": [b["candidate"] for b in x.batch], "batch_after": x.batch[-1]["after"] if x.batch else x.gains.before,
                  "go_runs": x.stop_go["go_runs"], "best_net_flops": x.stop_go.get("best_net_flops"), "seconds": sec}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ladders", type=int, default=6, help="Chinchilla-like ladders 0, 2, ... (default 6)")
    args = ap.parse_args()
    print("fractions of C; 'now': least expected waste on the grid (its error against "
          f"{REFERENCE_GRID} points); 'after': each candidate's expected waste after it, change against 321 points")
    for i in range(0, 2 * args.ladders, 2):
        r = ladder(i)
        print(f"ladder {i}: now at {REFERENCE_GRID} points {r['now_fine']:.6f}; gain MC SE (median over candidates) "
              f"{r['gain_se_median']:.2e}; change of 'after' with another seed (median) {r['seed_change_median']:.2e}",
              flush=True)
        for g in GRIDS:
            x = r[g]
            print(f"  grid {g:>3}: now {x['now']:.6f} (error {x['now'] - r['now_fine']:+.2e}); after vs 321: max "
                  f"{x['after_change_max']:.2e}, median {x['after_change_median']:.2e}; gain's change in MC SEs: max "
                  f"{x['gain_change_in_se_max']:.2f}, median {x['gain_change_in_se_median']:.2f}; batch {x['batch']} (after "
                  f"{x['batch_after']:.6f}); go runs {x['go_runs']}, best net {x['best_net_flops']:.3g} FLOPs; "
                  f"{x['seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
