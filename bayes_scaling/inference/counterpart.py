"""The counterpart fit of a break test: the same runs under the broken (or unbroken) law."""

from __future__ import annotations

from bayes_scaling.conventions import check_count
from bayes_scaling.inference.checks import check_sampler_counts
from bayes_scaling.inference.refit import refit
from bayes_scaling.laws.registry import counterpart_law
from bayes_scaling.result import require_fit


def fit_counterpart(result, *, n_breaks: int = 1, seed: int = 0, draws: int = 4000, tune: int = 2000):
    """Fit the counterpart law (see :func:`counterpart_law`) on the same runs, as every refit keeps them
    (:func:`~bayes_scaling.inference.refit.refit`: cost law, run noise, hierarchy), with its default priors and the
    fit's likelihood and hierarchy (:func:`~bayes_scaling.result.refit.counterpart_spec`). Broken laws get more
    draws: their posteriors are narrow and curved, and mix slowly."""
    from bayes_scaling.result.refit import counterpart_spec

    require_fit(result, ensemble=False)
    n_breaks = check_count("n_breaks", n_breaks, 1, 2, " (the broken laws have 1 or 2 breaks)")
    check_sampler_counts(draws, tune, 2)
    spec = counterpart_spec(result, counterpart_law(result.law, n_breaks))
    return refit(result, spec=spec, seed=seed, draws=draws, tune=tune, chains=4, quiet=False)
