"""Report sections that go beyond the fit: breakdown (extrapolation, break test, Kaplan's
contradiction point), group comparison, sensitivity refits and reproducibility."""

from __future__ import annotations

import json
import time

import numpy as np

from bayes_scaling.conventions import derived_seed
from bayes_scaling.plots.common import axis_label, is_nd, param_unit, pct
from bayes_scaling.queries.compare_laws import BREAK_SUPPORTED_P
from bayes_scaling.report._metric import EXTRAPOLATE_LOSS
from bayes_scaling.report._model import (Para, Section, Table, draws_interval, figure_item, interval, interval_header,
                                         num, sampler_settings)
from bayes_scaling.report._refits import OUTLIER_ROBUST_SDS, break_test_from, convert_params


def _diag(fit) -> str:
    d = fit.diagnostics
    return (f"R-hat {d.r_hat_max:.3f}, ESS bulk {d.ess_bulk_min:.0f}, tail {d.ess_tail_min:.0f}, divergences "
            f"{d.divergences}: " + ("ok" if d.ok else "FAILED (" + "; ".join(d.problems) + ")"))


# -- breakdown -----------------------------------------------------------------------------

def breakdown_section(ctx) -> Section:
    from bayes_scaling.queries.extrapolation import decades_beyond

    result, ci = ctx.result, ctx.ci
    sec = Section("breakdown", "Where scaling may break down")
    law = result.law
    frame = result.runs.frame
    if is_nd(law):
        rows = []
        for d in ctx.decisions:
            dec = decades_beyond(result, {"N": np.array([d.N]), "D": np.array([d.D]), "C": np.array([d.compute])})
            rows.append([num(d.compute), num(d.N), num(d.D)] + [f"{dec[k]:+.2f}" for k in ("N", "D", "C")])
        kind = result.runs_metadata.get("params_kind", "total")
        sec.add(Table(["budget C (FLOPs)", f"decision N ({kind} parameters)", "decision D (tokens)",
                       "N: decades beyond", "D: decades beyond", "C: decades beyond"], rows,
                      "Extrapolation distance of each budget's decision (log10 of the query over the largest observed "
                      "value; <= 0 is inside the data)"))
    elif len(law.input_names) == 1:
        axis = law.input_names[0]
        metric = getattr(law, "response", "loss") == "metric"
        # better models lie at larger scale, or, for a metric law of a predictor loss L, at lower L (as the
        # "Downstream metrics" section extrapolates: fractions of the smallest observed L)
        edge = float(frame[axis].min() if metric else frame[axis].max())
        rows = []
        for f in (EXTRAPOLATE_LOSS if metric else (10.0, 100.0, 1000.0)):
            pred = result.predict(**{axis: edge * f})
            where = f"{f:g}x the smallest run's" if metric else f"{f:g}x the largest run"
            rows.append([f"{num(edge * f)} ({where})", draws_interval(pred["loss"].isel(query=0), ci),
                         draws_interval(pred["loss_predictive"].isel(query=0), ci), f"{abs(np.log10(f)):+.2f}"])
        what, unit = ("metric" if metric else "loss"), result.loss_unit
        sec.add(Table([axis_label(result, axis), f"law {what} ({unit})", f"new run's {what} ({unit})", "decades beyond"],
                      rows, f"Extrapolation {'towards better models (lower L)' if metric else 'to larger scale'}, "
                            f"{interval_header(ci)}"))
    chk = ctx.largest_check
    if chk is not None:
        sec.add(Para(f"Posterior predictive check of the {chk['n_runs']} largest runs: {chk['outside_interval']} outside "
                     f"their {pct(ci)} predictive interval" + (" - the fit misses them, so extrapolations are suspect."
                                                               if chk["poor_fit"] else "."), flag=chk["poor_fit"]))
    _discrepancy_part(ctx, sec)
    _break_part(ctx, sec)
    _kaplan_part(ctx, sec)
    return sec


