"""Comparison commands: ``compare`` (groups), ``shape`` (shape vs scale), ``compare-laws`` (PSIS-LOO)."""

from __future__ import annotations

from typing import Any

from bayes_scaling.commands.args import add_ci_arg, add_compute_unit_arg, add_json_arg, budget_flops, positive_float
from bayes_scaling.commands.output import (checkpoints, diagnostics_line, diagnostics_record, emit, infinite_as_null,
                                           interval_line, units_record)
from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import summary_record as rec


def cmd_compare(args) -> int:
    """Paired comparison of groups in a hierarchical fit."""
    from bayes_scaling.queries.compare_groups import compare_groups
    from bayes_scaling.result import load_fit

    result = load_fit(args.fit)
    compute = None if args.compute is None else budget_flops(args)
    c = compare_groups(result, args.groups, compute=compute, N=args.params, D=args.tokens, rope=args.rope,
                       flops_per_token=args.flops_per_token)
    ci = args.ci
    a, b = c["a"], c["b"]
    out: dict[str, Any] = {
        "groups": c["groups"],
        "at": {"compute_flops": compute} if compute is not None else {"N": args.params, "D": args.tokens},
        "loss": {g: rec(v, ci) for g, v in c["loss"].items()},
        "loss_diff": rec(c["loss_diff"], ci),
        "rel_diff": rec(c["rel_diff"], ci),
        "p_a_better": c["p_a_better"],
        "rope": c["rope"],
        "p_rope": c["p_rope"],
        "param_diff": {k: rec(v, ci) for k, v in c["param_diff"].items()},
        "units": units_record(result),
    }
    if "compute_multiplier" in c:
        m = c["compute_multiplier"]
        out["compute_multiplier"] = {**infinite_as_null(rec(m, ci), f"null: +infinity ({b} cannot match {a}'s loss at "
                                                                    f"any budget in that share of draws, p_infinite)"),
                                     "p_met_at_any_budget": m.attrs["p_met_at_any_budget"]}
    if "p_best" in c:
        out["p_best"], out["expected_rank"] = c["p_best"], c["expected_rank"]
    from bayes_scaling.commands.ensemble import member_lines, member_records

    by_form = member_records(result, lambda m: compare_groups(
        m, args.groups, compute=compute, N=args.params, D=args.tokens, rope=args.rope,
        flops_per_token=args.flops_per_token)["loss_diff"], ci, log=False)
    if by_form:
        out["loss_diff_by_law_form"] = by_form
    out["diagnostics"] = diagnostics_record(result)

    def text():
        where = f"at C = {compute:.4g} FLOPs, each group at its own optimal allocation" if compute is not None else \
            f"at N = {args.params:.4g}, D = {args.tokens:.4g}"
        yield f"paired comparison {where} (same posterior draw for every group):"
        for g, r in out["loss"].items():
            yield interval_line(f"loss of {g} ({result.loss_unit})", r)
        yield interval_line(f"L({b}) - L({a}) ({result.loss_unit})", out["loss_diff"])
        yield from member_lines(out.get("loss_diff_by_law_form", {}), f"L({b}) - L({a})", result.loss_unit)
        yield (f"  P({a} better than {b}) = {out['p_a_better']:.3f}; P(|difference| < {args.rope:.0%} of the loss) = "
               f"{out['p_rope']:.3f}")
        if "compute_multiplier" in out:
            yield interval_line(f"compute {b} needs to match {a} (x C)", out["compute_multiplier"], fmt=".3g",
                                inf="never")
            if out["compute_multiplier"]["p_met_at_any_budget"] > 0:
                yield (f"  {b} matches {a}'s loss at any budget (x 0) in "
                       f"{out['compute_multiplier']['p_met_at_any_budget']:.1%} of draws")
        for k, r in out["param_diff"].items():
            yield interval_line(f"{k}({b}) - {k}({a})", r)
        if "p_best" in out:
            yield ("ranking: " + ", ".join(f"{g}: P(best) {p:.3f}, expected rank {out['expected_rank'][g]:.2f}"
                                           for g, p in sorted(out["p_best"].items(), key=lambda t: -t[1])))
        yield diagnostics_line(result)

    return emit(text, out, as_json=args.json)


def _add_compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="paired comparison of groups (architectures, datasets) in a hierarchical fit")
    p.add_argument("fit", help="hierarchical fit file (.nc) from `fit --group-col`")
    p.add_argument("--groups", nargs="+", default=None, help="groups to compare, A B [C ...] (default: all)")
    p.add_argument("--compute", type=positive_float, default=None, help="budget: each group at its own optimum")
    add_compute_unit_arg(p, "unit of --compute")
    p.add_argument("--params", type=positive_float, default=None, help="or compare at this N ...")
    p.add_argument("--tokens", type=positive_float, default=None, help="... and this D")
    p.add_argument("--rope", type=positive_float, default=0.01, help="region of practical equivalence (relative)")
    p.add_argument("--flops-per-token", type=positive_float, default=FLOPS_PER_PARAM_TOKEN, help="C = k N D")
    add_ci_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_compare)


