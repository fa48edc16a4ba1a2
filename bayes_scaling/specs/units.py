"""Units of the rows of a fit's parameter table, written once (the summary text, its JSON and the report
read them from :meth:`bayes_scaling.result.FitResult.summary`)."""

from __future__ import annotations

from bayes_scaling.conventions import DIMENSIONLESS, in_loss_unit, unit_text


def summary_unit(spec, name: str, derived, loss_unit: str) -> str:
    """Unit of the posterior variable ``name`` of a fit of ``spec`` (``derived``: the names a law derives
    from its own parameters, dimensionless), with losses in ``loss_unit``."""
    law = spec.law
    base = name.removesuffix("_group")
    if base in law.param_names:
        unit = unit_text(law.param(base).unit)
    elif name == "gamma":
        unit = "log-loss per unit covariate"
    elif name in derived:
        unit = DIMENSIONLESS
    else:
        unit = "log scale" if name.startswith("tau_") else spec.likelihood.dist.noise_unit(law.response_unit)
    return in_loss_unit(unit, loss_unit)