def _discrepancy_part(ctx, sec: Section) -> None:
    """The leave-future-out extrapolation discrepancy, when the fit carries one."""
    disc = ctx.result.discrepancy
    if disc is None:
        sec.add(Para("No extrapolation discrepancy: predictive intervals beyond the data hold only the parameter "
                     "uncertainty and the run-to-run noise. Refit with `bayes-scaling fit ... --calibrate-extrapolation` "
                     "to learn, by leave-future-out, how far this law misses runs a decade beyond the ones it saw."))
        return
    ci = ctx.ci
    info = disc.info
    if disc.residual is not None:
        line = disc.process_line()
        sec.add(Para(line[0].upper() + line[1:] + "."))
    if "inner_n_train" not in info:  # a residual process without a leave-future-out calibration
        return
    sec.add(Table(["quantity", f"{interval_header(ci)}"],
                  [["tau0: discrepancy sd at the data's edge (log-loss)", draws_interval(disc.tau0, ci)],
                   [f"tau1: growth per decade of {'/'.join(disc.box or [disc.axis])} beyond the data (log-loss)",
                    draws_interval(disc.tau1, ci)],
                   ["held-out runs in the calibration (fit / held out)",
                    f"{info.get('inner_n_train')} / {info.get('inner_n_test')}"],
                   ["their 90% coverage without / with the discrepancy",
                    (f"{info['inner_coverage_90_raw']:.0%} / {info['inner_coverage_90_calibrated']:.0%}"
                     if "inner_coverage_90_raw" in info else "not recorded (a file saved before they were)")],
                   *([["the smaller runs' law vs the held-out runs: median |error| (median signed error)",
                       f"{info['inner_mare']:.2%} ({info['inner_median_signed_rel_error']:+.2%})"]]
                     if "inner_mare" in info else [])],
                  "Extrapolation discrepancy learned by leave-future-out (sd(d) = sqrt(tau0^2 + (tau1 d)^2), "
                  "d decades beyond the largest fitted run); it widens the new-run intervals in this report"))
    if not info.get("inner_diagnostics_ok", True):
        sec.add(Para("The calibration fit's sampler diagnostics failed: refit with more draws.", flag=True))


def _break_part(ctx, sec: Section) -> None:
    result, ci = ctx.result, ctx.ci
    if not ctx.refits:
        sec.add(Para("Break test skipped (--no-refits): it fits a power law with a floor and a smoothly broken power "
                     "law (Caballero et al. 2022) and compares them by PSIS-LOO; rerun without --no-refits to add it."))
        return
    t0 = time.perf_counter()
    test = break_test_from(ctx.refit_of or result, ctx.plan, ctx.runner, ci)
    ctx.timings["break-test fits"] = time.perf_counter() - t0
    if isinstance(test, str):
        sec.add(Para(f"Break test not run: {test}."))
        return
    fits = test["fits"]
    loc = test["break_location"]["d1"]
    rows = [["P(break)", f"{test['p_break']:.3f}"],
            ["ELPD difference (broken - unbroken)", f"{test['elpd_diff']:.1f} (se {test['se_diff']:.1f})"],
            ["stacking weight of the broken law", f"{test['stacking_weight_broken']:.2f}"],
            [f"break location d1 ({test['axis_label']})",
             interval(loc) if test.get("break_supported", True) else
             f"none: no break is supported (P(break) < {BREAK_SUPPORTED_P:g})"],
            ["Pareto k max (unbroken / broken)", (f"{test['pareto_k_max']['unbroken']:.2f} / "
                                                  f"{test['pareto_k_max']['broken']:.2f}")],
            [f"fit {test['laws']['unbroken']}", _diag(fits["unbroken"])],
            [f"fit {test['laws']['broken']}", _diag(fits["broken"])]]
    sec.add(Table(["", ""], rows, f"Break test on {test['n_points']} points: {test['how']}"))
    sec.add(Para(f"P(break) is the probability that the one-break law ({test['laws']['broken']}) predicts left-out "
                 f"points better than the unbroken power law with a floor ({test['laws']['unbroken']}): "
                 f"Phi(ELPD difference / its se). Points to the right of the break location bend away from the "
                 f"unbroken trend."
                 + (" The lowest observed loss per budget sits above the true L*(C) by the coarseness of the runs' "
                    "allocations, so treat this as a screen, not a proof." if test["axis_label"].startswith("compute")
                    and result.law.name not in ("kaplan_c",) else "")
                 + (" Pareto k > 0.7: some points are influential; the LOO difference is indicative."
                    if max(test["pareto_k_max"].values()) > 0.7 else "")))
    if not (fits["unbroken"].diagnostics.ok and fits["broken"].diagnostics.ok):
        sec.add(Para("A break-test fit failed its diagnostics, so this P(break) is indicative only (a break location "
                     "that the data barely constrain, as when there is no break, mixes slowly).", flag=True))


