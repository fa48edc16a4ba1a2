"""Same law, two fits: why does the Bayes posterior-predictive median of the Chinchilla law extrapolate
differently from its Huber point fit (Hoffmann et al. 2022 Approach 3)?

For each dataset and depth h of ``bench_ensemble.py`` (hold out C > C_max / 10^h), the training runs are
fitted by the Huber point fit and by Bayes chinchilla under spec variants that change one thing at a
time (likelihood family; exponent priors; E prior; noise prior); each is scored on the held-out runs by
the MARE of its posterior-predictive median (no extrapolation discrepancy: it is centred on log-loss), by
that MARE per chain and R-hat (several modes?), and by the MARE of the law at the posterior median of its
parameters. A diagnosis, not a tuning:
no default is chosen from these held-out runs.

    .venv/bin/python benchmarks/bench_bayes_vs_huber.py [--only NAME ...] [--depths 1] [--variants default laplace]
    .venv/bin/python benchmarks/bench_bayes_vs_huber.py --family-cuts --depths 1 --variants default laplace

``--family-cuts`` asks whether the training runs alone could choose the variant: each is fitted below the
ensemble's stacking cuts inside the training runs and scored above them (no held-out run is used).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ensemble import DATASETS  # noqa: E402  (the same datasets and options)

EXP_FLAT = "".join(f'[priors.{k}]\ndist = "Uniform"\nlower = 0.0\nupper = 1.0\n' for k in ("alpha", "beta"))
E_WIDE = '[priors.E]\ndist = "LogNormal"\nmu = 0.5\nsigma = 1.5\n'
SIGMA_WIDE = {"dist": "HalfNormal", "sigma": 0.2}


def _variant_text(base: str, family: str, flat_exp: bool, wide_e: bool, wide_sigma: bool = False) -> str:
    """The default chinchilla spec text with its family, exponent priors, E prior or noise prior replaced."""
    import tomllib

    t = tomllib.loads(base)
    lines = ['[law]\nname = "chinchilla"\n[provenance]\nsource = "diagnosis variant"\n']
    for k, p in t["priors"].items():
        if (flat_exp and k in ("alpha", "beta")) or (wide_e and k == "E"):
            continue
        lines.append(f"[priors.{k}]\n" + "".join(f"{a} = {json.dumps(v)}\n" for a, v in p.items()))
    if flat_exp:
        lines.append(EXP_FLAT)
    if wide_e:
        lines.append(E_WIDE)
    lik = dict(t["likelihood"])
    sig = SIGMA_WIDE if wide_sigma else lik.pop("sigma")
    lik.pop("sigma", None)
    lik["family"] = family
    lines.append("[likelihood]\n" + "".join(f"{a} = {json.dumps(v)}\n" for a, v in lik.items()))
    lines.append("[likelihood.sigma]\n" + "".join(f"{a} = {json.dumps(v)}\n" for a, v in sig.items()))
    return "".join(lines)


VARIANTS = {  # name: (family, flat exponent priors, wide E prior)
    "default": ("student_t", False, False),
    "laplace": ("laplace", False, False),
    "normal": ("normal", False, False),
    "flat_exp": ("student_t", True, False),
    "wide_E": ("student_t", False, True),
    "laplace_flat": ("laplace", True, True),
    "wide_sigma": ("student_t", False, False, True),
}


def _mare(pred, y):
    return float(np.median(np.abs(pred - y) / y)), float(np.median((pred - y) / y))


def family_cuts(args) -> int:
    """Could the training runs choose the family? At the ensemble's stacking cuts inside the training runs
    (no held-out run used), chinchilla with each family is fitted below each cut and scored above it:
    summed log predictive density and MARE of the predictive median."""
    from bayes_scaling import datasets as ds
    from bayes_scaling.inference.backtest import split_runs
    from bayes_scaling.inference.ensemble import CUT_DECADES, _cuts, _lpd
    from bayes_scaling.inference.fit import fit
    from bayes_scaling.laws.registry import get_law
    from bayes_scaling.specs.spec import default_spec, parse_spec

    base = default_spec("chinchilla").text
    for name, opts, laws in DATASETS:
        if args.only and name not in args.only:
            continue
        runs = ds.load(name, **opts)
        for h in args.depths:
            train, _, _ = split_runs(runs, get_law(laws[-1]), holdout_above=float(runs.frame["C"].max()) / 10 ** h)
            n_min = max(6, max(len(get_law(law).param_names) for law in laws) + 2)  # as fit_ensemble
            _, cuts = _cuts(train, get_law("chinchilla"), CUT_DECADES, n_min)
            for dec, _, tr, te in cuts:
                y = te.frame["loss"].to_numpy(float)
                line = []
                for v in args.variants:
                    spec = parse_spec(_variant_text(base, *VARIANTS[v]), origin=v)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        f = fit(tr, spec=spec, draws=args.draws, tune=args.draws, seed=args.seed + 1, progress=False)
                    lpd = float(_lpd(f, te).sum())
                    m, _ = _mare(np.median(f.evaluator.predictive_at_runs(te, seed=args.seed, discrepancy=False), axis=1), y)
                    line.append(f"{v} lpd {lpd:8.1f} MARE {m:.2%}")
                print(f"{name} h={h:g} cut {dec:g} ({len(tr)} fitted, {len(te)} scored): " + "; ".join(line), flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--depths", type=float, nargs="+", default=[0.5, 1.0, 1.5])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--family-cuts", action="store_true", help="score the variants at the training runs' stacking cuts only")
    args = ap.parse_args(argv)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load avg {os.getloadavg()}", flush=True)
    if args.family_cuts:
        return family_cuts(args)
    from bayes_scaling import baselines as bl
    from bayes_scaling import datasets as ds
    from bayes_scaling.inference.backtest import split_runs
    from bayes_scaling.inference.fit import fit
    from bayes_scaling.laws.registry import get_law
    from bayes_scaling.specs.spec import default_spec, parse_spec

    base = default_spec("chinchilla").text
    law = get_law("chinchilla")
    rows, t_all = [], time.perf_counter()
    for name, opts, laws in DATASETS:
        if args.only and name not in args.only:
            continue
        runs = ds.load(name, **opts)
        c_max = float(runs.frame["C"].max())
        for h in args.depths:
            train, test, _ = split_runs(runs, get_law(laws[-1]), holdout_above=c_max / 10 ** h)
            y = test.frame["loss"].to_numpy(float)
            lt, le = train.log_inputs(law.compute_unit), test.log_inputs(law.compute_unit)
            hf = bl.huber_fit("chinchilla", {k: lt[k] for k in law.input_names}, np.log(train.frame["loss"].to_numpy(float)))
            row = {"dataset": name, "depth": h, "n_train": len(train), "n_test": len(y), "fits": {}}
            m, s = _mare(hf.predict({k: le[k] for k in law.input_names}), y)
            row["fits"]["huber"] = {"mare": m, "signed": s, "params": hf.params}
            print(f"{name} h={h:g} ({len(train)} fitted, {len(y)} held out)", flush=True)
            for v in args.variants:
                spec = parse_spec(_variant_text(base, *VARIANTS[v]), origin=v)
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    f = fit(train, spec=spec, draws=args.draws, tune=args.draws, seed=args.seed, progress=False)
                pred = f.evaluator.predictive_at_runs(test, seed=args.seed, discrepancy=False)
                m, s = _mare(np.median(pred, axis=1), y)
                post = f.law_params()
                p_med = {k: float(np.median(np.asarray(v_))) for k, v_ in post.items()}
                m2, _ = _mare(np.exp(np.asarray(law.log_loss(np, {k: le[k] for k in law.input_names}, p_med))), y)
                nat = {k: float(np.median(np.asarray(v_))) for k, v_ in f.posterior.items()
                       if k in ("E", "alpha", "beta", "sigma")}
                per_chain = np.median(pred.reshape(len(y), f.posterior.sizes["chain"], -1), axis=2)  # run x chain
                chain_mare = [_mare(per_chain[:, c], y)[0] for c in range(per_chain.shape[1])]
                row["fits"][v] = {"mare": m, "signed": s, "mare_at_param_median": m2, "params": nat,
                                  "r_hat_max": float(f.diagnostics.r_hat_max), "chain_mare": chain_mare,
                                  "seconds": time.perf_counter() - t0}
            for k, r in row["fits"].items():
                pr = r["params"]
                print(f"  {k:13s} MARE {r['mare']:.2%} (signed {r['signed']:+.2%})"
                      + (f" at param median {r['mare_at_param_median']:.2%}" if "mare_at_param_median" in r else "")
                      + f"  E {pr.get('E', float('nan')):.3f} alpha {pr.get('alpha', float('nan')):.3f} "
                        f"beta {pr.get('beta', float('nan')):.3f}" + (f" sigma {pr['sigma']:.4f}" if "sigma" in pr else "")
                      + (f" R-hat {r['r_hat_max']:.3f}, per-chain MARE {min(r['chain_mare']):.2%}-{max(r['chain_mare']):.2%}"
                         f" ({r['seconds']:.0f} s)" if "seconds" in r else ""), flush=True)
            rows.append(row)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1, default=float))
    print(f"wall time {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
