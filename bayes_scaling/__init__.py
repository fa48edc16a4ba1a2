"""bayes_scaling: posterior distributions over neural scaling laws.

Layers, lowest first (see ARCHITECTURE.md): ``data`` (runs tables, public datasets) → ``laws`` (each
law once, over an array namespace) → ``specs`` (priors and likelihood families, as data) →
``posterior`` (one evaluator of posterior draws, intervals, diagnostics) → ``result`` (a fit on disk
and in memory) → ``inference`` (everything that samples) → ``queries`` (post-processing with
credible intervals) → ``plots`` → ``report`` → the CLI.

Everything below is reachable as ``bayes_scaling.<name>``; the heavy parts (PyMC, matplotlib) load
on first use.
"""

from __future__ import annotations

import importlib

from bayes_scaling.conventions import CI_PROB, PF_DAY_FLOPS, flops_to_pf_days, pf_days_to_flops
from bayes_scaling.errors import BayesScalingError, DiagnosticsError

__version__ = "0.1.0"

#: Public names by group -> the module that defines them (loaded lazily).
_GROUPS: dict[str, dict[str, str]] = {
    "data": {
        "RunTable": "bayes_scaling.data.runs", "load_runs": "bayes_scaling.data.runs",
        "datasets": "bayes_scaling.datasets",
        "EXAMPLE": "bayes_scaling.examples", "example_path": "bayes_scaling.examples",
        "isoflop_design": "bayes_scaling.simulate", "simulate_runs": "bayes_scaling.simulate",
        "true_loss": "bayes_scaling.simulate",
        "replicate_noise": "bayes_scaling.datasets.replicates", "olmo_ladder_noise": "bayes_scaling.datasets.replicates",
        "CostLaw": "bayes_scaling.cost", "fit_cost": "bayes_scaling.cost",
    },
    "laws and specs": {
        "get_law": "bayes_scaling.laws.registry", "list_laws": "bayes_scaling.laws.registry",
        "laws_with": "bayes_scaling.laws.registry", "LawSpec": "bayes_scaling.specs.spec",
        "load_spec": "bayes_scaling.specs.spec", "list_specs": "bayes_scaling.specs.spec",
        "get_family": "bayes_scaling.specs.families", "with_chance": "bayes_scaling.specs.metric",
    },
    "posterior": {
        "PosteriorEvaluator": "bayes_scaling.posterior.evaluator",
        "MixtureEvaluator": "bayes_scaling.posterior.mixture",
        "summarize": "bayes_scaling.posterior.intervals", "summary_record": "bayes_scaling.posterior.intervals",
        "FitResult": "bayes_scaling.result", "EnsembleResult": "bayes_scaling.result",
        "load_fit": "bayes_scaling.result", "law_form_share": "bayes_scaling.result.ensemble",
    },
    "inference": {
        "fit": "bayes_scaling.inference.fit", "fit_many": "bayes_scaling.inference.batch",
        "backtest": "bayes_scaling.inference.backtest", "split_runs": "bayes_scaling.inference.backtest",
        "fit_counterpart": "bayes_scaling.inference.counterpart",
        "fit_ensemble": "bayes_scaling.inference.ensemble", "stacking_weights": "bayes_scaling.inference.ensemble",
        "refit_expected": "bayes_scaling.inference.design", "prior_draws": "bayes_scaling.inference.design",
    },
    "queries": {
        "predict_loss": "bayes_scaling.queries.predict",
        "compute_optimal": "bayes_scaling.queries.allocate", "frontier_exponents": "bayes_scaling.queries.allocate",
        "plan_outcome": "bayes_scaling.queries.allocate", "decide": "bayes_scaling.queries.allocate",
        "compute_for_loss": "bayes_scaling.queries.allocate", "prob_reach": "bayes_scaling.queries.allocate",
        "group_losses": "bayes_scaling.queries.compare_groups",
        "compute_multiplier": "bayes_scaling.queries.compare_groups",
        "compare_groups": "bayes_scaling.queries.compare_groups",
        "compare_fits": "bayes_scaling.queries.compare_laws", "break_test": "bayes_scaling.queries.compare_laws",
        "data_requirement": "bayes_scaling.queries.data_requirement",
        "tokens_for_loss": "bayes_scaling.queries.data_requirement",
        "tokens_to_limit_overfitting": "bayes_scaling.queries.data_requirement",
        "extrapolation_report": "bayes_scaling.queries.extrapolation",
        "efficient_frontier": "bayes_scaling.queries.kaplan_frontier",
        "efficient_vs_converged": "bayes_scaling.queries.kaplan_frontier",
        "converged_plan_loss": "bayes_scaling.queries.kaplan_frontier",
        "KAPLAN_PATH": "bayes_scaling.queries.breakdown", "contradiction_point": "bayes_scaling.queries.breakdown",
        "path_from_frontier": "bayes_scaling.queries.breakdown", "prob_before": "bayes_scaling.queries.breakdown",
        "shape_effect": "bayes_scaling.queries.shape",
        "predict_metric": "bayes_scaling.queries.metric_chain",
        "compute_for_metric": "bayes_scaling.queries.metric_chain",
        "prob_reach_metric": "bayes_scaling.queries.metric_chain",
        "approach2_check": "bayes_scaling.queries.isoflop_check",
        "isoflop_minima": "bayes_scaling.queries.isoflop_check",
        "design_runs": "bayes_scaling.queries.design", "candidate_grid": "bayes_scaling.queries.design",
        "posterior_objective": "bayes_scaling.queries.design",
        "PriorLadder": "bayes_scaling.queries.design_prior", "design_new_ladder": "bayes_scaling.queries.design_prior",
    },
    "plots and report": {
        "plots": "bayes_scaling.plots", "report": "bayes_scaling.report",
    },
}
_WHERE = {name: module for group in _GROUPS.values() for name, module in group.items()}

__all__ = ["CI_PROB", "PF_DAY_FLOPS", "BayesScalingError", "DiagnosticsError", "flops_to_pf_days", "pf_days_to_flops",
           "__version__", *_WHERE]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = getattr(mod, name) if hasattr(mod, name) else mod  # a function, or a public subpackage
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
