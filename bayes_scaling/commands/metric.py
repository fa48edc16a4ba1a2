"""``predict-metric`` and ``target-metric``: a downstream metric (accuracy as a fraction) from two fits, a
loss law of (N, D) and a metric law of that loss (Bhagia et al. 2024 steps 1 and 2), with intervals
that carry both fits' uncertainty."""

from __future__ import annotations

import numpy as np

from bayes_scaling.commands.args import add_ci_arg, add_json_arg, positive_float, seed_value
from bayes_scaling.commands.output import (diagnostics_line, diagnostics_record, emit, extrapolation_lines,
                                           group_answer, infinite_as_null, interval_line, met_at_any_budget,
                                           reach_lines, reach_records)
from bayes_scaling.queries.metric_chain import loss_fit_name


def _fits(args):
    from bayes_scaling.result import load_fit

    return load_fit(args.loss_fit, "LOSS_FIT"), load_fit(args.metric_fit, "METRIC_FIT")


def group_record(loss_fit, metric_fit, group: str | None) -> dict:
    """Whose loss and metric a chained answer is for, as ``predict`` says it: ``group``, ``answer_for`` (the
    population, a group or an unseen group of the loss fit, where it has groups) and ``metric_answer_for`` (the
    same of the metric fit, where it has groups); {} where neither fit has groups."""
    from bayes_scaling.queries.metric_chain import chain_groups

    loss_group, metric_group = chain_groups(loss_fit, metric_fit, group)
    out = {k: v for k, v in (("answer_for", group_answer(loss_fit, loss_group)),
                             ("metric_answer_for", group_answer(metric_fit, metric_group))) if v is not None}
    return {"group": group, **out} if out else {}


def group_lines(out: dict) -> list[str]:
    """The text of :func:`group_record`."""
    return [f"  {w} for {out[k]}" for w, k in (("loss", "answer_for"), ("metric", "metric_answer_for")) if k in out]


def predictor_note(loss_fit, metric_fit) -> str | None:
    """The note on the metric fit's predictor L where its unit is unknown (not recorded: no ``--loss-unit`` at
    its fit, or a fit saved before it was recorded); None where it is recorded (a different unit than the loss
    fit's is refused by :func:`bayes_scaling.queries.metric_chain.check_predictor_unit`)."""
    if getattr(metric_fit, "predictor_unit", None) is not None:
        return None
    return (f"the metric fit does not record the unit of its predictor L: this assumes L was in the loss fit's "
            f"unit, {loss_fit.loss_unit}")


def chain_guard(loss_fit, metric_fit, query: dict, loss_median: float, ci_prob: float, group: str | None = None) -> dict:
    """What a chained answer adds so it is read like ``predict``'s: ``extrapolation`` (the loss fit's guard at
    ``query``, N parameters, D tokens, C FLOPs), ``metric_extrapolation`` (where ``loss_median``, the median
    predicted loss, lies against the L the metric law was fitted on, the runs of ``group`` where the metric fit has
    that group: outside that range the metric law's shape is not seen in data) and ``diagnostics`` of both fits."""
    from bayes_scaling.queries.extrapolation import extrapolation_report

    frame, h = metric_fit.runs.frame, metric_fit.hierarchy
    if h is not None and group not in (None, "new") and h["group_col"] in frame:
        frame = frame[frame[h["group_col"]].astype(str) == str(group)]
    lo, hi = (float(f(frame["L"])) for f in (np.min, np.max))
    below, above = float(np.log10(lo / loss_median)), float(np.log10(loss_median / hi))
    m = {"loss_median": loss_median, "L_fitted_min": lo, "L_fitted_max": hi, "decades_below_fitted_L": below,
         "decades_above_fitted_L": above, "outside": bool(below > 0 or above > 0),
         "L_fitted_runs": "all runs" if frame is metric_fit.runs.frame else f"group {group!r}'s runs"}
    return {"extrapolation": extrapolation_report(loss_fit, {k: np.array([v]) for k, v in query.items()}, ci_prob),
            "metric_extrapolation": m,
            "diagnostics": {"loss_fit": diagnostics_record(loss_fit), "metric_fit": diagnostics_record(metric_fit)}}


