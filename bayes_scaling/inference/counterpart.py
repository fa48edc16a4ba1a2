"""The counterpart fit of a break test: the same runs under the broken (or unbroken) law."""

from __future__ import annotations

from bayes_scaling.inference.fit import fit
from bayes_scaling.laws.registry import counterpart_law


def fit_counterpart(result, *, n_breaks: int = 1, seed: int = 0, draws: int = 4000, tune: int = 2000):
    """Fit the counterpart law (see :func:`counterpart_law`) on the same runs. Broken laws get more
    draws: their posteriors are narrow and curved, and mix slowly."""
    return fit(result.runs, law=counterpart_law(result.law, n_breaks), seed=seed, draws=draws, tune=tune,
               progress=False)
