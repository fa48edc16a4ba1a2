"""``breakdown``: where scaling may break down, for whatever the fit's law supports (Kaplan's
contradiction point, a break test, the data requirement)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_scaling.commands.args import (add_ci_arg, add_compute_unit_arg, add_json_arg, positive_float, refuse_unused,
                                         seed_value, to_flops)
from bayes_scaling.commands.output import diagnostics_line, diagnostics_record, emit, group_answer, interval_line
from bayes_scaling.conventions import flops_to_pf_days, pct, is_ensemble
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import summary_record as rec


def cmd_breakdown(args) -> int:
    """Where scaling may break down, for whatever the fit's law supports."""
    from bayes_scaling.queries import breakdown as bd
    from bayes_scaling.queries.extrapolation import largest_runs_check
    from bayes_scaling.result import FitResult, load_fit

    result = load_fit(args.fit)
    if is_ensemble(result):
        return _ensemble_breakdown(args, result)
    law = result.law
    ci = args.ci
    out: dict[str, Any] = {"law": law.name, **_population(result)}
    lines = [*_for_line(out), f"breakdown checks for a {law.name} fit ({law.formula})"]
    budget = None if args.budget is None else to_flops(args.budget, args.compute_unit)
    nd = law.name != "kaplan_c" and set(law.input_names) == {"N", "D"}
    single_axis = law.name.startswith(("power_", "bnsl"))
    for applies, options, why in (
            (law.name == "kaplan_c", _BREAKDOWN_KAPLAN, "to a kaplan_c fit (Kaplan's contradiction point)"),
            (nd and law.has("overfitting_penalty"), {"--delta": ("delta", 0.02)},
             "to a law whose D term is an overfitting penalty, as Kaplan's L(N, D) (the data requirement)"),
            (law.name == "kaplan_c" or nd, {"--budget": ("budget", None)}, "to a kaplan_c fit or a law of N and D"),
            (single_axis, {"--breaks": ("breaks", 1), "--seed": ("seed", 0)}, "to a power_* or bnsl* fit (breaks)")):
        if not applies:  # an option that would be silently ignored
            refuse_unused(args, options, why)

    if law.name == "kaplan_c":
        if not args.kaplan_d:
            raise BayesScalingError("Kaplan's contradiction point needs an L(D) fit too: add --kaplan-d FIT_D.nc "
                                    "(a fit of the kaplan_d law)")
        if args.kaplan_ns:
            n_e, p_n = bd.path_from_frontier(FitResult.load(args.kaplan_ns))
            path = f"the kaplan_ns fit's frontier, N = {np.median(n_e):.3g} C^{np.median(p_n):.3f} (medians)"
        else:
            n_e, p_n = args.path_ne, args.path_p
            path = f"N = {n_e:.3g} C^{p_n}"
        point = bd.contradiction_point(result, FitResult.load(args.kaplan_d), n_e=n_e, p_n=p_n)
        cp = {k: rec(point[k], ci) for k in ("C_star", "N_star", "D_star", "L_star")}
        factor = point.attrs["compute_factor"]
        cp["C_star_training"] = rec(point["C_star"] * factor, ci)
        cp["compute_units"] = {"C_star": "PF-days of C_min (Kaplan et al. 2020 sec. 6)",
                               "C_star_training": f"PF-days of training compute = {factor:g} x C_min on the path",
                               "budget": "PF-days of training compute", "compute_factor": factor}
        cp["p_never_meet"] = point.attrs["p_never_meet"]
        cp["path"] = {"n_e_median": point.attrs["n_e_median"], "p_n_median": point.attrs["p_n_median"],
                      "from": "kaplan_ns fit" if args.kaplan_ns else "given"}
        if budget is not None:
            cp["p_before_budget"] = bd.prob_before(point, flops_to_pf_days(budget))
        out["contradiction_point"] = cp
        lines.append(f"Kaplan's contradiction point (L(C_min) meets L(D) on the path {path}):")
        lines += [interval_line("C* (PF-days of C_min)", cp["C_star"]),
                  interval_line(f"C* as training compute ({factor:g} x C_min, PF-days)", cp["C_star_training"]),
                  interval_line("N* (parameters)", cp["N_star"]),
                  interval_line("D* (tokens)", cp["D_star"]), interval_line(f"L* ({result.loss_unit})", cp["L_star"])]
        if "p_before_budget" in cp:
            b = flops_to_pf_days(budget)
            lines.append(f"  P(C* < budget): budget {b:.4g} PF-days of training compute = {b / factor:.4g} PF-days of "
                         f"C_min; P = {cp['p_before_budget']:.3f}")
    elif set(law.input_names) == {"N", "D"}:
        from bayes_scaling.queries.data_requirement import data_requirement, overfitting_refusal

        n_obs = result.runs.frame["N"]
        if (skip := overfitting_refusal(law)) is not None:
            out["data_requirement"] = {"skipped": skip}
            lines.append(f"data requirement not given: {skip}")
        else:
            req = data_requirement(result, float(n_obs.min()), 10 * float(n_obs.max()), delta=args.delta)
            out["data_requirement"] = {"k": rec(req["k"], ci), "gamma": rec(req["gamma"], ci), "delta": args.delta,
                                       "n_range": [float(n_obs.min()), 10 * float(n_obs.max())]}
            g = out["data_requirement"]["gamma"]
            lines.append(f"data requirement: D >= k N^gamma keeps the overfitting penalty under {args.delta:.0%} "
                         f"(N from {n_obs.min():.3g} to {10 * n_obs.max():.3g})")
            lines += [interval_line("gamma", g, fmt=".3f"), interval_line("k", out["data_requirement"]["k"])]
        if budget is not None:
            from bayes_scaling.queries.extrapolation import extrapolation_report

            d = _decide(result, budget)
            rep = extrapolation_report(result, {"N": np.array([d.N]), "D": np.array([d.D]), "C": np.array([budget])}, ci)
            out["extrapolation_at_budget"] = rep
            lines.append(f"at the budget's decision (N = {d.N:.3g}, D = {d.D:.3g}): decades beyond the data "
                         + ", ".join(f"{k} {v:+.2f}" for k, v in rep["decades_beyond"].items()))
    else:
        other = None
        if law.name.startswith(("power_", "bnsl")):  # single-axis laws have a broken/unbroken counterpart
            try:
                from bayes_scaling.inference.counterpart import fit_counterpart
                other = fit_counterpart(result, n_breaks=args.breaks, seed=args.seed)
            except BayesScalingError as e:
                out["break_test"] = {"skipped": str(e)}
                lines.append(f"break test skipped: {e}")
        if other is not None:
            from bayes_scaling.queries.compare_laws import BREAK_SUPPORTED_P, break_test

            unbroken, broken = (result, other) if law.name.startswith("power") else (other, result)
            test = break_test(unbroken, broken, ci)
            test["diagnostics_counterpart"] = diagnostics_record(other, member=True)  # its runs: the fit's, said once
            out["break_test"] = test
            lines.append(f"break test on {test['axis']} (PSIS-LOO, {test['laws']['broken']} vs {test['laws']['unbroken']}): "
                         f"P(break) = {test['p_break']:.3f}, elpd difference {test['elpd_diff']:.1f} "
                         f"(se {test['se_diff']:.1f}), stacking weight of the broken law "
                         f"{test['stacking_weight_broken']:.2f}")
            if test["break_supported"]:
                for name, r in test["break_location"].items():
                    lines.append(interval_line(f"break location {name}", r))
            else:
                lines.append(f"  no break is supported (P(break) = {test['p_break']:.3f} < {BREAK_SUPPORTED_P:g}: the "
                             f"broken law does not predict left-out runs better), so no break location is given")
            k = test["pareto_k_max"]
            if max(k.values()) > 0.7:
                lines.append(f"  note: Pareto k up to {max(k.values()):.2f} (> 0.7): some runs are influential; "
                             f"treat the LOO difference as indicative")
            lines.append("  counterpart fit " + diagnostics_line(other, with_checkpoints=False))  # said once, below
    at_budget = out.get("extrapolation_at_budget")  # already ran the same check
    check = at_budget["largest_runs_check"] if at_budget else largest_runs_check(result, ci_prob=ci)
    out["largest_runs_check"] = check
    lines.append(f"largest {check['n_runs']} runs: {check['outside_interval']} outside their {pct(ci)} predictive "
                 f"interval" + (" - WARNING: the fit misses them" if check["poor_fit"] else ""))
    out["diagnostics"] = diagnostics_record(result)
    return emit([*lines, diagnostics_line(result)], out, as_json=args.json)


