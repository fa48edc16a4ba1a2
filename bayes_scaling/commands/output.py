"""What the commands print: one helper, :func:`emit`, writes either the text view or the JSON record
of a command's answer, and the formatting pieces the text views share (interval lines, diagnostics,
the extrapolation discrepancy and guard). Losses are in nats/token, compute in FLOPs unless a line
says otherwise."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from bayes_scaling.conventions import is_ensemble, pct
from bayes_scaling.data.repeats import checkpoints_record, notes_say_checkpoints
from bayes_scaling.posterior.intervals import format_interval, summary_record

Text = str | Iterable[str] | Callable[[], str | Iterable[str]]


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-Infinity) replaced by None (JSON null), e.g. the
    compute needed for an unreachable loss; dicts, lists and tuples are walked."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):  # NumPy scalars (float32, int64, bool_) as plain Python values
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def emit(text: Text = (), record: Any = None, *, as_json: bool = False) -> int:
    """Print a command's answer and return exit code 0.

    ``as_json``: ``record`` (or what it returns, when callable) as indented JSON, non-finite numbers
    written as null (never NaN or Infinity). Otherwise ``text``: a string, lines, or a callable
    returning either; nothing is printed for no lines. Callables run only for the view printed."""
    if as_json:
        print(json.dumps(json_safe(record() if callable(record) else record), indent=2, allow_nan=False))
        return 0
    body = text() if callable(text) else text
    lines = [body] if isinstance(body, str) else list(body)
    if lines:
        print("\n".join(lines), flush=True)
    return 0


def units_record(result) -> dict[str, str]:
    """The ``units`` block of a command's JSON: the fit's loss unit, the kind of parameters N counts,
    D in tokens and C in FLOPs (a key named ``..._pf_days`` says its own unit)."""
    return {"loss": result.loss_unit, "N": f"{result.runs_metadata['params_kind']} parameters", "D": "tokens",
            "C": "FLOPs"}


def covariates_record(result, covariates: dict | None) -> list[dict]:
    """The covariate values a query on ``result`` answers at (``name``, ``value``, ``source``: ``"given"`` or ``"mean of
    the runs"``); empty for a fit without covariates or an ensemble (which refuses them where given)."""
    if is_ensemble(result):
        if covariates:
            from bayes_scaling.errors import BayesScalingError

            raise BayesScalingError("ensembles take no covariates: their effects are per member", quantity="covariates")
        return []
    return result.evaluator.covariate_settings(covariates)


def covariates_line(records: list[dict]) -> str | None:
    """``at log_aspect_ratio = 4.1 (mean of the runs)``: the covariate values an answer is for; None without any."""
    if not records:
        return None
    return "at " + ", ".join(f"{r['name']} = {r['value']:.4g} ({r['source']})" for r in records)


def group_answer(result, group: str | None, *, flag: bool = True) -> str | None:
    """Whom a hierarchical fit's answer is for (None for a fit without groups): the population without a group
    (the varying parameters at their population values), an unseen group (``"new"``), or the group named.
    ``flag``: the command takes ``--group`` (said beside the population)."""
    if getattr(result, "hierarchy", None) is None:
        return None
    hint = "; --group LABEL for a group, --group new for an unseen one" if flag else ""
    return {None: f"the population (population values of the varying parameters{hint})",
            "new": "an unseen group (group values drawn around the population)"}.get(group, f"group {group!r}")


def interval_text(label: str, r: dict, unit: str = "", fmt=".4g", *, inf: str | None = None) -> str:
    """``"label: median M<unit>, 90% interval [lo, hi]"`` from a :func:`summary_record` (``fmt``: a format
    spec or a function of a number); a quantity no draw has a value of (e.g. the compute for a loss below
    every draw's floor) says so instead of printing nan. ``inf``: the text of a +infinite median or end
    (e.g. ``"unreachable"``), with the share of infinite draws when the record has it."""
    if all(v is None or not math.isfinite(v) for v in (r["median"], r["ci_low"], r["ci_high"])):
        every = f": {inf} in every draw" if inf is not None and r.get("p_infinite") == 1.0 else ""
        return f"{label}: none (no posterior draw has a finite value{every})"
    base = fmt if callable(fmt) else (lambda v: format(v, fmt))
    f = base if inf is None else (lambda v: inf if v == math.inf else base(v))  # noqa: E731
    text = f"{label}: median {f(r['median'])}{unit}, {pct(r['ci_prob'])} interval {format_interval(r, f, median=False)}"
    if inf is not None and r.get("p_infinite"):
        text += f" ({inf} in {r['p_infinite']:.1%} of draws)"
    return text


def interval_line(label: str, r: dict, unit: str = "", fmt=".4g", *, inf: str | None = None) -> str:
    """:func:`interval_text` indented as a line of a command's answer."""
    return "  " + interval_text(label, r, unit, fmt, inf=inf)


#: What a JSON null means in a record whose draws include +inf (:func:`infinite_as_null`).
UNREACHABLE_NULL = "null: +infinity (unreachable at any budget in that share of draws, p_infinite)"


def infinite_as_null(r: dict, meaning: str = UNREACHABLE_NULL) -> dict:
    """A :func:`summary_record` for JSON when some draws are +inf: its +inf values (median, mean or an
    interval end) are written as null like every non-finite number (:func:`json_safe`), and the record
    says so in ``"null_means"``; ``mean_finite`` (over the finite draws) stays a number."""
    if any(r.get(k) == math.inf for k in ("median", "mean", "ci_low", "ci_high")):
        return {**r, "null_means": meaning}
    return r


def _attempts(result) -> list[dict]:
    return result.sampler_config.get("attempts", [])


def checkpoints(result) -> dict | None:
    """``{"rows", "runs", "note"}`` where the fit's rows are checkpoints of fewer training runs (a shared ``run_id``;
    :func:`~bayes_scaling.data.repeats.checkpoints_record`), which every query's diagnostics say; else None."""
    return checkpoints_record(result.runs.frame, result.runs.group_cols)


def data_notes(result) -> tuple[list[str], bool]:
    """(the ``data note:`` lines of the fit's runs notes: units, conventions, checkpoints, implausible values;
    whether they already say the rows are checkpoints, so that :func:`diagnostics_line` need not say it again)."""
    notes = result.runs_metadata.get("notes", [])
    return [f"data note: {n}" for n in notes], notes_say_checkpoints(notes, checkpoints(result))


def diagnostics_record(result, *, member: bool = False) -> dict[str, Any]:
    """The sampler diagnostics of a fit, as JSON, with the sampling attempts (settings, seconds,
    problems) when the fit was retried after failing them, and ``checkpoints`` (:func:`checkpoints`) where the
    fit's rows are checkpoints of fewer runs (said once: not for a ``member`` of an ensemble or a counterpart fit on
    the same runs)."""
    out = result.diagnostics.as_dict()
    out["attempts"] = _attempts(result)
    if not member and (rec := checkpoints(result)) is not None:
        out["checkpoints"] = rec
    if is_ensemble(result):  # an ensemble: each member's own, and which member each worst value is from
        out["members"] = {k: diagnostics_record(m, member=True) for k, m in result.members.items()}
        out["worst_member"] = _worst_members(result)
        out["ok"] = all(v["ok"] for v in out["members"].values())
        out["problems"] = [f"{k}: {p}" for k, v in out["members"].items() for p in v["problems"]]
    return out


#: The worst value of each diagnostic over an ensemble's members: (field, which is worst).
_WORST = (("r_hat_max", max), ("ess_bulk_min", min), ("ess_tail_min", min))


def _worst_members(result) -> dict[str, str]:
    diag = {k: m.diagnostics for k, m in result.members.items()}
    return {f: pick(diag, key=lambda k: getattr(diag[k], f)) for f, pick in _WORST}


def _ensemble_diagnostics_line(result) -> str:
    """An ensemble's line: each worst value with the member it comes from and that member's chains x draws."""
    worst, diag = _worst_members(result), {k: m.diagnostics for k, m in result.members.items()}
    parts = []
    for name in dict.fromkeys(worst.values()):  # members in the order their first worst value appears
        d = diag[name]
        vals = ", ".join(f"{f} {getattr(d, f):.4f}" if f == "r_hat_max" else f"{f} {getattr(d, f):.0f}"
                         for f, _ in _WORST if worst[f] == name)
        parts.append(f"{vals} ({name}: {d.n_chains} chains x {d.n_draws} draws)")
    bad = [f"{k}: {'; '.join(d.problems)}" for k, d in diag.items() if d.problems]
    divergences = sum(d.divergences for d in diag.values())
    return (f"diagnostics, worst of {len(diag)} members: " + "; ".join(parts) + f"; divergences {divergences} (all "
            f"members) - " + ("ok" if not bad else "FAILED: " + " | ".join(bad)))


def diagnostics_line(result, *, with_checkpoints: bool = True) -> str:
    """One line: R-hat, effective sample sizes, divergences and whether they pass; for a retried fit,
    the number of attempts and why the first failed. An ensemble's: the worst of its members, each value
    named by its member with that member's chains x draws. A second line where the fit's rows are checkpoints of
    fewer training runs (:func:`checkpoints`; ``with_checkpoints=False`` where the caller says it otherwise)."""
    line = _ensemble_diagnostics_line(result) if is_ensemble(result) else _single_diagnostics_line(result)
    rec = checkpoints(result) if with_checkpoints else None
    return line if rec is None else f"{line}\nWARNING: {rec['note']}"


def _single_diagnostics_line(result) -> str:
    d = result.diagnostics
    status = "ok" if d.ok else "FAILED: " + "; ".join(d.problems)
    attempts = _attempts(result)
    retried = ""
    if len(attempts) > 1:
        kept = int(result.sampler_config.get("returned_attempt", len(attempts)))
        last = attempts[kept - 1]
        centred = f", offsets centred: {', '.join(last['centred']) or 'none'}" if "centred" in last else ""
        before = (f", after: {'; '.join(attempts[kept - 2]['problems'])}" if kept > 1
                  else ", the later ones failed more")  # what the attempt before the returned one failed on
        retried = (f"; attempt {kept} of {len(attempts)} (tune {last['tune']}, target_accept "
                   f"{last['target_accept']}{centred}){before}")
    return (f"diagnostics: r_hat_max {d.r_hat_max:.4f}, ess_bulk_min {d.ess_bulk_min:.0f}, "
            f"ess_tail_min {d.ess_tail_min:.0f}, divergences {d.divergences} "
            f"({d.n_chains} chains x {d.n_draws} draws{retried}) - {status}")


def discrepancy_record(result, ci_prob: float) -> dict[str, Any] | None:
    """The fit's extrapolation discrepancy (log-loss sd tau0 + tau1 per decade beyond the largest
    fitted run), as JSON; None when the fit has none."""
    disc = result.discrepancy
    if disc is None:
        return None
    out = {"axis": disc.axis, "largest_fitted": 10 ** disc.log10_axis_max,
           "distance": f"decades beyond the largest fitted value of {', '.join(disc.box or [disc.axis])}, the furthest",
           **({"largest_fitted_by_axis": {k: 10 ** v for k, v in disc.box.items()}} if disc.box else {}),
           "tau0": summary_record(disc.tau0, ci_prob), "tau1_per_decade": summary_record(disc.tau1, ci_prob),
           **disc.info}
    if disc.residual is not None:
        out["residual_process"] = disc.process_record()
    return out


def discrepancy_line(result, ci_prob: float) -> str | None:
    """One line on the extrapolation discrepancy and its residual process, or None when the fit has none."""
    d = discrepancy_record(result, ci_prob)
    if d is None:
        return None
    process = result.discrepancy.process_line()
    if "inner_n_train" not in d:  # no leave-future-out calibration (a residual process alone)
        return process or f"extrapolation discrepancy: {d.get('method', 'not calibrated')}"
    t0, t1 = d["tau0"], d["tau1_per_decade"]
    miss = "" if d.get("inner_mare") is None else (
        f"; the smaller runs' law missed the held-out ones by a median {d['inner_mare']:.2%} "
        f"(signed {d['inner_median_signed_rel_error']:+.2%})")
    flag = "" if d.get("inner_diagnostics_ok", True) else " (inner fit's diagnostics FAILED: rerun with more draws)"
    line = (f"extrapolation discrepancy (leave-future-out: {d['inner_n_train']} runs fit, {d['inner_n_test']} "
            f"held out): log-loss sd {format_interval(t0, '.3g')} + "
            f"{format_interval(t1, '.3g')} per decade beyond "
            + (", ".join(f"{k} {v:.3g}" for k, v in d["largest_fitted_by_axis"].items()) + " (the furthest)"
               if "largest_fitted_by_axis" in d else f"{d['axis']} {d['largest_fitted']:.3g}")
            + (f"; held-out 90% coverage {d['inner_coverage_90_raw']:.0%} without it, "
               f"{d['inner_coverage_90_calibrated']:.0%} with it" if "inner_coverage_90_raw" in d else
               "; held-out coverage not recorded (a mixture's calibration saved before it was)")  # older files
            + f"{miss}{flag}")
    return line if process is None else f"{line}\n{process}"


def extrapolation_lines(report: dict) -> list[str]:
    """The extrapolation guard of a query: decades beyond the data (one number, and per input beyond the largest
    run), the largest runs' predictive check, and any warnings."""
    dec = ", ".join(f"{k} {v:+.2f}" for k, v in report["decades_beyond"].items())
    chk = report["largest_runs_check"]
    far = report.get("decades_beyond_data", max(0.0, *report["decades_beyond"].values()))
    lines = [f"extrapolation: {far:.2f} decades beyond the data (per input, beyond the largest run: {dec}); largest "
             f"{chk['n_runs']} runs: "
             f"{chk['outside_interval']} outside their {pct(chk['ci_prob'])} predictive interval"]
    lines += [f"WARNING: {n}" for n in report["notes"]]
    return lines


def query_record(result, ci_prob: float, at: dict | None = None) -> dict[str, Any]:
    """The blocks every query command's JSON carries about the fit it asked: ``units`` (:func:`units_record`),
    ``diagnostics`` (:func:`diagnostics_record`) and, with ``at`` (the answer's plan: N parameters, D tokens, C FLOPs,
    one each), ``extrapolation``, the guard's report there
    (:func:`~bayes_scaling.queries.extrapolation.extrapolation_report`)."""
    out: dict[str, Any] = {"units": units_record(result)}
    if at is not None:
        from bayes_scaling.queries.extrapolation import extrapolation_report

        out["extrapolation"] = extrapolation_report(result, {k: np.array([v]) for k, v in at.items()}, ci_prob)
    out["diagnostics"] = diagnostics_record(result)
    return out


def query_lines(result, record: dict) -> list[str]:
    """The text of :func:`query_record`'s blocks: the extrapolation guard (when asked) and the diagnostics line."""
    return [*(extrapolation_lines(record["extrapolation"]) if "extrapolation" in record else []),
            diagnostics_line(result)]


def met_at_any_budget(metric: bool = False) -> str:
    """How ``target`` and ``target-metric`` say a target every searched budget meets (compute 0 in those draws): a
    loss target at or above the smallest budget's loss, or a ``metric`` target (higher is better, e.g. accuracy) at
    or below the smallest budget's metric."""
    where = "at or below" if metric else "at or above"
    return f"reached at any budget (the target is {where} what the smallest budget already reaches)"


def reach_records(compute, ci_prob: float, plan: dict | None = None) -> dict[str, Any]:
    """JSON keys of a compute-to-reach answer (``compute``: FLOPs per draw; 0 where met at any budget, +inf where
    unreachable): ``p_met_at_any_budget``, and when some draws are 0 or +inf and some are not,
    ``compute_where_a_budget_is_needed`` (the summary over the draws that need a finite budget > 0), and likewise
    ``<key>_where_a_budget_is_needed`` for each of ``plan`` (key -> draws aligned with ``compute``: e.g. N*, D*,
    which are 0 in the draws met at any budget)."""
    c = np.asarray(compute, float)
    out: dict[str, Any] = {"p_met_at_any_budget": float((c == 0).mean())}
    needed = (c > 0) & np.isfinite(c)
    if needed.any() and not needed.all():
        for key, v in {"compute": compute, **(plan or {})}.items():
            out[f"{key}_where_a_budget_is_needed"] = summary_record(v.where(needed), ci_prob)
    return out


def reach_lines(out: dict, *, metric: bool = False) -> list[str]:
    """The text lines of :func:`reach_records`' keys in a command's record ``out`` (``metric``: a metric's target,
    :func:`met_at_any_budget`)."""
    lines = []
    if 0 < out["p_met_at_any_budget"]:
        lines.append(f"  {met_at_any_budget(metric)} in {out['p_met_at_any_budget']:.1%} of draws")
    for key, name, unit in (("compute", "compute", "FLOPs"), ("N_opt", "N*", "parameters"), ("D_opt", "D*", "tokens")):
        if f"{key}_where_a_budget_is_needed" in out:
            lines.append(interval_line(f"{name} over the draws that need a budget and reach it ({unit})",
                                       out[f"{key}_where_a_budget_is_needed"]))
    return lines
