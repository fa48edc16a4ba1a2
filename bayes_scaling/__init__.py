"""bayes_scaling: posterior distributions over neural scaling laws.

Pipeline: ``data`` (runs table) → ``laws`` (the law, once, over an array namespace) →
``specs`` (priors as data) → ``inference`` (PyMC model, NUTS, diagnostics) → ``result``
(FitResult wrapping an xarray DataTree) → ``queries`` (predictions, allocation, comparison,
breakdown, backtests, all with credible intervals). ``datasets`` loads the public data sets,
``baselines`` holds the frequentist methods the backtests compare against, ``accounting`` counts
parameters and FLOPs.
"""

from bayes_scaling.conventions import CI_PROB, PF_DAY_FLOPS, flops_to_pf_days, pf_days_to_flops
from bayes_scaling.data.runs import RunTable, load_runs
from bayes_scaling.errors import BayesScalingError, DiagnosticsError
from bayes_scaling.inference.batch import fit_many
from bayes_scaling.inference.fit import fit
from bayes_scaling.laws.registry import get_law, list_laws
from bayes_scaling.result import FitResult
from bayes_scaling.specs.spec import LawSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    "CI_PROB",
    "PF_DAY_FLOPS",
    "BayesScalingError",
    "DiagnosticsError",
    "FitResult",
    "LawSpec",
    "RunTable",
    "fit",
    "fit_many",
    "flops_to_pf_days",
    "get_law",
    "list_laws",
    "load_runs",
    "load_spec",
    "pf_days_to_flops",
    "__version__",
]