def cmd_shape(args) -> int:
    """Shape vs scale: the effect of the aspect ratio at fixed N and D, with a ROPE statement."""
    from bayes_scaling.queries.shape import shape_effect
    from bayes_scaling.result import FitResult

    result = FitResult.load(args.fit)
    out = shape_effect(result, rope=args.rope, ci_prob=args.ci)
    out["diagnostics"] = diagnostics_record(result)

    def text():
        lo, hi = out["aspect_ratio_range"] or out["observed_range"]
        yield (f"shape effect at fixed N and D ({out['covariate']}; observed aspect ratios d_model/n_layer "
               f"{lo:.3g}-{hi:.3g}):")
        yield interval_line("gamma (log-loss per unit log aspect ratio)", out["gamma"])
        yield interval_line("loss change from the narrowest to the widest shape", out["loss_change_across_range"],
                            fmt=".2%")
        yield f"  P(|change| < {args.rope:.0%}) = {out['p_within_rope']:.3f}"
        yield interval_line("loss change per 40x aspect ratio (Kaplan Fig. 5: a few percent)",
                            out["loss_change_per_40x_aspect_ratio"], fmt=".2%")
        yield diagnostics_line(result)

    return emit(text, out, as_json=args.json)


def _add_shape_parser(sub) -> None:
    p = sub.add_parser("shape", help="shape vs scale: loss change across the observed aspect ratios at fixed N")
    p.add_argument("fit", help="fit file (.nc) made with --shape-cols WIDTH DEPTH")
    p.add_argument("--rope", type=positive_float, default=0.01, help="region of practical equivalence (relative)")
    add_ci_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_shape)


def cmd_compare_laws(args) -> int:
    """PSIS-LOO comparison of fits of different laws (or groupings) on the same runs."""
    from pathlib import Path

    from bayes_scaling.queries.compare_laws import compare_fits
    from bayes_scaling.result import FitResult

    fits = {}
    same = [p for i, p in enumerate(args.fits) if any(Path(p).resolve() == Path(q).resolve() for q in args.fits[:i])]
    if same:
        raise BayesScalingError(f"fit file {same[0]!r} is given twice: compare fits of different laws or groupings")
    for path in args.fits:
        res = FitResult.load(path)
        name = Path(path).stem
        fits[name if name not in fits else path] = res
    table = compare_fits(fits, method=args.method)
    rows = []
    for name, r in table.iterrows():
        res = fits[name]
        h = res.hierarchy
        rows.append({"fit": name, "law": res.law.name, "groups": h["group_col"] if h else None,
                     "vary": h["vary"] if h else [], "rank": int(r["rank"]), "elpd": float(r["elpd"]),
                     "se": float(r["se"]), "elpd_diff": float(r["elpd_diff"]), "dse": float(r["dse"]),
                     "p_loo": float(r["p"]), "weight": float(r["weight"]), "pareto_k_max": float(r["pareto_k_max"]),
                     "diagnostics": diagnostics_record(res)})

    def text():
        yield f"PSIS-LOO comparison on the same {len(next(iter(fits.values())).runs)} runs ({args.method} weights):"
        head = f"  {'fit':<22} {'law':<12} {'groups':<10} {'elpd':>9} {'se':>6} {'diff':>8} {'dse':>6} {'p_loo':>6} " \
               f"{'weight':>7} {'k_max':>6}  diagnostics"
        yield head
        for r in rows:
            ok = "ok" if r["diagnostics"]["ok"] else "FAILED"
            yield (f"  {r['fit'][:22]:<22} {r['law']:<12} {str(r['groups'] or '-'):<10} {r['elpd']:>9.1f} {r['se']:>6.1f} "
                   f"{r['elpd_diff']:>8.1f} {r['dse']:>6.1f} {r['p_loo']:>6.1f} {r['weight']:>7.3f} {r['pareto_k_max']:>6.2f}  "
                   f"r_hat {r['diagnostics']['r_hat_max']:.3f}, {ok}")
        if any(r["pareto_k_max"] > 0.7 for r in rows):
            yield ("  note: Pareto k > 0.7 for some runs: their LOO estimate is unreliable; treat differences as "
                   "indicative")
        if (ckpt := checkpoints(next(iter(fits.values())))) is not None:  # the same runs: said once
            yield f"WARNING: {ckpt['note']}"

    return emit(text, {"method": args.method, "fits": rows}, as_json=args.json)


def _add_compare_laws_parser(sub) -> None:
    p = sub.add_parser("compare-laws", help="PSIS-LOO table of fits of different laws on the same runs")
    p.add_argument("fits", nargs="+", help="two or more fit files (.nc) made from the same runs")
    p.add_argument("--method", choices=("stacking", "BB-pseudo-BMA", "pseudo-BMA"), default="stacking",
                   help="model weights (default stacking)")
    add_json_arg(p)
    p.set_defaults(func=cmd_compare_laws)


def add_parsers(sub) -> None:
    """Register ``compare``, ``shape`` and ``compare-laws``."""
    _add_compare_parser(sub)
    _add_shape_parser(sub)
    _add_compare_laws_parser(sub)
