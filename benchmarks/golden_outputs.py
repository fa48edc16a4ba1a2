"""Same numbers before and after a refactor: the JSON answers of the main commands at fixed seeds.

Runs ``demo``, ``fit``, ``summary``, ``predict``, ``allocate``, ``frontier``, ``compare`` and
``backtest`` through the CLI (in this process, as a user would type them) on the bundled example,
on a simulated two-architecture ladder and on Epoch's extraction of Chinchilla's runs, and either
records every number (``--record FILE``) or compares them with a recording (``--check FILE``).

A check prints the largest relative difference per command and fails (exit 1) when any number
differs by more than ``--rtol`` (default 1e-9) or a key appears or disappears. Recordings are
machine-specific: numba compiles the sampler for the host CPU, so record and check on one machine.

    .venv/bin/python benchmarks/golden_outputs.py --record /tmp/golden.json   # before the change
    .venv/bin/python benchmarks/golden_outputs.py --check /tmp/golden.json    # after it
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("BAYES_SCALING_DATASETS", ROOT.parent / "shared" / "datasets"))
EPOCH = DATASETS / "chinchilla_epoch_besiroglu2024" / "svg_extracted_data.csv"
SAMPLER = ["--draws", "300", "--tune", "300", "--chains", "2"]
#: Keys whose values depend on the clock, the path or the environment, not on the numbers.
VOLATILE = re.compile(r"(seconds|time|elapsed|path|out|source|origin|command|versions?|sha256|file)$", re.I)


def _cli(argv: list[str]) -> tuple[int, str]:
    from bayes_scaling.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


def _hier_csv(path: Path) -> None:
    """Two simulated architectures (B 8% worse in one), Chinchilla truth, 0.5% noise: 32 runs."""
    import numpy as np
    import pandas as pd

    from bayes_scaling.examples import EXAMPLE
    from bayes_scaling.simulate import isoflop_design, simulate_runs

    truth = EXAMPLE["truth"]
    design = isoflop_design(np.geomspace(1e18, 1e21, 4), np.geomspace(3, 150, 4))
    frames = [simulate_runs("chinchilla", {**truth, "B": truth["B"] * k}, design, sigma=0.005, seed=i).assign(arch=g)
              for i, (g, k) in enumerate((("base", 1.0), ("variant", 1.08)))]
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)


def commands(tmp: Path) -> list[tuple[str, list[str]]]:
    """(label, argv) in order; later commands read the fits earlier ones wrote."""
    from bayes_scaling.examples import example_path

    ex, demo, epoch, hier = str(example_path()), str(tmp / "demo.nc"), str(tmp / "epoch.nc"), str(tmp / "hier.nc")
    _hier_csv(tmp / "hier.csv")
    epoch_cols = ["--params-col", "Model Size", "--compute-col", "Training FLOP", "--tokens-col", ""]
    out = [
        ("demo", ["demo", "--seed", "1", *SAMPLER, "--out", demo]),
        ("summary[example]", ["summary", demo, "--json"]),
        ("predict[example]", ["predict", demo, "--params", "7e9", "--tokens", "1.4e11", "--json"]),
        ("allocate[example]", ["allocate", demo, "--compute", "1e23", "--alt-tokens-per-param", "20", "--json"]),
        ("frontier[example]", ["frontier", demo, "--compute-min", "1e20", "--compute-max", "1e24", "--json"]),
        ("fit[hier]", ["fit", str(tmp / "hier.csv"), "--law", "chinchilla", "--group-col", "arch", "--vary", "B",
                       "--seed", "3", *SAMPLER, "--out", hier, "--json"]),
        ("compare[hier]", ["compare", hier, "--compute", "1e22", "--json"]),
        ("predict[hier,new]", ["predict", hier, "--params", "1e9", "--tokens", "2e10", "--group", "new", "--json"]),
        ("backtest[example]", ["backtest", ex, "--law", "chinchilla", "--holdout-fraction", "0.25", "--n-boot", "20",
                               "--seed", "5", *SAMPLER, "--json"]),
    ]
    if EPOCH.exists():
        out += [
            ("fit[epoch]", ["fit", str(EPOCH), "--law", "chinchilla", *epoch_cols, "--params-kind", "total",
                            "--seed", "2", *SAMPLER, "--calibrate-extrapolation", "--out", epoch, "--json"]),
            ("summary[epoch]", ["summary", epoch, "--json"]),
            ("predict[epoch]", ["predict", epoch, "--params", "70e9", "--tokens", "1.4e12", "--json"]),
            ("allocate[epoch]", ["allocate", epoch, "--compute", "5.76e23", "--alt-tokens-per-param", "20", "--json"]),
            ("frontier[epoch]", ["frontier", epoch, "--compute-min", "1e21", "--compute-max", "1e25", "--json"]),
            ("backtest[epoch]", ["backtest", str(EPOCH), "--law", "chinchilla", *epoch_cols, "--holdout-above", "1e21",
                                 "--n-boot", "20", "--seed", "4", *SAMPLER, "--json"]),
        ]
    else:
        print(f"note: {EPOCH} not found; Epoch's commands are skipped (set BAYES_SCALING_DATASETS)", file=sys.stderr)
    return out


def _numbers(obj, prefix: str = "") -> dict[str, object]:
    """Flatten JSON to {path: leaf}, dropping volatile keys (times, paths, versions)."""
    out: dict[str, object] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if VOLATILE.search(str(k)):
                continue
            out.update(_numbers(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def _demo_numbers(text: str) -> dict[str, object]:
    """The demo prints text: every number in it, in order (lines that time things dropped)."""
    nums = re.findall(r"[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?", "\n".join(
        line for line in text.splitlines() if "saved" not in line and "seconds" not in line))
    return {f"n{i}": float(v) for i, v in enumerate(nums)}


def run_all() -> dict[str, dict[str, object]]:
    os.environ.setdefault("BAYES_SCALING_NO_PROGRESS", "1")
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for label, argv in commands(Path(d)):
            t0 = time.perf_counter()
            rc, text = _cli(argv)
            if rc != 0:
                raise SystemExit(f"{label}: exit {rc}: {' '.join(argv)}")
            results[label] = _demo_numbers(text) if label == "demo" else _numbers(json.loads(text))
            print(f"{label}: {len(results[label])} values, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return results


def compare(old: dict, new: dict, rtol: float) -> bool:
    ok = True
    for label in sorted(set(old) | set(new)):
        a, b = old.get(label), new.get(label)
        if a is None or b is None:
            print(f"{label}: only in the {'recording' if b is None else 'new run'}")
            ok = False
            continue
        a, b = ({k: v for k, v in d.items() if not VOLATILE.search(re.sub(r"\[\d+\]$", "", k).split(".")[-1])}
                for d in (a, b))  # a recording made before a key was marked volatile
        keys = set(a) | set(b)
        missing = sorted(k for k in keys if k not in a or k not in b)
        worst, where = 0.0, ""
        for k in keys - set(missing):
            x, y = a[k], b[k]
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
                if math.isnan(x) and math.isnan(y):
                    continue
                d = abs(x - y) / max(abs(x), abs(y), 1e-300) if x != y else 0.0
            else:
                d = 0.0 if x == y else math.inf
            if d > worst:
                worst, where = d, k
        bad = worst > rtol or missing
        ok &= not bad
        print(f"{label}: {len(keys)} values, max relative difference {worst:.3g}"
              + (f" at {where}" if where else "") + (f"; keys added/removed: {missing[:6]}" if missing else "")
              + ("  FAIL" if bad else ""))
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", help="write the numbers to this JSON file")
    g.add_argument("--check", help="compare with this recording")
    ap.add_argument("--save", help="with --check: also write the new numbers here")
    ap.add_argument("--rtol", type=float, default=1e-9, help="largest relative difference allowed (default 1e-9)")
    args = ap.parse_args()
    new = run_all()
    if args.record:
        Path(args.record).write_text(json.dumps(new, indent=1, sort_keys=True))
        print(f"recorded {sum(map(len, new.values()))} values from {len(new)} commands in {args.record}")
        return 0
    if args.save:
        Path(args.save).write_text(json.dumps(new, indent=1, sort_keys=True))
    ok = compare(json.loads(Path(args.check).read_text()), new, args.rtol)
    print("SAME NUMBERS" if ok else "NUMBERS CHANGED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