def chain_guard_lines(out: dict, loss_fit, metric_fit) -> list[str]:
    """The text of :func:`chain_guard`'s records: the loss fit's guard, the metric law's range of L (a WARNING
    outside it) and one diagnostics line per fit."""
    m = out["metric_extrapolation"]
    where = (f"metric law: median predicted loss {m['loss_median']:.4g} {loss_fit.loss_unit}, fitted on L in "
             f"[{m['L_fitted_min']:.4g}, {m['L_fitted_max']:.4g}]" + ("" if m.get("L_fitted_runs", "all runs") == "all runs"
                                                                  else f" ({m['L_fitted_runs']})"))
    lines = [*extrapolation_lines(out["extrapolation"]), where]
    if m["outside"]:
        side = "below the smallest" if m["decades_below_fitted_L"] > 0 else "above the largest"
        lines.append(f"WARNING: the predicted loss is {side} L the {metric_fit.law.name} fit saw: its metric there "
                     f"is the law's shape extrapolated, not seen in data")
    lines += [f"loss fit {diagnostics_line(loss_fit)}", f"metric fit {diagnostics_line(metric_fit)}"]
    return lines


def cmd_predict_metric(args) -> int:
    from bayes_scaling.posterior.intervals import summary_record
    from bayes_scaling.queries.metric_chain import predict_metric

    loss_fit, metric_fit = _fits(args)
    ds = predict_metric(loss_fit, metric_fit, N=args.params, D=args.tokens, C=args.compute, seed=args.seed,
                        group=args.group)
    out = {k: summary_record(ds[k].isel(query=0), args.ci) for k in ("loss", "metric", "metric_predictive")}
    out.update(group_record(loss_fit, metric_fit, args.group))
    out["query"] = {k: float(ds[k].values[0]) for k in ("N", "D", "C") if k in ds.coords}
    # the loss fit's recorded unit (--loss-unit; nats/token for fits saved before it was recorded)
    loss_unit = loss_fit.loss_unit
    out["units"] = {"loss": loss_unit, "metric": metric_fit.law.response_unit,
                    "metric_predictor_L": metric_fit.predictor_unit or "not recorded"}
    if note := predictor_note(loss_fit, metric_fit):
        out["note"] = note
    out.update(chain_guard(loss_fit, metric_fit, out["query"], out["loss"]["median"], args.ci, group=args.group))

    def text():
        q = ", ".join(f"{k} = {v:.4g}" for k, v in out["query"].items())
        yield f"metric at {q} ({loss_fit_name(loss_fit)} -> {metric_fit.law.name}):"
        yield from group_lines(out)
        yield interval_line(f"loss of a new run ({loss_unit})", out["loss"])
        yield interval_line("metric law at that loss", out["metric"])
        yield interval_line("metric of a new run (with evaluation noise)", out["metric_predictive"])
        if "note" in out:
            yield f"  note: {out['note']}"
        yield from chain_guard_lines(out, loss_fit, metric_fit)

    return emit(text, out, as_json=args.json)


