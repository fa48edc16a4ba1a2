"""Simulate training-run ladders from a known truth (for the bundled example, tests, benchmarks).

Noise is on log-loss: log L_obs = log L_law + sigma * t_nu, matching the fitted likelihood. The
default sigma = 0.01 in log-loss is ~0.02 nats at L ~ 2-3, Kaplan et al. 2020's seed-to-seed
variation (§4.2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling.conventions import FLOPS_PER_PARAM_TOKEN, as_number, check_positive_array, seeded_rng
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.laws.registry import get_law
from bayes_scaling.posterior.inputs import law_log_inputs


def isoflop_design(budgets_flops, tokens_per_param) -> pd.DataFrame:
    """IsoFLOP ladder (Hoffmann et al. 2022, Approach 2): at each budget C (FLOPs), one run per
    tokens-per-parameter ratio r, with N = sqrt(C / (6 r)) and D = r N."""
    budgets = check_positive_array("budgets_flops must be finite numbers of FLOPs > 0", budgets_flops, "C")
    ratios = check_positive_array("tokens_per_param must be finite numbers > 0", tokens_per_param, "tokens_per_param")
    if budgets.ndim > 1 or ratios.ndim > 1:
        raise BayesScalingError("budgets_flops and tokens_per_param must be flat lists of numbers", quantity="C")
    budgets, ratios = budgets.reshape(-1), ratios.reshape(-1)
    C = np.repeat(budgets, len(ratios))
    r = np.tile(ratios, len(budgets))
    N = np.sqrt(C / (FLOPS_PER_PARAM_TOKEN * r))
    return pd.DataFrame({"params": N, "tokens": r * N, "compute": C})


def law_truth_params(law, truth: dict[str, float]) -> dict[str, float]:
    """User-unit truth (E, A, N_c ...) to the law function's convention (``log_E``, ``log_A`` ...)."""
    missing = [p for p in law.param_names if p not in truth]
    if missing:
        raise BayesScalingError(f"truth for law {law.name!r} lacks {missing}")
    return {k: float(v) for k, v in law.to_law_params(truth).items()}


def true_loss(law_name: str, truth: dict[str, float], N=None, D=None, C=None, **extra) -> np.ndarray:
    """Noise-free loss (nats/token) of ``law_name`` at the truth; C in FLOPs; ``extra`` holds
    further inputs by name (U unique tokens, X scale axis, S steps)."""
    law = get_law(law_name)
    given = {k: None if v is None else check_positive_array(f"{k} must be finite numbers > 0", v, k)
             for k, v in {"N": N, "D": D, "C": C, **extra}.items()}
    for k in law.input_names:
        if given.get(k) is None:
            raise BayesScalingError(f"law {law_name!r} needs {k}")
    return law.loss(np, law_log_inputs(law, given), law_truth_params(law, truth))


def simulate_runs(law_name: str, truth: dict[str, float], design: pd.DataFrame, *, sigma: float = 0.01,
                  nu: float = 4.0, seed: int = 0, family: str = "student_t") -> pd.DataFrame:
    """Add a ``loss`` column (nats/token) drawn around the true law to ``design`` (columns params,
    tokens, compute in parameters, tokens, FLOPs, and U, X or S for laws that use them).
    Noise on log-loss with scale ``sigma``: Student-t(nu) by default, or ``family`` "normal" / "laplace"."""
    from bayes_scaling.specs.families import get_family

    rng = seeded_rng(seed)
    if not 0.0 <= (scale := as_number(sigma)) < np.inf:  # 0: noise-free runs
        raise BayesScalingError(f"sigma (the noise scale on log-loss) must be a finite number >= 0, got {sigma!r}",
                                quantity="sigma")
    if not isinstance(design, pd.DataFrame):
        raise BayesScalingError(f"design must be a DataFrame of runs (e.g. isoflop_design(...)), got "
                                f"{type(design).__name__}", quantity="design")
    out = design.copy()
    extra = {k: out[k] for k in ("U", "X", "S", "L") if k in out}
    mean = true_loss(law_name, truth, N=out.get("params"), D=out.get("tokens"), C=out.get("compute"), **extra)
    fam = get_family(family, nu)  # the noise on the family's scale: a logit_normal metric stays in (0, 1)
    out["loss"] = np.exp(fam.add_noise(np, np.log(mean), scale, fam.draws(rng, len(out))))
    return out
