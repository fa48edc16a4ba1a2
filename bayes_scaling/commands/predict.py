"""``predict``: the loss (in the fit's loss unit, nats/token by default) of the law and of a new run at given
N (parameters), D (tokens), C (FLOPs) or the fit's further inputs, with credible intervals and the extrapolation guard."""

from __future__ import annotations

from typing import Any

from bayes_scaling.commands.args import add_ci_arg, add_covariate_value_arg, add_json_arg, covariate_values, positive_float
from bayes_scaling.commands.output import (covariates_record, diagnostics_line, diagnostics_record, emit,
                                           extrapolation_lines, group_answer, interval_text, units_record)
from bayes_scaling.conventions import INPUT_QUANTITIES


def prediction_json(result, pred, ci_prob: float) -> dict[str, Any]:
    """The JSON record of one prediction: loss and predictive loss intervals, the query, units,
    the extrapolation guard and the fit's diagnostics."""
    from bayes_scaling.queries.extrapolation import extrapolation_report
    from bayes_scaling.posterior.intervals import summary_record

    out = {
        "loss": summary_record(pred["loss"].isel(query=0), ci_prob),
        "loss_predictive": summary_record(pred["loss_predictive"].isel(query=0), ci_prob),
        "query": {k: float(pred[k].values[0]) for k in INPUT_QUANTITIES if k in pred.coords},
        "units": units_record(result),
    }
    out["extrapolation"] = extrapolation_report(
        result, {k: pred[k].values for k in INPUT_QUANTITIES if k in pred.coords}, ci_prob)
    out["diagnostics"] = diagnostics_record(result)
    return out


def cmd_predict(args) -> int:
    from bayes_scaling.commands.ensemble import member_lines, member_records
    from bayes_scaling.result import load_fit

    result = load_fit(args.fit)
    extra = {k: v for k, v in (("U", args.unique_tokens), ("X", args.x), ("S", args.steps)) if v is not None}
    given = covariate_values(args)
    at = covariates_record(result, given)  # the covariate values answered at: given, else the runs' mean
    pred = result.predict(N=args.params, D=args.tokens, C=args.compute, group=args.group, covariates=given, **extra)
    out = prediction_json(result, pred, args.ci)
    if at:
        out["covariates"] = at
    out.update(member_records(result, lambda m: m.predict(N=args.params, D=args.tokens, C=args.compute, group=args.group,
                                                          **extra)["loss"].isel(query=0, drop=True), args.ci))
    if (who := group_answer(result, args.group)) is not None:
        out.update(group=args.group, answer_for=who)

    def text():
        q = ", ".join([f"{k} = {v:.4g}" for k, v in out["query"].items()]
                      + [f"{r['name']} = {r['value']:.4g} ({r['source']})" for r in at])
        if "answer_for" in out:
            yield f"for {out['answer_for']}"
        for key, label in (("loss", "law (mean curve)"), ("loss_predictive", "new run (with run-to-run noise)")):
            yield interval_text(f"predicted loss at {q}: {label}", out[key], f" {result.loss_unit}", ".4f")
        yield from member_lines({k: out[k] for k in ("members", "law_form_share") if k in out}, "loss", result.loss_unit)
        yield from extrapolation_lines(out["extrapolation"])
        yield diagnostics_line(result)

    return emit(text, out, as_json=args.json)


def add_parser(sub) -> None:
    """Register ``predict``."""
    p = sub.add_parser("predict", help="predicted loss with credible intervals")
    p.add_argument("fit", help="fit file (.nc)")
    p.add_argument("--params", type=positive_float, default=None, help="parameters N")
    p.add_argument("--tokens", type=positive_float, default=None, help="training tokens D")
    p.add_argument("--compute", type=positive_float, default=None, help="training compute C in FLOPs")
    p.add_argument("--unique-tokens", type=positive_float, default=None, help="unique tokens U (data-constrained laws)")
    p.add_argument("--x", type=positive_float, default=None, help="value on the scale axis X (single-axis laws)")
    p.add_argument("--steps", type=positive_float, default=None,
                   help="optimizer steps S_min (laws of N and S: kaplan_ns)")
    p.add_argument("--group", default=None, help="hierarchical fits: a group label, or 'new' for an unseen group")
    add_covariate_value_arg(p)
    add_ci_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_predict)
