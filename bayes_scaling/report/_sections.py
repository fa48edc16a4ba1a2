"""The report's sections, each built from a fit (and, for sensitivity and breakdown, its refits).

Every uncertain number is written as ``median [lo, hi]`` at the report's ``ci_prob``
(equal-tailed); exact quantities (counts, budgets, thresholds) are written as they are.
"""

from __future__ import annotations

import numpy as np

from bayes_scaling.cost import ladder_cost
from bayes_scaling.conventions import (ESS_MIN_PER_CHAIN, PF_DAY_FLOPS, RHAT_MAX, flops_to_pf_days, in_loss_unit,
                                       is_pf_days, unit_text)
from bayes_scaling.data.repeats import checkpoints_record, notes_say_checkpoints
from bayes_scaling.plots.common import budget_labels, is_nd, pct
from bayes_scaling.report._model import (Para, Section, Table, draws_interval, figure_item, interval, interval_header,
                                         attempts_table, num, sampler_settings)
from bayes_scaling.specs.moments import contraction_label
from bayes_scaling.specs.units import in_predictor_unit, summary_unit

KIND_NOTE = {
    "total": "total parameters as the fit declares them (--params-kind total; Hoffmann et al. 2022 count every "
             "parameter, embeddings included)",
    "non-embedding": "non-embedding parameters as the fit declares them (--params-kind non-embedding; Kaplan et al. "
                     "2020 leave out the embedding matrices)",
}


# -- data and provenance -------------------------------------------------------------------

def data_section(ctx) -> Section:
    result = ctx.result
    meta = result.runs_metadata
    cols = meta.get("columns", {})
    frame = result.runs.frame
    sec = Section("data", "Data and provenance")
    sha = f"`{meta['sha256']}`" if meta.get("sha256") else "not recorded (runs were given as a DataFrame)"
    rows = [["runs file", f"`{meta.get('source', '')}`"], ["SHA-256 of the runs file", sha],
            ["runs", str(len(frame))]]
    groups = (meta.get("columns") or {}).get("groups", ())  # a run is (groups, seed, run id)
    if (ckpt := checkpoints_record(frame, groups)) is not None:  # the line every query says it in, or the note's
        said = notes_say_checkpoints(meta.get("notes") or [], ckpt)
        rows.append(["training runs (column run_id)", f"{ckpt['runs']}: the {ckpt['rows']} rows are their checkpoints, "
                     f"fitted as independent runs (see the note below)" if said else ckpt["note"]])
    h = result.hierarchy
    if h:
        counts = frame[h["group_col"]].astype(str).value_counts()
        rows.append([f"groups ({h['group_col']})", ", ".join(f"{g}: {counts.get(g, 0)} runs" for g in h["groups"])])
    if "C" in frame:
        _, centres, isoflop = budget_labels(frame["C"].to_numpy(float), frame["N"] if "N" in frame else None)
        rows.append(["compute budgets", f"IsoFLOP ladder of {len(centres)} budgets" if isoflop
                     else "runs are not on IsoFLOP budgets (compute varies from run to run)"])
    derived = meta.get("derived") or []
    rows.append(["derived columns", "; ".join(derived) if derived else "none"])
    sec.add(Table(["", ""], rows, "Source"))

    mapping = [["N", "parameters", cols.get("params") or "-"], ["D", "training tokens", cols.get("tokens") or "-"],
               ["C", "training compute", cols.get("compute") or "-"], ["loss", "final loss", cols.get("loss") or "-"]]
    for q, col in (cols.get("extra") or {}).items():
        mapping.append([q, {"U": "unique tokens", "X": "scale axis", "S": "optimizer steps", "B": "batch size"}.get(q, q), col])
    for g in cols.get("groups") or []:
        mapping.append(["group", "group label", g])
    if cols.get("seed"):
        mapping.append(["seed", "training seed", cols["seed"]])
    for c in (cols.get("shape") or []):
        mapping.append(["shape", "d_model / n_layer column", c])
    for c in (cols.get("covariates") or []):
        mapping.append(["covariate", "enters log-loss linearly", c])
    for row in mapping:
        if row[2] == "-" and any(row[0] in d.split("=")[0] for d in derived):
            row[2] = "derived: " + next(d for d in derived if row[0] in d.split("=")[0])
    sec.add(Table(["quantity", "meaning", "source column"], mapping, "Column mapping"))

    command = result.tree.attrs.get("command", "")
    given = meta.get("compute_unit")  # recorded by load_runs; older fits: inferred from the fit command
    if is_pf_days(given) or (given is None and "--compute-unit pf-days" in command):
        read = f"read in PF-days and converted to FLOPs (1 PF-day = {num(PF_DAY_FLOPS)} FLOPs)"
    elif given or command:
        read = "read in FLOPs"
    else:
        read = "stored in FLOPs (the unit it was read in is not recorded)"
    kind = meta.get("params_kind", "total")
    units = [["N", KIND_NOTE.get(kind, kind)], ["D", "tokens"],
             ["C", f"FLOPs, {read}" + ("; C = 6 N D where derived" if any("C =" in d for d in derived) else "")],
             ["loss", result.loss_unit]]
    ranges = []
    for q, unit in (("N", f"{kind} parameters"), ("D", "tokens"), ("C", "FLOPs"), ("U", "unique tokens"),
                    ("X", "scale axis units"), ("S", "steps"), ("loss", result.loss_unit)):
        if q in frame:
            v = frame[q].to_numpy(float)
            extra = f" ({num(flops_to_pf_days(v.min()))} - {num(flops_to_pf_days(v.max()))} PF-days)" if q == "C" else ""
            ranges.append([q, unit, f"{num(v.min())} - {num(v.max())}{extra}"])
    sec.add(Table(["quantity", "unit"], units, "Units"))
    sec.add(Table(["quantity", "unit", "range in the runs"], ranges, "Ranges"))
    for note in meta.get("notes") or []:  # the data's own notes: units, conventions, checkpoints, implausible values
        sec.add(Para(f"Note on the data: {note}"))
    return sec


