"""The report's "Which runs next" section: candidate ladder runs ranked by the expected reduction of
the uncertainty of log N* at one of the report's budgets per FLOP, the greedy batch within a ladder
budget and stop-or-go (:mod:`bayes_scaling.queries.design`; importance reweighting, no refits)."""

from __future__ import annotations

import numpy as np

from bayes_scaling.conventions import is_ensemble
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.plots.common import compute_at_runs, is_nd
from bayes_scaling.report._model import Para, Section, Table, num

#: Candidate rows shown, best expected reduction per FLOP first.
TOP_CANDIDATES = 8


def design_targets(ctx) -> tuple[float, float]:
    """(target budget, ladder budget) in FLOPs: the middle of the report's budgets (100x the largest
    run by default) and the report's ``design_budget`` (default: the compute of the runs so far, each run's C(N, D)
    in the fit's cost law, the currency the candidates are priced in)."""
    target = float(np.sort(ctx.budgets)[len(ctx.budgets) // 2])
    budget = ctx.design_budget if ctx.design_budget is not None else float(compute_at_runs(ctx.result, cost=ctx.cost).sum())
    return target, budget


def design_section(ctx) -> Section:
    from bayes_scaling.queries.design import RULES, candidate_grid, collapse_note, design_runs, verdict_text
    from bayes_scaling.queries.design_preposterior import decision_now
    from bayes_scaling.queries.design_shapes import data_box
    from bayes_scaling.queries.design_verdict import go_picks
    from bayes_scaling.queries.draws import resolve_cost

    result = ctx.result
    sec = Section("design", "Which runs next")
    laws = [m.law for m in result.members.values()] if is_ensemble(result) else [result.law]
    for law in laws:
        if not is_nd(law):
            whose = "a member of this ensemble, law" if len(laws) > 1 else "this fit's law"
            sec.add(Para(f"Not applicable: run design needs a law of parameters N and tokens D; {whose} "
                         f"{law.name!r} has inputs {list(law.input_names)}."))
            return sec
    target, budget = design_targets(ctx)
    try:
        cost = resolve_cost(result, ctx.cost)  # the fit's stored law unless the report names one, as `design` prices
        box = data_box(result, cost)  # the runs' shapes, N and C: picks beyond are flagged
        fitted = box.shapes
        n, d = candidate_grid(box.compute, budget, cost=cost)  # over the trusted shapes
        des = design_runs(result, target, budget, n, d, objective="n_star", batch=4, seed=ctx.seed, cost=cost)
    except BayesScalingError as e:  # e.g. a hierarchical fit, or no candidate within the budget
        sec.add(Para(f"Not computed: {e}"))
        return sec
    before = des.gains.before
    sec.add(Para(
        (f"For the ensemble's mixture of {len(laws)} law forms (importance reweighting only, within each member: "
         f"{des.form_weights}). " if des.form_weights else "")
        + f"If the ladder got {num(budget)} more FLOPs"
        f"{' (as much again as its runs so far)' if ctx.design_budget is None else ''}, which runs would most "
        f"reduce the uncertainty of the compute-optimal size N* at C = {num(target)} FLOPs? Now var(log N*) = "
        f"{num(before)} (log parameters squared). Each of {len(des.cost)} IsoFLOP candidates is scored by "
        f"preposterior analysis: its loss is simulated in {des.worlds} worlds (a posterior draw as the truth, its "
        f"predictive of a new run: the fitted noise"
        f"{' with an evaluation SE of ' + num(100 * des.outcome.relative_se, 2) + '% of the loss (the median of the recorded runs; `bayes-scaling design --candidate-se` sets it)' if des.outcome.relative_se else ''}"
        f"{' and the extrapolation discrepancy at the run' if result.discrepancy is not None else ''}), the "
        f"{des.pre.size} draws are reweighted by each outcome's predictive density, and var(log N*) is "
        f"averaged over the worlds (cost: {des.cost_name}; {des.seconds['total']:.1f} s). "
        + (f"Where an outcome's importance weights collapse (ESS below {des.min_ess:g}) var(log N*) comes from a Gaussian "
           "(Laplace) update linearised over the draws instead; the share of such outcomes is listed. "
           if des.laplace else "") + f"Candidates span "
        f"{num(min(des.tokens / des.n_params), 2)}-{num(max(des.tokens / des.n_params), 3)} tokens/parameter, the "
        f"shapes of Hoffmann et al. (2022)'s runs; the fit's own runs span {num(fitted[0], 3)}-{num(fitted[1], 3)} "
        f"tokens/parameter, N {num(box.params[0])}-{num(box.params[1])} parameters and C {num(box.compute[0])}-{num(box.compute[1])} "
        f"FLOPs, and a candidate outside them (column 'outside the runs': D/N, N or C) rests on the law's form holding "
        f"beyond this ladder's data; `bayes-scaling design --shapes` changes the range, "
        f"`--reach-optimal-shape` extends it to the posterior's interval of the compute-optimal shape at C, and real "
        f"refits recheck a row."))
    cands = des.candidate_records()[:TOP_CANDIDATES]
    sec.add(Table(["N (parameters)", "D (tokens)", "D/N (tokens/parameter)", "cost (FLOPs)",
                   "expected var(log N*) after", "reduction", "reduction per 1e18 FLOPs", "ESS", "Laplace share",
                   "outside the runs"],
                  [[num(r["N"]), num(r["D"]), num(r["tokens_per_param"], 3), num(r["cost_flops"]),
                    num(r["expected_after"]),
                    f"{100 * r['relative_gain']:.1f}%" + (" (within noise)" if r["gain_within_noise"] else ""),
                    num(1e18 * r["gain_per_flop"]),
                    f"{r['ess']:.0f}", f"{100 * r['laplace_share']:.0f}%",
                    box.where([r["N"]], [r["D"]], [r["cost_flops"]])[0] or "inside"] for r in cands],
                  f"The {len(cands)} candidates with the largest expected reduction of var(log N*) per FLOP (within noise: "
                  f"less than 2 Monte Carlo standard errors over the simulated outcomes)"))
    batch = des.batch_records()
    rule = RULES[des.rule]
    sec.add(Table(["pick", "N (parameters)", "D (tokens)", "cost (FLOPs)", "cumulative cost (FLOPs)",
                   "expected var(log N*) after", "ESS", "outside the runs"],
                  [[str(i), num(b["N"]), num(b["D"]), num(b["cost_flops"]), num(b["cumulative_cost"]),
                    num(b["after"]), f"{b['ess']:.0f}",
                    box.where([b["N"]], [b["D"]], [b["cost_flops"]])[0] or "inside"] for i, b in enumerate(batch, 1)],
                  f"Batch within {num(budget)} FLOPs refined by exchange ({des.exchanged} move(s)) from the greedy batch "
                  f"({rule} rule), in order of gain per FLOP" if des.exchanged else
                  f"Greedy batch within {num(budget)} FLOPs ({rule} rule; each pick conditioned on the earlier "
                  f"picks' simulated outcomes)"))
    sg = des.stop_go
    steps = "; ".join(f"first {i}: saves {num(st['value_flops'])} FLOPs for {num(st['cost_flops'])}"
                      for i, st in enumerate(sg["steps"], 1))
    verdict = verdict_text(sg)
    note = collapse_note(sg, des.min_ess, refits=not is_ensemble(result), why=des.refit_note)
    gos = go_picks(sg)
    off = [w for w in box.where([p["N"] for p in gos], [p["D"] for p in gos], [des.pre.cost.flops(p["N"], p["D"]) for p in gos])
           if {"N", "C"} & set(w.split(","))]
    scale = (f"{len(off)} of the {len(gos)} run(s) it proposes lie outside the runs' N or C: their value rests on the law "
             f"holding there, which this ladder's data do not test" if off else None)
    now = decision_now(result, des.pre)
    sec.add(Para(f"Stop or go: allocate's decision at C (N = {num(now['decision_N_now'])}) wastes "
                 f"{100 * now['decision_wasted_now']:.2f}% of the budget in expectation now ({now['decision_draws']} "
                 f"draws); the plan of least expected waste on the design's grid (N = {num(now['least_waste_N_now'])}, "
                 f"{des.pre.size} draws) wastes {100 * sg['expected_wasted_now']:.2f}%, the value the savings are "
                 f"measured from (perfect information would save {num(sg['evpi_flops'])} FLOPs). "
                 f"{steps or 'no picks'}. "
                 f"{verdict}."
                 + (f" The {note}." if note else "") + (f" {scale}." if scale else ""),
                 flag=note is not None or scale is not None))
    return sec
