"""Formatting shared by the subcommands: JSON-safe numbers, interval records and lines."""

from __future__ import annotations

import argparse
import math
from typing import Any

from bayes_scaling.conventions import PF_DAY_FLOPS
from bayes_scaling.posterior.intervals import summary_record as _rec


def _finite(obj: Any) -> Any:
    """JSON-safe: non-finite floats become null (e.g. compute needed for an unreachable loss)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _line(label: str, r: dict, unit: str = "", fmt: str = ".4g") -> str:
    pct = f"{r['ci_prob']:.0%}"
    return (f"  {label}: median {r['median']:{fmt}}{unit}, {pct} interval "
            f"[{r['ci_low']:{fmt}}, {r['ci_high']:{fmt}}]")


def _int_at_least(low: int, why: str = ""):
    """argparse type: a whole number >= ``low`` (``why`` explains the bound in the error)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}{why}, got {text!r}")
        return v

    return parse


def _add_law_args(p, law_help: str = "law name") -> None:
    """``--law`` and ``--spec`` (a spec's law must agree with ``--law`` when both are given)."""
    p.add_argument("--law", default=None, help=law_help)
    p.add_argument("--spec", default=None, help="spec file or shipped spec name (see `bayes-scaling specs`)")


def _spec_from_args(args):
    """The spec named by ``--law`` / ``--spec``; one of them is required."""
    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.inference.fit import resolve_spec

    if args.law is None and args.spec is None:
        raise BayesScalingError("choose a law with --law NAME or a spec with --spec FILE")
    return resolve_spec(args.law, args.spec)


def _group_kw(args, spec) -> dict[str, Any]:
    """``vary`` and ``group_col`` of a fit from ``--group-col``/``--vary``. With a group column, the
    parameters in ``--vary`` vary by group, else the spec's ``[hierarchy]`` ones, else all but the
    irreducible loss."""
    from bayes_scaling.errors import BayesScalingError

    if not args.group_col:
        if args.vary:
            raise BayesScalingError("--vary needs --group-col COLUMN (the column whose groups get their own parameters)")
        return {"vary": None, "group_col": None}
    vary = ([v.strip() for v in args.vary.split(",") if v.strip()] if args.vary is not None
            else list(spec.hierarchy.vary) if spec.hierarchy
            else [p.name for p in spec.law.params if p.kind != "loss"])
    return {"vary": vary, "group_col": args.group_col[0]}


def _to_flops(value: float, compute_unit: str) -> float:
    """A compute value given in ``--compute-unit`` (flops or pf-days), in FLOPs."""
    return value * (PF_DAY_FLOPS if compute_unit == "pf-days" else 1.0)


def _budget(args) -> float:
    return _to_flops(args.compute, args.compute_unit)


def _diag_line(result) -> str:
    d = result.diagnostics
    status = "ok" if d.ok else "FAILED: " + "; ".join(d.problems)
    return (f"diagnostics: r_hat_max {d.r_hat_max:.4f}, ess_bulk_min {d.ess_bulk_min:.0f}, "
            f"ess_tail_min {d.ess_tail_min:.0f}, divergences {d.divergences} "
            f"({d.n_chains} chains x {d.n_draws} draws) - {status}")


def _discrepancy_json(result, ci_prob: float) -> dict[str, Any] | None:
    disc = result.discrepancy
    if disc is None:
        return None
    return {"axis": disc.axis, "largest_fitted": 10 ** disc.log10_axis_max, "tau0": _rec(disc.tau0, ci_prob),
            "tau1_per_decade": _rec(disc.tau1, ci_prob), **disc.info}


def _discrepancy_line(result, ci_prob: float) -> str | None:
    """One line on the extrapolation discrepancy, or None when the fit has none."""
    d = _discrepancy_json(result, ci_prob)
    if d is None:
        return None
    t0, t1 = d["tau0"], d["tau1_per_decade"]
    miss = "" if d.get("inner_mare") is None else (
        f"; the smaller runs' law missed the held-out ones by a median {d['inner_mare']:.2%} "
        f"(signed {d['inner_median_signed_rel_error']:+.2%})")
    flag = "" if d["inner_diagnostics_ok"] else " (inner fit's diagnostics FAILED: rerun with more draws)"
    return (f"extrapolation discrepancy (leave-future-out: {d['inner_n_train']} runs fit, {d['inner_n_test']} "
            f"held out): log-loss sd {t0['median']:.3g} [{t0['ci_low']:.3g}, {t0['ci_high']:.3g}] + "
            f"{t1['median']:.3g} [{t1['ci_low']:.3g}, {t1['ci_high']:.3g}] per decade of {d['axis']} beyond "
            f"{d['largest_fitted']:.3g}; held-out 90% coverage {d['inner_coverage_90_raw']:.0%} without it, "
            f"{d['inner_coverage_90_calibrated']:.0%} with it{miss}{flag}")


def _diag_json(result) -> dict[str, Any]:
    return result.diagnostics.as_dict()


def _extrapolation_lines(report: dict) -> list[str]:
    dec = ", ".join(f"{k} {v:+.2f}" for k, v in report["decades_beyond"].items())
    chk = report["largest_runs_check"]
    lines = [f"extrapolation: decades beyond the largest run: {dec}; largest {chk['n_runs']} runs: "
             f"{chk['outside_interval']} outside their {chk['ci_prob']:.0%} predictive interval"]
    lines += [f"WARNING: {n}" for n in report["notes"]]
    return lines