# -- law and priors ------------------------------------------------------------------------

def law_section(ctx) -> Section:
    result = ctx.result
    law, spec = result.law, result.spec
    sec = Section("law", "Law and priors")
    sec.add(Para(f"{law.title}: `{law.formula}`. Source: {law.citation}."))
    prov = [["spec", f"`{spec.origin}`"]] + [[k, v] for k, v in spec.provenance.items()]
    sec.add(Table(["", ""], prov, "Prior specification and its provenance"))
    rows = [[p.name, p.kind, in_predictor_unit(in_loss_unit(unit_text(p.unit), result.loss_unit), result.predictor_unit),
             p.doc, spec.priors[p.name].describe()] for p in law.params]
    lik = spec.likelihood
    fam = lik.describe()
    metric = law.response == "metric"  # the noise unit as the parameter table gives it (specs/units.summary_unit)
    rows.append(["sigma", "noise", summary_unit(spec, "sigma", (), result.loss_unit),
                 f"run-to-run noise of {'the metric' if metric else 'log-loss'}, {fam} likelihood",
                 lik.sigma.describe()])
    sec.add(Table(["parameter", "kind", "unit", "meaning", "prior"], rows, "Priors (in the parameters' published units)"))
    h = result.hierarchy
    if h:
        sec.add(Para(f"Hierarchy: {', '.join(h['vary'])} vary by {h['group_col']} (groups {', '.join(h['groups'])}), "
                     f"partially pooled with group spread tau ~ {spec.hierarchy.tau.describe()} (offsets on the log scale, summing to zero: the population is the groups' mean; "
                     f"sampled {centring_text(h)})."))
    cov = result.covariates
    if cov:
        sec.add(Para(f"Covariates entering log-loss linearly: {', '.join(cov['names'])}, effect prior "
                     f"{spec.covariate_prior.describe()}."))
    return sec


def centring_text(h: dict) -> str:
    """How a hierarchy record says its offsets were sampled; files written before 2026-12-07 14:04 UTC have no
    ``centred`` key (they sampled every offset centred, but the file does not say so)."""
    if "centred" not in h:
        return "with the offsets' parametrisation not recorded (a file from before 2026-12-07 14:04 UTC)"
    if not h["centred"]:
        return "non-centred"
    rest = ", non-centred for the rest" if set(h["vary"]) - set(h["centred"]) else ""
    return f"centred for {', '.join(h['centred'])}{rest}"


# -- diagnostics ---------------------------------------------------------------------------

