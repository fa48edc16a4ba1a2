"""``ensemble``: fit several law forms to one runs file and weight them by leave-future-out stacking
(or PSIS-LOO, or equally); and the ensemble views the other commands print beside the mixture's
answer (each member's answer, its weight, and how much of the interval the law form contributes)."""

from __future__ import annotations

from typing import Any

from bayes_scaling.commands.args import (add_calibrate_arg, add_ci_arg, add_json_arg, add_residual_process_arg,
                                         add_runs_args, add_sampler_args, fit_out, runs_from_args)
from bayes_scaling.commands.output import (data_notes, diagnostics_line, diagnostics_record, discrepancy_line, discrepancy_record,
                                           emit, interval_line)
from bayes_scaling.conventions import is_ensemble
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import summary_record as rec


def member_records(result, query, ci_prob: float, log: bool = True) -> dict[str, Any]:
    """``{"members": {name: {weight, law, value}}, "law_form_share": ...}`` for ``query(fit) -> draws``
    of one scalar per draw (the share of the variance of its log; of the value itself, ``log=False``, for
    a quantity of either sign); empty for a single fit."""
    if not is_ensemble(result):
        return {}
    from bayes_scaling.result.ensemble import law_form_share

    per = result.member_answers(query)
    return {"members": {k: {"law": result.members[k].law.name, "weight": result.weights[k], **rec(v, ci_prob)}
                        for k, v in per.items()},
            "law_form_share": float(law_form_share(per, result.weights, log)), "law_form_share_of": "log" if log
            else "value"}


def member_lines(block: dict, label: str, unit: str = "") -> list[str]:
    """Text lines for :func:`member_records`' output (``unit``: of the value, e.g. "nats/token")."""
    if not block:
        return []
    lines = [f"{label} by law form (the answer above mixes them by weight):"]
    for k, r in block["members"].items():
        lines.append(interval_line(f"{k} (weight {r['weight']:.2f})", r, f" {unit}" if unit else ""))
    share = block["law_form_share"]
    of = f"log({label})" if block.get("law_form_share_of", "log") == "log" else label
    lines.append(f"  share of the variance of {of} from the law form: "
                 + (f"{share:.0%}" if share == share else "undefined (some draws have no finite value)"))
    return lines


def ensemble_lines(result, ci_prob: float) -> list[str]:
    """The text view of an ensemble: members, weights, how the weights were found, diagnostics."""
    info = result.info
    rule = (info.get("weights_fallback") or {}).get("rule")
    how = "equal (leave-future-out fallback: no cut)" if rule == "equal" else f"by {info.get('method', '?')}"
    used = info.get("score", "log")
    lines = [f"ensemble of {len(result.members)} law forms on {len(result.runs)} runs; weights {how}"
             + (f" ({used} score)" if used not in ("log", "none") else "")
             + (f"; --score {info['score_requested']} not used: {info['score_note']}"
                if info.get("score_requested", used) not in (used, "log") else "")]
    for k, m in result.members.items():
        lines.append(f"  {k}: weight {result.weights[k]:.3f}  {m.law.formula}  ({m.diagnostics.r_hat_max:.3f} R-hat "
                     f"max, {m.diagnostics.divergences} divergences)")
    if info.get("weights_fallback"):
        lines.append(f"  fallback ({info['weights_fallback']['rule']}): {info['weights_fallback']['why']}")
    for cut, ws in info.get("weights_per_cut", {}).items():
        lines.append(f"  weights fitted below {cut} decade(s) under the largest run: "
                     + ", ".join(f"{k} {w:.2f}" for k, w in ws.items()))
    first = next(iter(result.members.values()))
    disc = discrepancy_line(first, ci_prob)  # one, shared by the members
    if disc:
        process = first.discrepancy.process_line()
        calibrated = disc if process is None else disc.removesuffix(process).rstrip("\n")
        if calibrated:
            lines.append(f"{calibrated} ({info.get('discrepancy', 'calibrated on the mixture')})")
        if process:
            lines.append(f"{process} (the mixture median's residuals; one process shared by the members)")
        dinfo = first.discrepancy.info
        if dinfo.get("weights_source"):
            dropped = "".join(f"; cut {c} left out: {why}" for c, why in dinfo.get("dropped_cuts", {}).items())
            lines.append(f"  calibration mixture weights: {dinfo['weights_source']}{dropped}")
    notes, said = data_notes(result)  # a checkpoints note said in full here is not said again under diagnostics
    lines += [*notes, diagnostics_line(result, with_checkpoints=not said)]
    return lines


