"""Units of the rows of a fit's parameter table, written once (the summary text, its JSON and the report
read them from :meth:`bayes_scaling.result.FitResult.summary`), and the units and parameter count a spec's
priors are stated in, checked against the runs before sampling."""

from __future__ import annotations

from bayes_scaling.conventions import DIMENSIONLESS, in_loss_unit, unit_text
from bayes_scaling.errors import BayesScalingError


def in_predictor_unit(unit: str, predictor_unit: str | None) -> str:
    """A metric law's parameter unit (``"units of L"``, ``"1 / units of L"``) in the recorded unit of its predictor
    loss L (e.g. bits/byte); unchanged where that is unknown (None)."""
    if not predictor_unit or "units of L" not in unit:
        return unit
    inverse = f"({predictor_unit})" if "/" in predictor_unit else predictor_unit
    return unit.replace("1 / units of L", f"1 / {inverse}").replace("units of L", predictor_unit)


def summary_unit(spec, name: str, derived, loss_unit: str, predictor_unit: str | None = None) -> str:
    """Unit of the posterior variable ``name`` of a fit of ``spec`` (``derived``: the names a law derives
    from its own parameters, dimensionless), with losses in ``loss_unit`` and a metric law's predictor loss L in
    ``predictor_unit`` (None: unknown, "units of L")."""
    law = spec.law
    base = name.removesuffix("_group")
    if base in law.param_names:
        unit = in_predictor_unit(unit_text(law.param(base).unit), predictor_unit)
    elif name == "gamma":
        unit = "log-loss per unit covariate"
    elif name in derived:
        unit = DIMENSIONLESS
    else:
        unit = "log scale" if name.startswith("tau_") else spec.likelihood.dist.noise_unit(law.response_unit)
    return in_loss_unit(unit, loss_unit)


def check_loss_unit(spec, loss_unit: str) -> None:
    """Refuse losses in ``loss_unit`` when ``spec``'s loss-scale priors are declared in another unit."""
    if spec.loss_unit is not None and loss_unit != spec.loss_unit:  # per word: no per-token value to give
        convert = ("" if "word" in loss_unit + spec.loss_unit
                   else f"give the losses in {spec.loss_unit} (--loss-unit {spec.loss_unit}), or ")
        raise BayesScalingError(f"--loss-unit {loss_unit} does not match --spec {spec.name}, whose priors on "
                                f"loss-scale parameters are in {spec.loss_unit}: {convert}use a spec with weak "
                                f"priors (e.g. {spec.law_name}) or one declaring loss_unit = \"{loss_unit}\"",
                                quantity="loss_unit")


def check_params_kind(spec, params_kind: str, has_params: bool = True) -> None:
    """Refuse runs whose N counts ``params_kind`` parameters ("total" or "non-embedding") when ``spec``'s scale
    priors are stated in the other kind (e.g. Kaplan et al. 2020's N_c, in non-embedding parameters, §2.1).
    Runs without N (``has_params`` False, e.g. compute and loss only) carry no parameter count to check."""
    if spec.params_kind is not None and params_kind != spec.params_kind and has_params:
        raise BayesScalingError(
            f"--params-kind {params_kind} does not match --spec {spec.name}, whose scale priors are stated for "
            f"{spec.params_kind} parameters: give N as {spec.params_kind} parameters (--params-kind "
            f"{spec.params_kind}), or use a spec with weak priors (e.g. {spec.law_name})", quantity="params_kind")