def _kaplan_part(ctx, sec: Section) -> None:
    from bayes_scaling.queries.breakdown import contradiction_point

    ci = ctx.ci
    if ctx.kaplan_fits is None:
        sec.add(Para("Kaplan's contradiction point (where L(C_min) would fall below L(D)): pass "
                     "`--kaplan-fits C.nc D.nc` (fits of the kaplan_c and kaplan_d laws) to add it."))
        return
    fit_c, fit_d = ctx.kaplan_fits
    point = contradiction_point(fit_c, fit_d)
    rows = [[name, unit, draws_interval(point[k], ci)] for k, name, unit in
            (("C_star", "C*", "PF-days"), ("N_star", "N*", "parameters"), ("D_star", "D*", "tokens"),
             ("L_star", "L*", fit_c.loss_unit))]
    rows.append(["P(the curves never meet)", "", f"{point.attrs['p_never_meet']:.3f}"])
    sec.add(Table(["quantity", "unit", f"{interval_header(ci)}"], rows,
                  f"Kaplan et al. 2020 §6.3 contradiction point on the path N = {num(point.attrs['n_e_median'])} "
                  f"C^{point.attrs['p_n_median']:g} (C in PF-days): kaplan_c fit ({_diag(fit_c)}), kaplan_d fit "
                  f"({_diag(fit_d)})"))


# -- groups --------------------------------------------------------------------------------

def groups_section(ctx) -> Section | None:
    from bayes_scaling.plots import plot_group_comparison
    from bayes_scaling.queries.compare_groups import compare_groups

    result, ci = ctx.result, ctx.ci
    h = result.hierarchy
    if h is None:
        return None
    sec = Section("groups", "Group comparison")
    if not is_nd(result.law):
        sec.add(Para(f"Paired comparisons at a budget need a law of N and D; compare the groups of this "
                     f"{result.law.name!r} fit with `bayes-scaling compare FIT --params N --tokens D`."))
        return sec
    b = float(ctx.budgets[0])
    c = compare_groups(result, None, compute=b)
    rows = []
    for g in c["groups"]:
        row = [g, draws_interval(c["loss"][g], ci)]
        if "p_best" in c:
            row += [f"{c['p_best'][g]:.3f}", f"{c['expected_rank'][g]:.2f}"]
        rows.append(row)
    head = ["group", f"optimal loss L* ({result.loss_unit})"] + (["P(best)", "expected rank"] if "p_best" in c else [])
    sec.add(Table(head, rows, f"At C = {num(b)} FLOPs, each group at its own optimal allocation; median "
                              f"[{pct(ci)} interval], the same posterior draw for every group"))
    a, bb = c["a"], c["b"]
    diff = [[f"L({bb}) - L({a}) ({result.loss_unit})", draws_interval(c["loss_diff"], ci)],
            ["relative difference", draws_interval(c["rel_diff"], ci, pct=True)],
            [f"P({a} better than {bb})", f"{c['p_a_better']:.3f}"],
            [f"P(|difference| < {pct(c['rope'])} of the loss)", f"{c['p_rope']:.3f}"]]
    if "compute_multiplier" in c:
        m = c["compute_multiplier"]
        diff.append([f"compute {bb} needs to match {a} (x C)", draws_interval(m, ci, 3)])
        if m.attrs["p_met_at_any_budget"] > 0:
            diff.append([f"P({bb} matches {a}'s loss at any budget, x 0)", f"{m.attrs['p_met_at_any_budget']:.3f}"])
    diff += [[f"{k}({bb}) - {k}({a}) ({param_unit(result, k)})", draws_interval(v, ci)]
             for k, v in c["param_diff"].items()]
    sec.add(Table(["quantity", f"{interval_header(ci)} or probability"], diff, f"Paired difference {bb} vs {a}"))
    fig = plot_group_comparison(result, compute=b, ci_prob=ci)
    return sec.add(figure_item("groups", fig, f"Loss per group and paired differences at C = {num(b)} FLOPs, "
                                              f"{pct(ci)} intervals.", "loss per group and paired differences"))


# -- sensitivity ---------------------------------------------------------------------------