def ensemble_json(result, ci_prob: float) -> dict[str, Any]:
    return {"ensemble": {k: {"law": m.law.name, "formula": m.law.formula, "weight": result.weights[k],
                             "diagnostics": diagnostics_record(m, member=True)} for k, m in result.members.items()},
            "weighting": result.info, "runs": result.runs_metadata, "diagnostics": diagnostics_record(result),
            "extrapolation_discrepancy": discrepancy_record(next(iter(result.members.values())), ci_prob)}


def cmd_ensemble(args) -> int:
    from bayes_scaling.inference.ensemble import fit_ensemble
    from bayes_scaling.inference.fit import resolve_spec

    laws = [s.strip() for s in (args.laws or "").split(",") if s.strip()]
    specs = list(args.spec or [])
    if len(laws) + len(specs) < 2:
        raise BayesScalingError("an ensemble needs at least two law forms: --laws a,b[,c] and/or --spec FILE ...")
    out = fit_out(args.out)
    runs = runs_from_args(args, laws=[resolve_spec(w, None).law for w in laws] + [resolve_spec(None, s).law for s in specs])
    if args.residual_process:  # refused before the sampling where the runs alone decide
        from bayes_scaling.inference.residual_process import check_process_runs

        resolved = [resolve_spec(law=x) for x in laws] + [resolve_spec(spec=x) for x in specs]
        check_process_runs(runs, [s.law for s in resolved], grouped=bool(args.group_col),
                           families=[s.likelihood.dist for s in resolved])
    ens = fit_ensemble(runs, laws=laws, specs=specs, method=args.weights, score=args.score, draws=args.draws,
                       tune=args.tune, chains=args.chains, seed=0 if args.seed is None else args.seed,
                       calibrate_extrapolation=args.calibrate_extrapolation,
                       group_col=args.group_col[0] if args.group_col else None,
                       vary=[v.strip() for v in args.vary.split(",") if v.strip()] if args.vary else None)
    if args.residual_process:  # one process, fitted to the mixture median's residuals, shared by the members
        from bayes_scaling.inference.residual_process import with_residual_process

        ens = with_residual_process(ens)
    ens.save(out)
    return emit(lambda: [*ensemble_lines(ens, args.ci), f"saved {out}"],
                lambda: {**ensemble_json(ens, args.ci), "out": str(out)}, as_json=args.json)


def add_parser(sub) -> None:
    """Register ``ensemble``."""
    p = sub.add_parser("ensemble", help="fit several law forms and weight them by leave-future-out stacking")
    p.add_argument("runs", help="runs file (.csv or .parquet), one row per training run")
    p.add_argument("--laws", default="", help="comma-separated law names, e.g. chinchilla,chinchilla_tied,kaplan_nd")
    p.add_argument("--spec", action="append", default=None, help="a spec file or shipped spec name (repeatable)")
    p.add_argument("--weights", choices=("lfo", "loo", "equal"), default="lfo",
                   help="leave-future-out stacking (default), PSIS-LOO stacking, or equal weights")
    p.add_argument("--score", choices=("log", "crps"), default="log",
                   help="the leave-future-out stacking score: log predictive density (default) or CRPS")
    p.add_argument("--out", required=True, help="output ensemble file (.nc)")
    add_runs_args(p)
    add_sampler_args(p)
    add_calibrate_arg(p)
    add_residual_process_arg(p)
    add_ci_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_ensemble)
