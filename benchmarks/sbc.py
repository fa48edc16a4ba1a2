"""Simulation-based calibration (SBC; Talts et al. 2018, arXiv:1804.06788) of every shipped law.

Not part of CI: a benchmark that checks that ``bayes_scaling.fit`` returns calibrated posteriors
under each law's default spec (``models/<law>.toml``). For each law and each simulation i:

1. **Prior draw.** theta_i ~ the spec's priors, drawn directly from them with ``pm.draw`` (not
   through the model, whose positive parameters are sampled in centred internal coordinates with
   the prior added as a potential; SBC checks exactly that construction). The likelihood's sigma
   is drawn from ``[likelihood.sigma]``; nu is fixed at the spec's value. A ``relative_to``
   prior is on value / exp(ref), ref = the mean log input over the simulated runs, so the value is
   drawn as v ~ prior and scaled by exp(ref) of the law's fixed design. For laws with two breaks
   the model orders them (d1 < d2 by construction), so its prior is the product of the spec's
   priors restricted to d1 < d2: the draws are taken from that restriction by rejection.
2. **Data.** ``simulate_runs`` on a fixed design for the law (see ``DESIGNS``): Student-t(nu) noise
   of scale sigma on log-loss (``--likelihood normal|laplace``: that noise, and fits with that family). A draw whose simulated losses are not all finite and positive is
   skipped and counted. Rejecting on the data alone leaves SBC valid (ranks stay uniform
   conditional on the data lying in the accepted set). No draw is ever rejected because its fit
   looked poor.
3. **Fit.** ``bayes_scaling.fit(runs, spec=default, draws, tune, chains, seed)``, one compiled
   model per law reused across simulations. Fits whose diagnostics fail (``res.diagnostics.ok``:
   R-hat, bulk/tail ESS, divergences) are counted and reported, and their ranks are kept. A fit
   that raises is counted as an error (no rank).
4. **Rank.** Each chain is thinned by a stride so that L = ``--ranks`` (default 199) posterior draws
   remain; the rank of the true value of each parameter (and sigma) among them is in 0..L.

Uniformity test per parameter, over the simulations:

* chi-square test on the integer ranks in ``--bins`` (default 10) equal bins (L + 1 = 200 values,
  20 per bin);
* KS test of the normalised ranks u = (rank + U(0,1)) / (L + 1) against U(0, 1) (the jitter makes
  u exactly uniform under calibration); the KS statistic is the ECDF's maximum deviation from the
  diagonal, reported with where it occurs. The mean of u (0.5 if unbiased) and its standard
  deviation (1/sqrt(12) = 0.289 if the posterior has the right width; larger: ranks pile up at the
  ends, posterior too narrow; smaller: posterior too wide) help to diagnose a failure.

Pass rule: a law PASSES when no p-value of any of its K parameters (law parameters + sigma), for
either test, is below 0.01 / (2 K) (Bonferroni over K parameters x 2 tests, family-wise 1%).

Power controls (on the same fits, so free): the same tests on the ranks of the truth among
deliberately distorted posterior draws (log scale): ``narrow25``/``narrow50`` make every posterior
25%/50% too narrow around its median, ``shift25``/``shift50`` move it up by 0.25/0.5 of its own
standard deviation. They show what size of miscalibration the chosen number of simulations can
detect; the verdict does not use them. The tests are also reported on the subsets of fits whose
diagnostics passed and failed (conditioning on a property of the data keeps ranks uniform).

Workaround: refits of ``data_constrained`` in one process raise ``KeyError: Unknown shared
variable: ref_log_U`` in the package (see ``install_refit_workaround``); the benchmark passes the
compiled model only the containers it knows (checked to give bitwise-identical draws to a fresh
compile). ``--no-workaround`` turns this off.

The ``_n`` / ``_d`` variants of ``power``/``bnsl1``/``bnsl2`` are the same law class as ``_x`` with the
axis renamed, and their default specs are the same apart from ``relative_to``. With ``--variants``
each variant is run on the same design numbers (as parameters or tokens), the same prior draws and
the same seeds as its ``_x`` law, for ``--variant-sims`` simulations: identical ranks show that the
``_x`` verdict carries over.

Usage::

    .venv/bin/python benchmarks/sbc.py --variants --json /tmp/sbc.json --markdown /tmp/sbc.md  # ~15 min, 2 cores
    .venv/bin/python benchmarks/sbc.py --laws chinchilla,kaplan_n --sims 20                   # a subset
    .venv/bin/python benchmarks/sbc.py --sims 200                                             # more power

Defaults: 100 simulations per law (20 per variant), 4 chains x 500 draws after 500 tune, L = 199.
Every simulation's seed is fixed by ``--seed``, the law and its index, so a run with fewer
simulations is a prefix of one with more.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bayes_scaling as bs
from bayes_scaling.conventions import PF_DAY_FLOPS
from bayes_scaling.laws.registry import get_law, list_laws
from bayes_scaling.simulate import isoflop_design, simulate_runs
from bayes_scaling.specs.spec import default_spec

T = time.perf_counter
MAIN_LAWS = ["chinchilla", "kaplan_n", "kaplan_d", "kaplan_c", "kaplan_nd", "kaplan_ns", "data_constrained",
             "power_x", "bnsl1_x", "bnsl2_x"]
VARIANTS = {f"{fam}_{ax}": f"{fam}_x" for fam in ("power", "bnsl1", "bnsl2") for ax in ("n", "d")}
#: Size of the fixed pool of prior draws per law (simulation i uses the i-th accepted draw, so a
#: run with fewer simulations is a prefix of a run with more).
POOL = 4000
X_GRID = np.geomspace(1e2, 1e6, 24)  # single-axis broken/power laws: 24 runs over 4 decades


# ---------------------------------------------------------------------------------------------
# designs
# ---------------------------------------------------------------------------------------------
def _dc_design() -> pd.DataFrame:
    """IsoFLOP 5 budgets x 5 ratios; unique tokens U = D / epochs with epochs in a Latin square
    over (budget, ratio): 0.5 (U > D, no repetition), 2, 5, 15, 40 epochs."""
    d = isoflop_design(np.geomspace(1e18, 1e21, 5), np.geomspace(2, 200, 5))
    epochs = np.array([0.5, 2.0, 5.0, 15.0, 40.0])
    i = np.arange(len(d))
    d["U"] = d["tokens"] / epochs[(i // 5 + i % 5) % 5]
    return d


def _ns_design() -> pd.DataFrame:
    """Grid N (1e6-1e9, 5 values) x S (1e3-1e5 steps, 5 values)."""
    n, s = np.meshgrid(np.geomspace(1e6, 1e9, 5), np.geomspace(1e3, 1e5, 5), indexing="ij")
    return pd.DataFrame({"params": n.ravel(), "S": s.ravel()})


DESIGNS = {
    # name: (design builder, description for the report)
    "chinchilla": (lambda: isoflop_design(np.geomspace(1e18, 1e21, 5), np.geomspace(2, 200, 5)),
                   "IsoFLOP 5 budgets 1e18-1e21 FLOPs x 5 tokens/param 2-200 (25 runs)"),
    "kaplan_n": (lambda: pd.DataFrame({"params": np.geomspace(1e6, 1e10, 20)}), "N geometric 1e6-1e10 (20 runs)"),
    "kaplan_d": (lambda: pd.DataFrame({"tokens": np.geomspace(1e8, 1e12, 20)}), "D geometric 1e8-1e12 (20 runs)"),
    "kaplan_c": (lambda: pd.DataFrame({"compute": np.geomspace(1e17, 1e22, 20)}),
                 "C geometric 1e17-1e22 FLOPs = 1.2e-3-1.2e2 PF-days (20 runs)"),
    "kaplan_nd": (lambda: isoflop_design(np.geomspace(1e15, 1e19, 5), np.geomspace(1, 100, 5)),
                  "IsoFLOP 5 budgets 1e15-1e19 FLOPs x 5 tokens/param 1-100 (25 runs)"),
    "kaplan_ns": (_ns_design, "grid N 1e6-1e9 (5) x S 1e3-1e5 steps (5) (25 runs)"),
    "data_constrained": (_dc_design, ("IsoFLOP 5 x 5 as chinchilla, U = D/epochs, epochs 0.5/2/5/15/40 in a "
                                      "Latin square (20 of 25 runs repeat data)")),
}
for _fam in ("power", "bnsl1", "bnsl2"):
    DESIGNS[f"{_fam}_x"] = (lambda: pd.DataFrame({"X": X_GRID}), "X geometric 1e2-1e6 (24 runs)")
    DESIGNS[f"{_fam}_n"] = (lambda: pd.DataFrame({"params": X_GRID}), "N = the _x design's numbers (24 runs)")
    DESIGNS[f"{_fam}_d"] = (lambda: pd.DataFrame({"tokens": X_GRID}), "D = the _x design's numbers (24 runs)")

_COLUMN = {"N": "params", "D": "tokens", "C": "compute", "U": "U", "X": "X", "S": "S"}


def design_ref(law, design: pd.DataFrame) -> dict[str, float]:
    """Mean log of each input over the design (C in the law's compute unit), computed here
    independently of the package: the reference a ``relative_to`` prior is relative to."""
    out = {}
    for k in law.input_names:
        v = design[_COLUMN[k]].to_numpy(float)
        if k == "C" and law.compute_unit == "PF-days":
            v = v / PF_DAY_FLOPS
        out[k] = float(np.mean(np.log(v)))
    return out


# ---------------------------------------------------------------------------------------------
# workaround for a package bug (reported in benchmarks/README.md, not fixed here)
# ---------------------------------------------------------------------------------------------
#: Containers dropped by the workaround, per law: {law: sorted names}.
DROPPED_CONTAINERS: dict[str, list[str]] = {}


def install_refit_workaround() -> None:
    """``bayes_scaling.inference.fit.compiled_model`` reuses a cached nutpie model through
    ``with_data(**data.containers())``. nutpie's compiled model only knows the shared variables that
    its log-density or deterministics use, and ``data_constrained`` creates ``ref_log_U``, which its
    graph never reads, so every refit after the first raises ``KeyError: Unknown shared variable:
    ref_log_U``. This wrapper passes only the containers the compiled model knows; containers it
    drops are recorded (they cannot affect sampling: the compiled graph does not contain them).
    For every other law nothing is dropped and the call is the package's own."""
    import bayes_scaling.inference.fit as fitmod
    from bayes_scaling.inference.model import prior_containers

    original = fitmod.compiled_model

    def compiled_model(spec, data, *, progress=False, **kw):
        compiled = fitmod._COMPILED.get(fitmod.model_key(spec, data))
        if compiled is None or kw.get("whiten"):
            return original(spec, data, progress=progress, **kw)
        known = {v.name for v in compiled.shared_var_keys}
        # the spec's prior numbers are model data too: a reused model must get this spec's
        containers = {**data.containers(), **prior_containers(spec)}
        dropped = sorted(set(containers) - known)
        if dropped:
            DROPPED_CONTAINERS[spec.law_name] = dropped
        return compiled.with_data(**{k: v for k, v in containers.items() if k in known})

    fitmod.compiled_model = compiled_model


def to_runs(frame: pd.DataFrame):
    extra = {k: k for k in ("U", "X", "S") if k in frame}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.load_runs(frame, extra_cols=extra)


# ---------------------------------------------------------------------------------------------
# prior draws
# ---------------------------------------------------------------------------------------------
def prior_pool(spec, ref: dict[str, float], seed: int) -> tuple[dict[str, np.ndarray], dict]:
    """``POOL`` draws of every law parameter (user units, relative_to applied) and of sigma, from
    the spec's priors via ``pm.draw``; for two-break laws only the draws with d1 < d2 are kept."""
    import pymc as pm

    law = spec.law
    names = [*law.param_names, "sigma"]
    priors = {**spec.priors, "sigma": spec.likelihood.sigma}
    ss = np.random.SeedSequence(seed)
    draws = {}
    for name, child in zip(names, ss.spawn(len(names))):
        pr = priors[name]
        v = np.asarray(pm.draw(pr.pymc_dist(), draws=POOL, random_seed=np.random.default_rng(child)), float)
        if pr.relative_to:
            v = v * np.exp(ref[pr.relative_to])
        draws[name] = v
    keep = np.ones(POOL, bool)
    for name in names:
        keep &= np.isfinite(draws[name]) & ((draws[name] > 0) | (name not in law.positive_names))
    info = {"pool": POOL, "non_finite_prior_draws": int(POOL - keep.sum())}
    if getattr(law, "n_breaks", 0) >= 2:
        ordered = np.ones(POOL, bool)
        for i in range(2, law.n_breaks + 1):
            ordered &= draws[f"d{i}"] > draws[f"d{i - 1}"]
        info["ordering_acceptance"] = float(ordered.mean())
        keep &= ordered
    return {k: v[keep] for k, v in draws.items()}, info


# ---------------------------------------------------------------------------------------------
# uniformity
# ---------------------------------------------------------------------------------------------
def uniformity(ranks: np.ndarray, L: int, bins: int, rng: np.random.Generator) -> dict:
    ranks = np.asarray(ranks, int)
    n = len(ranks)
    if n < 2:
        return {}
    if (L + 1) % bins == 0:
        counts = np.bincount(ranks * bins // (L + 1), minlength=bins)
        chi = stats.chisquare(counts)
        chi_p, chi_stat = float(chi.pvalue), float(chi.statistic)
    else:  # unequal bins: bin the jittered normalised ranks instead
        counts, chi_p, chi_stat = None, float("nan"), float("nan")
    u = (ranks + rng.uniform(size=n)) / (L + 1)
    if counts is None:
        counts = np.histogram(u, bins=bins, range=(0, 1))[0]
        chi = stats.chisquare(counts)
        chi_p, chi_stat = float(chi.pvalue), float(chi.statistic)
    ks = stats.kstest(u, "uniform")
    us = np.sort(u)
    above = np.arange(1, n + 1) / n - us  # ECDF just after each point minus the diagonal
    below = us - np.arange(0, n) / n
    j_hi, j_lo = int(np.argmax(above)), int(np.argmax(below))
    if above[j_hi] >= below[j_lo]:
        ecdf_dev, ecdf_at = float(above[j_hi]), float(us[j_hi])
    else:
        ecdf_dev, ecdf_at = -float(below[j_lo]), float(us[j_lo])
    return {"n": n, "counts": counts.tolist(), "chi2": chi_stat, "chi2_p": chi_p, "ks_D": float(ks.statistic),
            "ks_p": float(ks.pvalue), "ecdf_max_dev": ecdf_dev, "ecdf_max_dev_at": ecdf_at,
            "u_mean": float(u.mean()), "u_sd": float(u.std(ddof=1))}


#: Power controls, computed on the same fits: the ranks of the truth among deliberately distorted
#: posterior draws (log scale), to show what size of miscalibration the test detects with these
#: simulations. "narrowX": every posterior X% too narrow around its median; "shiftX": every
#: posterior moved up by X/100 of its own standard deviation.
CONTROLS = {
    "narrow25": lambda lv: np.median(lv) + 0.75 * (lv - np.median(lv)),
    "narrow50": lambda lv: np.median(lv) + 0.5 * (lv - np.median(lv)),
    "shift25": lambda lv: lv + 0.25 * np.std(lv),
    "shift50": lambda lv: lv + 0.5 * np.std(lv),
}
#: The controls whose p-values the README tables show (all are in the JSON).
TABLE_CONTROLS = ("narrow50", "shift50")


# ---------------------------------------------------------------------------------------------
# one law
# ---------------------------------------------------------------------------------------------
def law_seed(base: int, name: str) -> int:
    """Per-law seed; a variant uses its _x law's seed, so it sees the same draws."""
    return int(np.random.SeedSequence([base, zlib.crc32(VARIANTS.get(name, name).encode())]).generate_state(1)[0])


def run_law(name: str, n_sims: int, a, say) -> dict:
    law = get_law(name)
    spec = default_spec(name)
    if a.likelihood != "spec":  # the default spec with another likelihood family, simulated with that noise
        spec = spec.with_family(a.likelihood)
    family, nu = spec.likelihood.family, spec.likelihood.nu
    build, design_desc = DESIGNS[name]
    design = build()
    ref = design_ref(law, design)
    seed = law_seed(a.seed, name)
    pool, pool_info = prior_pool(spec, ref, seed)
    names = [*law.param_names, "sigma"]
    if len(pool["sigma"]) < n_sims:
        raise SystemExit(f"{name}: only {len(pool['sigma'])} accepted prior draws for {n_sims} simulations")
    L = a.ranks
    sims = []
    t_law = T()
    t_first = None
    skipped_nonfinite = 0
    i = 0
    while len(sims) < n_sims and i < len(pool["sigma"]):
        truth = {k: float(pool[k][i]) for k in law.param_names}
        sigma = float(pool["sigma"][i])
        sim_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        rec = {"pool_index": i, "truth": truth, "sigma": sigma, "seed": sim_seed}
        i += 1
        with np.errstate(all="ignore"):
            frame = simulate_runs(name, truth, design, sigma=sigma, nu=nu, seed=sim_seed, family=family)
        loss = frame["loss"].to_numpy(float)
        if not (np.all(np.isfinite(loss)) and np.all(loss > 0) and np.all(np.isfinite(np.log(loss)))):
            skipped_nonfinite += 1
            continue
        rec["loss_range"] = [float(loss.min()), float(loss.max())]
        t0 = T()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = bs.fit(to_runs(frame), spec=spec, seed=sim_seed, draws=a.draws, tune=a.tune, chains=a.chains,
                             progress=False)
        except Exception as e:  # noqa: BLE001 - counted and reported, never silently dropped
            rec["error"] = f"{type(e).__name__}: {e}"[:300]
            rec["fit_s"] = T() - t0
            sims.append(rec)
            say(f"  {name} sim {len(sims)}: fit raised {rec['error']}")
            continue
        rec["fit_s"] = T() - t0
        if t_first is None:
            t_first = rec["fit_s"]
        post = res.posterior
        n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
        stride = max(1, (n_chain * n_draw) // (L + 1))
        ranks, controls = {}, {c: {} for c in CONTROLS}
        for k in names:
            v = np.asarray(post[k].values, float)[:, ::stride].reshape(-1)[:L]
            if len(v) < L:
                raise SystemExit(f"draws x chains = {n_chain * n_draw} cannot give {L} thinned draws")
            tv = rec["truth"][k] if k != "sigma" else sigma
            ranks[k] = int(np.sum(v < tv))
            for c, f in CONTROLS.items():  # every parameter here is positive: distort on the log scale
                controls[c][k] = int(np.sum(f(np.log(v)) < np.log(tv)))
        d = res.diagnostics
        rec.update(ranks=ranks, control_ranks=controls, stride=stride, ok=bool(d.ok), problems=d.problems, r_hat_max=d.r_hat_max,
                   ess_bulk_min=d.ess_bulk_min, ess_tail_min=d.ess_tail_min, divergences=d.divergences)
        sims.append(rec)
        if len(sims) % 10 == 0:
            done = [s for s in sims if "ranks" in s]
            say(f"  {name}: {len(sims)}/{n_sims} sims, {T() - t_law:.0f} s, diagnostics failed "
                f"{sum(not s['ok'] for s in done)}, errors {sum('error' in s for s in sims)}")
    wall = T() - t_law
    done = [s for s in sims if "ranks" in s]
    rng = np.random.default_rng([seed, 99])
    K = len(names)
    thr = a.alpha / (2 * K)
    tests = {k: uniformity(np.array([s["ranks"][k] for s in done]), L, a.bins, rng) for k in names}
    ok_only = [s for s in done if s["ok"]]
    tests_ok = {k: uniformity(np.array([s["ranks"][k] for s in ok_only]), L, a.bins, rng) for k in names}
    bad_only = [s for s in done if not s["ok"]]
    tests_bad = {k: uniformity(np.array([s["ranks"][k] for s in bad_only]), L, a.bins, rng) for k in names}
    tests_ctl = {c: {k: uniformity(np.array([s["control_ranks"][c][k] for s in done]), L, a.bins, rng) for k in names}
                 for c in CONTROLS}
    ctl_detected = {c: sorted(k for k, t in tc.items() if t and min(t["chi2_p"], t["ks_p"]) < thr)
                    for c, tc in tests_ctl.items()}
    min_p = min(min(t["chi2_p"], t["ks_p"]) for t in tests.values()) if len(done) >= 2 else float("nan")
    failing = sorted(k for k, t in tests.items() if t and min(t["chi2_p"], t["ks_p"]) < thr)
    fit_times = [s["fit_s"] for s in done]
    out = {
        "law": name, "design": design_desc, "n_runs": len(design), "ref": ref, "likelihood": family, "nu": nu,
        "spec_priors": {k: p.describe() for k, p in spec.priors.items()} | {"sigma": spec.likelihood.sigma.describe()},
        "prior_pool": pool_info, "sims_requested": n_sims, "sims_fitted": len(done),
        "skipped_nonfinite_data": skipped_nonfinite, "fit_errors": sum("error" in s for s in sims),
        "diagnostics_failed": sum(not s["ok"] for s in done),
        "divergent_fits": sum(s["divergences"] > 0 for s in done),
        "rhat_gt_1.01": sum(s["r_hat_max"] > 1.01 for s in done),
        "rhat_gt_1.05": sum(s["r_hat_max"] > 1.05 for s in done),
        "rhat_max": max((s["r_hat_max"] for s in done), default=None),
        "ess_bulk_min_median": float(np.median([s["ess_bulk_min"] for s in done])) if done else None,
        "fits_with_ess_bulk_below_L": sum(s["ess_bulk_min"] < L for s in done),
        "L": L, "bins": a.bins, "K": K, "threshold": thr, "min_p": min_p,
        "failing_params": failing, "verdict": ("PASS" if not failing else "FAIL") if len(done) >= 2 else "NO DATA",
        "tests": tests, "tests_diagnostics_ok_only": tests_ok, "tests_diagnostics_failed_only": tests_bad,
        "controls": {c: {"detected": ctl_detected[c], "tests": tests_ctl[c]} for c in CONTROLS},
        "wall_s": wall, "first_fit_s": t_first,
        "fit_s_median_after_first": float(np.median(fit_times[1:])) if len(fit_times) > 1 else None,
        "containers_dropped_by_workaround": DROPPED_CONTAINERS.get(name, []),
        "sims": sims,
    }
    return out


def summarize(r: dict, say) -> None:
    say(f"{r['law']}: {r['verdict']}  sims {r['sims_fitted']} (skipped non-finite data {r['skipped_nonfinite_data']}, "
        f"fit errors {r['fit_errors']}), diagnostics failed {r['diagnostics_failed']} "
        f"(divergent {r['divergent_fits']}, R-hat>1.01 {r['rhat_gt_1.01']}, R-hat>1.05 {r['rhat_gt_1.05']}), "
        f"threshold p < {r['threshold']:.2g}, {r['wall_s']:.0f} s")
    for k, t in r["tests"].items():
        if not t:
            continue
        flag = " <-- FAIL" if k in r["failing_params"] else ""
        say(f"    {k:10s} chi2 p {t['chi2_p']:.3g}  KS p {t['ks_p']:.3g}  ECDF dev {t['ecdf_max_dev']:+.3f} at u="
            f"{t['ecdf_max_dev_at']:.2f}  mean u {t['u_mean']:.3f}  sd u {t['u_sd']:.3f}  counts {t['counts']}{flag}")


def _minp(tests: dict) -> float:
    ps = [min(t["chi2_p"], t["ks_p"]) for t in tests.values() if t]
    return min(ps) if ps else float("nan")


def summarize_extra(r: dict, say) -> None:
    ok_n = r["sims_fitted"] - r["diagnostics_failed"]
    say(f"    min p over parameters: fits with diagnostics ok ({ok_n}) {_minp(r['tests_diagnostics_ok_only']):.3g}, "
        f"failed ({r['diagnostics_failed']}) {_minp(r['tests_diagnostics_failed_only']):.3g}; power controls: "
        + ", ".join(f"{c} detected in {len(v['detected'])}/{r['K']} params (min p {_minp(v['tests']):.2g})"
                    for c, v in r["controls"].items()))


def markdown(out: dict) -> str:
    """The README tables: a summary, then one table per law."""
    res = out["laws"]
    lines = [("| law | design | sims | skipped (non-finite data) | fit errors | diagnostics failed | R-hat > 1.05 | "
              "median min bulk ESS | min p | threshold 0.01/(2K) | verdict |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        lines.append(f"| {name} | {r['design']} | {r['sims_fitted']} | {r['skipped_nonfinite_data']} | {r['fit_errors']} | "
                     f"{r['diagnostics_failed']} | {r['rhat_gt_1.05']} | {r['ess_bulk_min_median']:.0f} | "
                     f"{r['min_p']:.3g} | {r['threshold']:.2g} | **{r['verdict']}** |")
    for name, r in res.items():
        same = r.get("same_as_x")
        lines += ["", f"**{name}**: {r['verdict']}. {r['sims_fitted']} simulations, {r['diagnostics_failed']} with failed "
                      f"diagnostics ({r['divergent_fits']} with divergences, {r['rhat_gt_1.01']} with R-hat > 1.01, "
                      f"{r['rhat_gt_1.05']} > 1.05); K = {r['K']}, threshold p < {r['threshold']:.2g}. "
                      f"Power controls (same fits, distorted posteriors) detected in: "
                      + ", ".join(f"{c} {len(v['detected'])}/{r['K']}" for c, v in r["controls"].items())
                      + " parameters."
                  + (f" Ranks identical to {same['base']} in {same['identical']}/{r['sims_fitted']} simulations."
                     if same else ""),
                  "",
                  "| parameter | prior | chi² p | KS p | ECDF max dev (at u) | mean u | sd u | p, diag. ok only | "
                  "p, diag. failed only | " + " | ".join(f"{c} p" for c in TABLE_CONTROLS) + " |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for k, t in r["tests"].items():
            if not t:
                continue
            tok, tbad = r["tests_diagnostics_ok_only"].get(k), r["tests_diagnostics_failed_only"].get(k)
            f = (lambda tt: f"{min(tt['chi2_p'], tt['ks_p']):.3g}" if tt else "–")
            mark = " ✗" if k in r["failing_params"] else ""
            lines.append(f"| {k}{mark} | {r['spec_priors'][k]} | {t['chi2_p']:.3g} | {t['ks_p']:.3g} | "
                         f"{t['ecdf_max_dev']:+.3f} ({t['ecdf_max_dev_at']:.2f}) | {t['u_mean']:.3f} | {t['u_sd']:.3f} | "
                         f"{f(tok)} | {f(tbad)} | "
                         + " | ".join(f(r["controls"][c]["tests"][k]) for c in TABLE_CONTROLS) + " |")
    return "\n".join(lines) + "\n"


def compare_variant(var: dict, base: dict) -> dict:
    """Do the variant's simulations have the same ranks as the _x law's (same pool index)?"""
    by_idx = {s["pool_index"]: s for s in base["sims"] if "ranks" in s}
    same, diff, missing = 0, 0, 0
    for s in var["sims"]:
        b = by_idx.get(s["pool_index"])
        if b is None or "ranks" not in s:
            missing += 1
        elif s["ranks"] == b["ranks"]:
            same += 1
        else:
            diff += 1
    return {"base": base["law"], "identical": same, "different": diff, "unmatched": missing}


def environment() -> dict:
    vers = {}
    for m in ("pymc", "pytensor", "nutpie", "numba", "numpy", "scipy"):
        try:
            vers[m] = __import__(m).__version__
        except Exception:  # noqa: BLE001
            vers[m] = None
    return {"date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(), "versions": vers}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--laws", default=",".join(MAIN_LAWS),
                   help="comma-separated laws (default: the 10 main laws); 'all' = every shipped law")
    p.add_argument("--sims", type=int, default=100, help="simulations per law (default 100)")
    p.add_argument("--variants", action="store_true", help="also run the _n/_d variants of power/bnsl1/bnsl2")
    p.add_argument("--variant-sims", type=int, default=20, help="simulations per variant (default 20)")
    p.add_argument("--draws", type=int, default=500, help="draws per chain (default 500)")
    p.add_argument("--tune", type=int, default=500, help="tuning steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--ranks", type=int, default=199, help="L, thinned posterior draws per rank (default 199)")
    p.add_argument("--bins", type=int, default=10)
    p.add_argument("--alpha", type=float, default=0.01, help="family-wise level per law (default 0.01)")
    p.add_argument("--seed", type=int, default=20261127)
    p.add_argument("--likelihood", choices=["spec", "student_t", "normal", "laplace"], default="spec",
                   help="likelihood family of the fits and of the simulated noise (default: the spec's, Student-t)")
    p.add_argument("--no-workaround", dest="workaround", action="store_false",
                   help="do not work around the data_constrained refit bug (its refits then raise)")
    p.add_argument("--json", metavar="PATH", help="write every number (and every simulation) to PATH")
    p.add_argument("--markdown", metavar="PATH", help="write the README tables to PATH")
    a = p.parse_args(argv)

    def say(msg: str) -> None:
        print(msg, flush=True)

    laws = list_laws() if a.laws == "all" else [s.strip() for s in a.laws.split(",") if s.strip()]
    known = set(list_laws())
    bad = [x for x in laws if x not in known or x not in DESIGNS]
    if bad:
        raise SystemExit(f"unknown law(s) {bad}; choose from {sorted(DESIGNS)}")
    plan = [(x, a.variant_sims if x in VARIANTS else a.sims) for x in laws]
    if a.variants:
        plan += [(v, a.variant_sims) for v in VARIANTS if v not in laws]
    if a.workaround:
        install_refit_workaround()
    env = environment()
    say(f"SBC: {len(plan)} laws, {a.chains} chains x {a.draws} draws after {a.tune} tune, L = {a.ranks}, "
        f"{env['date_utc']} UTC, load {env['load_avg_at_start'][0]:.2f}")
    t0 = T()
    results = {}
    out = {"config": vars(a), "environment": env, "laws": results}
    for name, n in plan:
        results[name] = r = run_law(name, n, a, say)
        if name in VARIANTS and VARIANTS[name] in results:
            r["same_as_x"] = compare_variant(r, results[VARIANTS[name]])
        summarize(r, say)
        summarize_extra(r, say)
        if "same_as_x" in r:
            say(f"    ranks identical to {r['same_as_x']['base']} in {r['same_as_x']['identical']} of "
                f"{r['sims_fitted']} sims (different {r['same_as_x']['different']})")
        out["wall_s"] = T() - t0
        if a.json:
            Path(a.json).write_text(json.dumps(out, indent=1, default=float) + "\n")
    env["load_avg_at_end"] = os.getloadavg()
    out["wall_s"] = T() - t0
    say("\nlaw                verdict  sims  skipped  errors  diag-failed  min p     threshold")
    for name, r in results.items():
        say(f"{name:18s} {r['verdict']:7s} {r['sims_fitted']:5d} {r['skipped_nonfinite_data']:8d} "
            f"{r['fit_errors']:7d} {r['diagnostics_failed']:12d}  {r['min_p']:.2g}  {r['threshold']:.2g}")
    say(f"total wall time {out['wall_s']:.0f} s; load average at end {env['load_avg_at_end'][0]:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=float) + "\n")
        say(f"wrote {a.json}")
    if a.markdown:
        Path(a.markdown).write_text(markdown(out))
        say(f"wrote {a.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