def _ensemble_breakdown(args, result) -> int:
    """Breakdown of an ensemble of laws of N and D: the data requirement of the mixture (where every member's D term
    is an overfitting penalty), each member's beside it, and the share of its interval from the law form; the
    decision's extrapolation at ``--budget``; the largest runs' check of the mixture."""
    from bayes_scaling.commands.ensemble import member_lines, member_records
    from bayes_scaling.queries.data_requirement import data_requirement, overfitting_refusal
    from bayes_scaling.queries.extrapolation import extrapolation_report, largest_runs_check

    other = {k: list(m.law.input_names) for k, m in result.members.items()
             if m.law.name == "kaplan_c" or set(m.law.input_names) != {"N", "D"}}
    if other:
        raise BayesScalingError(f"breakdown of an ensemble checks the data requirement, which needs every member to be "
                                f"a law of N and D; {', '.join(f'{k!r} has {v}' for k, v in other.items())}: run "
                                f"breakdown on one member's fit (`fit --law LAW`) for a contradiction point or break test")
    refuse_unused(args, _BREAKDOWN_KAPLAN, "to a kaplan_c fit (Kaplan's contradiction point)")
    refuse_unused(args, {"--breaks": ("breaks", 1), "--seed": ("seed", 0)}, "to a power_* or bnsl* fit (breaks)")
    ci, n_obs = args.ci, result.runs.frame["N"]
    lo, hi = float(n_obs.min()), 10 * float(n_obs.max())
    out: dict[str, Any] = {"law": "ensemble", "laws": {k: m.law.name for k, m in result.members.items()},
                           **_population(result)}
    lines = [*_for_line(out), f"breakdown checks for an ensemble of {len(result.members)} law forms ({', '.join(out['laws'])})"]
    skip = overfitting_refusal([m.law for m in result.members.values()])
    if skip is not None:  # every member's D term must be an overfitting penalty for the mixture's requirement
        refuse_unused(args, {"--delta": ("delta", 0.02)}, "to laws whose D term is an overfitting penalty, as "
                      "Kaplan's L(N, D) (the data requirement)")
        out["data_requirement"] = {"skipped": skip}
        lines.append(f"data requirement not given: {skip}")
    else:
        per = {k: data_requirement(m, lo, hi, delta=args.delta) for k, m in result.members.items()}
        name_of = {id(m): k for k, m in result.members.items()}
        req = {v: result.pooled({k: d[v] for k, d in per.items()}) for v in ("k", "gamma")}
        out.update(data_requirement={"k": rec(req["k"], ci), "gamma": rec(req["gamma"], ci), "delta": args.delta,
                                     "n_range": [lo, hi]},
                   gamma_by_law_form=member_records(result, lambda m: per[name_of[id(m)]]["gamma"], ci))
        lines += [f"data requirement: D >= k N^gamma keeps the overfitting penalty under {args.delta:.0%} "
                  f"(N from {lo:.3g} to {hi:.3g}; the mixture)",
                  interval_line("gamma", out["data_requirement"]["gamma"], fmt=".3f"),
                  interval_line("k", out["data_requirement"]["k"]), *member_lines(out["gamma_by_law_form"], "gamma")]
    if args.budget is not None:
        budget = to_flops(args.budget, args.compute_unit)
        d = _decide(result, budget)
        rep = extrapolation_report(result, {"N": np.array([d.N]), "D": np.array([d.D]), "C": np.array([budget])}, ci)
        out["extrapolation_at_budget"] = rep
        lines.append(f"at the budget's decision (N = {d.N:.3g}, D = {d.D:.3g}): decades beyond the data "
                     + ", ".join(f"{k} {v:+.2f}" for k, v in rep["decades_beyond"].items()))
    check = out["largest_runs_check"] = largest_runs_check(result, ci_prob=ci)
    lines.append(f"largest {check['n_runs']} runs: {check['outside_interval']} outside their {pct(ci)} predictive "
                 f"interval of the mixture" + (" - WARNING: the fit misses them" if check["poor_fit"] else ""))
    out["diagnostics"] = diagnostics_record(result)
    return emit([*lines, diagnostics_line(result)], out, as_json=args.json)