def diagnostics_section(ctx) -> Section:
    result = ctx.result
    d = result.diagnostics
    sec = Section("diagnostics", "Sampler diagnostics")
    need = ESS_MIN_PER_CHAIN * d.n_chains

    def status(ok):
        return "pass" if ok else "FAIL"

    rows = [["R-hat (max over parameters)", f"{d.r_hat_max:.4f}", f"<= {RHAT_MAX}", status(d.r_hat_max <= RHAT_MAX)],
            ["bulk ESS (min)", f"{d.ess_bulk_min:.0f}", f">= {need:.0f} ({ESS_MIN_PER_CHAIN} per chain)",
             status(d.ess_bulk_min >= need)],
            ["tail ESS (min)", f"{d.ess_tail_min:.0f}", f">= {need:.0f}", status(d.ess_tail_min >= need)],
            ["divergent transitions", str(d.divergences), "0", status(d.divergences == 0)],
            ["chains x draws", f"{d.n_chains} x {d.n_draws}", "", ""]]
    sec.add(Table(["diagnostic", "value", "requirement", "status"], rows,
                  "Worst case over the law's parameters, sigma and group-level parameters"))
    if d.ok:
        sec.add(Para("All diagnostics pass (Vehtari et al. 2021 thresholds: rank-normalised R-hat <= 1.01, "
                     "bulk and tail ESS >= 100 per chain, no divergences)."))
    else:
        sec.add(Para("Sampler diagnostics FAILED: " + "; ".join(d.problems) + ". Refit with more --tune/--draws or a "
                     "more informative spec before trusting the numbers in this report.", flag=True))
    cfg = result.sampler_config
    sec.add(Table(["setting", "value"], sampler_settings(cfg), "Sampler configuration"))
    tried = attempts_table(cfg)
    if tried is not None:
        sec.add(tried)
    return sec


# -- parameters ----------------------------------------------------------------------------

def parameters_section(ctx) -> Section:
    from bayes_scaling.plots import plot_posterior

    result, ci = ctx.result, ctx.ci
    sec = Section("parameters", "Parameters")
    n_params, n_runs = len(result.law.params), len(result.runs)
    if n_runs < n_params + 2:  # the fit's warning, kept with the report (fits of few runs need proper priors)
        sec.add(Para(f"{n_runs} runs for law {result.law.name!r} with {n_params} parameters plus noise: the posterior "
                     f"is dominated by the prior; the contraction column says which parameters the runs informed.",
                     flag=True))
    df = result.summary(ci)
    rows = [[name, unit_text(r["unit"]),
             interval(r), num(r["mean"]), num(r["sd"]),
             f"{r['r_hat']:.3f}", f"{r['ess_bulk']:.0f}", f"{r['ess_tail']:.0f}",
             contraction_label(r["contraction"], r["contraction_scale"])]
            for name, r in df.iterrows()]
    sec.add(Table(["parameter", "unit", f"{interval_header(ci)}", "mean", "sd", "R-hat", "ESS bulk", "ESS tail",
                   "contraction"], rows,
                  f"Posterior of each parameter ({pct(ci)} equal-tailed intervals). Contraction: 1 - posterior "
                  f"variance / prior variance (log: on the log scale, for heavy-tailed priors); near 0 the prior, "
                  f"not the runs, sets the parameter"))
    fig = plot_posterior(result, ci_prob=ci)
    return sec.add(figure_item("posterior", fig, f"Marginal posteriors with the median and the {pct(ci)} equal-tailed "
                               f"interval.", "marginal posterior densities of the law's parameters"))


# -- fit and residuals ----------------------------------------------------------------------

def fit_section(ctx) -> Section:
    from bayes_scaling.plots import plot_fit

    result, ci = ctx.result, ctx.ci
    sec = Section("fit", "Fit")
    fig = plot_fit(result, ci_prob=ci)
    if is_nd(result.law):
        cap = (f"Observed runs (loss vs compute) and the compute-optimal loss L*(C): each posterior draw at its own "
               f"optimal allocation; median and {pct(ci)} band, extended two decades past the largest run (shaded). "
               f"Runs above the curve were trained at non-optimal N/D.")
    else:
        cap = f"Observed runs and the fitted law: posterior median and {pct(ci)} band."
    return sec.add(figure_item("fit", fig, cap, "observed runs and the fitted scaling law on log-log axes"))


def residuals_section(ctx) -> Section:
    from bayes_scaling.plots import plot_residuals
    from bayes_scaling.queries.extrapolation import largest_runs_check

    result, ci = ctx.result, ctx.ci
    sec = Section("residuals", "Residuals and posterior predictive check")
    fig = plot_residuals(result, ci_prob=ci)
    sec.add(figure_item("residuals", fig, f"Each run's observed loss relative to its posterior predictive median "
                        f"(law plus fitted run-to-run noise), with its {pct(ci)} predictive interval.",
                        "posterior predictive check: relative residual per run"))
    chk = largest_runs_check(result, ci_prob=ci)
    ctx.largest_check = chk
    pits = ", ".join(f"{p:.2f}" for p in chk["pit"])
    text = (f"Largest {chk['n_runs']} runs by {chk['ranked_by']}: {chk['outside_interval']} outside their "
            f"{pct(ci)} predictive interval; posterior predictive p-values (PIT) {pits}.")
    if chk["poor_fit"]:
        sec.add(Para(text + " The fit misses the largest runs: extrapolations from it are suspect.", flag=True))
    else:
        sec.add(Para(text))
    return sec


