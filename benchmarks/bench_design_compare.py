"""Compare two ``bench_design.py --json`` runs on the same ladders (e.g. ``--spec chinchilla`` against
``--spec chinchilla_wide``): per kind and strategy, the paired share of ladders where run B's refit wasted
less and had the narrower N* 90% interval than run A's, the median ratio of widths, and the
designed-vs-ssl comparison inside each run.

Usage::

    python benchmarks/bench_design_compare.py /tmp/design_default.json /tmp/design_wide.json
"""

from __future__ import annotations

import json
import sys

import numpy as np


def load(path: str) -> list[dict]:
    return json.loads(open(path, encoding="utf-8").read())["ladders"]


def lines(a: list[dict], b: list[dict], names: tuple[str, str]) -> list[str]:
    if [r["truth"] for r in a] != [r["truth"] for r in b]:
        raise SystemExit("the two runs are not on the same ladders (truths differ): use the same --first and --ladders")
    out = []
    for kind in ("all", "chinchilla", "kaplan_like"):
        idx = [i for i, r in enumerate(a) if kind in ("all", r["kind"])]
        strategies = [k for k in ("designed", "ssl_suggest", "isoflop_3x", "random", "none")
                      if all(k in a[i] and k in b[i] for i in idx)]
        for k in strategies:
            wa = np.array([a[i][k]["wasted"] for i in idx])
            wb = np.array([b[i][k]["wasted"] for i in idx])
            da = np.array([a[i][k]["width_decades"] for i in idx])
            db = np.array([b[i][k]["width_decades"] for i in idx])
            out.append(f"{kind:<11} {k:<11} {names[1]} vs {names[0]}: lower waste on {np.mean(wb < wa):.0%}, "
                       f"narrower on {np.mean(db < da):.0%} of {len(idx)}; median width ratio "
                       f"{np.median(db / da):.3f}; median waste {np.median(wa):.3%} -> {np.median(wb):.3%}")
        for run, name in ((a, names[0]), (b, names[1])):
            if "ssl_suggest" in strategies:
                w = np.mean([run[i]["designed"]["wasted"] < run[i]["ssl_suggest"]["wasted"] for i in idx])
                n = np.mean([run[i]["designed"]["width_decades"] < run[i]["ssl_suggest"]["width_decades"] for i in idx])
                out.append(f"{kind:<11} {name}: designed beats ssl on waste in {w:.0%}, on width in {n:.0%} of {len(idx)}")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: bench_design_compare.py A.json B.json")
    print("\n".join(lines(load(sys.argv[1]), load(sys.argv[2]), ("A", "B"))))
