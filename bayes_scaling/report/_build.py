"""Assemble a report from a fit: configuration, context shared by the sections, and the order of
the sections."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from bayes_scaling.conventions import CI_PROB, check_ci_prob, is_ensemble
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.plots.common import is_nd, pct
from bayes_scaling.posterior.inputs import positive_number
from bayes_scaling.queries.draws import resolve_cost
from bayes_scaling.report._analysis import (
    breakdown_section,
    groups_section,
    reproducibility_section,
    sensitivity_section,
)
from bayes_scaling.report._design import design_section
from bayes_scaling.report._metric import metric_section, noise_section
from bayes_scaling.report._model import Report
from bayes_scaling.report._ensemble import ensemble_report
from bayes_scaling.report._refits import RefitConfig, RefitRunner, plan_refits
from bayes_scaling.report._sections import (
    data_section,
    diagnostics_section,
    fit_section,
    frontier_section,
    isoflops_section,
    law_section,
    parameters_section,
    residuals_section,
)

#: Most budgets of the allocation table: each is a row and a shade of one colour map in its figure, and
#: more shades than this cannot be told apart.
MAX_BUDGETS = 20
#: Default budgets: these multiples of the largest run's compute.
DEFAULT_BUDGET_FACTORS = (10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class ReportConfig:
    """What goes into a report.

    ``budgets``: compute budgets in FLOPs for the allocation table (default: 10x, 100x and 1000x
    the largest run's compute); ``refits``: run the sensitivity and break-test refits;
    ``kaplan_fits``: (kaplan_c fit, kaplan_d fit) for Kaplan's contradiction point; ``design_budget``:
    the extra ladder FLOPs of "Which runs next" (default: the compute of the runs so far); ``command``
    and ``fit_path`` are recorded in the reproducibility section."""

    ci_prob: float = CI_PROB
    budgets: tuple[float, ...] | None = None
    refits: bool = True
    refit: RefitConfig = field(default_factory=RefitConfig)
    kaplan_fits: tuple | None = None
    design_budget: float | None = None
    command: str = ""
    fit_path: str = ""


@dataclass
class _Context:
    result: object
    ci: float
    budgets: np.ndarray | None
    refits: bool
    refit_config: RefitConfig
    kaplan_fits: tuple | None
    seed: int
    command: str
    fit_path: str
    decisions: list = field(default_factory=list)
    largest_check: dict | None = None
    optimum: object = None
    timings: dict = field(default_factory=dict)
    plan: object = None
    runner: object = None
    design_budget: float | None = None
    cost: object = None
    refit_of: object = None  # the fit the refits' plan was made from (an ensemble's heaviest member), if not result


def report_budgets(result, budgets) -> np.ndarray | None:
    """Validated budgets in FLOPs, or the defaults; ``None`` for laws without N and D."""
    if not is_nd(result.law):
        if budgets:
            raise BayesScalingError(f"--budgets applies to laws of N and D; this fit's law {result.law.name!r} has "
                                    f"inputs {list(result.law.input_names)}: drop --budgets")
        return None
    if not budgets:
        c_max = float(result.runs.frame["C"].max())
        return np.array([float(f"{c_max * f:.3g}") for f in DEFAULT_BUDGET_FACTORS])
    b = np.asarray(budgets, dtype=float)
    if b.ndim != 1 or not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise BayesScalingError(f"budgets must be compute values in FLOPs > 0, e.g. 1e22 1e23, got {list(budgets)!r}")
    if len(np.unique(b)) < b.size or b.size > MAX_BUDGETS:
        raise BayesScalingError(f"budgets must be at most {MAX_BUDGETS} different values (one row and one shade of the "
                                f"figure each), got {b.size} with {len(np.unique(b))} different")
    return b


def check_design_budget(budget) -> float | None:
    """The extra ladder budget of the design section in FLOPs (> 0), or None (the default)."""
    return None if budget is None else positive_number(budget, "the design section's ladder budget must be FLOPs > 0")


def check_kaplan_fits(kaplan_fits) -> tuple | None:
    """``(kaplan_c fit, kaplan_d fit)`` checked in that order, or ``None``."""
    if kaplan_fits is None:
        return None
    fit_c, fit_d = kaplan_fits
    if fit_c.law.name != "kaplan_c" or fit_d.law.name != "kaplan_d":
        raise BayesScalingError(f"--kaplan-fits takes a kaplan_c fit and then a kaplan_d fit, got "
                                f"{fit_c.law.name!r} and {fit_d.law.name!r}")
    return fit_c, fit_d


#: The sections in order, and what an ensemble's report builds each from: "mixture" (the planning sections,
#: answered by the ensemble's mixture through the same queries as the CLI), "member" (per-fit sections: its
#: heaviest member, named in the title) or "shared" (the runs, which every member shares).
SECTIONS = ((data_section, "shared"), (law_section, "member"), (diagnostics_section, "member"),
            (parameters_section, "member"), (fit_section, "mixture"), (residuals_section, "mixture"),
            (metric_section, "member"), (noise_section, "member"), (isoflops_section, "mixture"),
            (frontier_section, "mixture"), (design_section, "mixture"), (breakdown_section, "mixture"),
            (groups_section, "mixture"), (sensitivity_section, "member"), (reproducibility_section, "member"))


def _context(result, config: ReportConfig) -> _Context:
    return _Context(result=result, ci=check_ci_prob(config.ci_prob), budgets=report_budgets(result, config.budgets),
                    refits=config.refits, refit_config=config.refit, kaplan_fits=check_kaplan_fits(config.kaplan_fits),
                    seed=int(result.sampler_config.get("seed", 0) or 0), command=config.command,
                    fit_path=config.fit_path, design_budget=check_design_budget(config.design_budget),
                    cost=resolve_cost(result))


def build_report(result, config: ReportConfig | None = None) -> Report:
    """Compute every section of the report for ``result``: a FitResult, or an EnsembleResult (a section on
    the ensemble first; the planning sections from its mixture, the per-fit ones from its heaviest member)."""
    config = config or ReportConfig()
    ens = result if is_ensemble(result) else None
    top = None if ens is None else max(ens.weights, key=ens.weights.get)
    fit = result if ens is None else ens.members[top]
    ctx = _context(fit, config)
    sections, mixed = [], []
    t_all = time.perf_counter()
    if ctx.refits:  # decided up front, fitted when the breakdown and sensitivity sections ask
        ctx.plan = plan_refits(fit, ctx.refit_config, ctx.seed)
        ctx.runner = RefitRunner(ctx.plan.jobs)
    # the mixture's context shares the member's refits (the break test is of the runs) and its timings
    mix = None if ens is None else replace(ctx, result=ens, cost=resolve_cost(ens), decisions=[], refit_of=fit)
    for build, whose in SECTIONS:
        if build is reproducibility_section:
            ctx.timings["report before this section"] = time.perf_counter() - t_all
        sec = build(mix if mix is not None and whose == "mixture" else ctx)
        if sec is not None:
            if ens is not None and whose != "shared":
                if whose == "mixture":
                    mixed.append(sec.title)
                sec.title += (" (mixture)" if whose == "mixture" else
                              f" (member {top}: {fit.law.name}, weight {ens.weights[top]:.2f})")
            sections.append(sec)
    law = fit.law
    d = result.diagnostics
    subtitle = (f"{law.title}: `{law.formula}`. Intervals are {pct(ctx.ci)} equal-tailed credible intervals "
                f"(median [lower, upper]). Diagnostics: {'pass' if d.ok else 'FAILED'}.")
    if ens is not None:
        return ensemble_report(ens, top, sections, subtitle, ctx.budgets, ctx.ci, mixed)
    return Report(f"Scaling-law report: {law.name} fit to {len(result.runs)} runs", subtitle, sections)
