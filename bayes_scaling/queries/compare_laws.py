"""Compare laws fitted to the same runs by PSIS-LOO (arviz_stats), and test for a break.

``compare_fits`` returns the ELPD table with stacking weights. ``break_test`` pits an unbroken
law against a broken one: P(break) is the normal-approximation probability that the broken law
predicts left-out runs better (Phi(elpd_diff / se_diff), the "p_worse" of the unbroken law), with
the stacking weight and Pareto-k warnings beside it, and the break's location with its interval.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayes_scaling.conventions import CI_PROB, check_ci_prob
from bayes_scaling.errors import BayesScalingError
from bayes_scaling.posterior.intervals import summary_record
from bayes_scaling.result import require_fit


#: ``compare_fits``' weighting methods (ArviZ's names).
STACKING_METHODS = ("stacking", "BB-pseudo-BMA", "pseudo-BMA")


def _same_runs(fits: dict) -> None:
    frames = [f.runs.frame[["loss"]].to_numpy() for f in fits.values()]
    if any(fr.shape != frames[0].shape or not np.array_equal(fr, frames[0]) for fr in frames[1:]):
        raise BayesScalingError("laws can only be compared on the same runs: these fits were made on different runs")


def compare_fits(fits: dict, method: str = "stacking") -> pd.DataFrame:
    """ELPD (PSIS-LOO) comparison table of fits on the same runs, best first. Each fit's pointwise
    log-likelihood is the stored one or, for a big table, computed in row chunks (:func:`loo`)."""
    import arviz_stats as azs

    from bayes_scaling.result.loglik import loo

    if not isinstance(fits, dict) or len(fits) < 2:
        raise BayesScalingError(f"fits must be a dict of at least two fits by name, got {type(fits).__name__}",
                                quantity="fits")
    for name, f in fits.items():
        require_fit(f, f"fits[{name!r}]", ensemble=False)
    if method not in STACKING_METHODS:
        raise BayesScalingError(f"method must be one of {', '.join(STACKING_METHODS)}, got {method!r}",
                                quantity="method")
    _same_runs(fits)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        elpd = {name: loo(f) for name, f in fits.items()}
        table = azs.compare(elpd, method=method, round_to="none")
        khat = {name: float(np.max(e.pareto_k.values)) for name, e in elpd.items()}
    table = table.copy()
    table["pareto_k_max"] = [khat[n] for n in table.index]
    table.attrs["warnings"] = [str(w.message).split(".")[0] for w in caught]
    return table


#: A break is supported where P(break) >= this: the broken law more likely than not predicts left-out runs better
#: (elpd difference > 0). Below it the broken fit's break location describes a form the runs do not prefer, so it
#: is no finding and is not shown as one.
BREAK_SUPPORTED_P = 0.5


def break_test(unbroken, broken, ci_prob: float = CI_PROB) -> dict:
    """Is there a break? LOO comparison of ``broken`` against ``unbroken`` on the same runs: ``p_break`` =
    Phi(elpd difference / its se), ``break_supported`` where it is at least :data:`BREAK_SUPPORTED_P`, and the
    broken fit's ``break_location`` draws summarised either way (flagged in ``break_location_note`` when the break
    is not supported)."""
    require_fit(unbroken, "unbroken", ensemble=False)
    require_fit(broken, "broken", ensemble=False)
    check_ci_prob(ci_prob)
    if not getattr(broken.law, "n_breaks", 0):
        raise BayesScalingError(f"broken must be a fit of a broken law (bnsl1_x, ...), got {broken.law.name!r}",
                                quantity="broken")
    from scipy.stats import norm

    table = compare_fits({"unbroken": unbroken, "broken": broken})
    diff = float(table.loc["broken", "elpd"] - table.loc["unbroken", "elpd"])
    se = float(table["dse"].max())
    p_break = float(norm.cdf(diff / se)) if se > 0 else float(diff > 0)
    law = broken.law
    breaks = {f"d{i}": summary_record(broken.posterior[f"d{i}"], ci_prob) for i in range(1, law.n_breaks + 1)}
    supported = p_break >= BREAK_SUPPORTED_P
    return {
        "p_break": p_break,
        "break_supported": supported,
        "break_rule": f"a break is supported where P(break) >= {BREAK_SUPPORTED_P:g} (the broken law more likely than "
                      f"not predicts left-out runs better)",
        **({} if supported else {"break_location_note": f"not supported (P(break) = {p_break:.3g} < "
                                                        f"{BREAK_SUPPORTED_P:g}): the broken fit's break location, "
                                                        f"not a finding"}),
        "elpd_diff": diff,
        "se_diff": se,
        "stacking_weight_broken": float(table.loc["broken", "weight"]),
        "pareto_k_max": {k: float(table.loc[k, "pareto_k_max"]) for k in ("unbroken", "broken")},
        "break_location": breaks,
        "axis": law.axis,
        "laws": {"unbroken": unbroken.law.name, "broken": law.name},
    }
