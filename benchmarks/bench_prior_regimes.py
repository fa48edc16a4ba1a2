"""Where the truth sits in a ladder's chinchilla posterior, per prior variant and regime.

The design benchmark (``bench_design.py``) found the true exponents of Kaplan-like truths in the lower
tail of the posterior under ``models/chinchilla.toml``. This script refits simulated ladders of both
regimes (``truth_for`` / ``runs_at`` of ``bench_design.py``: IsoFLOP grid 4 budgets 1e18-1e20 FLOPs x
5 tokens/parameter ratios 2-200, Student-t(4) noise of scale 0.01 on log-loss) under prior variants
that each change one component of the default spec:

* ``default``: ``models/chinchilla.toml``.
* ``flat_exp``: alpha, beta ~ Beta(1, 1).
* ``wide_AB``: A, B ~ LogNormal(same mu, sigma 5) instead of sigma 2.5.
* ``term_ref``: the prior on each reducible term's value at the ladder's reference scale,
  A / N_ref^alpha and B / D_ref^beta (nats/token; N_ref, D_ref: geometric means of the runs, the law's
  centring point), LogNormal(``TERM_MU``, ``TERM_SIGMA``) each, independent of the exponents (Beta(2, 4)
  as the default); A and B themselves get LogNormal(0, 1000) (flat in log). Not expressible in a TOML
  spec (``relative_to`` divides by the input, not by the input^exponent), so it is a script-level
  model: ``build_model`` of the flat-A/B spec plus a potential on the terms.
* ``low_AB``: A ~ LogNormal(4.3, 2.5), B ~ LogNormal(5.3, 2.5): centred between the published constants in log.
* ``wide_E``: E ~ LogNormal(0.5, 1.5) instead of sigma 0.5.
* ``a+b``: several of these changes at once.
* ``chinchilla_wide``: the opt-in spec ``models/chinchilla_wide.toml``.

Per fit: the truth's posterior quantile of alpha, beta, log A, log(A / N_ref^alpha) and log N*(C) at
C = 1e22 FLOPs (Hoffmann et al. 2022 Eq. 4 at C/6 tokens x parameters), whether the 0.9 equal-tailed
intervals cover the truth, and the interval widths (alpha, beta: absolute; log A, log term: nats;
N*: decades). Ladders use seeds 20000+ (bench_design uses 1000-1059 and 1500-1511 for its truths).

Usage::

    BAYES_SCALING_DATASETS=/work/shared/datasets python benchmarks/bench_prior_regimes.py --ladders 6 --json out.json
    python benchmarks/bench_prior_regimes.py --quick          # 1 ladder per regime, 2 variants
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_design import BUDGETS, LAW, RATIOS, runs_at, truth_for  # noqa: E402

import bayes_scaling.inference.fit as fit_mod  # noqa: E402
from bayes_scaling.data.runs import load_runs  # noqa: E402
from bayes_scaling.simulate import isoflop_design, law_truth_params  # noqa: E402
from bayes_scaling.specs.spec import default_spec, load_spec, parse_spec  # noqa: E402

C_TARGET = 1e22  # FLOPs
CI = 0.9
#: term_ref prior on log(term at the reference) in nats/token: median e^-0.7 = 0.50 nats (Hoffmann et al.
#: 2022's fitted terms at 3e8 parameters / 6e9 tokens are 0.54 / 0.75 nats; Besiroglu et al. 2024's 0.53 /
#: 0.50), 95% in [0.026, 9.4] nats: any reducible loss a language-model ladder can show.
TERM_MU, TERM_SIGMA = -0.7, 1.5
SEED0 = 20000


#: one change of the default spec's text per component ("+" joins them: "term_ref+flat_exp")
EDITS = {
    "flat_exp": [("alpha = 2.0\nbeta = 4.0", "alpha = 1.0\nbeta = 1.0")],
    "wide_AB": [("mu = 6.0\nsigma = 2.5", "mu = 6.0\nsigma = 5.0"), ("mu = 7.0\nsigma = 2.5", "mu = 7.0\nsigma = 5.0")],
    # centred between the published constants in log (Kaplan 2020 A 11, B 20; Besiroglu 2024 A 482, B 2085)
    "low_AB": [("mu = 6.0\nsigma = 2.5", "mu = 4.3\nsigma = 2.5"), ("mu = 7.0\nsigma = 2.5", "mu = 5.3\nsigma = 2.5")],
    "wide_E": [("mu = 0.5\nsigma = 0.5", "mu = 0.5\nsigma = 1.5")],
    "term_ref": [("mu = 6.0\nsigma = 2.5", "mu = 0.0\nsigma = 1000.0"),
                 ("mu = 7.0\nsigma = 2.5", "mu = 0.0\nsigma = 1000.0")],
}


def variant_spec(name: str):
    if name == "default":
        return default_spec("chinchilla")
    if name == "chinchilla_wide":
        return load_spec("chinchilla_wide")
    text = default_spec("chinchilla").text
    for part in name.split("+"):
        if part not in EDITS:
            raise SystemExit(f"error: unknown --variants entry {part!r}; known: default, chinchilla_wide, "
                             f"{sorted(EDITS)}")
        for old, new in EDITS[part]:
            if old not in text:
                raise SystemExit(f"error: variant {part!r} no longer matches models/chinchilla.toml")
            text = text.replace(old, new)
    return parse_spec(text, f"<{name}>")


def term_ref_build(original):
    """``build_model`` plus the term_ref potential (log-normal density of each term at the reference)."""
    def build(spec, data, **kw):
        import pymc as pm
        import pytensor.tensor as pt

        model = original(spec, data, **kw)
        with model:
            lt_a = pt.log(model["A"]) - model["alpha"] * model["ref_log_N"]
            lt_b = pt.log(model["B"]) - model["beta"] * model["ref_log_D"]
            norm = pm.Normal.dist(TERM_MU, TERM_SIGMA)  # on the log term: LogNormal on the term
            pm.Potential("term_ref_prior", pm.logp(norm, lt_a) + pm.logp(norm, lt_b))
        return model
    return build


def score(res, truth: dict, log_n_ref: float) -> dict:
    p_draws = {k: np.asarray(v, float).reshape(-1) for k, v in res.law_params().items()}  # log_A, alpha, ...
    d = p_draws
    log_ct = np.log(C_TARGET / 6)
    log_n = np.asarray(LAW.log_optimal_params(np, log_ct, p_draws), float)
    true_n = float(LAW.log_optimal_params(np, np.float64(log_ct), law_truth_params(LAW, truth)))
    lo_q, hi_q = (1 - CI) / 2, (1 + CI) / 2
    out = {}
    # log of the parameter term at the runs' geometric-mean size N_ref (nats/token): what the ladder sees
    log_ta = d["log_A"] - d["alpha"] * log_n_ref
    true_ta = np.log(truth["A"]) - truth["alpha"] * log_n_ref
    for k, draws, t in (("alpha", d["alpha"], truth["alpha"]), ("beta", d["beta"], truth["beta"]),
                        ("log_nstar", log_n, true_n), ("log_A", d["log_A"], np.log(truth["A"])),
                        ("log_term_A", log_ta, true_ta)):
        lo, med, hi = np.quantile(draws, [lo_q, 0.5, hi_q])
        out[f"q_{k}"] = float(np.mean(draws < t))
        out[f"med_{k}"] = float(med)
        out[f"width_{k}"] = float(hi - lo) / (np.log(10) if k == "log_nstar" else 1.0)  # N*: decades
        out[f"cover_{k}"] = bool(lo <= t <= hi)
    out["ok"] = bool(res.diagnostics.ok)
    return out


def run(variants, ladders: int, draws: int, chains: int) -> list[dict]:
    base = isoflop_design(BUDGETS, RATIOS)
    cases = []
    for i in range(ladders):
        for kind in ("chinchilla", "kaplan"):
            seed = SEED0 + 2 * i + (kind == "kaplan")
            cases.append((kind, seed, truth_for(kind, np.random.default_rng(seed))))
    original = fit_mod.build_model
    rows = []
    for v in variants:
        spec = variant_spec(v)
        fit_mod._COMPILED.clear()  # term_ref shares a cache key with the plain flat-A/B model
        fit_mod.build_model = term_ref_build(original) if "term_ref" in v.split("+") else original
        try:
            for kind, seed, truth in cases:
                frame = runs_at(truth, base["params"], base["tokens"], seed=seed)
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = fit_mod.fit(load_runs(frame), spec=spec, draws=draws, tune=draws, chains=chains, seed=seed,
                                      progress=False, retries=0)
                log_n_ref = float(np.mean(np.log(frame["params"])))
                row = {"variant": v, "kind": kind, "seed": seed, "truth": truth, **score(res, truth, log_n_ref),
                       "seconds": round(time.perf_counter() - t0, 1)}
                rows.append(row)
                print(json.dumps({k: (round(x, 3) if isinstance(x, float) else x) for k, x in row.items()
                                  if k != "truth"}), flush=True)
        finally:
            fit_mod.build_model = original
            fit_mod._COMPILED.clear()
    return rows


def _paired(rows: list[dict], v: str, kind: str) -> list[tuple[dict, dict]]:
    """(variant row, default row) on the same ladder (seed), for the paired columns."""
    base = {r["seed"]: r for r in rows if r["variant"] == "default" and r["kind"] == kind}
    return [(r, base[r["seed"]]) for r in rows if r["variant"] == v and r["kind"] == kind and r["seed"] in base]


def table(rows: list[dict]) -> str:
    """The README's table: medians over ladders, counts of n; paired columns against ``default`` on the
    same ladders (N* 90% width ratio as a geometric mean; ladders where q(alpha), q(beta) rose)."""
    lines = ["| variant | regime | median q(alpha) | median q(beta) | median q(log N*) | q < 0.15 alpha / beta | "
             "90% coverage alpha / beta / N* | median 90% width alpha | width beta | width N* (decades) | "
             "N* width vs default (geo. mean) | raised q(alpha) / q(beta) vs default | diagnostics pass | "
             "median of posterior median alpha |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in dict.fromkeys(r["variant"] for r in rows):
        for kind in ("chinchilla", "kaplan"):
            rs = [r for r in rows if r["variant"] == v and r["kind"] == kind]
            if not rs:
                continue
            m = lambda k: float(np.median([r[k] for r in rs]))  # noqa: E731
            n = len(rs)
            low = f"{sum(r['q_alpha'] < 0.15 for r in rs)} / {sum(r['q_beta'] < 0.15 for r in rs)} of {n}"
            cov = " / ".join(str(sum(r[f"cover_{k}"] for r in rs)) for k in ("alpha", "beta", "log_nstar"))
            pairs = _paired(rows, v, kind)
            if v == "default" or not pairs:
                ratio, raised = ("1", "–") if v == "default" else ("–", "–")
            else:
                log_ratio = [np.log(r["width_log_nstar"] / d["width_log_nstar"]) for r, d in pairs]
                ratio = f"{np.exp(np.mean(log_ratio)):.2f}"
                raised = " / ".join(str(sum(r[f"q_{k}"] > d[f"q_{k}"] for r, d in pairs)) for k in ("alpha", "beta"))
                raised += f" of {len(pairs)}"
            lines.append(f"| {v} | {kind.capitalize()}-like | {m('q_alpha'):.2f} | {m('q_beta'):.2f} | "
                         f"{m('q_log_nstar'):.2f} | {low} | {cov} of {n} | {m('width_alpha'):.3f} | "
                         f"{m('width_beta'):.3f} | {m('width_log_nstar'):.2f} | {ratio} | {raised} | "
                         f"{sum(r['ok'] for r in rs)} of {n} | {m('med_alpha'):.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ladders", type=int, default=6, help="ladders per regime")
    ap.add_argument("--variants", default="default,flat_exp,wide_AB,term_ref,chinchilla_wide")
    ap.add_argument("--draws", type=int, default=400, help="draws and tuning steps per chain")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1 ladder per regime, default and term_ref, 200 draws")
    ap.add_argument("--json", help="write every row here")
    a = ap.parse_args(argv)
    if a.quick:
        a.ladders, a.variants, a.draws = 1, "default,term_ref", 200
    if a.ladders < 1 or a.draws < 10 or a.chains < 2:
        print("error: --ladders >= 1, --draws >= 10 and --chains >= 2 are needed", file=sys.stderr)
        return 2
    rows = run(a.variants.split(","), a.ladders, a.draws, a.chains)
    print(table(rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
