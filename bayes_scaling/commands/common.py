"""Formatting shared by the subcommands: JSON-safe numbers, interval records and lines."""

from __future__ import annotations

import math
from typing import Any

from bayes_scaling.conventions import PF_DAY_FLOPS


def _finite(obj: Any) -> Any:
    """JSON-safe: non-finite floats become null (e.g. compute needed for an unreachable loss)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _rec(da, ci_prob):
    from bayes_scaling.queries.intervals import summary_record

    return summary_record(da, ci_prob)


def _line(label: str, r: dict, unit: str = "", fmt: str = ".4g") -> str:
    pct = f"{r['ci_prob']:.0%}"
    return (f"  {label}: median {r['median']:{fmt}}{unit}, {pct} interval "
            f"[{r['ci_low']:{fmt}}, {r['ci_high']:{fmt}}]")


def _budget(args) -> float:
    return args.compute * (PF_DAY_FLOPS if args.compute_unit == "pf-days" else 1.0)


def _diag_line(result) -> str:
    d = result.diagnostics
    status = "ok" if d.ok else "FAILED: " + "; ".join(d.problems)
    return (f"diagnostics: r_hat_max {d.r_hat_max:.4f}, ess_bulk_min {d.ess_bulk_min:.0f}, "
            f"ess_tail_min {d.ess_tail_min:.0f}, divergences {d.divergences} "
            f"({d.n_chains} chains x {d.n_draws} draws) - {status}")


def _diag_json(result) -> dict[str, Any]:
    return result.diagnostics.as_dict()


def _extrapolation_lines(report: dict) -> list[str]:
    dec = ", ".join(f"{k} {v:+.2f}" for k, v in report["decades_beyond"].items())
    chk = report["largest_runs_check"]
    lines = [f"extrapolation: decades beyond the largest run: {dec}; largest {chk['n_runs']} runs: "
             f"{chk['outside_interval']} outside their {chk['ci_prob']:.0%} predictive interval"]
    lines += [f"WARNING: {n}" for n in report["notes"]]
    return lines