def _decide(result, budget: float):
    """The decision at ``--budget`` (FLOPs); a budget error names ``--budget``, this command's flag for it."""
    from bayes_scaling.queries.allocate import decide

    try:
        return decide(result, budget)
    except BayesScalingError as e:
        if e.quantity != "C":
            raise
        raise BayesScalingError(*e.problems, quantity="budget") from None


def _population(result) -> dict:
    """A grouped fit's breakdown is the population's (its varying parameters at their population values)."""
    who = group_answer(result, None, flag=False)
    return {} if who is None else {"group": None, "answer_for": who}


def _for_line(out: dict) -> list[str]:
    return [f"for {out['answer_for']}"] if "answer_for" in out else []


#: Options of Kaplan's contradiction point (flag -> (dest, default)): a kaplan_c fit's only.
_BREAKDOWN_KAPLAN = {"--kaplan-d": ("kaplan_d", None), "--kaplan-ns": ("kaplan_ns", None),
                     "--path-ne": ("path_ne", 1.3e9), "--path-p": ("path_p", 0.73)}


def add_breakdown_parser(sub) -> None:
    p = sub.add_parser("breakdown", help="where scaling may break down (contradiction point, breaks, data needs)")
    p.add_argument("fit", help="fit file (.nc)")
    p.add_argument("--budget", type=positive_float, default=None, help="your compute budget")
    add_compute_unit_arg(p, "unit of --budget")
    p.add_argument("--kaplan-d", default=None, help="kaplan_d fit, for the contradiction point of a kaplan_c fit")
    p.add_argument("--kaplan-ns", default=None, help="kaplan_ns fit whose compute-efficient frontier gives the path")
    p.add_argument("--path-ne", type=positive_float, default=_BREAKDOWN_KAPLAN["--path-ne"][1],
                   help="compute-efficient path N = NE C^P (C in PF-days; Kaplan Table 6: 1.3e9)")
    p.add_argument("--path-p", type=positive_float, default=_BREAKDOWN_KAPLAN["--path-p"][1],
                   help="exponent P of that path (Kaplan: 0.73)")
    p.add_argument("--delta", type=positive_float, default=0.02, help="overfitting penalty for the data requirement")
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the counterpart fit in break tests")
    p.add_argument("--breaks", type=int, choices=(1, 2), default=1, help="breaks of the law a power-law fit is tested against")
    add_ci_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_breakdown)
