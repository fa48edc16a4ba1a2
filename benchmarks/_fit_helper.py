"""Subprocess worker for ``bench_fit.py``: one fit (or one timed breakdown) in a fresh interpreter.

Run by the benchmark, not by hand (though it works by hand)::

    python benchmarks/_fit_helper.py fit --csv PATH
    python benchmarks/_fit_helper.py breakdown --csv PATH [--diag] [--no-sample]

The last line of stdout is ``BENCH_JSON: {...}``; every time in it is wall-clock seconds
(``time.perf_counter``) measured inside this process. The parent measures the process's total
wall time (interpreter start-up included) from outside.

Modes
-----
``fit``
    The plain user path: ``import bayes_scaling``, ``load_runs``, ``fit``. Reports the import,
    load and fit times.
``breakdown``
    The same work split into stages: import of ``bayes_scaling``; import of PyMC + nutpie; the
    compile (``compiled_model``: PyMC model → PyTensor graph → numba, then nutpie's ``numba.cfunc``
    wrapper, timed separately by wrapping ``numba.cfunc``); sampling with low-rank mass-matrix
    adaptation (as ``bayes_scaling.fit`` does) and, with ``--diag``, with nutpie's diagonal
    adaptation, each with the mean number of leapfrog steps per draw; and the post-processing
    into a ``FitResult`` (``FitResult.from_trace``).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

T = time.perf_counter

#: Column names of Epoch's Chinchilla extraction (N total parameters, C FLOPs, loss nats/token).
LOAD_KW = dict(params_col="Model Size", compute_col="Training FLOP", tokens_col=None)


def _emit(payload: dict) -> None:
    print("BENCH_JSON: " + json.dumps(payload), flush=True)


def run_fit(args: argparse.Namespace) -> dict:
    """Plain cold fit; returns stage times in seconds and the diagnostics."""
    t0 = T()
    import bayes_scaling as bs

    t1 = T()
    runs = bs.load_runs(args.csv, **LOAD_KW)
    t2 = T()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        res = bs.fit(runs, law="chinchilla", seed=args.seed, draws=args.draws, tune=args.tune,
                     chains=args.chains, progress=False)
    t3 = T()
    d = res.diagnostics
    return {
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "fit_s": t3 - t2,
        "in_process_total_s": t3 - t0,
        "r_hat_max": d.r_hat_max,
        "divergences": d.divergences,
        "warnings": [str(w.message) for w in caught],
    }


def _sample(nutpie, compiled, args, adaptation: str):
    """Sample like ``bayes_scaling.fit`` does; returns (trace, seconds, mean leapfrog steps/draw, divergences)."""
    t = T()
    trace = nutpie.sample(compiled, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                          progress_bar=False, adaptation=adaptation, save_warmup=False)
    dt = T() - t
    stats = trace["sample_stats"]
    return trace, dt, float(stats["n_steps"].mean()), int(stats["diverging"].sum())


def run_breakdown(args: argparse.Namespace) -> dict:
    """Timed stages of a cold fit (see the module docstring); seconds."""
    out: dict = {}
    t = T()
    import bayes_scaling as bs

    out["import_bayes_scaling_s"] = T() - t
    t = T()
    import nutpie
    import numba
    import pymc  # noqa: F401

    out["import_pymc_nutpie_s"] = T() - t

    from bayes_scaling.inference.fit import compiled_model, resolve_spec
    from bayes_scaling.inference.model import model_data

    runs = bs.load_runs(args.csv, **LOAD_KW)
    spec = resolve_spec("chinchilla")
    data = model_data(spec, runs)

    # Time nutpie's numba.cfunc compilation (the part numba cannot cache across processes).
    cfunc_s = [0.0]
    real_cfunc = numba.cfunc

    def timed_cfunc(*a, **k):
        decorator = real_cfunc(*a, **k)

        def apply(fn):
            t0 = T()
            try:
                return decorator(fn)
            finally:
                cfunc_s[0] += T() - t0

        return apply

    numba.cfunc = timed_cfunc
    try:
        t = T()
        compiled = compiled_model(spec, data)
        out["compile_s"] = T() - t
    finally:
        numba.cfunc = real_cfunc
    out["compile_cfunc_s"] = cfunc_s[0]
    out["compile_other_s"] = out["compile_s"] - cfunc_s[0]

    if args.no_sample:
        return out

    trace, dt, steps, div = _sample(nutpie, compiled, args, "low_rank")
    out.update(sample_low_rank_s=dt, n_steps_low_rank=steps, divergences_low_rank=div)

    from bayes_scaling.result import FitResult

    config = {"sampler": "nutpie", "adaptation": "low_rank", "draws": args.draws, "tune": args.tune,
              "chains": args.chains, "seed": args.seed}
    t = T()
    FitResult.from_trace(trace, spec=spec, runs=runs, data=data, sampler_config=config)
    out["postprocess_s"] = T() - t

    if args.diag:
        _, dt, steps, div = _sample(nutpie, compiled, args, "diag")
        out.update(sample_diag_s=dt, n_steps_diag=steps, divergences_diag=div)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["fit", "breakdown"])
    p.add_argument("--csv", required=True, help="Epoch's svg_extracted_data.csv")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--diag", action="store_true", help="breakdown: also sample with diagonal adaptation")
    p.add_argument("--no-sample", action="store_true", help="breakdown: stop after the compile")
    args = p.parse_args()
    _emit(run_fit(args) if args.mode == "fit" else run_breakdown(args))


if __name__ == "__main__":
    main()