def sensitivity_section(ctx) -> Section:
    result, ci = ctx.result, ctx.ci
    sec = Section("sensitivity", "Sensitivity")
    if not ctx.refits:
        sec.add(Para("Sensitivity refits skipped (--no-refits). Without it, the report refits the runs with the other "
                     "likelihood (Student-t vs Gaussian), without outlying runs, and with N in the other "
                     "parameter-count convention, and shows how the answers move."))
        return sec
    cfg = ctx.refit_config
    plan = ctx.plan
    nd = is_nd(result.law)
    kind = result.runs_metadata.get("params_kind", "total")
    t0 = time.perf_counter()
    fam = plan.other_family
    variants = [("this fit", result, "")]
    failed = []

    def add(name, key, other="", label=None):
        fit, err = ctx.runner.get(key)
        if fit is None:
            failed.append(f"{name}: the refit failed ({err})")
        else:
            variants.append((name if label is None else label(fit), fit, other))

    add(f"{fam.split(' (')[0]} likelihood", "likelihood",
        label=lambda fit: likelihood_row_label(fam.split(" (")[0], result, fit))
    keep, resid, rsd = plan.keep, plan.resid, plan.robust_sd
    n_out = int((~keep).sum())
    notes = []
    if n_out == 0:
        notes.append(f"Outlier rule: no run lies beyond {OUTLIER_ROBUST_SDS:g} robust SDs (1.4826 x MAD = "
                     f"{rsd:.4f} in log-loss) of the median residual, so there is nothing to drop.")
    elif "outliers" not in ctx.runner:
        notes.append(f"Outlier rule: {plan.outlier_note}.")
    else:
        add(f"without {n_out} outlying run(s)", "outliers")
        frame = result.runs.frame
        worst = np.argsort(-np.abs(resid - np.median(resid)))[:min(n_out, 8)]
        notes.append(f"Outlier rule: dropped the {n_out} run(s) whose log-loss residual (observed minus the posterior "
                     f"median of the law) is beyond {OUTLIER_ROBUST_SDS:g} robust SDs (1.4826 x MAD = {rsd:.4f}) of the "
                     f"median residual; the largest: " + "; ".join(
                         f"run {i} (loss {num(frame['loss'].iloc[i])}, {(resid[i] - np.median(resid)) / rsd:+.1f} SD)"
                         for i in worst) + ".")
    if plan.other_kind is not None:
        other = plan.other_kind
        add(f"N counted as {other} parameters", "params_kind", other)
        notes.append(f"Parameter convention: N re-expressed as {other} parameters with Pearce & Song (2024), "
                     f"N_total = N_non-embedding + 47491 N_non-embedding^(1/3) (fitted to Chinchilla's configurations, "
                     f"vocabulary 32k; an assumption when the runs' embedding sizes are unknown); tokens D unchanged. "
                     f"Its N* is converted back to {kind} parameters to compare; its budget is read as C = 6 N D with "
                     f"N in its own convention.")
    elif "N" in result.law.input_names:
        notes.append(f"Parameter convention: not refitted: spec {result.spec.name} states its scale priors for "
                     f"{result.spec.params_kind} parameters, which N in the other convention would contradict.")
    else:
        notes.append("Parameter convention: not applicable (the law has no N).")
    ctx.timings["sensitivity refits"] = time.perf_counter() - t0
    if nd:
        b = float(ctx.budgets[0])
        rows = []
        from bayes_scaling.queries.allocate import compute_optimal

        for name, fit, other in variants:
            opt = compute_optimal(fit, [b]).isel(budget=0)
            n_opt = opt["N_opt"]
            if other:
                n_opt = n_opt.copy(data=np.asarray(convert_params(n_opt.values, kind), float))
            ratio = opt["D_opt"] / n_opt
            rows.append([name, str(len(fit.runs)), draws_interval(n_opt, ci), draws_interval(ratio, ci, 3),
                         draws_interval(opt["loss_opt"], ci), _diag(fit)])
        sec.add(Table(["variant", "runs", f"N* ({kind} parameters)", "D*/N* (tokens/parameter)", f"L* ({result.loss_unit})",
                       "diagnostics"], rows, f"Allocation at the first budget, C = {num(b)} FLOPs, "
                                             f"{interval_header(ci)}"))
    else:
        law = result.law
        axis = law.input_names[-1]
        x10 = 10 * float(result.runs.frame[axis].max())
        names = list(law.param_names)[:4]
        rows = []
        for name, fit, other in variants:
            q = x10 if not other or axis != "N" else float(convert_params(x10, other))
            pred = fit.predict(**{axis: q})["loss"].isel(query=0)
            rows.append([name, str(len(fit.runs))] + [draws_interval(fit.posterior[p], ci) for p in names]
                        + [draws_interval(pred, ci), _diag(fit)])
        head = [f"{p} ({param_unit(result, p)})" for p in names]
        loss = f"loss ({result.loss_unit}) at {axis_label(result, axis)} = {num(x10)}, 10x the largest run"
        sec.add(Table(["variant", "runs", *head, loss, "diagnostics"], rows,
                      f"Parameters and an extrapolation per variant, {interval_header(ci)}"))
    for n in notes:
        sec.add(Para(n))
    for f in failed:
        sec.add(Para(f, flag=True))
    sec.add(Para(f"Refits use {cfg.chains} chains x {cfg.draws} draws after {cfg.tune} tuning steps (fewer than a full "
                 f"fit), seeds {derived_seed(ctx.seed, 1)}-{derived_seed(ctx.seed, 3)}."))
    return sec


