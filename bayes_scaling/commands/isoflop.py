"""``isoflop-check``: a fit's compute-optimal N*(C) against law-free IsoFLOP parabola minima
(Hoffmann et al. 2022, Approach 2, with a bootstrap), each budget flagged where they disagree."""

from __future__ import annotations

from bayes_scaling.commands.args import add_ci_arg, add_json_arg, int_at_least, seed_value
from bayes_scaling.commands.output import emit, group_answer, query_lines, query_record
from bayes_scaling.conventions import MAX_MONTE_CARLO, pct
from bayes_scaling.errors import BayesScalingError


def cmd_isoflop_check(args) -> int:
    from bayes_scaling.queries.isoflop_check import approach2_check
    from bayes_scaling.result import load_fit

    result = load_fit(args.fit)
    if args.group is None and getattr(result, "hierarchy", None) is not None:  # one parabola would mix the groups' runs
        raise BayesScalingError(f"the fit is grouped (by {result.hierarchy.get('group_col')!r}): name whose runs to check "
                                f"with --group LABEL (one parabola over every group's runs mixes their optima)",
                                quantity="group")
    try:
        table = approach2_check(result, group=args.group, n_boot=args.bootstrap, seed=args.seed, ci_prob=args.ci)
    except BayesScalingError as e:
        if e.quantity != "C":
            raise
        # the fit's runs' compute, which no option of this command sets: named by no flag (not --compute)
        raise BayesScalingError(*e.problems) from None
    records = table.to_dict(orient="records")
    out = {"law": result.law.name, "ci_prob": args.ci, "cost_law": table.attrs["cost_law"], "budgets": records,
           "n_disagree": int((~table["agree"]).sum()), **query_record(result, args.ci)}  # the runs' budgets: no guard
    if (who := group_answer(result, args.group)) is not None:
        out.update(group=args.group, answer_for=who)

    def text():
        if "answer_for" in out:
            yield f"for {out['answer_for']}"
        pct_text = pct(args.ci)
        yield f"Approach 2 check of {result.law.name}: N* by budget, parabola (bootstrap {pct_text}) vs fit ({pct_text})"
        yield f"  along each budget's curve in {out['cost_law']}"
        for r in records:
            flag = "ok" if r["agree"] else "DISAGREE"
            grid = "" if r["inside_grid"] else " (parabola minimum outside the budget's sizes)"
            at = "" if abs(r["compute"] / r["budget"] - 1) < 1e-3 else f", the fit's N* at {r['compute']:.3g} FLOPs in that law"
            yield (f"  C = {r['budget']:.3g} FLOPs ({r['n_runs']} runs{at}): parabola {r['N_parabola']:.3g} "
                   f"[{r['N_parabola_low']:.3g}, {r['N_parabola_high']:.3g}], fit {r['N_fit']:.3g} "
                   f"[{r['N_fit_low']:.3g}, {r['N_fit_high']:.3g}]: {flag}{grid}")
        yield f"{out['n_disagree']} of {len(records)} budgets disagree"
        yield from query_lines(result, out)

    return emit(text, out, as_json=args.json)


def add_parser(sub) -> None:
    """Register ``isoflop-check``."""
    p = sub.add_parser("isoflop-check", help="compare a fit's N*(C) with law-free IsoFLOP minima (Approach 2)")
    p.add_argument("fit", help="fit file (.nc) of a law of N and D fitted on IsoFLOP runs")
    p.add_argument("--group", default=None, help="hierarchical fits: check one group's runs")
    p.add_argument("--bootstrap", type=int_at_least(50, high=MAX_MONTE_CARLO), default=1000,
                   help="bootstrap resamples per budget")
    p.add_argument("--seed", type=seed_value, default=0, help="bootstrap seed")
    add_ci_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_isoflop_check)
