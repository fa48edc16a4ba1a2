"""What a refit of a stored fit keeps (its spec or another, on these or other runs): the stored cost law (so
allocation and design of the refit price budgets as the fit does, and a D derived from recorded compute is derived
with it), run noise (where the refit's family is Normal: the components add in variance only there), and the
hierarchy (group column and the varied parameters). The one place that says it: every refit (sensitivity refits,
counterpart fits, design's warm refits, the discrepancy's inner fit) takes these keywords."""

from __future__ import annotations

import json

from bayes_scaling.cost import stored_cost
from bayes_scaling.specs.spec import LawSpec


def refit_settings(result, spec: LawSpec | None = None) -> dict:
    """:func:`~bayes_scaling.inference.fit.fit` keywords a refit of ``result`` with ``spec`` (default: its own)
    keeps: ``cost`` (the stored cost law, None for 6ND), ``run_noise`` (the fit's; with another family, only a
    Normal one), ``group_col`` and ``vary`` (the fit's hierarchy, or None)."""
    from bayes_scaling.specs.families import Normal

    spec = result.spec if spec is None else spec
    run_noise = json.loads(result.tree.attrs.get("run_noise", "null") or "null") is not None
    h = result.hierarchy
    other_family = spec.likelihood.family != result.spec.likelihood.family  # e.g. the sensitivity's other likelihood
    keeps_noise = run_noise and (not other_family or isinstance(spec.likelihood.dist, Normal))
    return {"cost": stored_cost(result), "run_noise": keeps_noise,
            "group_col": None if h is None else h["group_col"], "vary": None if h is None else tuple(h["vary"])}


def counterpart_spec(result, law_name: str) -> LawSpec:
    """The spec a break test fits ``law_name`` with beside ``result``: that law's default priors on its own
    parameters, with the fit's likelihood (family, nu, noise prior), covariate prior and hierarchy (varied
    parameters, tau prior), so PSIS-LOO between the two fits compares laws, not likelihoods or noise models.
    Refused in one line when the fit varies by group a parameter ``law_name`` does not have."""
    from dataclasses import replace

    from bayes_scaling.errors import BayesScalingError
    from bayes_scaling.specs.spec import default_spec

    base, own = default_spec(law_name), result.spec
    hier = own.hierarchy
    if hier is not None:
        missing = sorted(set(hier.vary) - set(base.law.param_names))
        if missing:
            raise BayesScalingError(f"the break test's counterpart law {law_name!r} has no parameter {missing} that "
                                    f"the fit varies by group; refit with vary among {list(base.law.param_names)}",
                                    quantity="vary")
    origin = f"{base.origin} (likelihood and hierarchy of {own.name})"
    return replace(base, likelihood=own.likelihood, hierarchy=hier, covariate_prior=own.covariate_prior,
                   origin=origin).synced()
