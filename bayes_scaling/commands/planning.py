"""Planning commands: ``allocate``, ``target``, ``frontier`` (and ``breakdown``, registered from :mod:`.breakdown`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_scaling.commands.args import (add_ci_arg, add_compute_unit_arg, add_cost_args, add_covariate_value_arg,
                                         add_json_arg, budget_flops, cost_from_args, covariate_values, int_at_least,
                                         positive_float, refuse_unused, to_flops)
from bayes_scaling.commands.output import (covariates_line, covariates_record, diagnostics_line, diagnostics_record, emit,
                                           extrapolation_lines, group_answer, infinite_as_null, interval_line,
                                           met_at_any_budget, reach_lines, reach_records, units_record)
from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, flops_to_pf_days, pct
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import format_interval, summary_record as rec

#: More budgets than a table can show: frontier --points is bounded (memory grows with points x draws).
MAX_POINTS = 1000
_points = int_at_least(2, " (the two ends of the range and at most one row per budget)", high=MAX_POINTS)


def quiet_cost_range(query, *args, **kwargs):
    """``query(*args, **kwargs)`` without the fitted cost law's extrapolation warning: for a command's internal
    evaluation (allocate's exponents between C/10 and 10C, a frontier's exponents at its two ends), whose asked
    budgets are evaluated, and warned about, on their own."""
    import warnings

    from bayes_scaling.cost import CostExtrapolationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostExtrapolationWarning)
        return query(*args, **kwargs)


def query_cost(args, result):
    """The cost law of a query: ``--cost`` (fitted: to the fit's runs), else the fit's stored law,
    else C = k N D with k = ``--flops-per-token``."""
    from bayes_scaling.queries.draws import resolve_cost

    return resolve_cost(result, cost_from_args(args, getattr(result, "runs", None)), args.flops_per_token)


def cmd_allocate(args) -> int:
    from bayes_scaling.commands.ensemble import member_lines, member_records
    from bayes_scaling.queries.allocate import compute_optimal, decide, frontier_exponents
    from bayes_scaling.result import load_fit

    result = load_fit(args.fit)
    c = budget_flops(args)
    cost = query_cost(args, result)
    alts = {f"N = {n:.3g}": n for n in (args.alt_params or [])}
    given = covariate_values(args)
    at = covariates_record(result, given)  # the covariate values answered at: given, else the runs' mean
    d = decide(result, c, utility=args.utility, max_params=args.max_params, max_tokens=args.max_tokens,
               alternatives=alts, alt_tokens_per_param=args.alt_tokens_per_param, group=args.group, cost=cost,
               covariates=given)
    fe = quiet_cost_range(frontier_exponents, result, c / 10, c * 10, group=args.group, cost=cost)
    ci = args.ci
    out: dict[str, Any] = {
        "compute": {"flops": c, "pf_days": flops_to_pf_days(c), "flops_per_token": cost.k, "cost": cost.describe()},
        "decision": {"N": d.N, "D": d.D, "tokens_per_param": d.tokens_per_param, "utility": d.utility,
                     "objective_loss": d.objective, "constraints": d.constraints},
        **{k: rec(d.optimum[k], ci) for k in ("N_opt", "D_opt", "tokens_per_param", "loss_opt")},
        "loss": rec(d.outcome["loss"], ci),
        "loss_penalty": rec(d.outcome["loss_penalty"], ci),
        "wasted_compute": rec(d.outcome["wasted_compute"], ci),
        "a": rec(fe["a"], ci),
        "b": rec(fe["b"], ci),
        "alternatives": {},
        "units": units_record(result),
        **({"covariates": at} if at else {}),
    }
    for name, alt in d.alternatives.items():
        out["alternatives"][name] = {
            "N": alt.attrs["N"], "D": alt.attrs["D"], "tokens_per_param": alt.attrs["D"] / alt.attrs["N"],
            "loss": rec(alt["loss"], ci), "loss_penalty": rec(alt["loss_penalty"], ci),
            "wasted_compute": rec(alt["wasted_compute"], ci),
            "p_worse_than_decision": float((alt["loss"] > d.outcome["loss"]).mean()),
        }
    query = {"N": np.array([d.N]), "D": np.array([d.D]), "C": np.array([c])}
    from bayes_scaling.queries.extrapolation import extrapolation_report

    out["extrapolation"] = extrapolation_report(result, query, ci)
    out["diagnostics"] = diagnostics_record(result)
    by_form = member_records(result, lambda m: compute_optimal(m, c, cost=cost, group=args.group)[
        "N_opt"].isel(budget=0, drop=True), ci)
    if by_form:
        out["N_opt_by_law_form"] = by_form
    if (who := group_answer(result, args.group)) is not None:
        out.update(group=args.group, answer_for=who)

    def text():
        units = result.runs_metadata["params_kind"]
        if "answer_for" in out:
            yield f"for {out['answer_for']}"
        yield f"budget C = {c:.4g} FLOPs ({flops_to_pf_days(c):.4g} PF-days); training cost {cost.describe()}"
        if at:
            yield covariates_line(at)
        yield (f"decision ({d.utility}): train N = {d.N:.4g} {units} parameters on D = {d.D:.4g} tokens "
               f"({d.tokens_per_param:.3g} tokens/parameter)" + "".join(
                   f", {'N' if k == 'max_params' else 'D'} <= {v:.4g}" for k, v in d.constraints.items()))
        yield interval_line(f"loss at the decision ({result.loss_unit})", out["loss"])
        yield interval_line("wasted compute vs each draw's optimum", out["wasted_compute"], fmt=".2%")
        yield "compute-optimal allocation, per posterior draw:"
        yield interval_line("N* (parameters)", out["N_opt"])
        yield interval_line("D* (tokens)", out["D_opt"])
        yield interval_line("D*/N* (tokens/parameter)", out["tokens_per_param"], fmt=".3g")
        yield interval_line(f"L* ({result.loss_unit})", out["loss_opt"])
        yield from member_lines(out.get("N_opt_by_law_form", {}), "N*", "parameters")
        yield interval_line("a in N* ~ C^a (C/10 to 10C)", out["a"], fmt=".3f")
        yield interval_line("b in D* ~ C^b", out["b"], fmt=".3f")
        for name, alt in out["alternatives"].items():
            yield (f"alternative '{name}': N = {alt['N']:.4g}, D = {alt['D']:.4g}; P(worse than the decision) = "
                   f"{alt['p_worse_than_decision']:.2f}")
            yield interval_line(f"loss penalty ({result.loss_unit})", alt["loss_penalty"])
            yield interval_line("wasted compute", alt["wasted_compute"], fmt=".2%")
        yield from extrapolation_lines(out["extrapolation"])
        yield diagnostics_line(result)

    return emit(text, out, as_json=args.json)


def cmd_target(args) -> int:
    from bayes_scaling.commands.ensemble import member_lines, member_records
    from bayes_scaling.queries.allocate import compute_for_loss, decide, prob_reach
    from bayes_scaling.result import load_fit

    if args.compute is None:
        refuse_unused(args, {"--compute-unit": ("compute_unit", "flops")}, "to --compute (the answer gives both units)")
    result = load_fit(args.fit)
    cost = query_cost(args, result)
    ds = compute_for_loss(result, args.loss, cost=cost, group=args.group)
    ci = args.ci
    out: dict[str, Any] = {
        "target_loss": args.loss, "cost": cost.describe(),
        "p_unreachable": ds.attrs["p_unreachable"],
        **reach_records(ds["compute"], ci, {"N_opt": ds["N_opt"], "D_opt": ds["D_opt"]}),
        "compute": rec(ds["compute"], ci),
        "compute_pf_days": rec(ds["compute"].copy(data=flops_to_pf_days(ds["compute"].values)), ci),
        "N_opt": rec(ds["N_opt"], ci),
        "D_opt": rec(ds["D_opt"], ci),
        "units": units_record(result),
    }
    by_form = member_records(result, lambda m: compute_for_loss(m, args.loss, cost=cost, group=args.group)["compute"],
                             ci)
    if by_form:
        out["compute_by_law_form"] = by_form
    if args.compute is not None:
        out["budget_flops"] = budget_flops(args)
        d = decide(result, out["budget_flops"], cost=cost, group=args.group)
        out["p_reach"] = {"with_the_decisions_plan": d.p_reach(args.loss),
                          "if_the_optimal_N_were_known": prob_reach(result, args.loss, out["budget_flops"], cost=cost,
                                                                    group=args.group),
                          "decision": {"N": d.N, "D": d.D, "utility": d.utility}}
    where = {q: out[k]["median"] for q, k in (("N", "N_opt"), ("D", "D_opt"), ("C", "compute"))}
    if where["C"] == 0:  # the median draw needs no budget: no plan to guard
        out["extrapolation"], out["extrapolation_note"] = None, "extrapolation guard: none (the median draw meets the target at any budget)"
    elif all(np.isfinite(v) for v in where.values()):  # the guard at the median plan (none if unreachable)
        from bayes_scaling.queries.extrapolation import extrapolation_report

        out["extrapolation"] = extrapolation_report(result, {q: np.array([v]) for q, v in where.items()}, ci)
    else:  # said, not left out (P(unreachable) > 0.5): no guard must not read as a plan within the data
        out["extrapolation"], out["extrapolation_note"] = None, "extrapolation guard: none (the median plan is unreachable)"
    out["diagnostics"] = diagnostics_record(result)
    for key in ("compute", "compute_pf_days", "N_opt", "D_opt"):
        out[key] = infinite_as_null(out[key])
    if (who := group_answer(result, args.group)) is not None:
        out.update(group=args.group, answer_for=who)

    def text():
        if "answer_for" in out:
            yield f"for {out['answer_for']}"
        if out["p_met_at_any_budget"] == 1:
            yield f"a loss of {args.loss:g} {result.loss_unit}: {met_at_any_budget()} in every draw"
        else:
            yield (f"to reach a loss of {args.loss:g} {result.loss_unit} with the compute-optimal plan "
                   f"(P(unreachable at any budget) = {out['p_unreachable']:.3f}; compute, N* and D* are 0 in a draw "
                   f"that meets it at any budget):")
            for key, name in (("compute", "compute (FLOPs)"), ("compute_pf_days", "compute (PF-days)"),
                              ("N_opt", "N* (parameters)"), ("D_opt", "D* (tokens)")):
                yield interval_line(name, out[key], inf="unreachable")
            yield from reach_lines(out)
        yield from member_lines(out.get("compute_by_law_form", {}), "compute", "FLOPs")
        if "p_reach" in out:
            r = out["p_reach"]
            yield (f"P(reach {args.loss:g} within {out['budget_flops']:.4g} FLOPs) = {r['with_the_decisions_plan']:.3f} "
                   f"with the decision's plan (N = {r['decision']['N']:.4g}, D = {r['decision']['D']:.4g}), "
                   f"{r['if_the_optimal_N_were_known']:.3f} if the optimal N were known")
        yield from (extrapolation_lines(out["extrapolation"]) if out["extrapolation"] else [out["extrapolation_note"]])
        yield diagnostics_line(result)

    return emit(text, out, as_json=args.json)


def cmd_frontier(args) -> int:
    from bayes_scaling.commands.ensemble import member_lines, member_records
    from bayes_scaling.queries.allocate import compute_optimal, frontier_exponents
    from bayes_scaling.result import load_fit

    result = load_fit(args.fit)
    lo, hi = to_flops(args.compute_min, args.compute_unit), to_flops(args.compute_max, args.compute_unit)
    if not hi > lo:
        raise BayesScalingError(f"--compute-max must exceed --compute-min, got {args.compute_min:g} and {args.compute_max:g}")
    if result.law.name == "kaplan_ns":
        for given, option in ((args.flops_per_token != FLOPS_PER_PARAM_TOKEN, "--flops-per-token"),
                              (args.cost is not None, "--cost")):
            if given:
                raise BayesScalingError(f"{option} does not apply to a kaplan_ns fit, whose frontier counts "
                                        f"C = 6 N B S (Kaplan et al. 2020, Appendix B): drop the option")
        refuse_unused(args, {"--group": ("group", None)}, "to a law of N and D (a kaplan_ns frontier is the population's)")
        return _kaplan_frontier(args, result, lo, hi)
    refuse_unused(args, {"--converged-within": ("converged_within", 0.02)}, "to a kaplan_ns fit")
    cost = query_cost(args, result)
    fe = quiet_cost_range(frontier_exponents, result, lo, hi, cost=cost, group=args.group)  # the budgets warn once
    budgets = np.geomspace(lo, hi, args.points)
    opt = compute_optimal(result, budgets, cost=cost, group=args.group)
    ci = args.ci
    rows = []
    for i, c in enumerate(budgets):
        sel = opt.isel(budget=i)
        rows.append({"compute_flops": float(c), **{k: rec(sel[k], ci) for k in ("N_opt", "D_opt", "tokens_per_param",
                                                                                   "loss_opt")}})
    out = {"a": rec(fe["a"], ci), "b": rec(fe["b"], ci), "loss_slope": rec(fe["loss_slope"], ci),
           "budgets": rows, "cost": cost.describe(), "units": units_record(result),
           **frontier_guard(result, {"N": [r["N_opt"]["median"] for r in rows],
                                     "D": [r["D_opt"]["median"] for r in rows], "C": budgets}, ci),
           "diagnostics": diagnostics_record(result)}
    by_form = member_records(result, lambda m: compute_optimal(m, [hi], cost=cost, group=args.group)["N_opt"].isel(
        budget=0, drop=True), ci)
    if by_form:
        out["N_opt_at_compute_max_by_law_form"] = by_form
    if (who := group_answer(result, args.group)) is not None:
        out.update(group=args.group, answer_for=who)

    def text():
        if "answer_for" in out:
            yield f"for {out['answer_for']}"
        yield f"compute-optimal frontier from {lo:.3g} to {hi:.3g} FLOPs (training cost {cost.describe()}):"
        yield interval_line("a in N* ~ C^a", out["a"], fmt=".3f")
        yield interval_line("b in D* ~ C^b", out["b"], fmt=".3f")
        yield interval_line("d log L* / d log C", out["loss_slope"], fmt=".4f")
        pct_text = pct(ci)
        yield (f"  {'C (FLOPs)':>10}  {'N* median [' + pct_text + ']':>30}  {'D*/N* median [' + pct_text + ']':>26}  "
               f"{'L* median [' + pct_text + ']':>26}")
        for r in rows:
            n, t, l_ = r["N_opt"], r["tokens_per_param"], r["loss_opt"]
            n_text = f"{n['median']:>9.3g} {format_interval(n, '.3g', median=False)}"
            yield (f"  {r['compute_flops']:>10.3g}  {n_text}".ljust(44)
                   + f"  {t['median']:>7.3g} {format_interval(t, '.3g', median=False)}".ljust(28)
                   + f"  {format_interval(l_, '.4f')}")
        yield from member_lines(out.get("N_opt_at_compute_max_by_law_form", {}), f"N* at {hi:.3g} FLOPs", "parameters")
        yield from (extrapolation_lines(out["extrapolation"]) if out["extrapolation"] else [out["extrapolation_note"]])
        yield diagnostics_line(result)

    return emit(text, out, as_json=args.json)


def frontier_guard(result, plans: dict, ci_prob: float) -> dict:
    """The extrapolation guard of a frontier, as ``allocate`` and ``target`` have it: ``plans`` maps inputs (N
    parameters, D tokens, C FLOPs; S steps) to the median plan at each budget, so the guard reports the furthest
    budget's plan beyond the runs and the nearest's below them. Plans with no finite median are left out; with none
    left, ``extrapolation`` is None and ``extrapolation_note`` says why."""
    from bayes_scaling.queries.extrapolation import extrapolation_report

    arrays = {k: np.asarray(v, float) for k, v in plans.items()}
    ok = np.logical_and.reduce([np.isfinite(v) & (v > 0) for v in arrays.values()])
    if not ok.any():
        return {"extrapolation": None, "extrapolation_note": "extrapolation guard: none (no budget's median plan is finite)"}
    return {"extrapolation": extrapolation_report(result, {k: v[ok] for k, v in arrays.items()}, ci_prob)}


def _kaplan_frontier(args, result, lo: float, hi: float) -> int:
    """Kaplan's compute-efficient frontier of an L(N, S_min) fit, and efficient vs converged training."""
    from bayes_scaling.queries.kaplan_frontier import efficient_frontier, efficient_vs_converged

    budgets = flops_to_pf_days(np.geomspace(lo, hi, args.points))
    ef = efficient_frontier(result, budgets)
    ci = args.ci
    out: dict[str, Any] = {k: rec(ef[k], ci) for k in ("p_N", "p_B", "p_S", "alpha_C", "C_c")}
    rows = []
    for i, c in enumerate(budgets):
        cmp = efficient_vs_converged(result, float(c), f=args.converged_within)
        sel = ef.isel(budget=i)
        rows.append({"compute_pf_days": float(c), **{k: rec(sel[k], ci) for k in ("N_opt", "S_min", "B", "loss")},
                     "converged_N": rec(cmp["converged"]["N"], ci), "converged_loss": rec(cmp["converged"]["loss"], ci),
                     "loss_gap": rec(cmp["loss_gap"], ci), "p_efficient_better": cmp["p_efficient_better"]})
    out["budgets"] = rows
    out["converged_within"] = args.converged_within
    out["units"] = units_record(result)
    out.update(frontier_guard(result, {"N": [r["N_opt"]["median"] for r in rows],
                                       "S": [r["S_min"]["median"] for r in rows]}, ci))
    out["diagnostics"] = diagnostics_record(result)
    if (who := group_answer(result, None, flag=False)) is not None:
        out.update(group=None, answer_for=who)

    def text():
        if "answer_for" in out:
            yield f"for {out['answer_for']}"
        yield (f"Kaplan compute-efficient frontier (Appendix B; C = 6 N B S with B_crit), {budgets[0]:.3g} to "
               f"{budgets[-1]:.3g} PF-days:")
        yield interval_line("N ~ C^p_N", out["p_N"], fmt=".3f")
        yield interval_line("B ~ C^p_B", out["p_B"], fmt=".3f")
        yield interval_line("S ~ C^p_S", out["p_S"], fmt=".3f")
        yield interval_line("L ~ C^-alpha_C", out["alpha_C"], fmt=".4f")
        yield f"efficient (large, stopped early) vs trained to within {args.converged_within:.0%} of convergence:"
        for r in rows:
            n, g = r["N_opt"], r["loss_gap"]
            yield (f"  C = {r['compute_pf_days']:.3g} PF-days: N* {format_interval(n, '.3g')} "
                   f"vs converged N {r['converged_N']['median']:.3g}; loss gap {format_interval(g, '.4f')} "
                   f"{result.loss_unit}; P(efficient better) = {r['p_efficient_better']:.3f}")
        yield from (extrapolation_lines(out["extrapolation"]) if out["extrapolation"] else [out["extrapolation_note"]])
        yield diagnostics_line(result)

    return emit(text, out, as_json=args.json)


def add_parsers(sub) -> None:
    """Register ``allocate``, ``target``, ``frontier`` and ``breakdown``."""

    def common(p):
        p.add_argument("fit", help="fit file (.nc) of a law in N and D (chinchilla, kaplan_nd; frontier: also kaplan_ns)")
        add_compute_unit_arg(p, "unit of compute values")
        p.add_argument("--flops-per-token", type=positive_float, default=FLOPS_PER_PARAM_TOKEN,
                       help="training FLOPs per parameter per token (default 6: C = 6ND; kaplan_ns frontiers use 6NBS)")
        add_cost_args(p, stored=False)
        add_ci_arg(p)
        add_json_arg(p)
        p.add_argument("--group", default=None, help="hierarchical fits: a group label, or 'new' for an unseen group")

    p = sub.add_parser("allocate", help="compute-optimal N and D at a budget, the decision, and alternatives")
    common(p)
    p.add_argument("--compute", type=positive_float, required=True, help="training budget C")
    p.add_argument("--utility", default="mean", help="'mean' (expected loss) or 'quantile:Q' (risk-averse)")
    p.add_argument("--alt-tokens-per-param", type=positive_float, default=None,
                   help="compare with the plan using this many tokens per parameter (e.g. 20)")
    p.add_argument("--alt-params", type=positive_float, action="append", help="compare with your own N; repeatable")
    p.add_argument("--max-params", type=positive_float, default=None, help="largest feasible N")
    p.add_argument("--max-tokens", type=positive_float, default=None, help="tokens available")
    add_covariate_value_arg(p)
    p.set_defaults(func=cmd_allocate)

    p = sub.add_parser("target", help="compute needed to reach a target loss")
    common(p)
    p.add_argument("--loss", type=positive_float, required=True, help="target loss, in the fit's loss unit (nats/token unless fitted with --loss-unit)")
    p.add_argument("--compute", type=positive_float, default=None, help="budget: also print P(reach the target)")
    p.set_defaults(func=cmd_target)

    p = sub.add_parser("frontier", help="the compute-optimal frontier between two budgets, with exponents")
    common(p)
    p.add_argument("--compute-min", type=positive_float, required=True, help="smallest budget")
    p.add_argument("--compute-max", type=positive_float, required=True, help="largest budget")
    p.add_argument("--points", type=_points, default=6,
                   help=f"budgets to tabulate, 2 to {MAX_POINTS} (default %(default)s)")
    p.add_argument("--converged-within", type=positive_float, default=0.02,
                   help="kaplan_ns fits: the converged plan stops within this fraction of its converged loss")
    p.set_defaults(func=cmd_frontier)
    from bayes_scaling.commands.breakdown import add_breakdown_parser

    add_breakdown_parser(sub)
