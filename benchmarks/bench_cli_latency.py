"""Latency of the quick commands on a saved fit, each from a fresh process, as a user types them.

Times ``predict``, ``summary``, ``allocate`` and ``--help`` (median of ``--repeats`` fresh processes),
beside the same commands with xarray's dask probe left on (``BAYES_SCALING_XARRAY_DASK_PROBE=1``,
the baseline: what the console script did before), prints each ratio and the target (<= 0.8 s), and
checks that no query command imports PyMC, PyTensor, nutpie or numba.

    .venv/bin/python benchmarks/bench_cli_latency.py [--repeats 5] [--fit FIT.nc]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.8
HEAVY = ("pymc", "pytensor", "nutpie", "numba")


def _time(cmd: list[str], env: dict, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fit", default=None, help="a saved fit (default: the demo's, written to a temp folder)")
    args = ap.parse_args(argv)
    exe = [sys.executable, "-m", "bayes_scaling"]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load avg {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        fit = args.fit or str(Path(d) / "demo.nc")
        if args.fit is None:
            subprocess.run([*exe, "demo", "--draws", "500", "--tune", "500", "--out", fit], check=True,
                           capture_output=True)
        commands = {
            "predict": ["predict", fit, "--params", "7e9", "--tokens", "1.4e11"],
            "summary": ["summary", fit],
            "allocate": ["allocate", fit, "--compute", "1e23"],
            "--help": ["--help"],
        }
        env = dict(os.environ)
        base_env = {**env, "BAYES_SCALING_XARRAY_DASK_PROBE": "1"}
        ok = True
        for name, cmd in commands.items():
            now = _time([*exe, *cmd], env, args.repeats)
            before = _time([*exe, *cmd], base_env, args.repeats)
            passed = now <= TARGET_S
            ok &= passed
            print(f"{name:9s} {now:.2f} s (baseline with the dask probe {before:.2f} s, ratio {now / before:.2f}); "
                  f"target <= {TARGET_S} s: {'PASS' if passed else 'MISS'}", flush=True)
        probe = ("import sys; from bayes_scaling.cli import console; sys.argv = ['bayes-scaling', *sys.argv[1:]]\n"
                 "try:\n    console()\nexcept SystemExit:\n    pass\n"
                 f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
        for name in ("predict", "summary", "allocate"):
            r = subprocess.run([sys.executable, "-c", probe, *commands[name]], env=env, capture_output=True, text=True)
            heavy = next((ln[6:] for ln in r.stdout.splitlines() if ln.startswith("HEAVY:")), "(probe failed)")
            print(f"{name}: heavy imports on the query path: {heavy or 'none'}")
            ok &= not heavy
    print("PASS" if ok else "MISS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