# -- reproducibility -----------------------------------------------------------------------

def reproducibility_section(ctx) -> Section:
    result = ctx.result
    attrs = result.tree.attrs
    sec = Section("reproducibility", "Reproducibility")
    from bayes_scaling.result import package_versions

    at_fit = json.loads(attrs.get("package_versions", "{}")) or {
        "bayes_scaling": attrs.get("bayes_scaling_version"), "pymc": attrs.get("pymc_version"),
        "pytensor": attrs.get("pytensor_version"), "arviz-base": attrs.get("arviz_base_version")}
    now = package_versions()
    rows = [[p, at_fit.get(p) or "not recorded", v] for p, v in now.items()]
    sec.add(Table(["package", "at fit time", "at report time"], rows, "Package versions"))
    cfg = result.sampler_config
    run = [["fit file", f"`{ctx.fit_path}`" if ctx.fit_path else "(in memory)"],
           ["fit command", f"`{attrs.get('command')}`" if attrs.get("command") else "not recorded (fitted from Python)"],
           ["report command", f"`{ctx.command}`" if ctx.command else "(built from Python)"],
           ["seed", str(cfg.get("seed", "not recorded"))],
           ["sampler", ", ".join(f"{k} = {v}" for k, v in sampler_settings(cfg))
            + (f"; {len(cfg['attempts'])} attempt(s) (Diagnostics)" if cfg.get("attempts") else "")],
           ["spec", f"`{result.spec.origin}`"], ["interval", f"{pct(ctx.ci)} equal-tailed (ci_prob = {ctx.ci:g})"]]
    if ctx.refits:
        rc = ctx.refit_config
        run.append(["refits", (f"{rc.chains} chains x {rc.draws} draws (+{rc.tune} tuning); break-test fits "
                               f"{rc.break_draws} draws (+{rc.break_tune}); seeds from {derived_seed(ctx.seed, 1)}")])
    else:
        run.append(["refits", "skipped (--no-refits)"])
    if ctx.timings:
        run.append(["report timings", ", ".join(f"{k} {v:.1f} s" for k, v in ctx.timings.items())])
    sec.add(Table(["", ""], run, "How this report was made"))
    sec.add(Para("The fit file holds the runs, the spec text and every posterior draw: `bayes-scaling summary FIT` and "
                 "this report reproduce from it alone; refitting from the runs file with the fit command and seed "
                 "reproduces the draws on the same package versions."))
    return sec


def likelihood_row_label(family: str, result, refitted) -> str:
    """The sensitivity row of the other likelihood, saying what else the refit left out: run noise (and per-run
    evaluation SEs) live only in a Normal family, so a refit in another family drops what the fit had."""
    def noise(fit):
        return json.loads(fit.tree.attrs.get("run_noise", "null") or "null")

    had, kept = noise(result), noise(refitted)
    if not had or kept:
        return f"{family} likelihood"
    lost, it = ("run noise and per-run SE", "them") if had.get("se") else ("run noise", "it")
    return f"{family} likelihood (without {lost}: only a Normal likelihood carries {it})"