def cmd_target_metric(args) -> int:
    from bayes_scaling.posterior.intervals import summary_record
    from bayes_scaling.queries.metric_chain import compute_for_metric

    loss_fit, metric_fit = _fits(args)
    res = compute_for_metric(loss_fit, metric_fit, args.target, seed=args.seed or 0, group=args.group)
    c = res["compute"]
    # The record of `target`: draws that never reach the target are +inf (an unreached draw counts as larger
    # than any budget in the quantiles); an end among them is written as null, with null_means saying so.
    out = {"target": args.target, "compute": infinite_as_null(summary_record(c, args.ci)),
           "p_unreachable": res.attrs["p_unreachable"], **reach_records(c, args.ci),
           **group_record(loss_fit, metric_fit, args.group)}
    if note := predictor_note(loss_fit, metric_fit):
        out["note"] = note
    if args.budget is not None:
        out["budget"] = args.budget
        out["p_reach_within_budget"] = float((c <= args.budget).mean())
    median = out["compute"]["median"]
    out.update(_plan_guard(loss_fit, metric_fit, median if np.isfinite(median) and median > 0 else None, args.ci,
                           why="the median draw meets the target at any budget" if median == 0 else None,
                           group=args.group if "answer_for" in out else None,
                           metric_group=args.group if "metric_answer_for" in out else None))

    def text():
        yield from (line.strip() for line in group_lines(out))
        if out["p_met_at_any_budget"] == 1:
            yield f"{args.target:.3g} ({metric_fit.law.name} of {loss_fit_name(loss_fit)}): {met_at_any_budget(metric=True)}"
        else:
            yield (f"compute for the optimal plan to reach {args.target:.3g} ({metric_fit.law.name} of "
                   f"{loss_fit_name(loss_fit)}; P(unreachable at any budget) = {out['p_unreachable']:.3f}):")
            yield interval_line("compute (FLOPs)", out["compute"], inf="unreachable")
        yield from reach_lines(out, metric=True) if out["p_met_at_any_budget"] < 1 else ()
        if args.budget is not None:
            yield f"  P(reaching it within {args.budget:.3g} FLOPs) = {out['p_reach_within_budget']:.3f}"
        if "note" in out:
            yield f"  note: {out['note']}"
        if out["extrapolation"] is None:
            yield out["extrapolation_note"]
            yield from (f"{w} fit {diagnostics_line(f)}" for w, f in (("loss", loss_fit), ("metric", metric_fit)))
        else:
            yield from chain_guard_lines(out, loss_fit, metric_fit)

    return emit(text, out, as_json=args.json)


def _plan_guard(loss_fit, metric_fit, compute_median: float | None, ci_prob: float, why: str | None = None,
                group: str | None = None, metric_group: str | None = None) -> dict:
    """:func:`chain_guard` at the loss fit's compute-optimal plan (of its ``group``) for the median compute (FLOPs),
    against the L of the metric fit's ``metric_group``;
    where the median draw never reaches the target there is no plan to guard, and the record says so."""
    from bayes_scaling.queries.allocate import compute_optimal

    if compute_median is None:
        return {"extrapolation": None, "metric_extrapolation": None,
                "extrapolation_note": f"extrapolation guard: none ({why or 'the median plan never reaches the target'})",
                "diagnostics": {"loss_fit": diagnostics_record(loss_fit), "metric_fit": diagnostics_record(metric_fit)}}
    opt = compute_optimal(loss_fit, [compute_median], group=group).isel(budget=0)
    plan = {"N": float(opt["N_opt"].median()), "D": float(opt["D_opt"].median()), "C": compute_median}
    return chain_guard(loss_fit, metric_fit, plan, float(opt["loss_opt"].median()), ci_prob, group=metric_group)


def _common(p) -> None:
    p.add_argument("loss_fit", help="fit of a loss law of (N, D) (.nc), e.g. chinchilla on a task's bits-per-byte")
    p.add_argument("metric_fit", help="fit of a metric law of that loss (.nc), e.g. sigmoid_metric")
    p.add_argument("--seed", type=seed_value, default=None, help="seed of the draw pairing and noise")
    p.add_argument("--group", default=None, help="hierarchical fits: a group label, or 'new' for an unseen group, "
                                                 "asked of each fit with groups (default: the population)")
    add_ci_arg(p)
    add_json_arg(p)


def add_parsers(sub) -> None:
    """Register ``predict-metric`` and ``target-metric``."""
    p = sub.add_parser("predict-metric", help="a downstream metric at (N, D) through a loss fit and a metric fit")
    _common(p)
    for flag, what in (("--params", "parameters N"), ("--tokens", "training tokens D"),
                       ("--compute", "training compute C in FLOPs")):
        p.add_argument(flag, type=positive_float, default=None, help=what)
    p.set_defaults(func=cmd_predict_metric)
    p = sub.add_parser("target-metric", help="compute needed to reach a metric (e.g. 0.55 accuracy)")
    p.set_defaults(func=cmd_target_metric)
    _common(p)
    p.add_argument("--target", type=float, required=True, help="metric to reach, a fraction (e.g. 0.55)")
    p.add_argument("--budget", type=positive_float, default=None, help="budget in FLOPs: P(reaching it within)")