# -- IsoFLOPs and frontier -----------------------------------------------------------------

def _not_nd(ctx, sec, what):
    sec.add(Para(f"Not applicable: {what} needs a law of parameters N and tokens D; this fit's law "
                 f"{ctx.result.law.name!r} has inputs {list(ctx.result.law.input_names)}."))
    return sec


def isoflops_section(ctx) -> Section:
    from bayes_scaling.plots import plot_isoflops

    sec = Section("isoflops", "IsoFLOP curves")
    if not is_nd(ctx.result.law):
        return _not_nd(ctx, sec, "an IsoFLOP curve")
    fig = plot_isoflops(ctx.result, ci_prob=ctx.ci)
    spent = ladder_cost(ctx.result.runs, ctx.cost)
    cost = (f"training cost {ctx.cost.describe()}" if spent == ctx.cost else f"each budget spent as the runs' "
            f"nominal C = 6 N D, derived from their N and D, so each curve passes through its runs; other queries "
            f"use the training cost {ctx.cost.describe()}")
    cap = (f"Loss against N at fixed compute ({cost}): posterior median and {pct(ctx.ci)} band, the observed runs "
           f"at each budget, and the N* minimising each curve with its {pct(ctx.ci)} interval."
           + (" Hierarchical fit: population curves." if ctx.result.hierarchy else ""))
    return sec.add(figure_item("isoflops", fig, cap, "IsoFLOP curves: loss against parameters at fixed compute"))


def frontier_section(ctx) -> Section:
    from bayes_scaling.plots import plot_frontier
    from bayes_scaling.queries.allocate import compute_optimal, decide, frontier_exponents
    from bayes_scaling.queries.extrapolation import decades_beyond_data

    result, ci = ctx.result, ctx.ci
    sec = Section("frontier", "Compute-optimal frontier and allocation")
    if not is_nd(result.law):
        return _not_nd(ctx, sec, "the compute-optimal frontier")
    budgets = ctx.budgets
    c_max = float(result.runs.frame["C"].max())
    lo = min(float(result.runs.frame["C"].min()), budgets.min())
    hi = max(budgets.max(), 1000 * c_max)
    fig = plot_frontier(result, lo, hi, ci_prob=ci)
    sec.add(figure_item("frontier", fig, f"Compute-optimal parameters N*(C) and tokens D*(C) "
                        f"({ctx.cost.describe()}), median and {pct(ci)} band; grey lines show the published slopes through the median at the smallest "
                        f"budget (slopes only).", "compute-optimal parameters and tokens against compute"))
    fe = frontier_exponents(result, lo, hi)
    sec.add(Para(f"Between {num(lo)} and {num(hi)} FLOPs: N* ∝ C^a with a = {draws_interval(fe['a'], ci, 3)}, "
                 f"D* ∝ C^b with b = {draws_interval(fe['b'], ci, 3)} (Kaplan et al. 2020: a = 0.73; "
                 f"Hoffmann et al. 2022: a = b = 0.5)."))
    opt = compute_optimal(result, budgets)
    ctx.optimum = opt
    rows = []
    kind = result.runs_metadata.get("params_kind", "total")
    for i, b in enumerate(budgets):
        sel = opt.isel(budget=i)
        d = decide(result, float(b))
        ctx.decisions.append(d)
        dec = f"{decades_beyond_data(result, {'N': np.array([d.N]), 'D': np.array([d.D]), 'C': np.array([d.compute])}):.2f}"
        rows.append([num(b), num(flops_to_pf_days(b)), draws_interval(sel["N_opt"], ci), draws_interval(sel["D_opt"], ci),
                     draws_interval(sel["tokens_per_param"], ci, 3), draws_interval(sel["loss_opt"], ci),
                     f"{num(d.N)} / {num(d.D)}", draws_interval(d.outcome["loss"], ci), dec])
    sec.add(Table(["budget C (FLOPs)", "PF-days", f"N* ({kind} parameters)", "D* (tokens)", "D*/N* (tokens/parameter)",
                   f"L* ({result.loss_unit})", f"decision N ({kind} parameters) / D (tokens), min. expected loss",
                   f"loss at the decision ({result.loss_unit})", "decision: decades beyond the data (N, D or C)"], rows,
                  f"Allocation per budget: per-draw optimum, {interval_header(ci)}; the decision is one plan "
                  f"for all draws" + (" (population of the hierarchical fit)" if result.hierarchy else "")))
    return sec
